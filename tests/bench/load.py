#!/usr/bin/python3
"""Bursts of clients: throughput, p99 and errors of 32, 1,000 and 5,000 concurrent keep-alive
clients on tags/list and on a 1 KiB blob GET, and of 200 clients uploading at once.

Starts a private registry (PostgreSQL and the four daemons, two workers each, as the
integration tests do), pushes an image, and runs wrk (-t2, --timeout 30s, 10 s per figure) with
a registry token minted for the repository (token auth on our side; the gateway verifies it on
every request). The uploads are 200 threads each pushing one distinct 64 KiB blob (POST then
PUT ?digest) with Python's requests. Prints one line per figure. A benchmark: it fails only on
a wrong answer, never on a figure.
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from registry import PgCluster, Registry  # noqa: E402
from v2util import V2, mint_token  # noqa: E402


def wrk(url, token, conns, seconds):
    """requests/s, p99 (ms) and the count of failed requests of conns clients on url."""
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s",
                          "--latency", "-H", f"Authorization: Bearer {token}", url],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)
    return rps, p99, failed


def main():
    work = tempfile.mkdtemp(prefix="bench-load-")
    pg = PgCluster(work)
    reg = Registry(pg, work, "load", workers=2,
                   extra_config={"global": {"log_level": "warn"}})
    reg.start()
    try:
        r = reg.api("POST", "/groups", json={"name": "load", "path": "load"})
        r.raise_for_status()
        reg.api("POST", "/projects", json={"name": "app", "namespace_id": r.json()["id"]}
                ).raise_for_status()
        name = "load/app"
        token = mint_token(reg, [(name, "pull,push")], lifetime=3600)
        v2 = V2(reg, token)
        v2.push_image(name, "latest")
        digest = v2.push_blob(name, b"k" * 1024)
        print(f"machine: {os.cpu_count()} cores; registry: 2 workers per daemon; wrk -t2, 10 s")
        for what, path in (("tags/list", f"/v2/{name}/tags/list"),
                           ("1 KiB blob GET", f"/v2/{name}/blobs/{digest}")):
            for conns in (32, 1000, 5000):
                rps, p99, failed = wrk(reg.url + path, token, conns, 10)
                print(f"{what:16} {conns:5} clients: {rps:9.0f} req/s, p99 {p99:8.1f} ms, "
                      f"{failed} failed")
        blobs = [os.urandom(64 * 1024) for _ in range(200)]
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(200) as ex:
            digests = list(ex.map(lambda b: V2(reg, token).push_blob(name, b), blobs))
        took = time.monotonic() - t0
        ok = sum(1 for d in digests if V2(reg, token).get_blob(name, d).status_code == 200)
        print(f"uploads          200 clients: {200 / took:9.0f} blobs/s, {200 - ok} failed")
    finally:
        reg.stop()
        pg.stop()


if __name__ == "__main__":
    main()

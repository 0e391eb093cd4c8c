#!/usr/bin/python3
"""What checking a token's grant against the path's project costs: manifest GET by tag and
tags/list throughput of two builds side by side.

    /usr/bin/python3 tests/bench/grants.py --before DIR [--after DIR] [--rounds N] [--seconds S]

Starts one registry on the binaries in --before (a build without the check) and one on --after
(default: this tree), both with two workers per daemon and a private PostgreSQL, pushes an image
into each with a token from /jwt/auth, and runs wrk (-t2 -c32, keep-alive, that token) on
`GET /v2/<name>/manifests/latest` and `GET /v2/<name>/tags/list`, alternating the builds (A B,
B A, ...) for --rounds rounds. Prints the median requests/s and p99 of each. A benchmark: it
fails only on a wrong answer, never on a figure.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from registry import TOP, PgCluster, Registry  # noqa: E402
from v2util import ACCEPT_ALL, V2  # noqa: E402


class Build(Registry):
    """A registry instance running the binaries of one folder."""

    def __init__(self, bin_dir, *args, **kw):
        self.bin_dir = bin_dir
        super().__init__(*args, **kw)

    def binary(self, daemon):
        return os.path.join(self.bin_dir, f"registry-{daemon}")


def wrk(url, token, seconds, accept=None):
    """requests/s and p99 (ms) of 32 keep-alive clients on url; every answer must be a 200."""
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency",
           "-H", f"Authorization: Bearer {token}"]
    if accept:
        cmd += ["-H", f"Accept: {accept}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw failed requests on {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
    return rps, float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]


def prepare(reg):
    """A project with an image tagged latest and 50 more tags; the token for it."""
    r = reg.api("POST", "/groups", json={"name": "bench", "path": "bench"})
    r.raise_for_status()
    reg.api("POST", "/projects", json={"name": "app", "namespace_id": r.json()["id"]}
            ).raise_for_status()
    name = "bench/app"
    r = requests.get(f"{reg.url}/jwt/auth", auth=("root", reg.ROOT_PASSWORD), timeout=30,
                     params={"service": "container_registry",
                             "scope": f"repository:{name}:pull,push"})
    r.raise_for_status()
    token = r.json()["token"]
    v2 = V2(reg, token)
    digest, manifest = v2.push_image(name, "latest")
    for i in range(50):
        v2.put_manifest(name, f"t{i:02}", manifest).raise_for_status()
    return name, token


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", default=TOP)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-grants-")
    pg = PgCluster(work)
    regs = {}
    try:
        for label, bin_dir in (("before", args.before), ("after", args.after)):
            regs[label] = Build(bin_dir, pg, work, f"grants_{label}", workers=2,
                                extra_config={"global": {"log_level": "warn"}}).start()
        setup = {label: prepare(reg) for label, reg in regs.items()}
        figures = {(label, what): [] for label in regs for what in ("manifest", "tags")}
        for rnd in range(args.rounds):
            order = list(regs) if rnd % 2 == 0 else list(reversed(regs))
            for label in order:
                reg, (name, token) = regs[label], setup[label]
                figures[(label, "manifest")].append(
                    wrk(f"{reg.url}/v2/{name}/manifests/latest", token, args.seconds,
                        ACCEPT_ALL))
                figures[(label, "tags")].append(
                    wrk(f"{reg.url}/v2/{name}/tags/list", token, args.seconds))
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; 2 workers per "
              f"daemon; wrk -t2 -c32, {args.seconds} s; median of {args.rounds} rounds")
        for what, title in (("manifest", "manifest GET by tag"), ("tags", "tags/list (51)")):
            line = f"{title:22}"
            for label in regs:
                runs = figures[(label, what)]
                rps = statistics.median(r for r, _ in runs)
                p99 = statistics.median(p for _, p in runs)
                line += f"  {label}: {rps:8.0f} req/s p99 {p99:6.1f} ms"
            print(line)
    finally:
        for reg in regs.values():
            reg.stop()
        pg.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""What one node's main operations cost, for the capacity model of docs/SCALING.md.

Starts a private registry (PostgreSQL and the four daemons, as the integration tests do, token
authentication on), pushes one image, then for each operation runs wrk (keep-alive, --threads
and --connections) against the gateway for --seconds and reports:

- requests/s at the client;
- CPU-seconds the registry's processes used (the four masters and their workers, from
  /proc/<pid>/stat) and PostgreSQL's (the postmaster and its children), so that "requests per
  core" is requests / the registry's CPU-seconds, whatever the client took of the same cores;
- database transactions per request: pg_stat_database.xact_commit + xact_rollback of the
  registry's database over the run, less what the idle instance did in as long (each statement
  the daemons send is one transaction).

A benchmark: it never fails on a figure, only on a wrong answer.
"""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import requests  # noqa: E402

from registry import PgCluster, Registry  # noqa: E402
from v2util import V2, make_project  # noqa: E402

NAME = "bench/app"
TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid):
    """pid and its children (the registry's masters keep their workers as direct children)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid] + [int(p) for p in out.split()]


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / TICKS


def xacts(reg):
    return int(reg.pg.psql("postgres", "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                       f"WHERE datname = '{reg.db}'"))


def pg_pids(pg):
    with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
        return tree(int(f.readline()))


def measure(reg, label, url, headers, args, method="GET", idle_rate=0.0):
    """One wrk run (HEAD is left out: wrk waits for the body a HEAD answer announces)."""
    script = os.path.join(reg.dir, "wrk.lua")
    with open(script, "w") as f:
        f.write(f'wrk.method = "{method}"\n')
        for k, v in headers.items():
            f.write(f'wrk.headers["{k}"] = "{v}"\n')
    daemons = [p for d in reg.procs.values() for p in tree(d.pid)]
    pgp = pg_pids(reg.pg)
    cpu0, pg0, x0, t0 = cpu_seconds(daemons), cpu_seconds(pgp), xacts(reg), time.monotonic()
    out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}",
                          f"-d{args.seconds}s", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - t0
    time.sleep(1.5)  # PostgreSQL's statistics reach pg_stat_database within a second or so
    cpu, pgcpu, xs = cpu_seconds(daemons) - cpu0, cpu_seconds(pgp) - pg0, xacts(reg) - x0
    n = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert bad is None, f"{label}: {bad.group(0)}"
    xs -= idle_rate * (elapsed + 1.5)
    return {"operation": label, "req/s": n / elapsed, "registry CPU-s": cpu,
            "PostgreSQL CPU-s": pgcpu, "req per registry core-s": n / cpu if cpu else 0,
            "req per core-s, PostgreSQL included": n / (cpu + pgcpu) if cpu + pgcpu else 0,
            "db transactions/req": xs / n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="capacity-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(base, 0o755)
    pg = PgCluster(base)
    reg = Registry(pg, base, "capacity", workers=args.workers).start()
    try:
        make_project(reg, NAME)
        tok = reg.registry_token([f"repository:{NAME}:pull,push"], "root", reg.ROOT_PASSWORD)
        v2 = V2(reg, tok)
        small = os.urandom(1024)
        v2.push_image(NAME, "v1", layers=(small, os.urandom(2048)))
        blob = "sha256:" + __import__("hashlib").sha256(small).hexdigest()
        for i in range(100):
            v2.req("PUT", f"/v2/{NAME}/manifests/t{i}",
                   data=v2.get_manifest(NAME, "v1").content,
                   headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        pat = reg.root_token
        basic = base64.b64encode(f"root:{pat}".encode()).decode()
        bearer = {"Authorization": f"Bearer {tok}"}
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}

        time.sleep(2)
        x0, t0 = xacts(reg), time.monotonic()
        time.sleep(10)
        idle = (xacts(reg) - x0) / (time.monotonic() - t0)

        rows = [
            measure(reg, "manifest GET by tag", f"{reg.url}/v2/{NAME}/manifests/v1",
                    dict(bearer, **accept), args, idle_rate=idle),
            measure(reg, "blob GET, 1 KiB", f"{reg.url}/v2/{NAME}/blobs/{blob}", bearer, args,
                    idle_rate=idle),
            measure(reg, "tags/list, 101 tags", f"{reg.url}/v2/{NAME}/tags/list", bearer, args,
                    idle_rate=idle),
            measure(reg, "/jwt/auth, personal access token, pull+push",
                    f"{reg.url}/jwt/auth?service=container_registry&scope=repository:{NAME}:pull,push",
                    {"Authorization": f"Basic {basic}"}, args, idle_rate=idle),
            measure(reg, "GET /api/v4/projects/:id, personal access token",
                    f"{reg.url}/api/v4/projects/{NAME.replace('/', '%2F')}",
                    {"PRIVATE-TOKEN": pat}, args, idle_rate=idle),
        ]
        print(f"idle database transactions/s: {idle:.1f}; wrk -t{args.threads} "
              f"-c{args.connections} -d{args.seconds}s; {args.workers} workers per daemon; "
              f"{os.cpu_count()} cores shared by client, registry and PostgreSQL")
        cols = list(rows[0])
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(v if isinstance(v, str) else f"{v:,.2f}" if v < 100
                                    else f"{v:,.0f}" for v in r.values()) + " |")
        print(json.dumps(rows))
    finally:
        reg.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

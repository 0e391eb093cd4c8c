#!/usr/bin/python3
"""A bounded soak: a private registry (PostgreSQL and the four daemons, as the integration tests
start them) under mixed traffic for N minutes (10 by default): four clients pushing images,
pulling them back byte-exact, calling the API and deleting tags and manifests. Every few seconds
it samples the resident memory and open descriptors of every daemon process (masters and
workers, from /proc) and PostgreSQL's connection count (pg_stat_activity), and at the end
prints whether each stayed flat: the last quarter's median against the second quarter's (after
the warm-up). A benchmark: it fails only on a wrong answer (a 4xx/5xx or wrong bytes), never on
a figure.

    /usr/bin/python3 tests/bench/soak.py [--minutes N] [--interval S]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import requests  # noqa: E402

from faults import FaultClient, call, expect, open_fds, rss_kib  # noqa: E402
from registry import DAEMONS, PgCluster, Registry  # noqa: E402
from v2util import make_project, mint_token  # noqa: E402


def processes(reg):
    """{"gateway/master": pid, "gateway/w": [pids], ...} of the running daemons."""
    out = {}
    for d in DAEMONS:
        out[f"{d}/master"] = [reg.master_pid(d)]
        out[f"{d}/workers"] = reg.worker_pids(d)
    return out


def sample(reg):
    row = {}
    for key, pids in processes(reg).items():
        rss = fds = 0
        for pid in pids:
            try:
                rss += rss_kib(pid)
                fds += open_fds(pid)
            except FileNotFoundError:
                pass
        row[key] = (rss, fds)
    row["pg_connections"] = int(reg.pg.psql(
        "postgres", f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{reg.name}'"))
    return row


class Mixed(FaultClient):
    """A client whose loop adds API calls and deletions to pushes and pulls."""

    def __init__(self, reg, name, token, project_id, seed):
        super().__init__(reg, name, token, seed, max_layer=512 * 1024)
        self.project_id = project_id
        self.api = requests.Session()
        self.api.headers["PRIVATE-TOKEN"] = reg.root_token
        self.ops = {"push": 0, "pull": 0, "api": 0, "delete": 0}
        self.deadline = 0  # no fault here: any error is one

    def one_round(self, n):
        tag = f"s{n}"
        self.push(tag)
        self.ops["push"] += 1
        self.pull(self.rng.choice(list(self.acked)))
        self.ops["pull"] += 1
        for path in (f"/projects/{self.project_id}",
                     f"/projects/{self.project_id}/registry/repositories?tags=true",
                     "/projects?per_page=5"):
            expect(call(self.api, "GET", f"{self.reg.url}/api/v4{path}"), 200)
            self.ops["api"] += 1
        if len(self.acked) > 20:  # keep the store bounded: delete the oldest by digest
            old = sorted(self.acked, key=lambda t: int(t[1:]))[0]
            digest = self.acked.pop(old)[0]
            expect(call(self.s, "DELETE", self.url(f"/v2/{self.name}/manifests/{digest}")), 202)
            self.ops["delete"] += 1

    def loop(self, stop):
        n = 0
        try:
            while not stop.is_set():
                self.one_round(n)
                n += 1
        except Exception as e:  # noqa: BLE001
            self.violations.append(f"{type(e).__name__}: {e}")


def flat(values):
    """(second quarter's median, last quarter's median, verdict)."""
    q = max(1, len(values) // 4)
    early, late = statistics.median(values[q:2 * q]), statistics.median(values[-q:])
    grew = late - early
    ok = grew <= max(early * 0.10, 2)  # 10 % or two units (a descriptor, a connection)
    return early, late, "flat" if ok else "GREW"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", type=float, default=5)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="soak-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(base, 0o755)
    pg = PgCluster(base)
    reg = Registry(pg, base, "soak", workers=2)
    clients = []
    try:
        reg.start()
        for i in range(4):
            name = f"soak/p{i}"
            pid = make_project(reg, name)
            clients.append(Mixed(reg, name, mint_token(reg, [(name, "pull,push,delete")],
                                                       lifetime=86400), pid, seed=i))
        stop = threading.Event()
        threads = [threading.Thread(target=c.loop, args=(stop,), daemon=True) for c in clients]
        for t in threads:
            t.start()
        samples = []
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        while time.monotonic() < end and not any(c.violations for c in clients):
            samples.append(sample(reg))
            time.sleep(args.interval)
        stop.set()
        for t in threads:
            t.join(120)
        took = time.monotonic() - t0
        ops = {k: sum(c.ops[k] for c in clients) for k in clients[0].ops}
        print(f"soak: {took / 60:.1f} min, {len(samples)} samples every {args.interval:g} s, "
              f"load average {os.getloadavg()[0]:.2f}")
        print("operations: " + ", ".join(f"{k} {v}" for k, v in ops.items()))
        print(f"{'process':<18} {'RSS KiB early':>14} {'RSS KiB late':>13} {'':>5} "
              f"{'fds early':>10} {'fds late':>9}")
        keys = [k for k in samples[0] if k != "pg_connections"]
        for k in keys:
            r = flat([s[k][0] for s in samples])
            f = flat([s[k][1] for s in samples])
            print(f"{k:<18} {r[0]:>14,.0f} {r[1]:>13,.0f} {r[2]:>5} {f[0]:>10,.0f} "
                  f"{f[1]:>9,.0f} {f[2]}")
        p = flat([s["pg_connections"] for s in samples])
        print(f"{'PostgreSQL conns':<18} {p[0]:>14,.0f} {p[1]:>13,.0f} {p[2]:>5}")
        violations = [v for c in clients for v in c.violations]
        if violations:
            print("WRONG ANSWERS:\n" + "\n".join(violations[:10]))
            return 1
        return 0
    finally:
        reg.stop()
        pg.stop()
        if not os.environ.get("KEEP_TEST_DIRS"):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

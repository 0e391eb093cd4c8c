"""A SIGKILL storm: random workers and masters of every daemon are killed every half second while
four clients push and pull. What was acknowledged stays; nothing half-made is ever visible;
clients see only answers they may retry; the registry is ready again seconds after the last
kill. A killed master is started again by ServiceManager, as systemd's Restart= would: the
supervisor does not restart masters (its workers exit with it)."""
import os
import random
import signal
import threading
import time

import requests

from faults import FaultClient, ServiceManager, Violation, call, expect, hash_stored_file
from registry import DAEMONS, wait_for
from v2util import blob_files, make_project, mint_token

STORM_SECONDS = 14
KILL_EVERY = 0.5


def live_workers(reg, daemon):
    try:
        return reg.worker_pids(daemon)
    except Exception:  # noqa: BLE001 - the master may be between two lives
        return []


def instance_pids(reg):
    """Every live process started with this instance's configuration file."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().split(") ", 1)[1][0] == "Z"
        except OSError:
            continue
        if reg.config_path.encode() in args and not zombie:
            out.append(int(pid))
    return out


def api_client(reg, project_id, stop, out):
    """Reads the project through authd (personal access token) and metad until stop."""
    s = requests.Session()
    s.headers["PRIVATE-TOKEN"] = reg.root_token
    ok = 0
    try:
        while not stop.is_set():
            try:
                r = call(s, "GET", f"{reg.url}/api/v4/projects/{project_id}")
            except Exception as e:  # noqa: BLE001
                if isinstance(e, Violation):
                    raise
                continue
            expect(r, 200)
            if r.json()["id"] != project_id:
                raise Violation(f"project {project_id}: wrong answer {r.text[:200]}")
            ok += 1
            time.sleep(0.05)
    except Violation as e:
        out["violations"].append(str(e))
    out["ok"] = ok


def test_sigkill_storm(make_registry):
    reg = make_registry(workers=2, extra_config={"global": {"shutdown_timeout": "5"}}).start()
    names, clients = [], []
    for i in range(4):
        name = f"storm/p{i}"
        make_project(reg, name)
        names.append(name)
        token = mint_token(reg, [(name, "pull,push")], lifetime=3600)
        clients.append(FaultClient(reg, name, token, seed=1000 + i))
    project_id = int(reg.pg.psql(reg.name, "SELECT id FROM projects WHERE full_path = 'storm/p0'"))
    rng = random.Random(7)
    stop = threading.Event()
    api_out = {"violations": []}
    kills = []
    with ServiceManager(reg) as sm:
        threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in clients]
        threads.append(threading.Thread(target=api_client, args=(reg, project_id, stop, api_out),
                                        daemon=True))
        for t in threads:
            t.start()
        wait_for(lambda: all(c.acked for c in clients), timeout=60, what="a first push each")
        start = time.monotonic()
        for tick in range(1, int(STORM_SECONDS / KILL_EVERY) + 1):
            time.sleep(max(0.0, start + tick * KILL_EVERY - time.monotonic()))
            daemon = rng.choice(DAEMONS)
            workers = live_workers(reg, daemon)
            if rng.random() < 0.2 or not workers:
                pid, what = reg.procs[daemon].pid, "master"
            else:
                pid, what = rng.choice(workers), "worker"
            try:
                os.kill(pid, signal.SIGKILL)
                kills.append((daemon, what, pid))
            except ProcessLookupError:
                pass
        last_kill = time.monotonic()
        # ready again within seconds of the last kill (masters restarted after restart_sec)
        wait_for(lambda: sm.all_running() and requests.get(
            reg.url + "/-/readiness", timeout=2).status_code == 200, timeout=15, interval=0.1,
            what="readiness after the storm")
        ready_after = time.monotonic() - last_kill
        # the clients finish what they were doing within a minute, then stop
        for c in clients:
            c.deadline = time.monotonic() + 60
        stop.set()
        for t in threads:
            t.join(120)
            assert not t.is_alive(), "a client hangs"
    print(f"kills: {len(kills)} ({sum(1 for k in kills if k[1] == 'master')} masters), "
          f"restarts {sm.restarts}, ready {ready_after:.2f} s after the last kill, "
          f"pushes {sum(len(c.acked) for c in clients)}, pulls {sum(c.pulls for c in clients)}, "
          f"retried answers {[c.errors for c in clients]}, api ok {api_out['ok']}")
    violations = [v for c in clients for v in c.violations] + api_out["violations"]
    assert violations == [], violations
    assert len(kills) >= STORM_SECONDS / KILL_EVERY * 0.7
    assert any(k[1] == "master" for k in kills) and sum(sm.restarts.values()) >= 1
    assert {k[0] for k in kills} == set(DAEMONS)
    assert ready_after < 10, ready_after
    # the faults did hit the clients: they retried, and pushed through
    assert sum(c.retries for c in clients) > 0
    assert all(len(c.acked) >= 2 for c in clients), [len(c.acked) for c in clients]
    # every acknowledged manifest pulls, by tag and by digest, every blob byte-exact
    for c in clients:
        c.deadline = 0  # no fault now: the first error is a failure
        for tag in c.acked:
            c.pull(tag)
            c.pull(tag, by_digest=True)
    # every file in the blob store holds the bytes its name says (nothing half-written placed)
    files = blob_files(reg)
    pushed = {d for c in clients for _, _, blobs in c.acked.values() for d in blobs}
    assert pushed <= set(files)
    for digest, path in files.items():
        assert hash_stored_file(path) == digest, path
    # no worker of a killed master outlived it (each drained and exited): every process of
    # this instance is a running master or one of its two workers
    def strays():
        current = {p.pid for p in reg.procs.values()}
        for d in DAEMONS:
            current |= set(live_workers(reg, d))
        return sorted(set(instance_pids(reg)) - current)
    wait_for(lambda: not strays(), timeout=15, what="workers of killed masters to exit")
    for d in DAEMONS:
        assert len(live_workers(reg, d)) == 2

"""The supervisor every daemon runs under: respawning killed workers, draining on TERM, reloading
on HUP without refusing a request, reopening logs on USR1, and the gateway facing a dead backend."""
import json
import os
import signal
import socket
import struct
import time

import pytest
import requests

from rawhttp import Hammer, connect, parse, read_all, served_request
from registry import DAEMONS, wait_for


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def settled_workers(reg, daemon, n, timeout=30, replacing=()):
    """Waits until the daemon's master has exactly n live workers, none of them in replacing
    (the generation a reload retires), and returns their pids. Counting alone could match the
    moment the master has forked half of the new generation beside the old one."""
    def check():
        pids = [p for p in reg.worker_pids(daemon) if alive(p)]
        return pids if len(pids) == n and not set(pids) & set(replacing) else None
    return wait_for(check, timeout=timeout, what=f"{daemon} with {n} workers")


@pytest.mark.parametrize("daemon", DAEMONS)
def test_killed_worker_is_respawned_and_requests_go_on(make_registry, daemon):
    reg = make_registry(workers=2).start()
    before = settled_workers(reg, daemon, 2)
    # a kept-alive connection from the gateway to each backend worker
    for _ in range(6):
        assert requests.get(reg.url + "/-/readiness", timeout=10).status_code == 200
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    # served while the worker is gone and while it comes back: the gateway's kept-alive
    # connections to the dead worker must not turn into errors
    for _ in range(20):
        r = requests.get(reg.url + "/-/readiness", timeout=10,
                         headers={"Connection": "close"})
        assert r.status_code == 200, r.text
    after = wait_for(lambda: (lambda p: p if len(p) == 2 and victim not in p else None)(
        settled_workers(reg, daemon, 2)), what="respawn")
    assert before[1] in after
    assert reg.procs[daemon].poll() is None  # the master lives on
    log = reg.log(daemon)
    assert f"(pid {victim}) killed by signal 9" in log and "respawning" in log
    for _ in range(10):
        assert requests.get(reg.url + "/v2/", timeout=10).status_code == 401
        assert requests.get(reg.url + "/-/readiness", timeout=10).status_code == 200
    metrics = requests.get(reg.url + "/metrics", timeout=10).text
    assert f'registry_worker_restarts_total{{daemon="{daemon}"}} 1' in metrics


def test_workers_exit_with_their_master(make_registry):
    reg = make_registry(workers=2).start()
    workers = reg.worker_pids("blobd")
    os.kill(reg.master_pid("blobd"), signal.SIGKILL)
    reg.procs["blobd"].wait(10)
    wait_for(lambda: not any(alive(p) for p in workers), timeout=15, what="orphan workers to exit")


def test_term_lets_a_slow_request_finish_then_exits_zero(make_registry):
    reg = make_registry(workers=1, extra_config={"gateway": {"header_timeout": "30"}})
    reg.start()
    # a client sending its headers slowly, one line at a time, on a connection the worker has
    # taken (it served a request on it)
    s = served_request(reg.port)
    s.sendall(b"GET /-/health HTTP/1.1\r\n")
    reg.signal("gateway", signal.SIGTERM)
    time.sleep(1.0)
    assert reg.procs["gateway"].poll() is None, "the gateway left before the request finished"
    for line in (b"Host: x\r\n", b"User-Agent: slow\r\n", b"Accept: */*\r\n"):
        s.sendall(line)
        time.sleep(0.4)
    assert reg.procs["gateway"].poll() is None
    s.sendall(b"\r\n")
    status, headers, body = parse(read_all(s, 15))
    s.close()
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers.get("connection") == "close"
    assert reg.procs["gateway"].wait(15) == 0
    assert "all workers gone; exiting" in reg.log("gateway")


def test_term_lets_a_slow_upload_finish(make_registry):
    reg = make_registry(workers=1).start()
    # a client sending a body slowly to an /api/v4 endpoint, on a connection the worker has
    # taken: the project it creates is made, and the client gets the answer
    body = b'{"name": "slow-upload", "path": "slow-upload"' + b" " * 200 + b"}"
    s = served_request(reg.port)
    s.sendall(b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\n"
              b"PRIVATE-TOKEN: " + reg.root_token.encode() + b"\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
    reg.signal("gateway", signal.SIGTERM)
    time.sleep(0.5)
    for i in range(10, len(body), 40):
        s.sendall(body[i:i + 40])
        time.sleep(0.2)
    answer = read_all(s, 15)
    s.close()
    status, headers, payload = parse(answer)
    assert status == 201, answer[:300]
    assert len(payload) == int(headers["content-length"])
    made = json.loads(payload)
    assert made["path_with_namespace"] == "root/slow-upload"
    assert headers.get("connection") == "close"
    assert reg.procs["gateway"].wait(15) == 0
    # the project is there for the next gateway
    reg.start_daemon("gateway")
    reg.wait_ready()
    r = reg.api("GET", f"/projects/{made['id']}")
    assert r.status_code == 200 and r.json()["name"] == "slow-upload"


def test_term_on_every_daemon_exits_zero_and_cleans_up(make_registry):
    reg = make_registry(workers=2).start()
    for d in reversed(DAEMONS):
        reg.signal(d, signal.SIGTERM)
    for d in DAEMONS:
        assert reg.procs[d].wait(20) == 0, reg.log(d)[-2000:]
        assert not os.path.exists(reg.pidfile(d))
    for d in ("authd", "metad", "blobd"):
        assert not os.path.exists(os.path.join(reg.sock_dir, f"{d}.sock"))


def set_workers(reg, n):
    for d in DAEMONS:
        reg.sections[d]["workers"] = str(n)
    reg.write_config()


def test_hup_changes_worker_count_without_refusing_a_request(make_registry):
    reg = make_registry(workers=2).start()
    with Hammer(reg.url, ["/-/readiness", "/-/health", "/metrics"]) as h:
        wait_for(lambda: h.ok >= 5, what="the first requests")
        for n in (4, 1, 3):
            set_workers(reg, n)
            old = {d: set(reg.worker_pids(d)) for d in DAEMONS}
            for d in DAEMONS:
                reg.signal(d, signal.SIGHUP)
            for d in DAEMONS:
                # the old generation must be gone (within the drain deadline), n new serving
                settled_workers(reg, d, n, replacing=old[d])
            served = h.ok
            wait_for(lambda: h.ok >= served + 10, what="requests to the new workers")
    assert h.failures == [], h.failures[:5]
    assert h.ok > 50
    for d in DAEMONS:
        assert reg.procs[d].poll() is None
        assert "configuration reloaded; starting 3 new workers" in reg.log(d)
    metrics = requests.get(reg.url + "/metrics", timeout=10).text
    assert 'registry_workers{daemon="gateway"} 3' in metrics


def test_bad_configuration_on_hup_keeps_the_old_one(make_registry):
    reg = make_registry(workers=2).start()
    before = {d: sorted(reg.worker_pids(d)) for d in DAEMONS}
    reg.sections["gateway"]["workers"] = "many"
    reg.write_config()
    for d in DAEMONS:
        reg.signal(d, signal.SIGHUP)
    wait_for(lambda: all("reload refused" in reg.log(d) for d in DAEMONS), what="refusals")
    for d in DAEMONS:
        assert "keeping the running configuration" in reg.log(d)
        assert sorted(reg.worker_pids(d)) == before[d]
    assert requests.get(reg.url + "/-/readiness", timeout=10).status_code == 200
    # a parameter that only a restart can change is refused the same way
    reg.sections["gateway"]["workers"] = "2"
    reg.sections["gateway"]["listen"] = "127.0.0.1:1"
    reg.write_config()
    reg.signal("gateway", signal.SIGHUP)
    wait_for(lambda: "[gateway] listen cannot change on reload" in reg.log("gateway"),
             what="listen refusal")
    assert sorted(reg.worker_pids("gateway")) == before["gateway"]
    assert requests.get(reg.url + "/-/health", timeout=10).status_code == 200
    # a good one is then taken
    reg.sections["gateway"]["listen"] = reg.host
    reg.sections["gateway"]["workers"] = "3"
    reg.write_config()
    reg.signal("gateway", signal.SIGHUP)
    settled_workers(reg, "gateway", 3)


def test_usr1_reopens_the_log_file(make_registry):
    reg = make_registry(workers=1)
    log_file = os.path.join(reg.dir, "registry.log")
    reg.sections["global"]["log_file"] = log_file
    reg.write_config()
    reg.start()
    requests.get(reg.url + "/v2/", timeout=10)
    wait_for(lambda: '"GET /v2/" 401' in open(log_file).read(), what="access line")
    rotated = log_file + ".1"
    os.rename(log_file, rotated)
    for d in DAEMONS:
        reg.signal(d, signal.SIGUSR1)
    wait_for(lambda: os.path.exists(log_file), what="a new log file")
    # the workers reopen theirs too (each when its loop sees the signal): access lines move to
    # the new file, and once they do, none goes to the old one any more
    n = iter(range(1000))
    def logged():
        marker = f"rotation={next(n)}"
        requests.get(reg.url + "/v2/?" + marker, timeout=10)
        return marker in open(log_file).read()
    wait_for(logged, timeout=10, what="access line in the new file")
    requests.get(reg.url + "/v2/?after=rotation", timeout=10)
    wait_for(lambda: "after=rotation" in open(log_file).read(), what="later access line")
    assert "after=rotation" not in open(rotated).read()


def test_backend_down_gives_503_and_recovers(make_registry):
    reg = make_registry(workers=1).start()
    reg.signal("metad", signal.SIGTERM)
    assert reg.procs["metad"].wait(20) == 0
    r = requests.get(reg.url + "/api/v4/projects", timeout=10)
    assert r.status_code == 503
    assert r.json() == {"message": "503 Service Unavailable: metad is unavailable"}
    r = requests.get(reg.url + "/-/readiness", timeout=10)
    assert r.status_code == 503
    assert r.json()["checks"]["metad"] == "unreachable"
    assert r.json()["checks"]["authd"] == "ok"
    # two backends down at once, then both back
    reg.signal("blobd", signal.SIGTERM)
    assert reg.procs["blobd"].wait(20) == 0
    r = requests.get(reg.url + "/-/readiness", timeout=10)
    assert r.status_code == 503
    assert r.json()["checks"] == {"authd": "ok", "metad": "unreachable", "blobd": "unreachable"}
    reg.start_daemon("metad")
    reg.start_daemon("blobd")
    reg.wait_ready()
    r = requests.get(reg.url + "/api/v4/projects", timeout=10)
    assert r.status_code != 503
    assert requests.get(reg.url + "/-/readiness", timeout=10).status_code == 200


def test_client_vanishing_mid_request_does_not_hurt_the_worker(make_registry):
    reg = make_registry(workers=1).start()
    workers = {d: reg.worker_pids(d) for d in DAEMONS}
    for i in range(10):
        # headers only
        s = connect(reg.port)
        s.sendall(b"GET /-/readiness HTTP/1.1\r\nHost: x\r\n")
        s.close()
        # part of a body, then gone (the gateway is streaming it to a backend)
        s = connect(reg.port)
        s.sendall(b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                  + b"x" * 5000)
        s.close()
        # a whole request, gone before the answer (readiness waits for every backend)
        s = connect(reg.port)
        s.sendall(b"GET /-/readiness HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
        # gone with an abortive close (RST)
        s = connect(reg.port)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    time.sleep(1)
    for _ in range(5):
        assert requests.get(reg.url + "/-/readiness", timeout=10).status_code == 200
    assert {d: reg.worker_pids(d) for d in DAEMONS} == workers
    for d in DAEMONS:
        assert "killed by signal" not in reg.log(d)


def test_old_workers_are_killed_at_the_reload_deadline(make_registry):
    reg = make_registry(workers=1, extra_config={"global": {"shutdown_timeout": "2"},
                                                 "gateway": {"header_timeout": "60"}})
    reg.start()
    old = reg.worker_pids("gateway")
    # a client that never finishes its request keeps the old worker busy (a connection the
    # worker has taken: it served a request on it)
    s = served_request(reg.port)
    s.sendall(b"GET /-/health HTTP/1.1\r\nHost: x\r\n")
    reg.signal("gateway", signal.SIGHUP)
    new = wait_for(lambda: (lambda p: p if p and not set(p) & set(old) else None)(
        [p for p in reg.worker_pids("gateway") if alive(p) and p not in old]), what="new worker")
    assert requests.get(reg.url + "/-/health", timeout=10).status_code == 200
    assert alive(old[0]), "the old worker left while it still had a client"
    wait_for(lambda: not alive(old[0]), timeout=10, what="old worker killed at the deadline")
    assert "still busy at the reload deadline" in reg.log("gateway")
    assert reg.worker_pids("gateway") == new
    s.close()

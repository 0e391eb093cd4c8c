"""PostgreSQL stopped and started again under traffic: readiness says so, /v2 and /api/v4 fail
fast with 503 and their own error bodies (never a hang), and the daemons recover on their own.
The test has a PostgreSQL cluster of its own: stopping the shared one would break the tests
running beside it."""
import contextlib
import os
import re
import socket
import subprocess
import shutil
import threading
import time

import pytest
import requests

from registry import PgCluster, Registry, tmpdir, wait_for
from v2util import OCI_MANIFEST, V2, make_project, mint_token, sha256

# Each answer while the database is down comes within this bound: connecting to a stopped
# server fails at once (its socket is gone), so the bound only absorbs a loaded machine. The
# gateway's backend_timeout is set above it, so a backend that hangs fails the bound.
FAST = 5.0
BACKEND_TIMEOUT = 20


@pytest.fixture
def private():
    base = tmpdir("regtest-pg-")
    os.chmod(base, 0o755)
    pg = PgCluster(base)
    reg = Registry(pg, base, "reg_pgdown", workers=2,
                   extra_config={"gateway": {"backend_timeout": str(BACKEND_TIMEOUT)}})
    try:
        yield reg.start()
    finally:
        reg.stop()
        pg.stop()
        if not os.environ.get("KEEP_TEST_DIRS"):
            shutil.rmtree(base, ignore_errors=True)


def timed(fn):
    t = time.monotonic()
    r = fn()
    return r, time.monotonic() - t


def background_traffic(reg, project_id, token, stop, seen):
    """Pulls, pushes and API reads all along: every answer is a success or a 503 with the
    right body, within FAST while the database is down."""
    s = requests.Session()
    s.headers["PRIVATE-TOKEN"] = reg.root_token
    v2 = V2(reg, token)
    i = 0
    while not stop.is_set():
        i += 1
        for what, fn in (
                ("api", lambda: s.get(f"{reg.url}/api/v4/projects/{project_id}", timeout=60)),
                ("tags", lambda: v2.req("GET", "/v2/pg/app/tags/list", timeout=60)),
                ("push", lambda: v2.req("POST", "/v2/pg/app/blobs/uploads/", timeout=60,
                                        params={"digest": sha256(b"bg%d" % i)},
                                        data=b"bg%d" % i))):
            try:
                r, took = timed(fn)
                seen.append((what, r.status_code, took, r.text[:300]))
            except requests.RequestException as e:
                seen.append((what, type(e).__name__, 0, str(e)))
        time.sleep(0.05)


def test_postgresql_down_and_back(private):
    reg = private
    project_id = make_project(reg, "pg/app")
    token = mint_token(reg, [("pg/app", "pull,push")], lifetime=3600)
    v2 = V2(reg, token)
    _, manifest = v2.push_image("pg/app", "before")
    stop = threading.Event()
    seen = []
    bg = threading.Thread(target=background_traffic, args=(reg, project_id, token, stop, seen),
                          daemon=True)
    bg.start()
    try:
        check_down_and_back(reg, v2, project_id, manifest, seen)
    finally:
        stop.set()
        bg.join(60)
    assert not bg.is_alive()
    check_traffic(seen)


def check_down_and_back(reg, v2, project_id, manifest, seen):
    wait_for(lambda: len(seen) >= 6, what="traffic")

    reg.pg.stop("fast")
    down_at = len(seen)
    # readiness tells it: not 200, the database check named
    r = wait_for(lambda: (lambda r: [r] if r.status_code != 200 else None)(
        requests.get(reg.url + "/-/readiness", timeout=FAST)), timeout=10, what="not ready")[0]
    assert r.status_code == 503, r.text
    checks = r.json()["checks"]
    assert checks["metad"] != "ok" and checks["authd"] != "ok", checks

    # /v2: 503 with the OCI code UNAVAILABLE, fast
    for _ in range(3):
        for method, path, kw in (
                ("GET", "/v2/pg/app/manifests/before", {"headers": {"Accept": OCI_MANIFEST}}),
                ("GET", "/v2/pg/app/tags/list", {}),
                ("PUT", "/v2/pg/app/manifests/during",
                 {"json": manifest, "headers": {"Content-Type": OCI_MANIFEST}}),
                ("POST", "/v2/pg/app/blobs/uploads/", {})):
            r, took = timed(lambda: v2.req(method, path, timeout=60, **kw))
            assert r.status_code == 503, (method, path, r.status_code, r.text)
            assert r.json()["errors"][0]["code"] == "UNAVAILABLE", r.text
            assert took < FAST, (method, path, took)
        # /api/v4: GitLab's {"message": ...} with 503, fast
        for path in (f"/projects/{project_id}", "/projects", "/user"):
            r, took = timed(lambda: reg.api("GET", path, timeout=60))
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert set(r.json()) == {"message"} and r.json()["message"].startswith("503 "), r.text
            assert took < FAST, (path, took)
        # the token service too
        r, took = timed(lambda: requests.get(
            f"{reg.url}/jwt/auth", params={"service": "container_registry",
                                           "scope": "repository:pg/app:pull"},
            auth=("root", reg.ROOT_PASSWORD), timeout=60))
        assert r.status_code == 503 and took < FAST, (r.status_code, took, r.text)
        time.sleep(0.5)

    reg.pg.start()
    up = time.monotonic()
    # back on their own: nothing restarted
    pids = {d: p.pid for d, p in reg.procs.items()}
    wait_for(lambda: requests.get(reg.url + "/-/readiness", timeout=FAST).status_code == 200,
             timeout=30, what="ready again")
    print(f"ready {time.monotonic() - up:.2f} s after PostgreSQL started; slowest 503: "
          f"{max((t for _, c, t, _ in seen if c == 503), default=0):.2f} s")
    # every worker at once, not only the one readiness asked: a worker whose connections were
    # waiting out their back-off (seconds, after a few failed attempts) tries again for the
    # first query that comes
    for _ in range(20):
        r = requests.get(f"{reg.url}/api/v4/projects/{project_id}", timeout=FAST,
                         headers={"PRIVATE-TOKEN": reg.root_token, "Connection": "close"})
        assert r.status_code == 200, (r.status_code, r.text)
    v2.push_image("pg/app", "after")
    assert v2.get_manifest("pg/app", "before").status_code == 200
    r = reg.api("GET", f"/projects/{project_id}")
    assert r.status_code == 200 and r.json()["path_with_namespace"] == "pg/app"
    r = reg.api("POST", "/projects", json={"name": "made-after", "path": "made-after"})
    assert r.status_code == 201, r.text
    assert {d: p.pid for d, p in reg.procs.items()} == pids
    assert all(p.poll() is None for p in reg.procs.values())
    seen.append(("down at", down_at))


def check_traffic(seen):
    down_at = [x for x in seen if x[0] == "down at"][0][1]
    seen = [x for x in seen if x[0] != "down at"]
    # the traffic all along: successes, or 503s with their dialect's body, each fast while down
    during = seen[down_at:]
    assert any(code == 503 for _, code, _, _ in during)
    for what, code, took, text in seen:
        if code == 503:
            assert took < FAST, (what, took)
            if what == "api":
                assert text.startswith('{"message":"503 '), text
            else:
                assert '"code":"UNAVAILABLE"' in text, text
        else:
            assert code == {"api": 200, "tags": 200, "push": 201}[what], (what, code, text)
    # the last answers are successes
    assert [c for _, c, _, _ in seen[-3:]] == [200, 200, 201], seen[-3:]


class SilentHost:
    """A database host on TCP loopback in front of a cluster's unix socket: it forwards, or,
    once silenced, accepts connections and never answers (a host whose packets are dropped).
    Silencing cuts the connections it forwarded, as a network partition ends them."""

    def __init__(self, unix_path):
        self.unix_path = unix_path
        self.silent = False
        self.held = []
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.held.append(client)
                if self.silent:
                    continue
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.unix_path)
            with self.lock:
                self.held.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def silence(self):
        with self.lock:
            self.silent = True
            for s in self.held:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def speak(self):
        with self.lock:
            self.silent = False

    def close(self):
        self.listener.close()
        with self.lock:
            for s in self.held:
                with contextlib.suppress(OSError):
                    s.close()


def test_a_database_host_that_never_answers(make_registry):
    """metad's connections (over TCP, with keepalives) go through a host that then accepts and
    says nothing: each attempt is given up after connect_timeout (libpq leaves that bound to a
    caller that connects without blocking), so readiness says not ready, and once the host
    answers again metad is back on its own within seconds, never stuck on an attempt that will
    not end."""
    reg = make_registry()
    host = SilentHost(os.path.join(reg.pg.sock_dir, ".s.PGSQL.5432"))
    try:
        unix = reg.sections["metad"].get("database") or reg.sections["global"]["database"]
        reg.sections["metad"]["database"] = unix.replace(
            f"host={reg.pg.sock_dir}", f"host=127.0.0.1 port={host.port}") + " connect_timeout=2"
        reg.write_config()
        reg.start()
        # TCP keepalives on metad's connections (30 s idle unless the string says otherwise):
        # a host that vanishes without a reset ends them in a minute, not two hours
        timers = subprocess.run(["ss", "-tnoH", "state", "established", "dst",
                                 f"127.0.0.1:{host.port}"], capture_output=True, text=True).stdout
        idle = [int(m.group(1)) for m in re.finditer(r"timer:\(keepalive,(\d+)sec", timers)]
        assert idle and all(i <= 30 for i in idle), timers
        host.silence()

        def not_ready():
            r = requests.get(reg.url + "/-/readiness", timeout=FAST)
            return (r,) if r.status_code == 503 else None
        r, = wait_for(not_ready, timeout=15, what="metad not ready")
        assert r.json()["checks"]["metad"] != "ok", r.text
        time.sleep(3)  # attempts are under way through the silent host now
        host.speak()
        reg.wait_ready(timeout=20)
        assert "no connection within 2 s (connect_timeout)" in reg.log("metad")
    finally:
        host.close()

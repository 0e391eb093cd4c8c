"""Connections that hold resources: 2,000 idle clients and one that never drains a 1 GiB
download do not stop the registry from serving others, and memory does not grow with the
download; past [gateway] max_connections a client is told so (503, Retry-After) and closed."""
import hashlib
import json
import os
import resource
import socket
import time

import pytest
import requests

from faults import ZSTD_BLOB_MAGIC, rss_kib
from rawhttp import connect, read_all, read_response, served_request
from registry import wait_for
from v2util import V2, blob_files, make_project, mint_token, sha256

GIB = 1 << 30
IDLE = 2000


@pytest.fixture(autouse=True)
def many_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 3 * IDLE + 1024))
    if want < IDLE + 512:
        pytest.skip(f"the descriptor limit ({hard}) cannot hold {IDLE} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def zero_digest(size):
    h = hashlib.sha256()
    block = bytes(1 << 20)
    for _ in range(size // len(block)):
        h.update(block)
    return "sha256:" + h.hexdigest()


def workers_rss(reg, daemon):
    return {pid: rss_kib(pid) for pid in reg.worker_pids(daemon)}


def quick_requests(reg, v2, name, small, api_id):
    """What another client does meanwhile: each answer right, and fast."""
    slowest = 0.0
    for i in range(5):
        for what, fn, check in (
                ("tags", lambda: v2.req("GET", f"/v2/{name}/tags/list", timeout=30),
                 lambda r: r.status_code == 200 and r.json()["tags"] == ["latest"]),
                ("blob", lambda: v2.get_blob(name, sha256(small), timeout=30),
                 lambda r: r.status_code == 200 and r.content == small),
                ("push", lambda: v2.req("POST", f"/v2/{name}/blobs/uploads/", timeout=30,
                                        params={"digest": sha256(b"q%d" % i)}, data=b"q%d" % i),
                 lambda r: r.status_code == 201),
                ("api", lambda: reg.api("GET", f"/projects/{api_id}", timeout=30),
                 lambda r: r.status_code == 200 and r.json()["id"] == api_id)):
            t = time.monotonic()
            r = fn()
            took = time.monotonic() - t
            assert check(r), (what, r.status_code, r.text[:300])
            slowest = max(slowest, took)
    return slowest


def test_idle_connections_and_a_slow_reader(make_registry):
    # fsync off: the 1 GiB push is setup here, not the subject (and the disk is shared)
    reg = make_registry(workers=2, extra_config={"gateway": {"idle_timeout": "600"},
                                                 "blobd": {"fsync": "false"}}).start()
    assert "serving at most" in reg.log("gateway")
    name = "conns/app"
    api_id = make_project(reg, name)
    v2 = V2(reg, mint_token(reg, [(name, "pull,push")], lifetime=3600))
    small = os.urandom(64 << 10)
    v2.push_image(name, "latest", layers=[small])

    # a 1 GiB blob of zeros, from a sparse file: it is stored compressed (zstd), so blobd
    # decompresses it and the gateway proxies the stream, the path where a reader that never
    # drains could make either buffer
    big = os.path.join(reg.dir, "big")
    with open(big, "wb") as f:
        f.truncate(GIB)
    digest = zero_digest(GIB)
    with open(big, "rb") as f:
        r = v2.req("POST", f"/v2/{name}/blobs/uploads/", params={"digest": digest}, data=f,
                   timeout=600, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    os.unlink(big)

    def compressed():
        with open(blob_files(reg)[digest], "rb") as f:
            return f.read(4) == ZSTD_BLOB_MAGIC
    wait_for(compressed, timeout=300, interval=0.5, what="the big blob compressed")

    idle = []
    try:
        for _ in range(IDLE):
            idle.append(socket.create_connection(("127.0.0.1", reg.port), timeout=10))
        before = {d: workers_rss(reg, d) for d in ("gateway", "blobd")}

        # the slow reader: a small receive buffer, reads the head and a little, then stops
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
        slow.settimeout(30)
        slow.connect(("127.0.0.1", reg.port))
        slow.sendall(f"GET /v2/{name}/blobs/{digest} HTTP/1.1\r\nHost: x\r\n"
                     f"Authorization: {v2.s.headers['Authorization']}\r\n\r\n".encode())
        got = b""
        while b"\r\n\r\n" not in got or len(got) < 256 << 10:
            got += slow.recv(65536)
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert f"content-length: {GIB}".encode() in head.lower(), head
        assert body.count(0) == len(body), "the download's bytes are not the blob's"
        held_at = time.monotonic()

        # meanwhile another client is served, quickly
        slowest = quick_requests(reg, v2, name, small, api_id)
        assert slowest < 5, slowest

        # memory does not follow the download: sampled while the reader holds it
        samples = []
        while time.monotonic() < held_at + 8:
            samples.append({d: workers_rss(reg, d) for d in ("gateway", "blobd")})
            time.sleep(1)
        for d in ("gateway", "blobd"):
            for pid, kib in before[d].items():
                peak = max(s[d].get(pid, 0) for s in samples)
                assert peak - kib < 48 * 1024, (d, pid, kib, peak)
                # and it is not climbing at the end
                assert samples[-1][d].get(pid, 0) - samples[len(samples) // 2][d].get(
                    pid, 0) < 8 * 1024, (d, pid, samples)
        print(f"RSS KiB before {before}, last {samples[-1]}; slowest other request "
              f"{slowest:.2f} s")

        # the download is still there, unfinished, and goes on when read
        total = len(body)
        deadline = time.monotonic() + 10
        while total < (64 << 20) and time.monotonic() < deadline:
            chunk = slow.recv(1 << 20)
            assert chunk and chunk.count(0) == len(chunk)
            total += len(chunk)
        assert total >= 64 << 20
        slow.close()
        # the idle clients are all still connected: none was dropped to make room
        for s in idle[:50]:
            s.setblocking(False)
            try:
                assert s.recv(1) == b"", "an idle connection got bytes"
                raise AssertionError("an idle connection was closed")
            except BlockingIOError:
                pass
    finally:
        for s in idle:
            s.close()


def test_connections_past_the_cap_get_503_and_close(make_registry):
    cap = 40
    reg = make_registry(workers=1, extra_config={"gateway": {"max_connections": str(cap),
                                                             "idle_timeout": "600"}}).start()
    assert f"serving at most {cap} client connections per worker" in reg.log("gateway")
    held = [served_request(reg.port) for _ in range(cap)]  # each served one request, kept alive
    try:
        for path, check in (
                ("/v2/", lambda b: b["errors"][0]["code"] == "UNAVAILABLE"
                 and "too many connections" in b["errors"][0]["message"]),
                ("/api/v4/projects", lambda b: b == {
                    "message": "503 too many connections; try again later"})):
            s = connect(reg.port)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = read_all(s, 10)  # read until the server closes
            s.close()
            head, _, body = answer.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            assert lines[0] == "HTTP/1.1 503 Service Unavailable", answer[:300]
            headers = {k.lower(): v for k, v in (x.split(": ", 1) for x in lines[1:])}
            assert headers["retry-after"] == "1" and headers["connection"] == "close"
            assert check(json.loads(body)), body
        # the held clients are served as before
        s = held[0]
        s.sendall(b"GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s, 10).startswith(b"HTTP/1.1 200")
        # room again once some leave
        for s in held[:5]:
            s.close()
        held = held[5:]
        wait_for(lambda: requests.get(reg.url + "/-/health", timeout=5).status_code == 200,
                 timeout=10, what="a new connection served")
    finally:
        for s in held:
            s.close()

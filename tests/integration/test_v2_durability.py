"""Uploads that survive dying workers, concurrent pushes of the same bytes, and the purge of
abandoned uploads. These tests kill blobd's workers, so each gets a private instance."""
import hashlib
import os
import signal
import threading
import time

import pytest
import requests

from registry import wait_for
from v2util import V2, blob_files, make_project, mint_token, sha256, upload_dirs


def kill_workers(reg, daemon="blobd"):
    """SIGKILLs the daemon's workers and waits for the master to start new ones."""
    old = set(reg.worker_pids(daemon))
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(set(reg.worker_pids(daemon)) - old) >= len(old), timeout=20,
             what=f"new {daemon} workers")
    wait_for(lambda: requests.get(reg.url + "/-/readiness", timeout=2).status_code == 200,
             what="readiness")


class SlowBody:
    """A request body that sends `first` bytes, then waits for `go` before sending the rest.
    It has a length, so requests sends Content-Length rather than chunks."""

    def __init__(self, data, first, block=64 * 1024):
        self.data, self.first, self.block = data, first, block
        self.sent_first = threading.Event()
        self.go = threading.Event()

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        pos = 0
        while pos < len(self.data):
            if pos >= self.first and not self.sent_first.is_set():
                self.sent_first.set()
                self.go.wait(30)
            yield self.data[pos:pos + self.block]
            pos += self.block


def send_in_background(c, method, url, body, headers, **kw):
    result = {}

    def run():
        try:
            result["response"] = c.req(method, url, data=body, headers=headers, **kw)
        except requests.RequestException as e:
            result["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


@pytest.fixture
def reg(make_registry):
    return make_registry(workers=2).start()


def test_chunked_upload_resumes_after_workers_die(reg):
    make_project(reg, "group/project")
    c = V2(reg, mint_token(reg, [("group/project", "pull,push")]))
    data = os.urandom(6 * 1024 * 1024)
    first, second = data[:2 * 1024 * 1024], data[2 * 1024 * 1024:]
    loc = c.start_upload("group/project").headers["Location"]
    r = c.req("PATCH", loc, data=first, headers={"Content-Range": f"0-{len(first) - 1}"})
    assert r.status_code == 202
    loc = r.headers["Location"]
    # the second chunk is cut off halfway by SIGKILL
    body = SlowBody(second, first=1024 * 1024)
    t, result = send_in_background(c, "PATCH", loc, body,
                                   {"Content-Range": f"{len(first)}-{len(data) - 1}"})
    assert body.sent_first.wait(30), result
    time.sleep(0.3)
    kill_workers(reg)
    body.go.set()
    t.join(60)
    assert "error" in result or result["response"].status_code >= 500
    # the client asks where the upload stands and finishes it
    r = c.req("GET", loc)
    assert r.status_code == 204
    end = int(r.headers["Range"].split("-")[1])
    assert end == len(first) - 1  # the cut chunk was not acknowledged, so it does not count
    r = c.req("PATCH", r.headers["Location"], data=second,
              headers={"Content-Range": f"{end + 1}-{len(data) - 1}"})
    assert r.status_code == 202, r.text
    r = c.req("PUT", r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    got = c.get_blob("group/project", sha256(data))
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == sha256(data)[7:]


def test_streamed_patch_resumes_from_its_last_checkpoint(reg):
    make_project(reg, "group/project")
    c = V2(reg, mint_token(reg, [("group/project", "pull,push")]))
    block = os.urandom(1024 * 1024)
    data = block * 160
    loc = c.start_upload("group/project").headers["Location"]
    # 120 MiB leave the client: whatever sits in socket buffers, more than 64 MiB reach blobd
    body = SlowBody(data, first=120 * 1024 * 1024, block=1024 * 1024)
    t, result = send_in_background(c, "PATCH", loc, body, {})
    assert body.sent_first.wait(60)
    # let blobd write what arrived, then kill it
    wait_for(lambda: int(c.req("GET", loc).headers["Range"].split("-")[1]) >= 64 * 1024 * 1024,
             timeout=30, what="a checkpoint")
    kill_workers(reg)
    body.go.set()
    t.join(60)
    r = c.req("GET", loc)
    assert r.status_code == 204
    done = int(r.headers["Range"].split("-")[1]) + 1
    assert 64 * 1024 * 1024 <= done <= 120 * 1024 * 1024
    r = c.req("PATCH", loc, data=data[done:])
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = c.req("PUT", r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    assert c.req("HEAD", f"/v2/group/project/blobs/{sha256(data)}").headers["Content-Length"] == \
        str(len(data))


def test_killed_monolithic_upload_leaves_no_blob(reg):
    make_project(reg, "group/project")
    c = V2(reg, mint_token(reg, [("group/project", "pull,push")]))
    data = os.urandom(4 * 1024 * 1024)
    digest = sha256(data)
    body = SlowBody(data, first=2 * 1024 * 1024)
    t, result = send_in_background(c, "POST", "/v2/group/project/blobs/uploads/", body, {},
                                   params={"digest": digest})
    assert body.sent_first.wait(30)
    time.sleep(0.3)
    kill_workers(reg)
    body.go.set()
    t.join(60)
    assert "error" in result or result["response"].status_code >= 500
    assert digest not in blob_files(reg)
    r = c.req("HEAD", f"/v2/group/project/blobs/{digest}")
    assert r.status_code == 404
    # the client starts over, and that works
    assert c.push_blob("group/project", data) == digest


def test_eight_clients_push_the_same_blob_at_once(reg):
    names = [f"group/project/r{i}" for i in range(8)]
    make_project(reg, "group/project")
    c = V2(reg, mint_token(reg, [(n, "pull,push") for n in names]))
    data = os.urandom(32 * 1024 * 1024)
    digest = sha256(data)
    results = {}
    barrier = threading.Barrier(len(names))

    def push(i, name):
        client = V2(reg, mint_token(reg, [(name, "pull,push")]))
        barrier.wait()
        try:
            results[i] = client.push_blob(name, data, how=["monolithic", "stream", "put"][i % 3])
        except AssertionError as e:
            results[i] = e
    threads = [threading.Thread(target=push, args=(i, n)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [results.get(i) for i in range(len(names))] == [digest] * len(names)
    files = blob_files(reg)
    assert list(files) == [digest]  # one file for the eight repositories
    assert os.stat(files[digest]).st_nlink == 1
    for n in names:
        r = c.get_blob(n, digest)
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == digest[7:]
    assert upload_dirs(reg) == []


def test_abandoned_uploads_are_purged(make_registry):
    reg = make_registry(workers=1, extra_config={"blobd": {"upload_purge_after": "60"}}).start()
    make_project(reg, "group/project")
    c = V2(reg, mint_token(reg, [("group/project", "pull,push")]))
    old = c.start_upload("group/project").headers["Docker-Upload-UUID"]
    fresh = c.start_upload("group/project").headers["Location"]
    c.req("PATCH", fresh, data=b"still going")
    folder = os.path.join(reg.storage, "uploads", old)
    past = time.time() - 3600
    for name in os.listdir(folder):
        os.utime(os.path.join(folder, name), (past, past))
    os.utime(folder, (past, past))
    kill_workers(reg)  # a new worker purges soon after it starts
    wait_for(lambda: not os.path.exists(folder), timeout=20, what="the purge")
    r = c.req("GET", f"/v2/group/project/blobs/uploads/{old}")
    assert r.status_code == 404
    r = c.req("GET", fresh)
    assert r.status_code == 204 and r.headers["Range"] == f"0-{len(b'still going') - 1}"
    # the loop logs the round once the pool thread that removed the folder hands it back
    wait_for(lambda: "purged 1 abandoned upload" in reg.log("blobd"), timeout=10,
             what="the purge's log line")

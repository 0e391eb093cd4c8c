"""Helpers of the fault-injection tests: a client that pushes and pulls through faults and tells
the answers a fault may cause (5xx, a connection refused, reset or cut short) from the ones it
must never cause (a 2xx with wrong bytes, a 4xx, a hang), a stand-in for the service manager that
restarts a killed master, and figures read from /proc."""
import hashlib
import json
import os
import random
import socket
import threading
import time

import requests

from v2util import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256

ZSTD_BLOB_MAGIC = bytes.fromhex("5b2a4d18")  # blobd's own skippable frame (0x184D2A5B, LE)


class Retryable(Exception):
    """An answer a fault may cause: the client tries again. kind: "503", "ConnectionError",
    "cut short"..."""

    def __init__(self, kind, what):
        super().__init__(f"{what}: {kind}")
        self.kind = kind


class Violation(AssertionError):
    """An answer no fault may cause."""


def call(session, method, url, timeout=30, **kw):
    """One request; a 5xx or a connection refused, reset or cut short raises Retryable, a
    timeout (a hang) raises Violation; any other answer is returned with its body read."""
    kw.setdefault("allow_redirects", False)
    try:
        r = session.request(method, url, timeout=timeout, **kw)
        body = r.content
    except requests.exceptions.Timeout as e:
        raise Violation(f"{method} {url}: no answer within {timeout} s ({e})") from e
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
        raise Retryable(type(e).__name__, f"{method} {url}") from e
    if r.status_code >= 500:
        raise Retryable(str(r.status_code), f"{method} {url} {r.text[:200]}")
    length = r.headers.get("Content-Length")
    if method != "HEAD" and length is not None and len(body) < int(length):
        # the connection was cut mid-body (a killed worker): a short read, not a wrong body
        raise Retryable("cut short", f"{method} {url}: {len(body)} of {length} bytes")
    return r


def expect(r, *statuses):
    """Violation unless the answer has one of the statuses."""
    if r.status_code not in statuses:
        raise Violation(f"{r.request.method} {r.url}: {r.status_code} (expected {statuses}): "
                        f"{r.text[:300]}")
    return r


def layer_bytes(rng, size):
    """Half random, half text: some blobs compress at rest, some do not."""
    if rng.random() < 0.5:
        return rng.randbytes(size)
    words = [rng.randbytes(6).hex() for _ in range(64)]
    text = " ".join(rng.choice(words) for _ in range(size // 8 + 1)).encode()
    return text[:size]


class FaultClient:
    """A client of one repository that pushes images and pulls them back through faults. Every
    answer is checked: acknowledged pushes are recorded; anything a fault may not cause is a
    violation, kept in self.violations."""

    def __init__(self, reg, name, token, seed, max_layer=1536 * 1024):
        self.reg, self.name = reg, name
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + token
        self.rng = random.Random(seed)
        self.max_layer = max_layer
        self.acked = {}  # tag -> (manifest digest, manifest bytes, {digest: bytes})
        self.violations = []
        self.retries = 0
        self.errors = {}  # kind of retryable answer -> count
        self.pulls = 0
        self.deadline = float("inf")

    def url(self, path):
        return self.reg.url + path

    def retry(self, what, fn):
        """fn() until it does not raise Retryable; a Violation once self.deadline (set when the
        faults end) has passed."""
        while True:
            try:
                return fn()
            except Retryable as e:
                self.retries += 1
                self.errors[e.kind] = self.errors.get(e.kind, 0) + 1
                if time.monotonic() > self.deadline:
                    raise Violation(f"{what}: still failing after the faults ended: {e}")
                time.sleep(0.05)

    def head_absent(self, digest):
        """A blob not yet acknowledged must not be visible."""
        r = call(self.s, "HEAD", self.url(f"/v2/{self.name}/blobs/{digest}"))
        expect(r, 404)

    def upload(self, data, tried):
        """One whole upload, from the start: monolithic, or two PATCHes with a look in between
        (the blob is not there while half of it is, unless an earlier attempt's last request,
        whose answer was lost, stored it: tried["final"] says one was sent)."""
        digest = sha256(data)
        if self.rng.random() < 0.4:
            tried["final"] = True
            r = call(self.s, "POST", self.url(f"/v2/{self.name}/blobs/uploads/"),
                     params={"digest": digest}, data=data,
                     headers={"Content-Type": "application/octet-stream"})
            expect(r, 201)
        else:
            r = expect(call(self.s, "POST", self.url(f"/v2/{self.name}/blobs/uploads/")), 202)
            loc = r.headers["Location"]
            half = len(data) // 2
            for start, part in ((0, data[:half]), (half, data[half:])):
                r = call(self.s, "PATCH", self.url(loc) if loc.startswith("/") else loc,
                         data=part, headers={"Content-Type": "application/octet-stream",
                                             "Content-Range": f"{start}-{start + len(part) - 1}"})
                expect(r, 202)
                loc = r.headers["Location"]
                if start == 0 and not tried["final"]:
                    self.head_absent(digest)
            tried["final"] = True
            r = call(self.s, "PUT", self.url(loc) if loc.startswith("/") else loc,
                     params={"digest": digest})
            expect(r, 201)
        if r.headers.get("Docker-Content-Digest") != digest:
            raise Violation(f"upload of {digest} answered {r.headers}")
        return digest

    def push(self, tag):
        """Pushes an image of a config and two layers; records it once its manifest PUT
        answered 201."""
        blobs = {}
        config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag,
                             "repository": self.name,
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layers = [layer_bytes(self.rng, self.rng.randint(1024, self.max_layer)) for _ in range(2)]
        for data in [config] + layers:
            d = sha256(data)
            # fresh bytes: absent before the upload
            self.retry("HEAD before upload", lambda: self.head_absent(d))
            tried = {"final": False}
            self.retry(f"upload of {d}", lambda: self.upload(data, tried))
            blobs[d] = data
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
             "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
             "layers": [{"mediaType": OCI_LAYER, "digest": sha256(x), "size": len(x)}
                        for x in layers]}
        body = json.dumps(m).encode()

        def put():
            r = call(self.s, "PUT", self.url(f"/v2/{self.name}/manifests/{tag}"), data=body,
                     headers={"Content-Type": OCI_MANIFEST})
            expect(r, 201)
            if r.headers.get("Docker-Content-Digest") != sha256(body):
                raise Violation(f"manifest PUT answered {r.headers}")
        self.retry(f"manifest {tag}", put)
        self.acked[tag] = (sha256(body), body, blobs)

    def pull(self, tag, by_digest=False):
        """Pulls an acknowledged image and checks every byte."""
        digest, body, blobs = self.acked[tag]

        def manifest():
            ref = digest if by_digest else tag
            r = expect(call(self.s, "GET", self.url(f"/v2/{self.name}/manifests/{ref}"),
                            headers={"Accept": OCI_MANIFEST}), 200)
            if r.content != body:
                raise Violation(f"manifest {ref}: wrong bytes {r.content[:200]!r}")
        self.retry(f"manifest {tag}", manifest)
        for d, data in blobs.items():
            def blob():
                r = expect(call(self.s, "GET", self.url(f"/v2/{self.name}/blobs/{d}")), 200)
                if r.content != data:
                    raise Violation(f"blob {d}: {len(r.content)} bytes, not the {len(data)} "
                                    "pushed")
            self.retry(f"blob {d}", blob)
        self.pulls += 1

    def run(self, stop):
        """Pushes and pulls until stop is set; a violation ends the loop."""
        n = 0
        try:
            while not stop.is_set():
                tag = f"v{n}"
                n += 1
                self.push(tag)
                self.pull(self.rng.choice(list(self.acked)))
        except Violation as e:
            self.violations.append(str(e))
        except Exception as e:  # noqa: BLE001 - anything unexpected is a failure of the test
            self.violations.append(f"{type(e).__name__}: {e}")


class ServiceManager:
    """What an operator's service manager does for the daemons of one instance (systemd with
    Restart=always): a master that exits is started again after restart_sec. Each start that
    fails (its socket still held by the old workers draining) is retried the same way. The
    supervisor itself never restarts a master (test_supervisor.py: its workers exit with it)."""

    def __init__(self, reg, restart_sec=0.2):
        self.reg = reg
        self.restart_sec = restart_sec
        self.stop = threading.Event()
        self.restarts = {d: 0 for d in reg.procs}
        self.exited = []  # every master process that ended, reaped
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)

    def watch(self):
        while not self.stop.is_set():
            for d, p in list(self.reg.procs.items()):
                if p.poll() is not None:
                    self.exited.append(p)
                    time.sleep(self.restart_sec)
                    self.reg.start_daemon(d)
                    self.restarts[d] += 1
            time.sleep(0.02)

    def all_running(self):
        return all(p.poll() is None for p in self.reg.procs.values())


def rss_kib(pid):
    """Resident memory of a process, KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def hash_stored_file(path):
    """The digest of a blob file's content, decompressing blobd's zstd form."""
    import subprocess
    with open(path, "rb") as f:
        head = f.read(4)
    if head == ZSTD_BLOB_MAGIC:
        out = subprocess.run(["zstd", "-dcq", path], capture_output=True, check=True).stdout
        return "sha256:" + hashlib.sha256(out).hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def port_answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False

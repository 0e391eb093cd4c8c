"""Raw HTTP over sockets for tests that need to misbehave: slow, short, malformed or vanishing
clients, and a bounded load generator to check that no request is refused while daemons reload."""
import socket
import threading
import time

import requests


def connect(port, host="127.0.0.1", timeout=10):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s, timeout=10):
    """Everything the server sends until it closes (or timeout); a reset ends it too."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_response(s, timeout=10):
    """One whole answer with a Content-Length (the connection stays open): its bytes."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            _, headers, _ = parse(data)
            if len(body) >= int(headers.get("content-length", 0)):
                return data
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    raise AssertionError(f"no whole answer within {timeout}s: {data[:300]!r}")


def served_request(port, path="/-/health", timeout=30):
    """A new connection on which a request was served, so a worker has taken it (it waits for
    the next request); a signal sent to the daemon after this finds the connection in hand."""
    s = connect(port, timeout=timeout)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = parse(read_response(s, timeout))
    assert status == 200 and headers.get("connection") != "close", (status, headers)
    return s


def exchange(port, payload, timeout=10):
    """Sends payload on a new connection and returns the whole answer."""
    with connect(port, timeout=timeout) as s:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_all(s, timeout)


def parse(answer):
    """(status, headers with lowercase names, body) of the first answer in a byte string."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return status, headers, body


class Hammer:
    """Threads sending requests on fresh connections until stopped; records every failure.
    Bounded: it stops by itself after max_seconds."""

    def __init__(self, url, paths, threads=2, max_seconds=120, expect=200):
        self.url = url
        self.paths = paths
        self.expect = expect
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]

    def _run(self, n):
        i = n
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                # a new connection each time: a kept-alive one that the server closes while
                # draining is a race every HTTP client retries on, not a refused request
                r = requests.get(self.url + path, timeout=30, headers={"Connection": "close"})
                good = r.status_code == self.expect
                why = f"{path}: {r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                good, why = False, f"{path}: {e}"
            with self._lock:
                if good:
                    self.ok += 1
                else:
                    self.failures.append(why)

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(60)

"""Malformed and hostile HTTP at the public listener: each gets its 4xx (or a timeout), and the
worker goes on serving the next client. A private instance with one gateway worker and short
timeouts, so that every case lands on the same worker."""
import json
import socket
import time

import pytest
import requests

from rawhttp import connect, exchange, parse, read_all

TIMEOUTS = {"header_timeout": "2", "body_timeout": "2", "idle_timeout": "3"}


@pytest.fixture(scope="module")
def strict(pg, workdir):
    from conftest import _new_registry
    reg = _new_registry(pg, workdir, workers=1, extra_config={"gateway": dict(TIMEOUTS)})
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture
def gw(strict):
    """The instance, checked after each test: same gateway worker, still serving."""
    workers = strict.worker_pids("gateway")
    yield strict
    r = requests.get(strict.url + "/-/health", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert strict.worker_pids("gateway") == workers, "the gateway worker died"
    assert "killed by signal" not in strict.log("gateway")


def answer_status(raw):
    return parse(raw)[0]


def test_bad_request_line(gw):
    for line in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9\r\n\r\n",
                 b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"):
        raw = exchange(gw.port, line)
        status, headers, body = parse(raw)
        assert status == 400, (line, raw[:200])
        assert headers["connection"] == "close"
        assert body.startswith(b"{")


def test_request_target_not_a_path(gw):
    status, _, _ = parse(exchange(gw.port, b"GET nopath HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 400
    status, _, _ = parse(exchange(gw.port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"))
    assert status in (400, 505)


def test_huge_header_gets_431(gw):
    raw = exchange(gw.port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024)
                   + b"\r\n\r\n")
    status, headers, body = parse(raw)
    assert status == 431, raw[:200]
    assert b"too large" in body


def test_protocol_errors_speak_the_dialect_of_the_path(gw):
    """/v2 (with or without a query) gets an OCI error body, anything else GitLab's."""
    big = b"X-Big: " + b"a" * (100 * 1024) + b"\r\n"
    for target, oci in ((b"/v2/", True), (b"/v2?n=1", True), (b"/v2/a/tags/list?n=1", True),
                        (b"/v2x", False), (b"/api/v4/projects", False)):
        raw = exchange(gw.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        status, _, body = parse(raw)
        assert status == 431, (target, raw[:200])
        if oci:
            assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED", (target, body)
        else:
            assert json.loads(body)["message"].startswith("431 "), (target, body)


def test_error_dialect_does_not_depend_on_how_the_target_arrived(gw):
    """A request line broken off inside its target (a bad byte, or past the target's limit)
    gets the same answer whether its first bytes came in a segment of their own or not: the
    part read before the error says nothing of the dialect."""
    for line in (b"GET /v2/acme/web/manifests/lat\x01est HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /v2/acme/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
        whole = exchange(gw.port, line)
        with connect(gw.port) as s:
            s.sendall(line[:20])  # "GET /v2/acme/web/ma": a /v2 target so far
            time.sleep(0.3)
            try:
                s.sendall(line[20:])
            except (BrokenPipeError, ConnectionResetError):
                pass
            cut = read_all(s)
        status, _, body = parse(whole)
        assert status in (400, 414), whole[:200]
        assert parse(cut)[0] == status and parse(cut)[2] == body, (whole[:300], cut[:300])


def test_too_many_headers_gets_431(gw):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    status, _, _ = parse(exchange(gw.port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"))
    assert status == 431


def test_long_target_gets_414(gw):
    status, _, _ = parse(exchange(gw.port, b"GET /v2/" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n"))
    assert status == 414


def test_invalid_chunk_size(gw):
    raw = exchange(gw.port, b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n")
    status, _, body = parse(raw)
    assert status == 400, raw[:300]
    assert b"invalid chunk size" in body


def test_conflicting_lengths_are_refused(gw):
    raw = exchange(gw.port, b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
    assert answer_status(raw) == 400
    raw = exchange(gw.port, b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: -1\r\n\r\n")
    assert answer_status(raw) == 400


def test_body_shorter_than_content_length(gw):
    """The client promises 1000 bytes and sends 10 to an endpoint that reads its body: 408 at the
    body timeout, and the connection ends."""
    s = connect(gw.port)
    start = time.monotonic()
    s.sendall(b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"PRIVATE-TOKEN: " + gw.root_token.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
              + b'{"name": "')
    raw = read_all(s, 15)
    elapsed = time.monotonic() - start
    s.close()
    status, _, body = parse(raw)
    assert status == 408, raw[:200]
    assert json.loads(body) == {"message": "408 request body not received in time"}
    assert int(TIMEOUTS["body_timeout"]) - 0.5 < elapsed < int(TIMEOUTS["body_timeout"]) + 4, \
        "the answer did not come at the body timeout"


def test_one_byte_per_second_gets_408(gw):
    """A client trickling its request line: cut off at the header timeout, whatever it does."""
    s = connect(gw.port)
    start = time.monotonic()
    request = b"GET /v2/ HTTP/1.1\r\nHost: slowloris\r\n\r\n"
    answer = b""
    s.settimeout(0.5)
    for b in request:
        try:
            s.sendall(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            chunk = s.recv(65536)
            if chunk:
                answer += chunk
            else:
                break
        except socket.timeout:
            pass
        if answer or time.monotonic() - start > 8:
            break
    answer += read_all(s, 5)
    s.close()
    elapsed = time.monotonic() - start
    status, headers, body = parse(answer)
    assert status == 408, answer[:200]
    assert b"not received in time" in body
    assert 1.5 < elapsed < int(TIMEOUTS["header_timeout"]) + 3


def test_idle_connection_is_closed(gw):
    s = connect(gw.port)
    start = time.monotonic()
    data = read_all(s, 10)
    assert data == b""
    assert time.monotonic() - start < int(TIMEOUTS["idle_timeout"]) + 2
    s.close()


def test_keep_alive_and_pipelining_still_work(gw):
    raw = exchange(gw.port, b"GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /-/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.count(b"HTTP/1.1 200 OK") == 2
    assert raw.count(b"HTTP/1.1 401 Unauthorized") == 1


def test_many_bad_clients_at_once(gw):
    """Every kind at once, concurrently, then a good request."""
    socks = []
    payloads = [b"GARBAGE\r\n\r\n", b"GET /v2/ HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
                b"POST /api/v4/projects HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nQ\r\n",
                b"GET /v2/ HTTP/1.1\r\n", b""]
    for i in range(30):
        s = connect(gw.port)
        try:
            s.sendall(payloads[i % len(payloads)])
        except (BrokenPipeError, ConnectionResetError):
            pass
        socks.append(s)
    r = requests.get(gw.url + "/-/health", timeout=10)
    assert r.status_code == 200
    for s in socks:
        s.close()


def test_huge_header_still_answered_while_client_keeps_sending(gw):
    """4 MiB of header: the worker answers 431 early and must not reset the connection under
    the client, which is still writing, so the client can read the answer."""
    for _ in range(3):
        raw = exchange(gw.port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (4 << 20)
                       + b"\r\n\r\n")
        assert parse(raw)[0] == 431, raw[:100]


def test_http10_and_absolute_form(gw):
    raw = exchange(gw.port, b"GET /-/health HTTP/1.0\r\n\r\n")
    status, headers, body = parse(raw)
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers["content-length"] == str(len(body))
    raw = exchange(gw.port, b"GET http://registry.example.com/-/health HTTP/1.1\r\n"
                            b"Host: registry.example.com\r\nConnection: close\r\n\r\n")
    assert parse(raw)[0] == 200
    for target in (b"http://", b"https://", b"http:/x"):
        raw = exchange(gw.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n")
        assert parse(raw)[0] in (400, 404), (target, raw[:200])
    # http://h is "/" on host h: the web interface's home page
    raw = exchange(gw.port, b"GET http://h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, _ = parse(raw)
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"


def test_request_smuggling_shapes_are_refused(gw):
    """Both Content-Length and chunked, or an unknown coding: refused, never forwarded."""
    for head in (b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                 b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                 b"Transfer-Encoding: gzip\r\n",
                 b"Transfer-Encoding: chunked, identity\r\n"):
        raw = exchange(gw.port, b"POST /api/v4/projects HTTP/1.1\r\nHost: x\r\n" + head
                       + b"\r\n0\r\n\r\n")
        status = parse(raw)[0]
        assert status == 400, (head, raw[:300])

"""While a request body streams in, the gateway's worker is woken by its client's socket once a
quarter MiB has arrived, or 2 ms after its last read, not for every piece the client sends
(common/http_pace.c). A body whose last piece is smaller than that and comes after a pause,
chunked or with a Content-Length, is still answered at once, and so is the next request on the
connection; a client that sends 32 KiB chunks wakes the gateway far fewer times than it sends
chunks, and the blob arrives whole."""
import hashlib
import os
import time

from rawhttp import connect, parse, read_response
from v2util import V2, make_project, mint_token

KiB = 1024


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def client(reg, path):
    make_project(reg, path)
    return V2(reg, mint_token(reg, [(path, "pull,push")]))


def send_patch(s, reg, c, loc, pieces, chunked, gap=0.0):
    """A PATCH of the pieces on socket s, each framed as a chunk when chunked, gap seconds apart;
    the time the last byte left."""
    framing = ("Transfer-Encoding: chunked" if chunked
               else f"Content-Length: {sum(len(p) for p in pieces)}")
    s.sendall((f"PATCH {loc} HTTP/1.1\r\nHost: {reg.host}\r\n"
               f"Authorization: {c.s.headers['Authorization']}\r\n"
               f"Content-Type: application/octet-stream\r\n{framing}\r\n\r\n").encode())
    for i, piece in enumerate(pieces):
        if i > 0 and gap:
            time.sleep(gap)
        s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
    if chunked:
        s.sendall(b"0\r\n\r\n")
    return time.monotonic()


def voluntary_switches(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def test_a_short_last_piece_after_a_pause_is_answered_at_once(make_registry):
    reg = make_registry(workers=1).start()
    c = client(reg, "pace/project")
    for chunked in (True, False):
        pieces = [os.urandom(600 * KiB), os.urandom(1000)]  # paced from 256 KiB on
        data = b"".join(pieces)
        loc = c.start_upload("pace/project").headers["Location"]
        s = connect(reg.port)
        sent = send_patch(s, reg, c, loc, pieces, chunked, gap=0.3)
        status, headers, _ = parse(read_response(s))
        waited = time.monotonic() - sent
        assert status == 202, (chunked, status)
        assert waited < 2, (chunked, waited)  # not the body timeout
        # the next request on the connection is not paced
        s.sendall((f"PUT {headers['location']}{'&' if '?' in headers['location'] else '?'}"
                   f"digest={digest_of(data)} HTTP/1.1\r\nHost: {reg.host}\r\n"
                   f"Authorization: {c.s.headers['Authorization']}\r\n"
                   f"Content-Length: 0\r\n\r\n").encode())
        asked = time.monotonic()
        status, _, _ = parse(read_response(s))
        assert status == 201, (chunked, status)
        assert time.monotonic() - asked < 2
        s.close()
        assert c.get_blob("pace/project", digest_of(data)).content == data


def test_small_chunks_wake_the_gateway_seldom(make_registry):
    reg = make_registry(workers=1).start()
    c = client(reg, "seldom/project")
    c.push_blob("seldom/project", os.urandom(4 * KiB), how="put")  # the backend pool, warm
    pieces = [os.urandom(32 * KiB) for _ in range(256)]
    data = b"".join(pieces)
    loc = c.start_upload("seldom/project").headers["Location"]
    s = connect(reg.port)
    pids = reg.worker_pids("gateway")
    before = voluntary_switches(pids)
    send_patch(s, reg, c, loc, pieces, chunked=True, gap=0.0003)
    status, headers, _ = parse(read_response(s))
    woken = voluntary_switches(pids) - before
    s.close()
    assert status == 202, status
    # one wake-up per chunk without pacing; a quarter MiB or 2 ms per wake-up with it
    assert woken < len(pieces) // 2, woken
    assert c.req("PUT", headers["location"], params={"digest": digest_of(data)}).status_code == 201
    assert c.get_blob("seldom/project", digest_of(data)).content == data

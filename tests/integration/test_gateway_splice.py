"""Large request bodies pass the gateway by splice() ([gateway] splice_bodies): the bytes reach
blobd whole and in order, on kept-alive connections, for monolithic and chunked uploads; a client
that leaves mid-body or a backend that answers before the body's end leaves nothing behind; and
with the setting off the same uploads go the old way. registry_gateway_spliced_bytes_total on
/metrics tells how many bytes went past the gateway's memory."""
import hashlib
import os
import re
import socket
import time

from v2util import V2, make_project, mint_token

MiB = 1024 * 1024


def spliced(reg):
    """The gateway's count of spliced body bytes (0 before any)."""
    text = V2(reg).req("GET", "/metrics").text
    m = re.search(r'^registry_gateway_spliced_bytes_total\{daemon="gateway"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else 0


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def client(reg, path):
    make_project(reg, path)
    return V2(reg, mint_token(reg, [(path, "pull,push")]))


def gateway_fds(reg):
    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in reg.worker_pids("gateway"))


def test_large_bodies_are_spliced_whole_on_one_connection(make_registry):
    reg = make_registry(workers=1).start()
    c = client(reg, "sp/project")
    before = spliced(reg)
    blobs = [os.urandom(8 * MiB + 17), os.urandom(3 * MiB + 1)]
    # two monolithic uploads and a chunked one on the same kept-alive session
    for data in blobs:
        assert c.push_blob("sp/project", data, how="monolithic") == digest_of(data)
    chunked = os.urandom(9 * MiB)
    assert c.push_blob("sp/project", chunked, how="chunked", chunk=3 * MiB) == digest_of(chunked)
    for data in blobs + [chunked]:
        r = c.get_blob("sp/project", digest_of(data))
        assert r.status_code == 200 and r.content == data
    moved = spliced(reg) - before
    total = sum(len(d) for d in blobs) + len(chunked)
    # all but what each of the five requests' connection read before the proxy took the body
    # (its input's high-water mark, 256 KiB, and one read past it, 256 KiB) and their last bytes
    assert total - 5 * (512 * 1024 + 1) <= moved < total, (moved, total)


def test_small_bodies_and_the_setting_off_take_the_old_way(make_registry):
    reg = make_registry(workers=1, extra_config={"gateway": {"splice_bodies": "false"}}).start()
    c = client(reg, "off/project")
    data = os.urandom(6 * MiB)
    assert c.push_blob("off/project", data, how="put") == digest_of(data)
    assert c.get_blob("off/project", digest_of(data)).content == data
    assert spliced(reg) == 0
    reg2 = make_registry(workers=1).start()
    c2 = client(reg2, "small/project")
    small = os.urandom(MiB // 2)
    assert c2.push_blob("small/project", small, how="put") == digest_of(small)
    assert spliced(reg2) == 0


def test_a_client_leaving_mid_body_leaves_nothing(make_registry):
    reg = make_registry(workers=1).start()
    c = client(reg, "gone/project")
    data = os.urandom(16 * MiB)
    c.push_blob("gone/project", os.urandom(2 * MiB), how="put")  # the backend pool, warm
    fds = gateway_fds(reg)
    for _ in range(3):
        r = c.start_upload("gone/project")
        assert r.status_code == 202
        loc = r.headers["Location"]
        s = socket.create_connection((reg.host.split(":")[0], int(reg.host.split(":")[1])))
        s.sendall((f"PATCH {loc} HTTP/1.1\r\nHost: {reg.host}\r\n"
                   f"Authorization: {c.s.headers['Authorization']}\r\n"
                   f"Content-Type: application/octet-stream\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode())
        s.sendall(data[:10 * MiB])
        time.sleep(0.3)
        s.close()
        # the session took nothing it can be asked to finish: the PUT with the digest fails
        deadline = time.monotonic() + 10
        while True:
            r = c.req("PUT", loc, params={"digest": digest_of(data)})
            if r.status_code != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code in (400, 404), r.text
    # the gateway holds no pipe or socket of the cut requests, and serves the next one
    deadline = time.monotonic() + 5
    while gateway_fds(reg) > fds and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gateway_fds(reg) <= fds
    assert c.push_blob("gone/project", data, how="put") == digest_of(data)


def test_a_backend_answering_before_the_body_ends(make_registry):
    reg = make_registry(workers=1).start()
    c = client(reg, "early/project")
    data = os.urandom(12 * MiB)
    # an upload session that does not exist: blobd answers at once, the body still coming
    r = c.req("PATCH", "/v2/early/project/blobs/uploads/0123456789abcdef0123456789abcdef",
              data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    # the gateway goes on serving, spliced uploads included
    before = spliced(reg)
    assert c.push_blob("early/project", data, how="put") == digest_of(data)
    assert spliced(reg) > before

"""A full disk: blobd's storage_root on a small tmpfs the test mounts. Uploads fail with a clear
error (507, OCI UNKNOWN, "storage is full"), nothing partial becomes visible, what is stored and
the metadata stay as they were, and pushes work again once space is freed. Mounting needs root."""
import os
import subprocess

import pytest

from registry import wait_for
from v2util import V2, make_project, mint_token, sha256

SIZE_MIB = 48


@pytest.fixture
def small_disk(workdir):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path = os.path.join(workdir, f"disk-{os.getpid()}")
    os.makedirs(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MIB}m,mode=0755", "tmpfs", path],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)
        os.rmdir(path)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """A file that leaves `leave` bytes free on the filesystem; returns its path."""
    filler = os.path.join(path, "filler")
    with open(filler, "ab") as f:
        f.truncate(0)
        chunk = b"\xff" * (1 << 20)
        while free_bytes(path) > leave + len(chunk):
            f.write(chunk)
            f.flush()
        rest = free_bytes(path) - leave
        if rest > 0:
            f.write(b"\xff" * rest)
        f.flush()
    return filler


def assert_full(r, what):
    assert r.status_code == 507, (what, r.status_code, r.text)
    err = r.json()["errors"][0]
    assert err["code"] == "UNKNOWN" and "storage is full" in err["message"], (what, r.text)


def test_full_disk(make_registry, small_disk):
    reg = make_registry(workers=1, extra_config={"blobd": {"storage_root": small_disk}}).start()
    make_project(reg, "disk/app")
    v2 = V2(reg, mint_token(reg, [("disk/app", "pull,push")]))
    before_digest, before = v2.push_image("disk/app", "before")
    tags = v2.req("GET", "/v2/disk/app/tags/list").json()

    filler = fill(small_disk, 2 << 20)  # 2 MiB left
    big = os.urandom(12 << 20)
    digest = sha256(big)
    used = SIZE_MIB * (1 << 20) - free_bytes(small_disk)

    # a monolithic upload: 507, no session left, the space it took given back
    r = v2.req("POST", "/v2/disk/app/blobs/uploads/", params={"digest": digest}, data=big)
    assert_full(r, "monolithic")
    assert v2.req("HEAD", f"/v2/disk/app/blobs/{digest}").status_code == 404
    wait_for(lambda: [d for d in os.listdir(os.path.join(small_disk, "uploads"))
                      if not d.startswith(".")] == [], timeout=10, what="the session removed")
    assert SIZE_MIB * (1 << 20) - free_bytes(small_disk) <= used + (64 << 10)

    # a streamed PATCH: 507, the session keeps what it had acknowledged (nothing) and can go
    # on once there is room
    r = v2.req("POST", "/v2/disk/app/blobs/uploads/")
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    half = len(big) // 2
    r = v2.req("PATCH", loc, data=big[:half], headers={"Content-Range": f"0-{half - 1}"})
    assert_full(r, "PATCH")
    assert v2.req("HEAD", f"/v2/disk/app/blobs/{digest}").status_code == 404
    r = v2.req("GET", loc)
    assert r.status_code == 204, r.text
    assert r.headers.get("Range") in (None, "0-0"), r.headers
    assert SIZE_MIB * (1 << 20) - free_bytes(small_disk) <= used + (64 << 10)

    # a manifest naming the blob that failed is refused; the tags are as they were
    m = dict(before, layers=[{"mediaType": before["layers"][0]["mediaType"], "digest": digest,
                              "size": len(big)}])
    r = v2.put_manifest("disk/app", "broken", m)
    assert r.status_code == 400 and v2.error_code(r) == "MANIFEST_BLOB_UNKNOWN", r.text
    assert v2.req("GET", "/v2/disk/app/tags/list").json() == tags

    # not one byte free: even starting an upload says so
    fd = os.open(filler, os.O_WRONLY | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\xff" * 4096)
    except OSError as e:
        assert e.errno == 28
    finally:
        os.close(fd)
    assert free_bytes(small_disk) == 0
    r = v2.req("POST", "/v2/disk/app/blobs/uploads/", params={"digest": sha256(b"tiny")},
               data=b"tiny")
    assert_full(r, "tiny monolithic")
    r = v2.req("POST", "/v2/disk/app/blobs/uploads/")
    assert r.status_code in (202, 507), r.text
    if r.status_code == 507:
        assert_full(r, "start")

    # what was stored is intact
    r = v2.get_manifest("disk/app", "before")
    assert r.status_code == 200 and sha256(r.content) == before_digest
    for layer in before["layers"]:
        assert v2.get_blob("disk/app", layer["digest"]).status_code == 200

    # room again: the interrupted upload goes on from where it was, a new push works
    os.unlink(filler)
    r = v2.req("PATCH", loc, data=big[:half], headers={"Content-Range": f"0-{half - 1}"})
    assert r.status_code == 202, r.text
    r = v2.req("PATCH", r.headers["Location"], data=big[half:],
               headers={"Content-Range": f"{half}-{len(big) - 1}"})
    assert r.status_code == 202, r.text
    r = v2.req("PUT", r.headers["Location"], params={"digest": digest})
    assert r.status_code == 201, r.text
    assert v2.get_blob("disk/app", digest).content == big
    v2.push_image("disk/app", "after", layers=[os.urandom(4 << 20), b"small"])
    assert v2.get_manifest("disk/app", "after").status_code == 200

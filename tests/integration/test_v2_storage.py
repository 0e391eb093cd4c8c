"""The /v2 API over each storage driver: the filesystem and S3 (a real Ceph RADOS Gateway, fixture
ceph_rgw). What a client sees must not depend on the driver: large layers (a multipart upload to
S3), ranges, HEAD, reads from a slow client, skopeo round trips, and a blob missing from storage.
With [blobd] redirect = true (S3 only), a GET is answered 307 to a pre-signed URL of the blob's
object, and only for a repository that links the blob."""
import hashlib
import os
import re
import shutil
import subprocess
import time

import pytest
import requests

from images import Layout
from registry import Registry, skopeo, tmpdir, wait_for
from v2util import V2, client, make_project, mint_token, remove_blob_file, sha256

MIB = 1 << 20


@pytest.fixture(scope="module")
def big():
    """40 MiB of random bytes: three parts of the default s3_part_size (16 MiB)."""
    return os.urandom(40 * MIB)


def daemon_rss(reg, daemon):
    """The resident KiB of a daemon's processes (master and workers)."""
    out = subprocess.run(["pgrep", "-f", f"registry-{daemon} -c {reg.config_path}"],
                         capture_output=True, text=True).stdout.split()
    total = 0
    for pid in out:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def test_large_layer_chunked_ranges_and_head(any_registry, uniq, big):
    """A 40 MiB layer pushed in 8 MiB chunks, read whole, in ranges across the parts' borders,
    and with HEAD; on S3 it is one object, sent as a multipart upload."""
    reg = any_registry
    name = f"{uniq}/big"
    make_project(reg, name)
    c = client(reg, (name, "pull,push"))
    digest = c.push_blob(name, big, how="chunked", chunk=8 * MIB)
    r = c.get_blob(name, digest)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == digest[7:]
    for first, last in ((0, 0), (16 * MIB - 5, 16 * MIB + 5), (32 * MIB - 1, 40 * MIB - 1),
                        (40 * MIB - 1000, 40 * MIB - 1)):
        r = c.get_blob(name, digest, headers={"Range": f"bytes={first}-{last}"})
        assert r.status_code == 206
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{len(big)}"
        assert r.content == big[first:last + 1]
    r = c.get_blob(name, digest, headers={"Range": f"bytes={len(big)}-"})
    assert r.status_code == 416
    r = c.req("HEAD", f"/v2/{name}/blobs/{digest}")
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(big))
    assert r.headers["Docker-Content-Digest"] == digest
    if reg.s3 is not None:
        head = reg.s3.client().head_object(Bucket=reg.s3.bucket, Key=reg.s3_blob_key(digest))
        assert head["ContentLength"] == len(big)
        assert head["ETag"].endswith('-3"'), head["ETag"]  # three parts


def test_a_slow_client_holds_the_transfer_back(any_registry, uniq, big):
    """A client that reads slowly gets every byte, while blobd and the gateway hold a bounded
    part of the blob: the S3 transfer is paused while the answer's output is full."""
    reg = any_registry
    name = f"{uniq}/slow"
    make_project(reg, name)
    c = client(reg, (name, "pull,push"))
    digest = c.push_blob(name, big)
    before = daemon_rss(reg, "blobd") + daemon_rss(reg, "gateway")
    r = c.get_blob(name, digest, stream=True)
    assert r.status_code == 200
    it = r.iter_content(64 << 10)
    got = [next(it)]
    time.sleep(3)  # the store serves 40 MiB well within this if nothing holds it back
    held = daemon_rss(reg, "blobd") + daemon_rss(reg, "gateway") - before
    got.extend(it)
    assert hashlib.sha256(b"".join(got)).hexdigest() == digest[7:]
    assert held < 24 * 1024, f"{held} KiB held for a reader that waits"


def test_a_blob_missing_from_storage_is_unknown(any_registry, uniq):
    """Metadata naming a blob its storage lost: 404 BLOB_UNKNOWN (and a log line), not a hang
    or a 500 with bytes."""
    reg = any_registry
    name = f"{uniq}/lost"
    make_project(reg, name)
    c = client(reg, (name, "pull,push"))
    data = f"lost {uniq}".encode() * 1000
    digest = c.push_blob(name, data)
    remove_blob_file(reg, digest)
    r = c.get_blob(name, digest)
    assert r.status_code == 404 and c.error_code(r) == "BLOB_UNKNOWN"
    assert c.req("HEAD", f"/v2/{name}/blobs/{digest}").status_code == 404
    # pushed again, it is stored again
    assert c.push_blob(name, data) == digest
    assert c.get_blob(name, digest).content == data


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """An OCI layout with a two-layer image, a second architecture and an index of both."""
    lay = Layout(str(tmp_path_factory.mktemp("src")))
    shared = {"etc/os-release": b"NAME=test\n" * 50}
    amd = lay.image([shared, {"bin/app": os.urandom(400_000)}], "amd64", label="amd")
    arm = lay.image([shared, {"bin/app": os.urandom(300_000)}], "arm64", label="arm")
    lay.tag(lay.index([amd, arm]), "multi")
    return lay


def test_skopeo_round_trip_and_mount(any_registry, uniq, source):
    """skopeo pushes an index of two images, copies it to another repository (mounts), and
    pulls it back byte for byte."""
    reg = any_registry
    a, b = f"{uniq}/a", f"{uniq}/b"
    make_project(reg, a)
    make_project(reg, b)
    token = mint_token(reg, [(a, "pull,push"), (b, "pull,push")])
    skopeo("copy", "--all", "--dest-registry-token", token, "--dest-tls-verify=false",
           f"oci:{source.path}:multi", f"docker://{reg.host}/{a}:multi")
    skopeo("copy", "--all", "--src-registry-token", token, "--dest-registry-token", token,
           "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{reg.host}/{a}:multi", f"docker://{reg.host}/{b}:multi")
    back = tmpdir("back-")
    try:
        skopeo("copy", "--all", "--src-registry-token", token, "--src-tls-verify=false",
               f"docker://{reg.host}/{b}:multi", f"oci:{back}:multi")
        assert Layout(back).blobs() == source.blobs()
        for digest in source.blobs():
            with open(os.path.join(back, "blobs", "sha256", digest[7:]), "rb") as f:
                assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == digest
    finally:
        shutil.rmtree(back, ignore_errors=True)


# ---- [blobd] redirect = true ------------------------------------------------------------------


@pytest.fixture(scope="module")
def redirecting(pg, workdir, ceph_rgw):
    """An instance on S3 that answers blob GETs with 307 to a pre-signed URL (a minute)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    reg = Registry(pg, workdir, f"redir_{worker}", s3=ceph_rgw,
                   extra_config={"blobd": {"redirect": "true", "redirect_expiry": "60"}})
    reg.start()
    yield reg
    reg.stop()


def curl(*args):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=120)


def test_redirect_to_a_presigned_url(redirecting, uniq):
    """A GET of a linked blob is a 307 to the store, valid redirect_expiry seconds; curl
    following it gets the bytes, and a Range goes through to the store."""
    reg = redirecting
    name = f"{uniq}/redir"
    make_project(reg, name)
    token = mint_token(reg, [(name, "pull,push")])
    c = V2(reg, token)
    data = os.urandom(3 * MIB + 17)
    digest = c.push_blob(name, data)
    r = c.get_blob(name, digest)
    assert r.status_code == 307, r.text
    loc = r.headers["Location"]
    assert loc.startswith(reg.s3.endpoint + "/" + reg.s3.bucket + "/" + reg.s3_blob_key(digest))
    assert "X-Amz-Expires=60" in loc and "X-Amz-Signature=" in loc
    assert r.headers["Docker-Content-Digest"] == digest
    assert reg.s3.secret_key not in loc
    # the URL alone reads the object (no registry token)
    assert requests.get(loc, timeout=60).content == data
    # curl follows the redirect with the registry's token, as clients do
    url = f"{reg.url}/v2/{name}/blobs/{digest}"
    out = curl("-L", "-f", "-H", f"Authorization: Bearer {token}", url)
    assert out.returncode == 0, out.stderr
    assert out.stdout == data
    out = curl("-L", "-f", "-H", f"Authorization: Bearer {token}", "-r", "1000-1999", url)
    assert out.returncode == 0, out.stderr
    assert out.stdout == data[1000:2000]
    # HEAD is answered by the registry (no redirect)
    r = c.req("HEAD", f"/v2/{name}/blobs/{digest}")
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(data))


def test_redirect_needs_a_link(redirecting, uniq):
    """A repository that does not link the blob gets 404 (or 401 without a token), never a URL,
    whoever knows the digest."""
    reg = redirecting
    a, b = f"{uniq}/a", f"{uniq}/b"
    make_project(reg, a)
    make_project(reg, b)
    ca = client(reg, (a, "pull,push"))
    cb = client(reg, (b, "pull,push"))
    data = f"not yours {uniq}".encode() * 100
    digest = ca.push_blob(a, data)
    r = cb.get_blob(b, digest)
    assert r.status_code == 404 and cb.error_code(r) == "BLOB_UNKNOWN"
    assert "Location" not in r.headers
    r = requests.get(f"{reg.url}/v2/{a}/blobs/{digest}", allow_redirects=False, timeout=30)
    assert r.status_code == 401 and "Location" not in r.headers
    # a blob nobody pushed
    r = ca.get_blob(a, sha256(b"never pushed " + uniq.encode()))
    assert r.status_code == 404 and "Location" not in r.headers


# ---- readiness -----------------------------------------------------------------------------


def test_readiness_asks_the_object_store(make_registry, ceph_rgw, registry_s3):
    """On S3, blobd is ready only when the bucket answers with its credentials: an instance
    pointed at a bucket that does not exist starts, and says it is not ready, and why."""
    assert requests.get(registry_s3.url + "/-/readiness", timeout=10).status_code == 200
    reg = make_registry(s3=ceph_rgw)
    reg.sections["blobd"]["s3_bucket"] = "no-such-bucket"
    reg.write_config()
    reg.start(wait=False)

    def not_ready():  # a tuple: a 503 Response is falsy
        r = requests.get(reg.url + "/-/readiness", timeout=5)
        return (r,) if "object storage" in r.text else None
    r, = wait_for(not_ready, timeout=30, what="readiness naming the object store")
    assert r.status_code == 503, r.text
    assert r.json()["checks"]["blobd"] == "not ready: object storage unavailable", r.text
    assert "does not answer" in reg.log("blobd")


def s3_requests(reg):
    """blobd's requests to the object store so far, by S3 operation (its metrics)."""
    text = requests.get(reg.url + "/metrics", timeout=10).text
    return {m.group(1): int(float(m.group(2))) for m in re.finditer(
        r'^registry_s3_requests_total\{daemon="blobd",operation="(\w+)"\} (\S+)$', text, re.M)}


def test_a_blob_get_is_one_request_to_the_store(make_registry, ceph_rgw, uniq):
    """A GET takes the blob's size from the metadata and asks the store once (a GET, no HEAD
    first); a HEAD asks the store whether the object is there (a client deciding whether to
    push relies on it)."""
    reg = make_registry(s3=ceph_rgw).start()
    name = f"{uniq}/counted"
    make_project(reg, name)
    c = client(reg, (name, "pull,push"))
    data = os.urandom(300 * 1024)
    digest = c.push_blob(name, data)
    before = s3_requests(reg)
    for _ in range(3):
        assert c.get_blob(name, digest).content == data
    after = s3_requests(reg)
    assert after.get("GetObject", 0) - before.get("GetObject", 0) == 3, (before, after)
    assert after.get("HeadObject", 0) == before.get("HeadObject", 0), (before, after)
    assert c.req("HEAD", f"/v2/{name}/blobs/{digest}").status_code == 200
    assert s3_requests(reg).get("HeadObject", 0) == after.get("HeadObject", 0) + 1

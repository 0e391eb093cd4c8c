"""blobd's S3 client (blobd/s3.c) against a real Ceph RADOS Gateway, through tests/tools/s3probe:
every operation, its bytes checked exactly, with boto3 as the independent witness of what the
store holds."""
import hashlib
import os
import subprocess
import time

import pytest
import requests

from registry import BIN_DIR, tmpdir

PROBE = os.path.join(BIN_DIR, "tests", "tools", "s3probe")
MIB = 1 << 20


class Probe:
    """Runs s3probe with one configuration; answers parsed from its "name value" lines."""

    def __init__(self, rgw, folder, path_style=True, prefix="", endpoint=None, env=None,
                 bucket=None, tls_verify=True):
        self.rgw = rgw
        self.folder = folder
        self.prefix = prefix
        self.conf = os.path.join(folder, f"s3-{os.urandom(4).hex()}.conf")
        with open(self.conf, "w") as f:
            f.write("[blobd]\nstorage = s3\ncompression = none\n"
                    f"s3_endpoint = {endpoint or rgw.endpoint}\n"
                    f"s3_bucket = {bucket or rgw.bucket}\ns3_region = {rgw.region}\n"
                    f"s3_prefix = {prefix}\ns3_path_style = {str(path_style).lower()}\n"
                    f"s3_tls_verify = {str(tls_verify).lower()}\n")
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=rgw.access_key,
                        AWS_SECRET_ACCESS_KEY=rgw.secret_key)
        self.env.update(env or {})

    def run(self, *args, ok=True):
        r = subprocess.run([PROBE, "-c", self.conf, *map(str, args)], capture_output=True,
                           text=True, timeout=120, env=self.env)
        out = {}
        for line in r.stdout.splitlines():
            name, _, value = line.partition(" ")
            out.setdefault(name, []).append(value)
        for line in r.stderr.splitlines():
            name, _, value = line.partition(" ")
            out.setdefault(name, []).append(value)
        out = {k: v[0] if len(v) == 1 else v for k, v in out.items()}
        out["rc"] = r.returncode
        out["stderr"] = r.stderr
        if ok:
            assert r.returncode == 0, r.stderr + r.stdout
            assert out.get("pending", "0") == "0"
        else:
            assert r.returncode == 1, r.stderr + r.stdout
        return out

    def key(self, name):
        return f"{self.prefix}/{name}" if self.prefix else name


@pytest.fixture(scope="module")
def folder():
    d = tmpdir("s3client-")
    yield d
    subprocess.run(["rm", "-rf", d])


@pytest.fixture
def probe(ceph_rgw, folder):
    return Probe(ceph_rgw, folder)


def data_file(folder, size, name=None):
    path = os.path.join(folder, name or f"data-{os.urandom(4).hex()}")
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    with open(path, "rb") as f:
        return path, f.read()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_put_get_ranges_head(ceph_rgw, probe, folder, uniq):
    path, body = data_file(folder, 3 * MIB + 17)
    name = f"{uniq}/blob"
    put = probe.run("put", name, path)
    assert put["status"] == "200"
    assert put["etag"] == '"%s"' % hashlib.md5(body).hexdigest()
    # what the store holds, by another client
    got = ceph_rgw.client().get_object(Bucket=ceph_rgw.bucket, Key=name)["Body"].read()
    assert got == body
    out = os.path.join(folder, "out")
    whole = probe.run("get", name, out)
    assert whole["status"] == "200" and whole["size"] == str(len(body))
    assert read(out) == body
    for first, last in [(0, 0), (1048570, 1048600), (len(body) - 1, len(body) - 1),
                        (0, len(body) - 1), (MIB, -1)]:
        r = probe.run("get", name, out, first, last)
        want = body[first:] if last == -1 else body[first:last + 1]
        assert r["status"] == "206", (first, last)
        assert r["total"] == str(len(body))
        assert read(out) == want, (first, last)
    head = probe.run("head", name)
    assert head["size"] == str(len(body)) and head["etag"] == put["etag"]
    # one connection, kept alive, for requests one after the other
    heads = probe.run("heads", 20, name)
    assert heads["connects"] == "1" and heads["size"] == str(len(body))


def test_signed_payload(ceph_rgw, probe, folder, uniq):
    """A body sent with its SHA-256 is checked by the store: a wrong hash is refused."""
    path, body = data_file(folder, 100 * 1024)
    name = f"{uniq}/signed"
    assert probe.run("putbuf", name, path)["status"] == "200"
    assert ceph_rgw.client().get_object(Bucket=ceph_rgw.bucket, Key=name)["Body"].read() == body
    bad = probe.run("putbuf", f"{uniq}/bad", path, "0" * 64, ok=False)
    assert bad["status"] == "400" and bad["code"] == "XAmzContentSHA256Mismatch"
    assert f"S3 PUT {uniq}/bad: 400 XAmzContentSHA256Mismatch" in bad["error"]


def test_multipart_copy_delete(ceph_rgw, probe, folder, uniq):
    path, body = data_file(folder, 2 * 5 * MIB + 123)
    name = f"{uniq}/multi"
    r = probe.run("multipart", name, path, 5 * MIB)
    assert r["status"] == "200" and r["upload_id"]
    assert len(r["part"]) == 3
    # the loop went on while the parts flowed: its 5 ms heartbeat kept beating (a client that
    # blocked the loop would let it tick once per request at best)
    assert int(r["ticks"]) >= float(r["elapsed_ms"]) / 100, r
    out = os.path.join(folder, "out-mp")
    got = probe.run("get", name, out)
    assert got["etag"].endswith('-3"')
    assert read(out) == body
    # a range across the boundary of parts 1 and 2
    probe.run("get", name, out, 5 * MIB - 10, 5 * MIB + 9)
    assert read(out) == body[5 * MIB - 10:5 * MIB + 10]
    # the server-side copy is the same bytes under another key
    copy = probe.run("copy", name, f"{uniq}/copy")
    assert copy["status"] == "200" and copy["etag"]
    assert ceph_rgw.client().get_object(Bucket=ceph_rgw.bucket,
                                        Key=f"{uniq}/copy")["Body"].read() == body
    # delete: gone for HEAD and GET, each with its cause
    assert probe.run("delete", f"{uniq}/copy")["status"] == "204"
    gone = probe.run("head", f"{uniq}/copy", ok=False)
    assert gone["status"] == "404" and gone["code"] == "NotFound"
    gone = probe.run("get", f"{uniq}/copy", out, ok=False)
    assert gone["code"] == "NoSuchKey"
    assert gone["error"] == f"S3 GET {uniq}/copy: 404 NoSuchKey"
    # copying what is not there fails with S3's reason
    missing = probe.run("copy", f"{uniq}/copy", f"{uniq}/copy2", ok=False)
    assert missing["status"] == "404" and missing["code"] == "NoSuchKey"
    probe.run("delete", name)


def test_list_and_abort_multipart(ceph_rgw, probe, uniq):
    ids = {}
    for n in ("one", "two", "three"):
        ids[n] = probe.run("mpstart", f"{uniq}/up/{n}")["upload_id"]
    listed = probe.run("list", f"{uniq}/up/")["upload"]
    rows = sorted(tuple(line.split(" ")[:2]) for line in listed)
    assert rows == sorted((f"{uniq}/up/{n}", i) for n, i in ids.items())
    assert probe.run("mpabort", f"{uniq}/up/two", ids["two"])["status"] == "204"
    listed = probe.run("list", f"{uniq}/up/").get("upload", [])
    listed = [listed] if isinstance(listed, str) else listed
    assert sorted(line.split(" ")[1] for line in listed) == sorted([ids["one"], ids["three"]])
    # the same view from boto3
    seen = ceph_rgw.client().list_multipart_uploads(Bucket=ceph_rgw.bucket,
                                                    Prefix=f"{uniq}/up/")["Uploads"]
    assert sorted(u["UploadId"] for u in seen) == sorted([ids["one"], ids["three"]])
    # aborting twice: S3 says the upload is gone
    again = probe.run("mpabort", f"{uniq}/up/two", ids["two"], ok=False)
    assert again["code"] == "NoSuchUpload"
    for n in ("one", "three"):
        probe.run("mpabort", f"{uniq}/up/{n}", ids[n])
    assert "upload" not in probe.run("list", f"{uniq}/up/")


def test_prefix(ceph_rgw, folder, uniq):
    """Every object the client names lives under s3_prefix; listings give names without it."""
    p = Probe(ceph_rgw, folder, prefix=f"{uniq}/reg")
    path, body = data_file(folder, 1000)
    p.run("put", "blobs/x", path)
    assert ceph_rgw.client().get_object(Bucket=ceph_rgw.bucket,
                                        Key=f"{uniq}/reg/blobs/x")["Body"].read() == body
    upload = p.run("mpstart", "uploads/u")["upload_id"]
    assert p.run("list", "uploads/")["upload"].split(" ")[:2] == ["uploads/u", upload]
    p.run("mpabort", "uploads/u", upload)
    p.run("copy", "blobs/x", "blobs/y")
    assert ceph_rgw.client().head_object(Bucket=ceph_rgw.bucket,
                                         Key=f"{uniq}/reg/blobs/y")["ContentLength"] == 1000


def test_virtual_host_addressing(ceph_rgw, folder, uniq):
    """The bucket in the host name (http://bucket.localhost:port/key), requests and pre-signed
    URLs alike."""
    p = Probe(ceph_rgw, folder, path_style=False, endpoint=f"http://localhost:{ceph_rgw.port}")
    path, body = data_file(folder, 200 * 1024)
    p.run("put", f"{uniq}/vh", path)
    out = os.path.join(folder, "out-vh")
    p.run("get", f"{uniq}/vh", out, 10, 99)
    assert read(out) == body[10:100]
    url = p.run("presign", f"{uniq}/vh", 60)["url"]
    assert url.startswith(f"http://{ceph_rgw.bucket}.localhost:{ceph_rgw.port}/{uniq}/vh?")
    # curl, like the client, takes *.localhost for the loopback
    r = subprocess.run(["curl", "-sS", "-w", "%{http_code}", "-o", out, url], capture_output=True,
                       text=True, timeout=30)
    assert r.stdout == "200", r.stderr
    assert read(out) == body


def test_tls_verification(ceph_rgw, folder, uniq):
    """Over TLS the store's certificate is verified unless s3_tls_verify = false: the fixture's
    is self-signed."""
    path, body = data_file(folder, 64 * 1024)
    strict = Probe(ceph_rgw, folder, endpoint=ceph_rgw.tls_endpoint)
    r = strict.run("put", f"{uniq}/tls", path, ok=False)
    assert r["status"] == "0"
    assert r["error"].startswith(f"S3 PUT {uniq}/tls: SSL certificate problem"), r["error"]
    lax = Probe(ceph_rgw, folder, endpoint=ceph_rgw.tls_endpoint, tls_verify=False)
    assert lax.run("put", f"{uniq}/tls", path)["status"] == "200"
    out = os.path.join(folder, "out-tls")
    lax.run("get", f"{uniq}/tls", out, 100, 199)
    assert read(out) == body[100:200]
    # the bytes went over TLS to the same store
    assert ceph_rgw.client().get_object(Bucket=ceph_rgw.bucket,
                                        Key=f"{uniq}/tls")["Body"].read() == body


def test_presigned_get(ceph_rgw, probe, folder, uniq):
    path, body = data_file(folder, 70 * 1024)
    probe.run("put", f"{uniq}/ps", path)
    url = probe.run("presign", f"{uniq}/ps", 60)["url"]
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == body
    # a range works on a pre-signed URL (only the host is signed)
    r = requests.get(url, headers={"Range": "bytes=5-9"}, timeout=30)
    assert r.status_code == 206 and r.content == body[5:10]
    sig = url.rsplit("X-Amz-Signature=", 1)[1]
    tampered = url[:-len(sig)] + ("0" if sig[0] != "0" else "1") + sig[1:]
    assert requests.get(tampered, timeout=30).status_code == 403
    other_key = url.replace(f"/{uniq}/ps?", f"/{uniq}/ps2?")
    assert requests.get(other_key, timeout=30).status_code in (403, 404)
    # and it expires
    short = probe.run("presign", f"{uniq}/ps", 1)["url"]
    time.sleep(2.5)
    assert requests.get(short, timeout=30).status_code == 403


def test_paused_get(probe, folder, uniq):
    """A GET whose reader pauses at every other block gets every byte once, in order."""
    path, body = data_file(folder, 4 * MIB + 3)
    probe.run("put", f"{uniq}/paused", path)
    out = os.path.join(folder, "out-paused")
    r = probe.run("getpaused", f"{uniq}/paused", out)
    assert r["status"] == "200"
    assert read(out) == body


def test_errors_name_their_cause_and_never_the_secret(ceph_rgw, folder, uniq):
    path, _ = data_file(folder, 10)
    wrong = Probe(ceph_rgw, folder, env={"AWS_SECRET_ACCESS_KEY": "not-the-secret-1234"})
    r = wrong.run("put", f"{uniq}/w", path, ok=False)
    assert r["status"] == "403" and r["code"] == "SignatureDoesNotMatch"
    assert "not-the-secret" not in r["stderr"]
    nobucket = Probe(ceph_rgw, folder, bucket="no-such-bucket")
    r = nobucket.run("put", f"{uniq}/w", path, ok=False)
    assert r["status"] == "404" and r["code"] == "NoSuchBucket"
    # nothing listens: the transport's reason, status 0
    closed = Probe(ceph_rgw, folder, endpoint="http://127.0.0.1:1")
    r = closed.run("head", "x", ok=False)
    assert r["status"] == "0"
    assert r["error"].startswith("S3 HEAD x: ") and "connect" in r["error"].lower()
    assert ceph_rgw.secret_key not in r["stderr"]
    # no credentials at all
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    res = subprocess.run([PROBE, "-c", closed.conf, "head", "x"], capture_output=True,
                         text=True, timeout=30, env=env)
    assert res.returncode == 1
    assert "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in res.stderr


def test_credentials_file(ceph_rgw, folder, uniq):
    creds = os.path.join(folder, "creds")
    with open(creds, "w") as f:
        f.write(f"[default]\naws_access_key_id = {ceph_rgw.access_key}\n"
                f"aws_secret_access_key = {ceph_rgw.secret_key}\n")
    os.chmod(creds, 0o600)
    p = Probe(ceph_rgw, folder, env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    with open(p.conf, "a") as f:
        f.write(f"s3_credentials_file = {creds}\n")
    path, body = data_file(folder, 1234)
    p.run("put", f"{uniq}/cf", path)
    assert ceph_rgw.client().get_object(Bucket=ceph_rgw.bucket,
                                        Key=f"{uniq}/cf")["Body"].read() == body


def test_blobd_checks_its_s3_storage_settings(folder):
    """storage = s3 is checked at start: the S3 settings, and redirect = true, which needs
    compression = none (zstd is the default: a pre-signed URL would give compressed bytes); the
    secret never shows."""
    conf = os.path.join(folder, "blobd.conf")
    sockets = tmpdir("s3sock-")

    def start(extra, env):
        with open(conf, "w") as f:
            f.write(f"[global]\nsocket_dir = {sockets}\n[blobd]\nworkers = 1\n"
                    f"storage_root = {folder}/storage\nstorage = s3\n{extra}")
        return subprocess.run([os.path.join(BIN_DIR, "registry-blobd"), "-c", conf],
                              capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, **env))

    r = start("s3_bucket = registry\ncompression = none\n", {})
    assert r.returncode != 0
    assert "storage = s3 needs s3_endpoint" in r.stderr
    r = start("s3_endpoint = https://s3.example.com\ns3_bucket = registry\nredirect = true\n",
              {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-value-9"})
    assert r.returncode != 0
    assert "redirect = true needs compression = none" in r.stderr
    assert "secret-value-9" not in r.stderr
    subprocess.run(["rm", "-rf", sockets])

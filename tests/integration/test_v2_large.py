"""Big bodies: a 2 GiB upload straight to the gateway and a 1 GiB layer pushed by skopeo through
nginx with TLS (deploy/nginx/registry.conf). Memory of the gateway and blobd workers is read from
/proc while the bytes flow: it must not grow with the body."""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time

import pytest
import requests

from images import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, Layout
from registry import TOP, free_port, skopeo, tmpdir, wait_for
from v2util import V2, make_project, mint_token

MiB = 1024 * 1024
RSS_LIMIT = 64 * MiB
# ASan keeps freed memory in quarantine (256 MiB by default): resident size says nothing there
SANITIZED = bool(os.environ.get("REGISTRY_SANITIZERS"))

pytestmark = pytest.mark.slow


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class RssWatch:
    """Samples the resident size of the workers of some daemons until stopped."""

    def __init__(self, reg, daemons=("gateway", "blobd")):
        self.pids = {d: reg.worker_pids(d) for d in daemons}
        self.peak = {d: 0 for d in daemons}
        self.start = {d: max(rss(p) for p in pids) for d, pids in self.pids.items()}
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_ev.is_set():
            for d, pids in self.pids.items():
                for p in pids:
                    try:
                        self.peak[d] = max(self.peak[d], rss(p))
                    except OSError:
                        pass
            time.sleep(0.02)

    def stop(self):
        self.stop_ev.set()
        self.thread.join()
        return self.peak


class RepeatBody:
    """size bytes made of one random block repeated, streamed with a Content-Length."""

    def __init__(self, size, block=MiB):
        self.size, self.block = size, os.urandom(block)

    def __len__(self):
        return self.size

    def __iter__(self):
        left = self.size
        while left > 0:
            chunk = self.block[:min(left, len(self.block))]
            left -= len(chunk)
            yield chunk

    def digest(self):
        h = hashlib.sha256()
        for chunk in self:
            h.update(chunk)
        return "sha256:" + h.hexdigest()


def test_two_gib_body_streams_with_flat_memory(make_registry):
    reg = make_registry(workers=1).start()
    make_project(reg, "group/project")
    c = V2(reg, mint_token(reg, [("group/project", "pull,push")]))
    body = RepeatBody(2048 * MiB)
    digest = body.digest()
    watch = RssWatch(reg)
    t0 = time.monotonic()
    r = c.req("POST", "/v2/group/project/blobs/uploads/", params={"digest": digest}, data=body,
              timeout=600)
    up = time.monotonic() - t0
    assert r.status_code == 201, r.text
    t0 = time.monotonic()
    h = hashlib.sha256()
    with c.get_blob("group/project", digest, stream=True, timeout=600) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(4 * MiB):
            h.update(chunk)
    down = time.monotonic() - t0
    peak = watch.stop()
    assert "sha256:" + h.hexdigest() == digest
    print(f"2 GiB: upload {2048 / up:.0f} MiB/s, download {2048 / down:.0f} MiB/s; "
          f"peak RSS gateway {peak['gateway'] / MiB:.1f} MiB, blobd {peak['blobd'] / MiB:.1f} MiB")
    if not SANITIZED:
        assert peak["gateway"] < RSS_LIMIT
        assert peak["blobd"] < RSS_LIMIT


# ---- nginx with TLS in front ---------------------------------------------------------------


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certs(folder):
    """A private CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=registry test CA", cwd=folder)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=folder)
    with open(os.path.join(folder, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=folder)


@pytest.fixture
def tls_registry(make_registry):
    """A registry behind nginx configured with deploy/nginx/registry.conf."""
    port, http_port = free_port(), free_port()
    reg = make_registry(workers=1, extra_config={"gateway": {
        "trusted_proxies": "127.0.0.1", "forwarded_hosts": f"127.0.0.1:{port}"}})
    reg.start()
    folder = tmpdir("nginx-")
    make_certs(folder)
    with open(os.path.join(TOP, "deploy", "nginx", "registry.conf")) as f:
        conf = f.read()
    # the shipped file with this test's ports, certificate and gateway (and no IPv6 listeners)
    conf = "\n".join(line for line in conf.split("\n") if "listen [::]" not in line)
    for old, new in (("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;"),
                     ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                     ("server 127.0.0.1:5000;", f"server {reg.host};"),
                     ("/etc/ssl/certs/registry.example.com.pem", os.path.join(folder, "server.crt")),
                     ("/etc/ssl/private/registry.example.com.key", os.path.join(folder, "server.key"))):
        assert old in conf, old
        conf = conf.replace(old, new)
    with open(os.path.join(folder, "registry.conf"), "w") as f:
        f.write(conf)
    with open(os.path.join(folder, "nginx.conf"), "w") as f:
        f.write(f"""daemon off;
worker_processes 1;
user root;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/registry.conf;
}}
""")
    proc = subprocess.Popen(["nginx", "-c", os.path.join(folder, "nginx.conf"), "-p", folder],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ca = os.path.join(folder, "ca.crt")
    wait_for(lambda: requests.get(f"https://127.0.0.1:{port}/-/health", verify=ca,
                                  timeout=2).status_code == 200, what="nginx")
    certs = tmpdir("certs-")
    shutil.copy(ca, os.path.join(certs, "ca.crt"))
    reg.tls_url = f"https://127.0.0.1:{port}"
    reg.tls_host = f"127.0.0.1:{port}"
    reg.tls_http_port = http_port
    reg.ca = ca
    reg.cert_dir = certs
    yield reg
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(certs, ignore_errors=True)


def big_layout(path, size):
    """An OCI layout whose image has one layer of about size bytes (gzip without compression,
    so building it is quick and skopeo pushes it as it is)."""
    lay = Layout(path)
    block = os.urandom(MiB)
    tmp = os.path.join(path, "layer.tmp")
    diff = hashlib.sha256()

    class Tee(io.RawIOBase):
        def __init__(self, out):
            self.out = out

        def writable(self):
            return True

        def write(self, b):
            diff.update(b)
            return self.out.write(b)

    class Zeros(io.RawIOBase):
        def __init__(self):
            self.left = size

        def readable(self):
            return True

        def readinto(self, b):
            n = min(len(b), self.left, len(block))
            b[:n] = block[:n]
            self.left -= n
            return n

    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=0, mtime=0) as gz:
        with tarfile.open(fileobj=Tee(gz), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("big.bin")
            info.size = size
            tar.addfile(info, io.BufferedReader(Zeros(), 4 * MiB))
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for chunk in iter(lambda: f.read(8 * MiB), b""):
            h.update(chunk)
    layer_digest = "sha256:" + h.hexdigest()
    layer_size = os.path.getsize(tmp)
    os.rename(tmp, os.path.join(path, "blobs", "sha256", layer_digest[7:]))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff.hexdigest()]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": lay.add_blob(config),
                                      "size": len(config)},
                           "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest,
                                       "size": layer_size}]}).encode()
    desc = {"mediaType": OCI_MANIFEST, "digest": lay.add_blob(manifest), "size": len(manifest)}
    lay.tag(desc, "big")
    return lay, desc["digest"], layer_digest, layer_size


def test_nginx_tls_front(tls_registry):
    reg = tls_registry
    # the gateway takes scheme and host from nginx for the realm and for Locations
    r = requests.get(reg.tls_url + "/v2/", verify=reg.ca)
    assert r.status_code == 401
    assert f'realm="{reg.tls_url}/jwt/auth"' in r.headers["WWW-Authenticate"]
    make_project(reg, "group/project")
    c = V2(reg, mint_token(reg, [("group/project", "pull,push")]), base=reg.tls_url, verify=reg.ca)
    r = c.start_upload("group/project")
    assert r.status_code == 202
    assert r.headers["Location"].startswith(reg.tls_url + "/v2/group/project/blobs/uploads/")
    data = os.urandom(3 * MiB)
    assert c.get_blob("group/project", c.push_blob("group/project", data, how="chunked",
                                                    chunk=MiB)).content == data
    # plain HTTP is only a redirect to HTTPS
    r = requests.get(f"http://127.0.0.1:{reg.tls_http_port}/v2/", allow_redirects=False)
    assert r.status_code == 308 and r.headers["Location"].startswith("https://")


def test_skopeo_pushes_a_1_gib_layer_through_nginx(tls_registry):
    reg = tls_registry
    make_project(reg, "group/project")
    token = mint_token(reg, [("group/project/big", "pull,push")])
    work = tmpdir("big-")
    try:
        lay, manifest_digest, layer_digest, layer_size = big_layout(os.path.join(work, "src"),
                                                                     1024 * MiB)
        watch = RssWatch(reg)
        t0 = time.monotonic()
        skopeo("copy", "--dest-registry-token", token, "--dest-cert-dir", reg.cert_dir,
               f"oci:{lay.path}:big", f"docker://{reg.tls_host}/group/project/big:v1", timeout=900)
        push = time.monotonic() - t0
        t0 = time.monotonic()
        skopeo("copy", "--src-registry-token", token, "--src-cert-dir", reg.cert_dir,
               f"docker://{reg.tls_host}/group/project/big:v1", f"dir:{work}/back", timeout=900)
        pull = time.monotonic() - t0
        peak = watch.stop()
        print(f"1 GiB layer through nginx/TLS: push {layer_size / MiB / push:.0f} MiB/s, "
              f"pull {layer_size / MiB / pull:.0f} MiB/s; peak RSS gateway "
              f"{peak['gateway'] / MiB:.1f} MiB (was {watch.start['gateway'] / MiB:.1f}), "
              f"blobd {peak['blobd'] / MiB:.1f} MiB")
        if not SANITIZED:
            assert peak["gateway"] < RSS_LIMIT
            assert peak["blobd"] < RSS_LIMIT
        # skopeo verified the digest on the way back; check the bytes again ourselves
        h = hashlib.sha256()
        with open(os.path.join(work, "back", layer_digest[7:]), "rb") as f:
            for chunk in iter(lambda: f.read(8 * MiB), b""):
                h.update(chunk)
        assert "sha256:" + h.hexdigest() == layer_digest
        c = V2(reg, token, base=reg.tls_url, verify=reg.ca)
        r = c.get_manifest("group/project/big", "v1", method="HEAD")
        assert r.headers["Docker-Content-Digest"] == manifest_digest
        r = c.req("HEAD", f"/v2/group/project/big/blobs/{layer_digest}")
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == layer_size
    finally:
        shutil.rmtree(work, ignore_errors=True)

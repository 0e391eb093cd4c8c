#!/usr/bin/python3
"""Side-by-side benchmark: this registry against Debian's docker-registry (CNCF Distribution).

Both run on this machine in one run, interleaved (A B, B A, ...) over several rounds; every figure
is the median of its rounds. Ours runs with token authentication and fsync on every blob;
Distribution runs twice: without authentication, as most people run it, and with token
authentication (its `auth: token`, tokens from TokenServer below), like with like. The run prints a table and
writes tests/bench/RESULTS.md. It is a benchmark: it never fails on a figure.
"""
import argparse
import concurrent.futures
import contextlib
import datetime
import hashlib
import http.client
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import requests  # noqa: E402

from registry import PgCluster, Registry, free_port, wait_for  # noqa: E402

MiB = 1024 * 1024


# -- targets ------------------------------------------------------------------------------------


class Target:
    """A registry under test: where it listens, how to authenticate, which processes are its."""

    name = ""

    def headers(self, repo, actions="pull,push"):
        return {}

    def pids(self):
        return []

    def server_pids(self):
        """Every process the registry needs to serve: its own and its database's, if any."""
        return self.pids()

    def cpu_seconds(self, pids=None):
        """User + system CPU time of every process of this registry (or of pids) so far, with
        that of their children that ended (cutime, cstime: a PostgreSQL backend closed when its
        pool no longer needs it, a worker replaced), which their parents reaped."""
        total = 0
        for pid in self.pids() if pids is None else pids:
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])
        return total / os.sysconf("SC_CLK_TCK")

    def rss_kib(self, field="VmRSS:", source="status", pids=None):
        total = 0
        for pid in self.pids() if pids is None else pids:
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/{source}") as f:
                    for line in f:
                        if line.startswith(field):
                            total += int(line.split()[1])
        return total

    def pss_kib(self, pids=None):
        """Proportional set size: shared pages (libraries, the code of forked workers) counted
        once across the processes instead of once in each."""
        return self.rss_kib("Pss:", "smaps_rollup", pids)


def process_kind(pid):
    """What a server process is, for the peak's breakdown: registry-blobd, ..., PostgreSQL's
    backends (the registry's connections), its autovacuum workers, or its other processes."""
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")[0].decode(errors="replace")
        if cmd.startswith("postgres: "):
            if "autovacuum worker" in cmd:
                return "PostgreSQL autovacuum workers"
            return "PostgreSQL backends" if "[local]" in cmd else "PostgreSQL's other processes"
        if "postgres" in os.path.basename(cmd):
            return "PostgreSQL's other processes"
        return os.path.basename(cmd)
    return "ended"


def children_cpu():
    """User + system CPU seconds of the bench's finished child processes."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def descendants(*pids):
    """The pids and every process below them, from one pass over /proc (the sampler runs this several
    times a second: spawning pgrep per process took a tenth of the machine's CPU)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, stack = [], list(pids)
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


class Ours(Target):
    name = "ours"

    def __init__(self, workdir, name="bench", blobd=None, s3=None, bin_dir=None, label=None):
        if label:
            self.name = label
        self.pg = PgCluster(workdir, durable=True)  # fsync on, as deployed
        # Two workers where requests are served in bulk; one for authd, which signs a token
        # per client session (its answers are cached by clients and by the gateway). s3: a
        # CephRgw whose store keeps the blobs (storage = s3).
        self.reg = Registry(self.pg, workdir, name, workers=2, s3=s3,
                            extra_config={"global": {"log_level": "warn"},
                                          "authd": {"workers": "1"}, "blobd": blobd or {}})
        if bin_dir:  # another build of the registry (a before-and-after comparison)
            self.reg.binary = lambda daemon: os.path.join(bin_dir, f"registry-{daemon}")
        self.reg.start()
        self.url = self.reg.url
        self.host = self.reg.host
        self.user, self.password = "bench", "Bench-Passw0rd-1234"
        self._tokens = {}
        # A user, a group and a project to push into.
        r = self.reg.api("POST", "/users", json={
            "username": self.user, "name": "Bench", "email": "bench@example.com",
            "password": self.password, "skip_confirmation": True})
        r.raise_for_status()
        uid = r.json()["id"]
        r = self.reg.api("POST", "/groups", json={"name": "perf", "path": "perf"})
        r.raise_for_status()
        gid = r.json()["id"]
        r = self.reg.api("POST", f"/groups/{gid}/members",
                         json={"user_id": uid, "access_level": 40})
        r.raise_for_status()
        r = self.reg.api("POST", "/projects", json={"name": "bench", "namespace_id": gid})
        r.raise_for_status()
        self.prefix = "perf/bench/"

    def repo(self, name):
        return self.prefix + name

    def headers(self, repo, actions="pull,push"):
        key = (repo, actions)
        tok, at = self._tokens.get(key, (None, 0))
        if tok is None or time.monotonic() - at > 120:
            tok = self.reg.registry_token([f"repository:{repo}:{actions}"], self.user,
                                          self.password)
            self._tokens[key] = (tok, time.monotonic())
        return {"Authorization": f"Bearer {tok}"}

    def creds(self):
        return f"{self.user}:{self.password}"

    def pids(self):
        masters = (self.reg.master_pid(d) for d in ("gateway", "authd", "metad", "blobd"))
        return descendants(*masters)

    def pg_pids(self):
        with open(os.path.join(self.pg.dir, "data", "postmaster.pid")) as f:
            return descendants(int(f.readline()))

    def server_pids(self):
        return self.pids() + self.pg_pids()

    def stop(self):
        self.reg.stop()
        self.pg.stop()


class Distribution(Target):
    name = "distribution"
    auth = ""  # the config's auth section (none: every request is served)

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir)
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        self.url = f"http://{self.host}"
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {self.dir}/data
  delete:
    enabled: true
http:
  addr: {self.host}
{self.auth}""")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: requests.get(self.url + "/v2/", timeout=1).status_code in (200, 401),
                 what="distribution")

    def repo(self, name):
        return "perf/bench/" + name

    def creds(self):
        return None

    def pids(self):
        return descendants(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()


class TokenServer:
    """A small Docker token server for Distribution's `auth: token`: an RSA key with a
    self-signed certificate (Distribution's rootcertbundle), and GET /token?service=&scope=...
    answering a JWT (RS256, the certificate in its x5c header) that grants what each scope asks."""

    issuer = "bench-token-issuer"
    service = "bench-registry"

    def __init__(self, folder):
        import base64
        import http.server
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        self.bundle = os.path.join(folder, "token-root.crt")
        with open(self.bundle, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

        def b64(data):
            return base64.urlsafe_b64encode(data).rstrip(b"=")

        def mint(scopes):
            access = []
            for scope in scopes:
                kind, _, rest = scope.partition(":")
                repo, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": repo, "actions": actions.split(",")})
            t = int(time.time())
            head = b64(json.dumps({"typ": "JWT", "alg": "RS256", "x5c": [x5c]}).encode())
            body = b64(json.dumps({"iss": self.issuer, "sub": "bench", "aud": self.service,
                                   "exp": t + 3600, "nbf": t - 60, "iat": t,
                                   "jti": os.urandom(8).hex(), "access": access}).encode())
            sig = key.sign(head + b"." + body, padding.PKCS1v15(), hashes.SHA256())
            return (head + b"." + body + b"." + b64(sig)).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                token = mint(q.get("scope", []))
                out = json.dumps({"token": token, "access_token": token, "expires_in": 3600,
                                  "issued_at": datetime.datetime.now(
                                      datetime.timezone.utc).isoformat()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_port}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, scopes):
        q = urllib.parse.urlencode([("service", self.service)] + [("scope", s) for s in scopes])
        r = requests.get(f"{self.realm}?{q}", timeout=10)
        r.raise_for_status()
        return r.json()["token"]

    def stop(self):
        self.server.shutdown()


class DistributionToken(Distribution):
    """Distribution with token authentication (like ours): every request carries a bearer token
    that Distribution verifies (signature, issuer, audience, scope)."""

    name = "distribution-token"

    def __init__(self, workdir):
        self.tokens = TokenServer(workdir)
        self.auth = f"""auth:
  token:
    realm: {self.tokens.realm}
    service: {self.tokens.service}
    issuer: {self.tokens.issuer}
    rootcertbundle: {self.tokens.bundle}
"""
        self._tokens = {}
        super().__init__(workdir)

    def headers(self, repo, actions="pull,push"):
        key = (repo, actions)
        if key not in self._tokens:
            self._tokens[key] = self.tokens.token([f"repository:{repo}:{actions}"])
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    def stop(self):
        super().stop()
        self.tokens.stop()


# -- HTTP helpers -------------------------------------------------------------------------------


def absolute(target, location):
    return location if location.startswith("http") else target.url + location


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=600), \
        u.path + ("?" + u.query if u.query else "")


def start_upload(target, repo, session=None):
    s = session or requests
    r = s.post(f"{target.url}/v2/{repo}/blobs/uploads/", headers=target.headers(repo))
    if r.status_code != 202:
        raise RuntimeError(f"{target.name}: POST upload {r.status_code} {r.text[:200]}")
    return absolute(target, r.headers["Location"])


def with_digest(location, digest):
    return location + ("&" if "?" in location else "?") + "digest=" + urllib.parse.quote(digest)


def put_file(target, repo, path, digest):
    """Monolithic upload: POST, then PUT with the whole file streamed by curl."""
    loc = start_upload(target, repo)
    hdrs = []
    for k, v in target.headers(repo).items():
        hdrs += ["-H", f"{k}: {v}"]
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                          "-T", path, "-H", "Content-Type: application/octet-stream",
                          "-H", "Expect:"] + hdrs + [with_digest(loc, digest)],
                         capture_output=True, text=True)
    if out.stdout.strip() != "201":
        raise RuntimeError(f"{target.name}: PUT blob answered {out.stdout} {out.stderr}")


def chunked_upload(target, repo, path, digest, chunk=16 * MiB):
    loc = start_upload(target, repo)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            data = f.read(chunk)
            conn, url = conn_for(loc)
            hdrs = dict(target.headers(repo))
            hdrs.update({"Content-Type": "application/octet-stream",
                         "Content-Range": f"{offset}-{offset + len(data) - 1}",
                         "Content-Length": str(len(data))})
            conn.request("PATCH", url, body=data, headers=hdrs)
            r = conn.getresponse()
            r.read()
            if r.status != 202:
                raise RuntimeError(f"{target.name}: PATCH answered {r.status}")
            loc = absolute(target, r.getheader("Location"))
            conn.close()
            offset += len(data)
    r = requests.put(with_digest(loc, digest), headers=target.headers(repo))
    if r.status_code != 201:
        raise RuntimeError(f"{target.name}: final PUT answered {r.status_code} {r.text[:200]}")


def warm_tokens(target, repos):
    """Fetches (and caches) the tokens of repos before a figure's clock starts: an upload figure
    measures uploads. Ours checks the password (Argon2id, tens of milliseconds of authd's CPU) for
    every token; the token server of the Distribution with tokens checks none, and eight threads
    missing the cache at once asked for eight tokens inside the timed window."""
    for repo in repos:
        target.headers(repo)


def random_file(path, size):
    """A file of random bytes, flushed to disk (the kernel writing it back while a registry
    fsyncs a blob would slow whoever fsyncs); returns its digest."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            b = os.urandom(n)
            h.update(b)
            f.write(b)
            left -= n
    os.sync()
    return "sha256:" + h.hexdigest()


def push_blob_bytes(target, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = start_upload(target, repo)
    r = requests.put(with_digest(loc, digest), data=data,
                     headers=dict(target.headers(repo), **{"Content-Type": "application/octet-stream"}))
    if r.status_code != 201:
        raise RuntimeError(f"{target.name}: blob PUT {r.status_code} {r.text[:200]}")
    return digest


def push_manifest(target, repo, tag, session=None):
    """An OCI image manifest with a small config and one small layer; returns its bytes."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = os.urandom(1024)
    cd = push_blob_bytes(target, repo, config)
    ld = push_blob_bytes(target, repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld,
                    "size": len(layer)}]}).encode()
    s = session or requests
    r = s.put(f"{target.url}/v2/{repo}/manifests/{tag}", data=manifest,
              headers=dict(target.headers(repo),
                           **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}))
    if r.status_code != 201:
        raise RuntimeError(f"{target.name}: manifest PUT {r.status_code} {r.text[:200]}")
    return manifest, ld


# -- workloads ----------------------------------------------------------------------------------


def wrk(target, path, headers, seconds, conns=32, threads=2, script=None):
    """Requests per second and p50/p99 latency (ms) from wrk (keep-alive); GETs, or what a
    Lua script (path, then its arguments) makes."""
    args = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    if script:
        args += ["-s", script[0]]
    args.append(target.url + path)
    if script:
        args += ["--"] + list(script[1:])
    out = subprocess.run(args, capture_output=True, text=True).stdout
    if "status " in out:
        raise RuntimeError(f"{target.name}: failed requests on {path}: {out[-500:]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out)
        v = float(m.group(1))
        lat[pct] = v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if bad:
        raise RuntimeError(f"{target.name}: {bad.group(1)} failed requests on {path}")
    return rps, lat["50"], lat["99"]


def ab_head(target, path, headers, seconds, conns=32):
    """HEAD requests per second and p50/p99 latency (ms) from ApacheBench (wrk cannot do HEAD:
    it waits for a body that never comes)."""
    args = ["ab", "-q", "-k", "-i", "-c", str(conns), "-t", str(seconds), "-n", "10000000"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [target.url + path], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"^\s+50%\s+(\d+)", out, re.M).group(1))
    p99 = float(re.search(r"^\s+99%\s+(\d+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx responses:\s+(\d+)", out)
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    if bad or (failed and int(failed.group(1))):
        raise RuntimeError(f"{target.name}: failed HEAD requests on {path}:\n{out[-800:]}")
    return rps, p50, p99


class Bench:
    def __init__(self, workdir, rounds, size_mib):
        self.workdir = workdir
        self.rounds = rounds
        self.size = size_mib * MiB
        self.results = {}  # (figure, target) -> [values]
        self.peak = {}
        self.peak_detail = {}  # target -> ({kind: (processes, PSS KiB)}, last figure recorded)
        self.last_figure = None

    def record(self, figure, target, value):
        self.results.setdefault((figure, target.name), []).append(value)
        self.last_figure = figure

    def note_pss_peak(self, target):
        """The PSS of all the target needs to serve; at a new peak, kept by process kind with the
        figure measured last (the peak fell in the one after it)."""
        by_kind, total = {}, 0
        for pid in target.server_pids():
            kib = target.pss_kib([pid])
            total += kib
            kind = process_kind(pid)
            n, k = by_kind.get(kind, (0, 0))
            by_kind[kind] = (n + 1, k + kib)
        key = target.name + "-server-pss"
        if total > self.peak.get(key, 0):
            self.peak[key] = total
            self.peak_detail[target.name] = (by_kind, self.last_figure)

    def sample_rss(self, targets, stop):
        """Peaks of each target's RSS, and of the PSS of all it needs to serve (with PostgreSQL:
        shared pages counted once), until stop."""
        while not stop.is_set():
            for t in targets:
                self.peak[t.name] = max(self.peak.get(t.name, 0), t.rss_kib())
                self.note_pss_peak(t)
            time.sleep(0.2)

    def run_round(self, target, rnd):
        repo = target.repo(f"up{rnd}")
        path = os.path.join(self.workdir, "blob.bin")

        digest = random_file(path, self.size)
        warm_tokens(target, [repo])
        t0 = time.monotonic()
        cpu0 = target.cpu_seconds()
        put_file(target, repo, path, digest)
        self.record("upload, monolithic (MB/s)", target, self.size / MiB / (time.monotonic() - t0))
        self.record("server CPU per GiB uploaded, monolithic (s)", target,
                    (target.cpu_seconds() - cpu0) * 1024 * MiB / self.size)

        digest2 = random_file(path, self.size)
        t0 = time.monotonic()
        chunked_upload(target, repo, path, digest2)
        self.record("upload, chunked 16 MiB (MB/s)", target,
                    self.size / MiB / (time.monotonic() - t0))

        hdrs = []
        for k, v in target.headers(repo, "pull").items():
            hdrs += ["-H", f"{k}: {v}"]
        # The median of seven: one download takes a tenth of a second, and where the scheduler
        # puts curl and the server swings a single one by half either way.
        speeds = []
        for _ in range(7):
            out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{speed_download}"]
                                 + hdrs + [f"{target.url}/v2/{repo}/blobs/{digest}"],
                                 capture_output=True, text=True)
            speeds.append(float(out.stdout) / MiB)
        self.record("download (MB/s)", target, statistics.median(speeds))

        small = push_blob_bytes(target, repo, os.urandom(1024))
        rps, _, _ = wrk(target, f"/v2/{repo}/blobs/{small}", target.headers(repo, "pull"), 5)
        self.record("1 KiB blob GET (req/s)", target, rps)

        mrepo = target.repo(f"man{rnd}")
        push_manifest(target, mrepo, "latest")
        for method in ("GET", "HEAD"):
            hdr = dict(target.headers(mrepo, "pull"),
                       Accept="application/vnd.oci.image.manifest.v1+json")
            load = wrk if method == "GET" else ab_head
            rps, p50, p99 = load(target, f"/v2/{mrepo}/manifests/latest", hdr, 10)
            self.record(f"manifest {method} by tag (req/s)", target, rps)
            self.record(f"manifest {method} p50 (ms)", target, p50)
            self.record(f"manifest {method} p99 (ms)", target, p99)

        # Manifest PUTs cycling over 1,000 tags (wrk, 2 threads, 8 connections, 5 s); the
        # repository then holds those 1,000 tags and "base" for tags/list.
        trepo = target.repo(f"tags{rnd}")
        manifest, _ = push_manifest(target, trepo, "base")
        mfile = os.path.join(self.workdir, "manifest.json")
        with open(mfile, "wb") as f:
            f.write(manifest)
        hdr = dict(target.headers(trepo),
                   **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        rps, _, _ = wrk(target, f"/v2/{trepo}/manifests/", hdr, 5, conns=8,
                        script=(os.path.join(HERE, "put_manifests.lua"),
                                f"/v2/{trepo}/manifests/", "2", mfile))
        self.record("manifest PUT, 1,000 tags (req/s)", target, rps)
        rps, _, _ = wrk(target, f"/v2/{trepo}/tags/list", target.headers(trepo, "pull"), 5)
        self.record("tags/list of 1,001 tags (req/s)", target, rps)

        # Eight concurrent uploads: distinct 32 MiB blobs, then one blob into eight repositories.
        blobs = []
        for i in range(8):
            p = os.path.join(self.workdir, f"c{i}.bin")
            blobs.append((p, random_file(p, 32 * MiB)))
        warm_tokens(target, [target.repo(f"cc{rnd}")] +
                    [target.repo(f"same{rnd}x{i}") for i in range(8)])
        t0 = time.monotonic()
        cpu0 = target.cpu_seconds()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda b: put_file(target, target.repo(f"cc{rnd}"), b[0], b[1]), blobs))
        self.record("8 concurrent uploads, distinct (MB/s)", target,
                    8 * 32 / (time.monotonic() - t0))
        # What the server spent: on two cores shared with eight clients, CPU is the limit.
        self.record("server CPU per GiB uploaded, 8 concurrent (s)", target,
                    (target.cpu_seconds() - cpu0) * 4)
        p, d = blobs[0]
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda i: put_file(target, target.repo(f"same{rnd}x{i}"), p, d), range(8)))
        self.record("8 concurrent uploads, same blob (MB/s)", target,
                    8 * 32 / (time.monotonic() - t0))
        for i in range(8):
            r = requests.head(f"{target.url}/v2/{target.repo(f'same{rnd}x{i}')}/blobs/{d}",
                              headers=target.headers(target.repo(f"same{rnd}x{i}"), "pull"))
            if r.status_code != 200 or r.headers.get("Docker-Content-Digest") != d:
                raise RuntimeError(f"{target.name}: repository {i} does not serve the blob")

        self.skopeo_round(target, rnd)

    def skopeo_round(self, target, rnd):
        # Fresh layers every time: pushing known ones would only mount them.
        src = self.image_layout(f"image-{target.name}-{rnd}")
        dest = f"docker://{target.host}/{target.repo(f'img{rnd}')}:v1"
        creds = ["--dest-creds", target.creds()] if target.creds() else []
        t0 = time.monotonic()
        c0 = children_cpu()
        server0 = target.cpu_seconds(target.server_pids())
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]
                       + creds + [f"oci:{src}:v1", dest], check=True, capture_output=True)
        self.record("skopeo push, 5 layers ~200 MiB (s)", target, time.monotonic() - t0)
        # skopeo's own CPU time: what of the push no registry can take away.
        self.record("skopeo push, skopeo's own CPU (s)", target, children_cpu() - c0)
        out = os.path.join(self.workdir, f"pull-{target.name}-{rnd}")
        creds = ["--src-creds", target.creds()] if target.creds() else []
        t0 = time.monotonic()
        c0 = children_cpu()
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false"]
                       + creds + [dest, f"dir:{out}"], check=True, capture_output=True)
        self.record("skopeo pull (s)", target, time.monotonic() - t0)
        self.record("skopeo pull, skopeo's own CPU (s)", target, children_cpu() - c0)
        # What a host pays per image: every server process's CPU (ours: the four daemons and
        # PostgreSQL) for the push and the pull together, from /proc.
        self.record("server CPU per image pushed and pulled, with PostgreSQL (s)", target,
                    target.cpu_seconds(target.server_pids()) - server0)
        shutil.rmtree(out)
        shutil.rmtree(src)

    def image_layout(self, name):
        """A 5-layer OCI image of ~200 MiB (random, so incompressible) in workdir/name."""
        path = os.path.join(self.workdir, name)
        os.makedirs(os.path.join(path, "blobs", "sha256"))

        def blob(data):
            d = hashlib.sha256(data).hexdigest()
            with open(os.path.join(path, "blobs", "sha256", d), "wb") as f:
                f.write(data)
            return "sha256:" + d, len(data)
        layers = []
        for _ in range(5):
            d, n = blob(os.urandom(40 * MiB))
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d,
                           "size": n})
        cfg = json.dumps({"architecture": "amd64", "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}})
        cd, cn = blob(cfg.encode())
        man = json.dumps({"schemaVersion": 2,
                          "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": cd, "size": cn},
                          "layers": layers}).encode()
        md, mn = blob(man)
        with open(os.path.join(path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                "size": mn, "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, f)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion": "1.0.0"}')
        os.sync()
        return path


# -- machine ceilings ---------------------------------------------------------------------------


def ceilings(workdir):
    out = {}
    res = subprocess.run(["openssl", "speed", "-bytes", str(MiB), "-seconds", "2", "sha256"],
                         capture_output=True, text=True).stdout
    m = re.search(r"^sha256\s+([\d.]+)k", res, re.M)
    out["SHA-256, one core (MB/s)"] = float(m.group(1)) * 1000 / MiB if m else float("nan")
    f = os.path.join(workdir, "dd.bin")
    res = subprocess.run(["dd", "if=/dev/zero", f"of={f}", "bs=1M", "count=1024", "conv=fsync"],
                         capture_output=True, text=True).stderr
    m = re.search(r"copied, ([\d.]+) s", res)
    out["disk write 1 GiB, fsync (MB/s)"] = 1024 / float(m.group(1)) if m else float("nan")
    os.unlink(f)
    # curl against nginx doing nothing but serving a file / discarding a body, on loopback.
    ndir = os.path.join(workdir, "nginx")
    os.makedirs(ndir)
    big = os.path.join(ndir, "big")
    random_file(big, 1024 * MiB)  # real pages: a sparse file is slow to read the first time
    port = free_port()
    conf = os.path.join(ndir, "nginx.conf")
    with open(conf, "w") as fh:
        fh.write(f"""daemon off; worker_processes 2; pid {ndir}/pid; error_log {ndir}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; client_body_temp_path {ndir};
  server {{ listen 127.0.0.1:{port}; root {ndir};
    location /up {{ client_max_body_size 0; return 204; }} }} }}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", ndir], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/big", stream=True, timeout=1).ok,
             what="nginx")
    def median_speed(args, key):  # the median of seven, as for the registries' downloads
        return statistics.median(
            float(subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", key] + args,
                                 capture_output=True, text=True).stdout)
            for _ in range(7)) / MiB
    out["curl download, loopback (MB/s)"] = median_speed([f"http://127.0.0.1:{port}/big"],
                                                         "%{speed_download}")
    out["curl upload, loopback (MB/s)"] = median_speed(["-T", big, "-H", "Expect:",
                                                       f"http://127.0.0.1:{port}/up"],
                                                      "%{speed_upload}")
    proc.terminate()
    proc.wait()
    return out


# -- report -------------------------------------------------------------------------------------

LOWER_IS_BETTER = ("(s)", "(ms)", "(MiB)")


def better_ratio(figure, ours, theirs):
    """How many times better ours is (>1 means ours wins)."""
    if not ours or not theirs:
        return float("nan")
    if figure.endswith(LOWER_IS_BETTER):
        return theirs / ours
    return ours / theirs


def report(bench, ceil, machine, commit, elapsed):
    figures = []
    for (fig, _t) in bench.results:
        if fig not in figures:
            figures.append(fig)
    lines = []
    tok = any(t == "distribution-token" for (_f, t) in bench.results)
    if tok:
        lines.append("| figure | ours (tokens) | Distribution 2.8.2 (no auth) | Distribution 2.8.2 "
                     "(tokens) | ours vs Distribution | ours vs Distribution, both with tokens |")
        lines.append("|---|---:|---:|---:|---:|---:|")
    else:
        lines.append("| figure | ours | Distribution 2.8.2 | ours vs Distribution |")
        lines.append("|---|---:|---:|---:|")

    def cell(values):
        med = statistics.median(values)
        if len(values) < 2:
            return f"{med:,.1f}"
        return f"{med:,.1f} <sub>({min(values):,.1f}–{max(values):,.1f})</sub>"
    for fig in figures:
        ov = bench.results.get((fig, "ours"), [float("nan")])
        dv = bench.results.get((fig, "distribution"), [float("nan")])
        r = better_ratio(fig, statistics.median(ov), statistics.median(dv))
        if tok:
            tv = bench.results.get((fig, "distribution-token"), [float("nan")])
            rt = better_ratio(fig, statistics.median(ov), statistics.median(tv))
            lines.append(f"| {fig} | {cell(ov)} | {cell(dv)} | {cell(tv)} | {r:.2f}x | "
                         f"{rt:.2f}x |")
        else:
            lines.append(f"| {fig} | {cell(ov)} | {cell(dv)} | {r:.2f}x |")
    for name, label in (("idle", "RSS, idle (MiB)"), ("idle-pss", "PSS, idle (MiB)"),
                        ("peak", "RSS, peak (MiB)")):
        o = bench.rss[("ours", name)] / 1024
        d = bench.rss[("distribution", name)] / 1024
        if tok:
            t = bench.rss[("distribution-token", name)] / 1024
            lines.append(f"| {label} | {o:,.1f} | {d:,.1f} | {t:,.1f} | "
                         f"{better_ratio(label, o, d):.2f}x | {better_ratio(label, o, t):.2f}x |")
            continue
        lines.append(f"| {label} | {o:,.1f} | {d:,.1f} | {better_ratio(label, o, d):.2f}x |")
    # ours with its database against Distribution alone, each row as wide as the table
    pad = " - |" if tok else ""
    if ("ours", "server-pss") in bench.rss:
        o = bench.rss[("ours", "server-pss")] / 1024
        d = bench.rss[("distribution", "peak")] / 1024
        row = f"| PSS, peak, ours with PostgreSQL vs Distribution's peak RSS (MiB) | {o:,.1f} | {d:,.1f} |"
        if tok:
            t = bench.rss[("distribution-token", "peak")] / 1024
            row += f" {t:,.1f} | {better_ratio('(MiB)', o, d):.2f}x | {better_ratio('(MiB)', o, t):.2f}x |"
        else:
            row += f" {better_ratio('(MiB)', o, d):.2f}x |"
        lines.append(row)
    if ("ours-pg", "peak") in bench.rss:
        lines.append(f"| RSS, peak, PostgreSQL behind ours (MiB) | {bench.rss[('ours-pg', 'peak')] / 1024:,.1f} | - | - |" + pad)
    table = "\n".join(lines)
    ceil_lines = "\n".join(f"| {k} | {v:,.0f} |" for k, v in ceil.items())
    peak_section = ""
    if "ours" in bench.peak_detail:
        by_kind, after = bench.peak_detail["ours"]
        rows = "\n".join(f"| {kind} | {n} | {kib / 1024:,.1f} |" for kind, (n, kib)
                         in sorted(by_kind.items(), key=lambda x: -x[1][1]))
        when = (f'while the figure after "{after}" was measured' if after
                else "before the first figure was measured")
        peak_section = f"""
What ours' peak PSS (with PostgreSQL) was made of; it came {when}:

| processes | count | PSS (MiB) |
|---|---:|---:|
{rows}
"""
    return f"""## Run of {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}

Machine: {machine}. Commit: `{commit}`. Rounds: {bench.rounds} (interleaved), medians shown.
Blob size for uploads and the download: {bench.size // MiB} MiB. Wall time: {elapsed:.0f} s.
Ratios are "times better than Distribution" (higher is better for us, whatever the unit); the
smallest and largest of the rounds follow each median.

{table}
{peak_section}
Machine ceilings measured in the same run:

| ceiling | value |
|---|---:|
{ceil_lines}
"""


def source_commit():
    """The commit the figures are of, for RESULTS.md: HEAD's short hash, and "with local changes"
    when files other than RESULTS.md itself (a run before this one wrote it) differ from it."""
    commit = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    changed = subprocess.run(["git", "-C", TOP, "status", "--porcelain", "--untracked-files=no",
                              "--", ".", ":!tests/bench/RESULTS.md"],
                             capture_output=True, text=True).stdout.strip()
    return commit + " with local changes" if changed else commit


def machine_desc():
    cores = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{cores} cores ({model}), {mem:.0f} GiB memory"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--no-token-dist", action="store_true",
                    help="skip the second Distribution, the one with token authentication")
    ap.add_argument("--no-s3", action="store_true",
                    help="skip the S3 driver's figures (they start a Ceph RADOS Gateway)")
    args = ap.parse_args()
    start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(workdir, 0o755)
    commit = source_commit()
    ours = dist = dist_token = None
    try:
        ceil = ceilings(workdir)
        ours = Ours(workdir)
        dist = Distribution(workdir)
        targets = [ours, dist]
        if not args.no_token_dist:
            dist_token = DistributionToken(workdir)
            targets.append(dist_token)
        bench = Bench(workdir, args.rounds, args.size_mib)
        time.sleep(1)
        bench.rss = {(t.name, "idle"): t.rss_kib() for t in targets}
        bench.rss.update({(t.name, "idle-pss"): t.pss_kib() for t in targets})
        stop = threading.Event()
        sampler = threading.Thread(target=bench.sample_rss, args=(targets, stop), daemon=True)
        sampler.start()
        pg_peak = [0]

        def sample_pg():
            while not stop.is_set():
                total = 0
                for pid in ours.pg_pids():
                    with contextlib.suppress(OSError):
                        with open(f"/proc/{pid}/status") as f:
                            for line in f:
                                if line.startswith("VmRSS:"):
                                    total += int(line.split()[1])
                pg_peak[0] = max(pg_peak[0], total)
                time.sleep(0.5)
        threading.Thread(target=sample_pg, daemon=True).start()
        for rnd in range(args.rounds):
            order = targets if rnd % 2 == 0 else list(reversed(targets))
            for t in order:
                print(f"round {rnd + 1}/{args.rounds}: {t.name}", file=sys.stderr, flush=True)
                # Distribution does not fsync: the kernel writes its uploads back later, and
                # without this that work (and the disk queue) fell into the next target's round.
                os.sync()
                bench.run_round(t, rnd)
        stop.set()
        sampler.join()
        for t in targets:
            bench.rss[(t.name, "peak")] = bench.peak.get(t.name, 0)
        bench.rss[("ours-pg", "peak")] = pg_peak[0]
        bench.rss[("ours", "server-pss")] = bench.peak.get("ours-server-pss", 0)
        for t in targets:
            t.stop()
        ours = dist = dist_token = None
        s3_section = ""
        if not args.no_s3:
            import s3  # here: it needs the Ceph packages the comparison does not
            s3_section = "\n" + s3.measure(args.rounds, min(args.size_mib, 256))
        text = report(bench, ceil, machine_desc(), commit, time.monotonic() - start) + s3_section
        print(text)
        if not args.no_write:
            header = "# Benchmark results\n\nWritten by `tests/bench/run`; newest run first.\n\n"
            old = ""
            if os.path.exists(args.results):
                with open(args.results) as f:
                    old = f.read()
                old = old.split("\n## ", 1)[1] if "\n## " in old else ""
                old = "\n## " + old if old else ""
            with open(args.results, "w") as f:
                f.write(header + text + old)
    finally:
        for t in (ours, dist, dist_token):
            if t is not None:
                with contextlib.suppress(Exception):
                    t.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

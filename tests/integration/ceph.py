"""A real S3 server for the tests: a private Ceph cluster (one monitor, one MemStore OSD) with a
RADOS Gateway on a free loopback port, in a short temporary folder.

    rgw = CephRgw().start()   # endpoint, access_key, secret_key, bucket
    ...
    rgw.stop()                # ends exactly the processes it started, removes the folder

Every cluster has its own folder, fsid and ports, so pytest workers (-n 2) each run their own.
No ceph-mgr (the data path does not need one) and no cephx (nothing but 127.0.0.1 is bound).
Everything, admin sockets and pid files included, lives in the folder; its path is kept short
because a Unix socket path over 107 bytes breaks the admin sockets.
"""
import atexit
import os
import secrets
import shutil
import socket
import string
import subprocess
import tempfile
import time
import uuid

import requests

from registry import free_port

# The daemons in the order they are stopped: a daemon whose peers are already gone hangs in its
# shutdown (radosgw waits for RADOS), while in this order each exits at once.
_STOP_ORDER = ("client.rgw", "osd.0", "mon.a")

class RgwExited(RuntimeError):
    """radosgw ended while starting."""


_CONF = """\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon_port}]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
# No cephx, hence no keyrings. radosgw would still ask for "secure" mon connections, which need
# cephx session keys, and hang at start: crc mode for every connection.
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
ms mon client mode = crc
ms client mode = crc
run dir = {dir}/run
pid file = {dir}/run/$name.pid
admin socket = {dir}/run/$name.asok
log file = {dir}/log/$name.log
mon cluster log file = {dir}/log/cluster.log
crash dir = {dir}/crash
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon warn on pool no app = false
mon pg warn min per osd = 0
mon data avail warn = 1
mon data avail crit = 0
mon mgr mkfs grace = 31536000

[mon]
mon data = {dir}/mon
mon initial members = a
# The monitor commits map changes at most once per interval (1 s by default); radosgw's start
# makes dozens of them (it creates its pools), so the default costs seconds.
paxos propose interval = 0.05

[osd]
osd data = {dir}/osd
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
osd fast shutdown = true
osd fast shutdown notify mon = false

[client.rgw]
rgw data = {dir}/rgw
# Plain HTTP on port, and TLS (a self-signed certificate for localhost and 127.0.0.1) on tls_port.
rgw frontends = beast endpoint=127.0.0.1:{port} ssl_endpoint=127.0.0.1:{tls_port} ssl_certificate={dir}/rgw.crt ssl_private_key={dir}/rgw.key
# Virtual-host addressing (http://bucket.localhost:port/key; clients resolve *.localhost to the
# loopback): the host name the bucket is a subdomain of.
rgw dns name = localhost
rgw thread pool size = 64
# MemStore keeps deleted objects in memory until radosgw's garbage collection: every minute.
rgw gc obj min wait = 60
rgw gc processor period = 60
"""


def _alive(pid):
    """True while the process runs (a zombie leader with live threads still counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state != "Z":
        return True
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _token(n):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _port_owner(port):
    """The pid listening on 127.0.0.1:port, or None."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    for part in out.split("pid=")[1:]:
        return int(part.split(",", 1)[0])
    return None


class CephRgw:
    """One private Ceph cluster with radosgw; see the module's comment."""

    def __init__(self, bucket="registry", memstore_bytes=4 << 30, timeout=180):
        self.bucket = bucket
        self.memstore_bytes = memstore_bytes
        self.timeout = timeout
        self.dir = None
        self.port = None
        self.endpoint = None
        self.tls_endpoint = None  # https, with a self-signed certificate (cert_file)
        self.tls_port = None
        self.access_key = None
        self.secret_key = None
        self.region = "default"
        self.fsid = str(uuid.uuid4())

    # ---- start -------------------------------------------------------------------------------

    def _run(self, name, *args, capture=False):
        """Runs a Ceph command with its stderr in log/<name>.stderr; raises with its tail."""
        with open(os.path.join(self.dir, "log", f"{name}.stderr"), "ab") as err:
            r = subprocess.run(args, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                               stderr=err, stdin=subprocess.DEVNULL, timeout=self.timeout)
        if r.returncode != 0:
            with open(os.path.join(self.dir, "log", f"{name}.stderr"), errors="replace") as f:
                tail = f.read()[-2000:]
            raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{tail}")
        return r.stdout.decode() if capture else None

    def start(self):
        """Builds and starts the cluster, the gateway, an S3 user and the bucket."""
        self.dir = tempfile.mkdtemp(prefix="ceph-", dir="/tmp")
        # the daemons outlive their parent: a test run that ends abnormally still stops them
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self._stop_daemons()
            if not os.environ.get("KEEP_TEST_DIRS"):
                print(self.logs_tail())
                shutil.rmtree(self.dir, ignore_errors=True)
            raise
        return self

    def _start(self):
        d = self.dir
        for sub in ("mon", "osd", "rgw", "run", "log", "crash"):
            os.mkdir(os.path.join(d, sub))
        mon_port = self.mon_port = free_port()
        self._pick_rgw_ports()
        self._run("client.rgw", "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                  "-days", "2", "-subj", "/CN=localhost", "-addext",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout",
                  os.path.join(d, "rgw.key"), "-out", os.path.join(d, "rgw.crt"))
        conf = self.conf = os.path.join(d, "ceph.conf")
        self._write_conf()
        monmap = os.path.join(d, "monmap")
        self._run("mon.a", "monmaptool", "--create", "--fsid", self.fsid, "--enable-all-features",
                  "--addv", "a", f"[v2:127.0.0.1:{mon_port}]", monmap)
        self._run("mon.a", "ceph-mon", "-c", conf, "-i", "a", "--mkfs", "--monmap", monmap)
        # The daemons fork into the background once they have written their pid files.
        self._run("mon.a", "ceph-mon", "-c", conf, "-i", "a")
        osd_uuid = str(uuid.uuid4())
        osd_id = self._run("client.admin", "ceph", "-c", conf, "osd", "new", osd_uuid,
                           capture=True).strip()
        if osd_id != "0":
            raise RuntimeError(f"expected osd id 0, got {osd_id!r}")
        self._run("osd.0", "ceph-osd", "-c", conf, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        self._run("osd.0", "ceph-osd", "-c", conf, "-i", "0")
        self._start_rgw()
        self.access_key = _token(20)
        self.secret_key = _token(40)
        self._run("client.admin", "radosgw-admin", "-c", conf, "-n", "client.admin", "user",
                  "create", "--uid=registry", "--display-name=registry tests",
                  f"--access-key={self.access_key}", f"--secret-key={self.secret_key}")
        self.client().create_bucket(Bucket=self.bucket)

    def _pick_rgw_ports(self):
        """Two free ports for radosgw (HTTP, TLS), neither the monitor's."""
        self.port = free_port()
        while self.port == self.mon_port:
            self.port = free_port()
        self.tls_port = free_port()
        while self.tls_port in (self.mon_port, self.port):
            self.tls_port = free_port()

    def _write_conf(self):
        """ceph.conf with this cluster's folder, fsid and ports."""
        with open(self.conf, "w") as f:
            f.write(_CONF.format(fsid=self.fsid, mon_port=self.mon_port, port=self.port,
                                 dir=self.dir, tls_port=self.tls_port,
                                 memstore_bytes=self.memstore_bytes))

    def _start_rgw(self, attempts=3):
        """Starts radosgw; when it exits at start (a port another process took between our
        check and its bind), again on other ports, a bounded number of times."""
        for attempt in range(attempts):
            self._run("client.rgw", "radosgw", "-c", self.conf, "-n", "client.rgw")
            try:
                return self._wait_rgw()
            except RgwExited:
                if attempt == attempts - 1:
                    raise
            pid_file = os.path.join(self.dir, "run", "client.rgw.pid")
            if os.path.exists(pid_file):
                os.unlink(pid_file)
            log = os.path.join(self.dir, "log", "client.rgw.log")
            if os.path.exists(log):
                os.rename(log, f"{log}.{attempt}")
            self._pick_rgw_ports()
            self._write_conf()

    def _wait_rgw(self):
        """Waits until our radosgw owns the listening socket and answers (with the port taken,
        radosgw exits while the other server would answer)."""
        self.endpoint = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + self.timeout
        while True:
            pid = self._pid("client.rgw")
            if self._rgw_bind_failed():
                # it then removes its pid file and crashes in a thread or hangs: end it here
                for stray in self._pids_with_conf("client.rgw"):
                    self._kill(stray)
                raise RgwExited(f"radosgw could not bind port {self.port} or {self.tls_port}")
            if pid is None and os.path.exists(os.path.join(self.dir, "run", "client.rgw.pid")):
                raise RgwExited(f"radosgw exited on ports {self.port}, {self.tls_port}; "
                                f"its stderr: {self._stderr_tail('client.rgw')}")
            # (radosgw may write its pid file a moment after its start command returned)
            if pid is not None and _port_owner(self.port) == pid:
                try:
                    if requests.get(self.endpoint + "/", timeout=5).status_code == 200:
                        self.tls_endpoint = f"https://127.0.0.1:{self.tls_port}"
                        self.cert_file = os.path.join(self.dir, "rgw.crt")
                        return
                except requests.RequestException:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"radosgw did not answer on port {self.port} in "
                                   f"{self.timeout} s")
            time.sleep(0.1)

    # ---- use ---------------------------------------------------------------------------------

    def client(self):
        """A boto3 S3 client for this gateway (path-style addressing)."""
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"},
                                          signature_version="s3v4",
                                          retries={"max_attempts": 1}))

    def env(self):
        """The environment a program under test reads the endpoint and keys from."""
        return {"S3_ENDPOINT": self.endpoint, "S3_REGION": self.region, "S3_BUCKET": self.bucket,
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def _pids_with_conf(self, name):
        """The live processes started with our ceph.conf as daemon name (pid file or not)."""
        conf = os.path.join(self.dir, "ceph.conf").encode()
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if conf in argv and name.encode() in argv and _alive(int(pid)):
                found.append(int(pid))
        return found

    def _rgw_bind_failed(self):
        """Whether radosgw's log says that it could not listen on a port of ours."""
        try:
            with open(os.path.join(self.dir, "log", "client.rgw.log"), errors="replace") as f:
                return "failed initializing frontend" in f.read()
        except OSError:
            return False

    def _stderr_tail(self, name, n=1000):
        """The end of what daemon name wrote to its stderr (errors, with `err to stderr`)."""
        try:
            with open(os.path.join(self.dir, "log", f"{name}.stderr"), errors="replace") as f:
                return f.read()[-n:].strip() or "(empty)"
        except OSError:
            return "(none)"

    def logs_tail(self, n=3000):
        """The end of radosgw's log, for a failing test's message."""
        try:
            with open(os.path.join(self.dir, "log", "client.rgw.log"), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    # ---- stop --------------------------------------------------------------------------------

    def _pid(self, name):
        """The pid of daemon name, only while it is ours (alive, started with our ceph.conf)."""
        try:
            with open(os.path.join(self.dir, "run", f"{name}.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError):
            return None
        conf = os.path.join(self.dir, "ceph.conf").encode()
        if conf not in argv or not _alive(pid):
            return None
        return pid

    def _stop_daemons(self):
        """SIGTERM to each daemon in turn (5 s grace, then SIGKILL), clients first."""
        for name in _STOP_ORDER:
            pid = self._pid(name)
            if pid is not None:
                self._kill(pid, grace=5)

    @staticmethod
    def _kill(pid, grace=0):
        """Ends process pid: SIGTERM and up to grace seconds, then SIGKILL; returns once gone."""
        try:
            os.kill(pid, 15 if grace else 9)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            while _alive(pid):
                time.sleep(0.05)

    def stop(self):
        """Ends the daemons this cluster started and removes its folder."""
        if self.dir is None:
            return
        self._stop_daemons()
        if not os.environ.get("KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


def port_is_free(port):
    """True when nothing listens on 127.0.0.1:port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0

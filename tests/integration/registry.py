"""Test harness: a private PostgreSQL cluster and real registry daemons on temporary sockets.

Everything here is real: initdb/pg_ctl from Debian's postgresql package, the four registry
binaries built in this tree, HTTP over loopback. Tests get a `Registry` and talk to it with
requests, curl, skopeo, podman or python-gitlab.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("REGISTRY_BIN_DIR", TOP)
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
DAEMONS = ("authd", "metad", "blobd", "gateway")
# PostgreSQL's logging as deploy/registry-local sets it: no statement is logged with its
# parameters (bind values may be secrets or their hashes), errors without DETAIL (it may quote a
# row), stderr into the file pg_ctl -l names.
PG_LOG_SETTINGS = ("log_statement = 'none'\nlog_min_duration_statement = -1\n"
                   "log_parameter_max_length = 0\nlog_parameter_max_length_on_error = 0\n"
                   "log_error_verbosity = terse\nlogging_collector = off\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - we report the last failure below
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what} (last: {last!r})")


class PgCluster:
    """A throwaway PostgreSQL cluster listening only on a unix socket in its own folder."""

    def __init__(self, base, durable=False):
        """durable: fsync and synchronous commits on, as a production server runs (the
        benchmarks); off for the tests, whose data nobody keeps."""
        self.dir = os.path.join(base, "pg")
        self.sock_dir = self.dir
        self.user = None
        os.makedirs(self.dir, exist_ok=True)
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            self.user = "postgres"
            shutil.chown(base, user="postgres")
            shutil.chown(self.dir, user="postgres")
        self._run([f"{PG_BIN}/initdb", "-D", self.dir + "/data", "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8"])
        with open(self.dir + "/data/postgresql.auto.conf", "a") as f:
            f.write("listen_addresses = ''\n"
                    f"unix_socket_directories = '{self.sock_dir}'\n"
                    + ("" if durable else
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n") +
                    "max_connections = 300\nshared_buffers = 64MB\n"
                    # what deploy/registry-local sets: no statement values in the log
                    + PG_LOG_SETTINGS)
        # The server log: every test may grep it (secrets must never reach it).
        self.log_path = self.dir + "/log"
        self.start()

    def start(self):
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.dir + "/data", "-l", self.log_path,
                   "-w", "start"])

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def _run(self, cmd):
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def conninfo(self, db):
        return f"host={self.sock_dir} user=postgres dbname={db}"

    def psql(self, db, sql):
        out = subprocess.run(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", self.sock_dir,
                              "-U", "postgres", "-d", db, "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def create_db(self, name):
        self.psql("postgres", f'CREATE DATABASE "{name}"')

    def stop(self, mode="immediate"):
        with contextlib.suppress(Exception):
            self._run([f"{PG_BIN}/pg_ctl", "-D", self.dir + "/data", "-m", mode, "stop"])


class PgStandby(PgCluster):
    """A streaming replica of a PgCluster: pg_basebackup -R from the primary's socket, hot
    standby on a socket folder of its own, run as the same unprivileged user."""

    def __init__(self, primary, base):
        self.primary = primary
        self.dir = os.path.join(base, "pg-standby")
        self.sock_dir = self.dir
        self.user = primary.user
        os.makedirs(self.dir, exist_ok=True)
        if self.user:
            shutil.chown(self.dir, user=self.user)
        self._run([f"{PG_BIN}/pg_basebackup", "-h", primary.sock_dir, "-U", "postgres", "-D",
                   self.dir + "/data", "-R", "-X", "stream", "--no-sync", "-c", "fast"])
        with open(self.dir + "/data/postgresql.auto.conf", "a") as f:
            f.write(f"unix_socket_directories = '{self.sock_dir}'\nhot_standby = on\n")
        self.log_path = self.dir + "/log"
        self.start()

    def replayed(self):
        """The WAL position the standby has replayed."""
        return self.psql("postgres", "SELECT pg_last_wal_replay_lsn()")

    def wait_replayed(self, lsn, timeout=30):
        """Waits until the standby has replayed lsn (text form)."""
        wait_for(lambda: self.psql("postgres", f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'")
                 == "t", timeout=timeout, what=f"the standby to replay {lsn}")


class Registry:
    """One registry instance: its own database, sockets, keys, storage and listen port."""

    ROOT_PASSWORD = "Root-Passw0rd-for-tests"

    def __init__(self, pg, base, name, workers=2, extra_config=None, env=None, db_roles=None,
                 node_of=None, s3=None, create_db=True):
        """node_of: another instance this one is a node of (docs/SCALING.md): the same database,
        storage_root and bootstrap file, its own port, sockets, key_dir and logs. s3: a Ceph
        RADOS Gateway (ceph.CephRgw) to keep blobs in (storage = s3).
        create_db: False when the database exists already (a restored or replicated one)."""
        self.pg = pg
        self.name = name
        self.db = node_of.db if node_of else name
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir, exist_ok=True)
        if node_of is None and create_db:
            pg.create_db(name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.config_path = os.path.join(self.dir, "registry.conf")
        self.sock_dir = os.path.join(self.dir, "sock")
        # nodes share storage_root on a filesystem; with S3 each node has its own disk and
        # they share the bucket's prefix
        self.storage = (node_of.storage if node_of and s3 is None
                        else os.path.join(self.dir, "storage"))
        self.node_of = node_of
        self.bootstrap_file = (node_of.bootstrap_file if node_of
                               else os.path.join(self.dir, "bootstrap.env"))
        self.key_dir = os.path.join(self.dir, "keys")
        self.sections = {
            "global": {
                "socket_dir": self.sock_dir,
                "database": pg.conninfo(self.db),
                "key_dir": self.key_dir,
                "log_level": "info",
                "shutdown_timeout": "20",
            },
            # the web interface's files as the source tree holds them
            "gateway": {"listen": self.host, "workers": str(workers),
                        "ui_dir": os.path.join(TOP, "ui")},
            "authd": {"workers": str(workers), "bootstrap_file": self.bootstrap_file},
            "metad": {"workers": str(workers)},
            "blobd": {"workers": str(workers), "storage_root": self.storage},
        }
        if db_roles is None:
            db_roles = os.environ.get("REGISTRY_TEST_DB_ROLES") == "1"
        if node_of is not None:
            for section in ("authd", "metad"):
                for k in ("database", "metad_role"):
                    if k in node_of.sections[section]:
                        self.sections[section][k] = node_of.sections[section][k]
        elif db_roles:
            self.use_db_roles()
        self.s3 = s3
        self.s3_prefix = None
        if s3 is not None:
            self.use_s3(s3)
        for section, values in (extra_config or {}).items():
            self.sections.setdefault(section, {}).update(values)
        self.env = dict(os.environ, REGISTRY_ROOT_PASSWORD=self.ROOT_PASSWORD, **(env or {}))
        self.procs = {}
        self.logs = {}
        self.write_config()

    def use_db_roles(self):
        """PostgreSQL roles as privilege separation has them: authd's role owns the database and
        applies the schema, metad's gets the privileges schema/grants.sql gives it."""
        self.authd_role, self.metad_role = f"{self.name}_authd", f"{self.name}_metad"
        self.pg.psql("postgres", f'CREATE ROLE "{self.authd_role}" LOGIN; '
                     f'CREATE ROLE "{self.metad_role}" LOGIN; '
                     f'ALTER DATABASE "{self.name}" OWNER TO "{self.authd_role}"')
        base = self.pg.conninfo(self.name)
        self.sections["authd"].update(
            database=base.replace("user=postgres", f"user={self.authd_role}"),
            metad_role=self.metad_role)
        self.sections["metad"]["database"] = base.replace("user=postgres",
                                                          f"user={self.metad_role}")

    def use_s3(self, rgw):
        """Blobs in the S3 store of a CephRgw (fixture ceph_rgw), under a prefix of their own;
        the keys in a credentials file only blobd's user reads."""
        self.s3_prefix = (self.node_of.s3_prefix if self.node_of is not None
                          and self.node_of.s3_prefix else f"{self.name}/data")
        creds = os.path.join(self.dir, "s3-credentials")
        with open(creds, "w") as f:
            f.write(f"[default]\naws_access_key_id = {rgw.access_key}\n"
                    f"aws_secret_access_key = {rgw.secret_key}\n")
        os.chmod(creds, 0o600)
        # plain objects (request counts, redirects); test_v2_s3_compression turns zstd on
        self.sections["blobd"].update(
            storage="s3", s3_endpoint=rgw.endpoint, s3_region=rgw.region,
            s3_bucket=rgw.bucket, s3_prefix=self.s3_prefix, s3_path_style="true",
            s3_credentials_file=creds, compression="none")

    def s3_blob_key(self, digest):
        """The object key of a blob in S3 (storage = s3)."""
        algo, hexa = digest.split(":", 1)
        return f"{self.s3_prefix}/blobs/{algo}/{hexa[:2]}/{hexa}"

    # -- lifecycle -------------------------------------------------------------------------------

    def write_config(self):
        with open(self.config_path, "w") as f:
            for section, values in self.sections.items():
                f.write(f"[{section}]\n")
                for k, v in values.items():
                    f.write(f"{k} = {v}\n")
                f.write("\n")

    def binary(self, daemon):
        return os.path.join(BIN_DIR, f"registry-{daemon}")

    def pidfile(self, daemon):
        return os.path.join(self.dir, f"{daemon}.pid")

    def start_daemon(self, daemon):
        log = open(os.path.join(self.dir, f"{daemon}.log"), "ab")
        self.logs[daemon] = log
        self.procs[daemon] = subprocess.Popen(
            [self.binary(daemon), "-c", self.config_path, "-p", self.pidfile(daemon)],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)

    def start(self, daemons=DAEMONS, wait=True):
        for d in daemons:
            self.start_daemon(d)
            if d == "authd":
                # authd creates the signing key and applies migrations: let it finish first.
                try:
                    wait_for(lambda: os.path.exists(os.path.join(self.sock_dir, "authd.sock")),
                             what="authd socket")
                except TimeoutError as e:
                    raise TimeoutError(f"{e}; authd's log:\n{self.log('authd')[-3000:]}")
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        def ready():
            for d, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{d} exited with {p.returncode}:\n{self.log(d)[-3000:]}")
            return requests.get(self.url + "/-/readiness", timeout=2).status_code == 200
        wait_for(ready, timeout=timeout, what="readiness")

    def master_pid(self, daemon):
        return self.procs[daemon].pid

    def worker_pids(self, daemon):
        """Pids of the daemon's workers (children of its master)."""
        master = self.master_pid(daemon)
        out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def signal(self, daemon, sig):
        os.kill(self.master_pid(daemon), sig)

    def stop(self, timeout=30):
        for d in reversed(list(self.procs)):
            p = self.procs[d]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for d, p in self.procs.items():
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs.values():
            log.close()
        self.check_sanitizers()

    def check_sanitizers(self):
        """Under a sanitizer build (tests/run --sanitizers), any report in a daemon's log fails
        the test that ran the daemon."""
        if not os.environ.get("REGISTRY_SANITIZERS"):
            return
        markers = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
        for d in self.logs:
            text = self.log(d)
            for m in markers:
                at = text.find(m)
                if at >= 0:
                    raise AssertionError(f"{d}: sanitizer report in {self.dir}/{d}.log:\n"
                                         + text[max(0, at - 200):at + 3000])

    def log(self, daemon):
        with open(os.path.join(self.dir, f"{daemon}.log"), errors="replace") as f:
            return f.read()

    def workers_of(self, daemon, request_ids, timeout=15):
        """{request id: index of the daemon's worker that served it}, for requests the gateway
        answered with those X-Request-Id: each worker's access line names the request id the
        gateway forwarded ("<daemon>/w<N> INFO req=<id> access ...")."""
        wanted = set(request_ids)
        line = re.compile(rf"^\S+ {daemon}/w(\d+) INFO req=([0-9a-f]+) access ", re.M)

        def found():
            seen = {m.group(2): int(m.group(1)) for m in line.finditer(self.log(daemon))
                    if m.group(2) in wanted}
            return seen if len(seen) == len(wanted) else None
        return wait_for(found, timeout=timeout, what=f"{daemon}'s access lines")

    def every_worker(self, daemon, ask, each=1, limit=600):
        """Calls ask() (a request through the gateway on a connection of its own; returns the
        response) until each worker of daemon has served `each` of them, and returns the
        responses by worker index. One request after another would all take the gateway's
        kept-alive connection to the backend, always the same worker: they go several at once,
        so that the gateway opens more and the workers share them; when the gateway already
        keeps that many connections (all to one worker, by chance), each round that reached no
        new worker goes twice as wide, until the gateway must open new ones. Fails when `limit`
        requests did not reach every worker."""
        n = int(self.sections[daemon]["workers"])
        by_worker = {}
        asked = 0
        width = 2 * n
        while True:
            reached = sum(min(len(v), each) for v in by_worker.values())
            with ThreadPoolExecutor(width) as pool:
                answers = list(pool.map(lambda _: ask(), range(width)))
            served = self.workers_of(daemon, [r.headers["X-Request-Id"] for r in answers])
            for r in answers:
                by_worker.setdefault(served[r.headers["X-Request-Id"]], []).append(r)
            asked += len(answers)
            if len(by_worker) == n and all(len(v) >= each for v in by_worker.values()):
                return by_worker
            if sum(min(len(v), each) for v in by_worker.values()) == reached:
                width = min(2 * width, 128)  # past the 32 idle connections a gateway worker keeps
            assert asked < limit, (f"{asked} requests reached only workers {sorted(by_worker)} "
                                   f"of the {n} of {daemon}")

    # -- credentials -----------------------------------------------------------------------------

    def bootstrap(self):
        """ROOT_PASSWORD and ROOT_TOKEN that authd wrote on its first start."""
        values = {}
        with open(self.bootstrap_file) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    values[k] = v.strip("'\"")
        return values

    @property
    def root_token(self):
        return self.bootstrap()["ROOT_TOKEN"]

    def api(self, method, path, token=None, **kw):
        """A /api/v4 call; token defaults to root's personal access token."""
        headers = kw.pop("headers", {})
        if token is None:
            token = self.root_token
        if token:
            headers["PRIVATE-TOKEN"] = token
        return requests.request(method, f"{self.url}/api/v4{path}", headers=headers,
                                timeout=kw.pop("timeout", 30), **kw)

    def registry_token(self, scopes, user=None, password=None):
        """A registry token from /jwt/auth for the given scopes (list of strings)."""
        params = [("service", "container_registry")] + [("scope", s) for s in scopes]
        auth = (user, password) if user else None
        r = requests.get(f"{self.url}/jwt/auth", params=params, auth=auth, timeout=30)
        r.raise_for_status()
        return r.json()["token"]


def skopeo(*args, check=True, timeout=300, **kw):
    cmd = ["skopeo", "--insecure-policy"] + list(args)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}")
    return res


def tmpdir(prefix="regtest-"):
    return tempfile.mkdtemp(prefix=prefix)

"""Reads served by a streaming replica ([global] database_read) with read-your-writes.

Each test has a PostgreSQL cluster of its own and a hot standby of it made with
pg_basebackup -R (stopping, pausing or promoting the shared cluster would break the tests running
beside it). The standby proves where reads went: while its replay is paused, what it serves is
the past, so a read that sees the past was the standby's and a read that sees the present was the
primary's."""
import os
import re
import shutil
import time

import pytest
import requests

from registry import PgCluster, PgStandby, Registry, tmpdir, wait_for
from v2util import V2, make_project, mint_token

FAST = 5.0


class Cluster:
    """A primary, its standby, and a registry reading from the standby."""

    def __init__(self, max_lag=30, wait_ms=100, failover=False):
        self.base = tmpdir("regtest-replica-")
        os.chmod(self.base, 0o755)
        self.pg = PgCluster(self.base)
        # commits as production has them: a write's WAL reaches the standby at once
        self.pg.psql("postgres", "ALTER SYSTEM SET synchronous_commit = on")
        self.pg.psql("postgres", "SELECT pg_reload_conf()")
        self.name = "reg_replica"
        self.pg.create_db(self.name)
        self.standby = PgStandby(self.pg, self.base)
        primary = self.pg.conninfo(self.name)
        if failover:
            # libpq's multi-host string: whichever of the two takes writes
            primary = (f"host={self.pg.sock_dir},{self.standby.sock_dir} user=postgres "
                       f"dbname={self.name} target_session_attrs=read-write")
        self.reg = Registry(self.pg, self.base, self.name, workers=2, extra_config={
            "global": {"database": primary,
                       "database_read": self.standby.conninfo(self.name),
                       "database_read_max_lag": str(max_lag),
                       "database_read_wait": str(wait_ms)},
            "gateway": {"backend_timeout": "20"}}, create_db=False)

    def start(self):
        self.reg.start()
        self.wait_reads("replica")
        return self

    def close(self):
        self.reg.stop()
        self.standby.stop()
        self.pg.stop()
        if not os.environ.get("KEEP_TEST_DIRS"):
            shutil.rmtree(self.base, ignore_errors=True)

    def readiness(self):
        r = requests.get(self.reg.url + "/-/readiness", timeout=10)
        return r.status_code, r.json()

    def wait_reads(self, where, timeout=20):
        """Until authd and metad both say their reads go to where (readiness)."""
        def both():
            _, body = self.readiness()
            reads = body.get("checks", {}).get("database_read", {})
            return reads.get("metad") == where and reads.get("authd") == where
        wait_for(both, timeout=timeout, what=f"reads on the {where}")

    def metric(self, name, daemon, labels=""):
        text = requests.get(self.reg.url + "/metrics", timeout=10).text
        pattern = re.escape(f'{name}{{daemon="{daemon}"' + (f",{labels}" if labels else "")
                            + "}") + r" (\S+)$"
        values = [float(m.group(1)) for m in re.finditer(pattern, text, re.M)]
        return values[0] if values else None

    def replica_reads(self, daemon="metad"):
        return self.metric("registry_db_reads_total", daemon, 'served_by="replica"') or 0

    def standby_connections(self):
        return int(self.standby.psql(
            "postgres", f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{self.name}'"))


@pytest.fixture
def cluster():
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.close()


def session(reg):
    """A client that keeps cookies (python-gitlab's and browsers' way), as root."""
    s = requests.Session()
    s.headers["PRIVATE-TOKEN"] = reg.root_token
    return s


def test_the_fence_is_the_end_of_the_last_wal_record(registry):
    """A write's position (and a cookieless read's fence) is where a replica's replay stops:
    the insert position less the page header PostgreSQL reserves at a page's start (24 bytes,
    40 at a segment's start) when the last record ended exactly at the boundary. Taken as it is,
    every read would wait for a record nobody writes until the next write."""
    def sql(statement):
        return registry.pg.psql(registry.db, statement)
    segment = int(sql("SELECT pg_size_bytes(current_setting('wal_segment_size'))"))
    block = int(sql("SELECT current_setting('wal_block_size')"))

    def end_of(position):
        lsn = f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"
        return int(sql(f"SELECT wal_end_of_record('{lsn}') - '0/0'::pg_lsn"))
    at = 7 * segment + 3 * block
    assert end_of(7 * segment + 40) == 7 * segment
    assert end_of(at + 24) == at
    assert end_of(at + 32) == at + 32
    assert end_of(at) == at
    assert end_of((5 << 32) + 24 + block) == (5 << 32) + block
    assert sql("SELECT wal_written_lsn() <= pg_current_wal_insert_lsn()") == "t"


def test_reads_go_to_the_replica_and_writers_read_their_writes(cluster):
    reg = cluster.reg
    # authd and metad hold connections to the standby
    assert cluster.standby_connections() > 0
    writer, other, plain = session(reg), session(reg), session(reg)
    # other writes once: its cookie carries a position the standby has replayed
    r = other.post(f"{reg.url}/api/v4/groups", json={"name": "old", "path": "old"}, timeout=30)
    assert r.status_code == 201, r.text
    cookie = other.cookies.get("registry_lsn")
    assert cookie and re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", cookie), other.cookies
    cluster.standby.wait_replayed(cookie)

    # reads without any write in flight are the standby's (a cookieless read is fenced at the
    # primary's position of the moment: WAL that background work wrote since, not replayed
    # within database_read_wait on a loaded machine, sends that one read to the primary, which
    # is right; so reads go on until ten were the standby's, within a bound)
    before = cluster.replica_reads()
    for _ in range(50):
        assert other.get(f"{reg.url}/api/v4/groups/old", timeout=30).status_code == 200
        assert plain.get(f"{reg.url}/api/v4/projects", timeout=30).status_code == 200
        if cluster.replica_reads() >= before + 10:
            break
    wait_for(lambda: cluster.replica_reads() >= before + 10, what="10 reads on the standby")

    cluster.standby.psql("postgres", "SELECT pg_wal_replay_pause()")
    try:
        r = writer.post(f"{reg.url}/api/v4/projects", json={"name": "fresh"}, timeout=30)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        written = writer.cookies.get("registry_lsn")
        assert written and written != cookie
        # the writer reads its write at once: the standby has not replayed it, so the primary
        # answered after database_read_wait
        t = time.monotonic()
        r = writer.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30)
        assert r.status_code == 200 and r.json()["name"] == "fresh", r.text
        assert time.monotonic() - t < FAST
        # a client without a cookie too (its reads are fenced at the primary's position)
        assert plain.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30).status_code == 200
        # a client whose last write is older reads the standby's past: the project is not there
        # yet (a read the standby answered)
        before = cluster.replica_reads()
        r = other.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30)
        assert r.status_code == 404, r.text
        assert cluster.replica_reads() > before
        # the writer's session keeps its position on every later answer
        r = writer.get(f"{reg.url}/api/v4/projects?search=fresh", timeout=30)
        assert [p["id"] for p in r.json()] == [pid]
    finally:
        cluster.standby.psql("postgres", "SELECT pg_wal_replay_resume()")
    cluster.standby.wait_replayed(written)
    # once replayed, the standby answers the other client with the project
    assert other.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30).status_code == 200


def test_registry_reads_on_the_replica(cluster):
    """/v2: a pushed tag is read back at once by its pusher, the catalog and tags list come from
    the standby, and a client with an older position sees the standby's past."""
    reg = cluster.reg
    make_project(reg, "rep/app")
    token = mint_token(reg, [("rep/app", "pull,push")], lifetime=3600)
    pusher, reader = V2(reg, token), V2(reg, token)
    pusher.push_image("rep/app", "one")
    lsn = pusher.s.cookies.get("registry_lsn")
    assert lsn, "a manifest PUT answers with the position it reached"
    reader.s.cookies.set("registry_lsn", lsn)
    cluster.standby.wait_replayed(lsn)
    before = cluster.replica_reads()
    assert reader.get_manifest("rep/app", "one").status_code == 200
    r = reader.req("GET", "/v2/rep/app/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == ["one"], r.text
    assert cluster.replica_reads() >= before + 2

    cluster.standby.psql("postgres", "SELECT pg_wal_replay_pause()")
    try:
        pusher.push_image("rep/app", "two", layers=(b"second layer",))
        r = pusher.get_manifest("rep/app", "two")
        assert r.status_code == 200, r.text
        assert pusher.req("GET", "/v2/rep/app/tags/list").json()["tags"] == ["one", "two"]
        r = reader.get_manifest("rep/app", "two")
        assert r.status_code == 404 and reader.error_code(r) == "MANIFEST_UNKNOWN", r.text
        assert reader.req("GET", "/v2/rep/app/tags/list").json()["tags"] == ["one"]
    finally:
        cluster.standby.psql("postgres", "SELECT pg_wal_replay_resume()")


def test_replica_stopped_then_back(cluster):
    reg = cluster.reg
    s = session(reg)
    r = s.post(f"{reg.url}/api/v4/projects", json={"name": "kept"}, timeout=30)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    cluster.standby.stop()
    # every read is answered, by the primary, at once, and readiness says so
    for _ in range(10):
        t = time.monotonic()
        r = s.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30)
        assert r.status_code == 200, r.text
        assert time.monotonic() - t < FAST
    cluster.wait_reads("primary (replica unreachable)")
    status, _ = cluster.readiness()
    assert status == 200
    assert cluster.metric("registry_db_replica_usable", "metad") == 0
    before = cluster.metric("registry_db_reads_total", "metad", 'served_by="primary"') or 0
    assert requests.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30,
                        headers={"PRIVATE-TOKEN": reg.root_token}).status_code == 200
    assert cluster.metric("registry_db_reads_total", "metad", 'served_by="primary"') > before
    cluster.standby.start()
    cluster.wait_reads("replica")
    assert cluster.metric("registry_db_replica_usable", "metad") == 1
    assert s.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30).status_code == 200


def test_replica_lagging_past_the_bound():
    c = Cluster(max_lag=2).start()
    try:
        reg = c.reg
        s = session(reg)
        c.standby.psql("postgres", "SELECT pg_wal_replay_pause()")
        # writes go on: the standby falls behind, and past two seconds serves nothing
        for i in range(4):
            r = s.post(f"{reg.url}/api/v4/groups", json={"name": f"g{i}", "path": f"g{i}"},
                       timeout=30)
            assert r.status_code == 201, r.text
            time.sleep(1)
        c.wait_reads("primary (replica lagging)")
        assert c.metric("registry_db_replica_lag_seconds", "metad") >= 2
        before = c.replica_reads()
        other = session(reg)  # no cookie: would wait; lagging, the primary answers at once
        for i in range(4):
            t = time.monotonic()
            assert other.get(f"{reg.url}/api/v4/groups/g{i}", timeout=30).status_code == 200
            assert time.monotonic() - t < FAST
        assert c.replica_reads() == before
        c.standby.psql("postgres", "SELECT pg_wal_replay_resume()")
        c.wait_reads("replica")
    finally:
        c.close()


def test_primary_restart(cluster):
    """The primary stops: requests that need it fail fast with 503 in their dialect; it comes
    back: the daemons reconnect by themselves and nothing committed is lost."""
    reg = cluster.reg
    make_project(reg, "pr/app")
    token = mint_token(reg, [("pr/app", "pull,push")], lifetime=3600)
    v2 = V2(reg, token)
    digest, _ = v2.push_image("pr/app", "kept")
    s = session(reg)
    r = s.post(f"{reg.url}/api/v4/projects", json={"name": "committed"}, timeout=30)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    cluster.pg.stop()
    plain = V2(reg, token)
    for _ in range(3):
        t = time.monotonic()
        r = plain.get_manifest("pr/app", "kept")
        assert time.monotonic() - t < FAST
        assert r.status_code == 503 and plain.error_code(r) == "UNAVAILABLE", r.text
        t = time.monotonic()
        r = requests.post(f"{reg.url}/api/v4/groups", json={"name": "x", "path": "x"},
                          headers={"PRIVATE-TOKEN": reg.root_token}, timeout=30)
        assert time.monotonic() - t < FAST
        assert r.status_code == 503, r.text
    cluster.pg.start()
    wait_for(lambda: plain.get_manifest("pr/app", "kept").status_code == 200, timeout=30,
             what="reads after the primary's restart")
    wait_for(lambda: s.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30).status_code == 200,
             timeout=30, what="the project committed before the restart")
    assert plain.get_manifest("pr/app", "kept").headers["Docker-Content-Digest"] == digest
    r = s.post(f"{reg.url}/api/v4/groups", json={"name": "after", "path": "after"}, timeout=30)
    assert r.status_code == 201, r.text
    cluster.wait_reads("replica", timeout=30)


def test_failover_to_the_promoted_replica():
    """database names both servers with target_session_attrs=read-write: the standby promoted
    with pg_promote() takes the writes once the primary is gone, and, being a primary now, it
    serves no read as a replica (readiness says so)."""
    c = Cluster(failover=True).start()
    try:
        reg = c.reg
        s = session(reg)
        r = s.post(f"{reg.url}/api/v4/projects", json={"name": "before"}, timeout=30)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        c.standby.wait_replayed(s.cookies.get("registry_lsn"))
        c.pg.stop()
        c.standby.psql("postgres", "SELECT pg_promote()")
        wait_for(lambda: s.post(f"{reg.url}/api/v4/groups",
                                json={"name": "after", "path": "after"},
                                timeout=30).status_code == 201,
                 timeout=30, what="writes on the promoted standby")
        assert s.get(f"{reg.url}/api/v4/projects/{pid}", timeout=30).status_code == 200
        c.wait_reads("primary (replica not in recovery)")
    finally:
        c.close()

"""The database pools hold as many connections as their load needs: one per pool from the start,
more (up to db_connections) only while queries wait, and those closed again once idle for
[global] database_idle_timeout seconds. Counted in pg_stat_activity by application_name, which
names the daemon ("registry-metad", "registry-authd")."""
import concurrent.futures
import subprocess
import time

from registry import wait_for
from v2util import V2, make_project, mint_token

IDLE_TIMEOUT = 2
METAD_CONNECTIONS = 3


def backends(reg):
    """Client connections to the instance's database by application_name."""
    out = reg.pg.psql(reg.db, "SELECT application_name, count(*) FROM pg_stat_activity"
                              f" WHERE datname = '{reg.db}' AND pid <> pg_backend_pid()"
                              " GROUP BY 1")
    return {name: int(n) for name, n in (line.split("|") for line in out.splitlines())}


def only_first(reg):
    return backends(reg) == {"registry-metad": 1, "registry-authd": 1}


def test_pool_opens_under_load_and_closes_when_idle(make_registry):
    reg = make_registry(workers=1, extra_config={
        "global": {"database_idle_timeout": str(IDLE_TIMEOUT)},
        "metad": {"db_connections": str(METAD_CONNECTIONS)}}).start()
    make_project(reg, "pool/app")
    token = mint_token(reg, [("pool/app", "pull,push")], lifetime=3600)
    v2 = V2(reg, token)
    v2.push_image("pool/app", "v1")
    # What start-up and the push opened is closed again: one connection per pool is left.
    wait_for(lambda: only_first(reg), timeout=IDLE_TIMEOUT + 15, what="one connection a pool")

    # Queries that wait (the tags locked by another session) make metad open more, up to
    # db_connections and never past it.
    lock = subprocess.Popen(
        ["psql", "-X", "-q", "-h", reg.pg.sock_dir, "-U", "postgres", "-d", reg.db, "-c",
         "BEGIN; LOCK TABLE tags IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;"],
        stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: "LOCK TABLE" in reg.pg.psql(
            reg.db, "SELECT string_agg(query, ' ') FROM pg_stat_activity"
                    f" WHERE state <> 'idle' AND datname = '{reg.db}'"),
                 what="the lock taken")
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            calls = [ex.submit(v2.req, "GET", "/v2/pool/app/tags/list", timeout=60)
                     for _ in range(8)]
            seen = []

            def opened():
                seen.append(backends(reg).get("registry-metad", 0))
                return seen[-1] == METAD_CONNECTIONS
            wait_for(opened, what="metad's connections opened")
            time.sleep(0.5)
            seen.append(backends(reg).get("registry-metad", 0))
            answers = [c.result() for c in calls]
        assert max(seen) == METAD_CONNECTIONS, seen
        assert [r.status_code for r in answers] == [200] * 8
        assert all(r.json()["tags"] == ["v1"] for r in answers)
    finally:
        lock.wait(timeout=30)

    # Idle again: back to one each, which still answers.
    t0 = time.monotonic()
    wait_for(lambda: only_first(reg), timeout=IDLE_TIMEOUT + 15, what="idle connections closed")
    assert time.monotonic() - t0 >= IDLE_TIMEOUT - 1.5
    assert v2.req("GET", "/v2/pool/app/tags/list").status_code == 200


def test_last_connection_reconnects_at_once(make_registry):
    """The one connection a pool keeps, ended by the server, is made again without waiting for a
    query, and the next request is answered."""
    reg = make_registry(workers=1, extra_config={
        "global": {"database_idle_timeout": str(IDLE_TIMEOUT)}}).start()
    wait_for(lambda: only_first(reg), timeout=IDLE_TIMEOUT + 15, what="one connection a pool")
    metad = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'registry-metad'"
             f" AND datname = '{reg.db}'")
    before = reg.pg.psql(reg.db, metad)
    reg.pg.psql(reg.db, f"SELECT pg_terminate_backend({before})")

    def replaced():
        now = reg.pg.psql(reg.db, metad)
        return now not in ("", before)
    wait_for(replaced, timeout=5, what="metad's connection made again")
    make_project(reg, "pool/again")
    token = mint_token(reg, [("pool/again", "pull,push")], lifetime=3600)
    v2 = V2(reg, token)
    v2.push_image("pool/again", "v1")
    assert v2.req("GET", "/v2/pool/again/tags/list").json()["tags"] == ["v1"]

"""The storage gauges of an instance on S3 come from the blob rows (table blob_tally,
schema/functions/blob_tally.sql): every INSERT, DELETE and UPDATE of blobs appends its
differences in its own transaction, and blob_tally_read() folds them and sums by form. Checked
against an aggregate over the blobs table after each kind of change, with a transaction left
open across a fold (its rows count once it commits, never twice, never lost). Only authd runs
(it applies the schema)."""
import os

import pytest

from regapi import SqlSession
from registry import Registry, wait_for
from v2util import sha256


@pytest.fixture(scope="module")
def db(pg, workdir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    reg = Registry(pg, workdir, f"tally_{worker}")
    reg.start(daemons=("authd",), wait=False)
    wait_for(lambda: reg.pg.psql(reg.name, "SELECT count(*) FROM pg_proc WHERE proname = "
                                           "'blob_tally_read'") == "1",
             timeout=60, what="the schema")
    yield reg
    reg.stop()


def q(reg, statement):
    return reg.pg.psql(reg.name, statement)


def read(reg):
    """blob_tally_read(): {form: (files, stored, original)}."""
    out = {}
    for line in q(reg, "SELECT * FROM blob_tally_read()").splitlines():
        form, *v = line.split("|")
        out[form] = tuple(int(x) for x in v)
    return out


def truth(reg):
    """The same sums, aggregated over the blobs table."""
    out = {"plain": (0, 0, 0), "zstd": (0, 0, 0)}
    for line in q(reg, "SELECT CASE WHEN stored_size IS NULL THEN 'plain' ELSE 'zstd' END,"
                       " count(*), sum(coalesce(stored_size, size)), sum(size)"
                       " FROM blobs GROUP BY 1").splitlines():
        form, *v = line.split("|")
        out[form] = tuple(int(x) for x in v)
    return out


def test_the_tally_follows_every_change_of_the_blob_rows(db):
    digests = [sha256(f"tally {i}".encode()) for i in range(6)]
    values = ",".join(f"('{d}', {1000 + i})" for i, d in enumerate(digests))
    q(db, f"INSERT INTO blobs (digest, size) VALUES {values}")
    assert read(db) == truth(db)
    assert read(db)["plain"][0] >= 6
    # compressed: plain -> zstd, and a stored size told again
    q(db, f"UPDATE blobs SET stored_size = 100 WHERE digest IN ('{digests[0]}', '{digests[1]}')")
    q(db, f"UPDATE blobs SET stored_size = 90 WHERE digest = '{digests[0]}'")
    assert read(db) == truth(db)
    # an update that changes nothing the gauges count appends nothing
    rows = q(db, "SELECT count(*) FROM blob_tally")
    q(db, f"UPDATE blobs SET created_at = now() WHERE digest = '{digests[2]}'")
    assert q(db, "SELECT count(*) FROM blob_tally") == rows
    # deleted, in one statement, of both forms
    q(db, f"DELETE FROM blobs WHERE digest IN ('{digests[1]}', '{digests[3]}')")
    assert read(db) == truth(db)
    # a read folds what it sums into one row per form
    read(db)
    assert int(q(db, "SELECT count(*) FROM blob_tally")) <= 2


def test_a_fold_leaves_an_open_transaction_s_rows_for_later(db):
    before = read(db)
    other = SqlSession(db)
    try:
        d = sha256(b"tally open transaction")
        other.run(f"BEGIN; INSERT INTO blobs (digest, size, stored_size) VALUES ('{d}', 5000, 7);")
        assert read(db) == before == truth(db)  # folded meanwhile: not counted yet
        other.run("COMMIT;")
        after = read(db)
        assert after == truth(db)
        assert after["zstd"] == (before["zstd"][0] + 1, before["zstd"][1] + 7,
                                 before["zstd"][2] + 5000)
        other.run(f"BEGIN; DELETE FROM blobs WHERE digest = '{d}';")
        assert read(db) == after
        other.run("ROLLBACK;")
        assert read(db) == after == truth(db)
    finally:
        other.close()

"""The garbage collection protocol in the database, interleaving by interleaving
(docs/INTERNALS.md, "Garbage collection"): what the triggers queue, what a review keeps, and
each race between a review and a push, played step by step with two sessions. Only authd runs
(it applies the schema): no worker reviews behind the test's back, the test calls the reviews."""
import contextlib
import os
import threading

import pytest

from regapi import SqlSession
from registry import Registry, wait_for
from v2util import OCI_INDEX, OCI_MANIFEST, make_project, sha256


@pytest.fixture(scope="module")
def db(pg, workdir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    reg = Registry(pg, workdir, f"gcproto_{worker}")
    reg.start(daemons=("authd",), wait=False)
    wait_for(lambda: reg.pg.psql(reg.name, "SELECT count(*) FROM pg_proc WHERE proname = "
                                           "'gc_review_blobs'") == "1",
             timeout=60, what="the schema")
    yield reg
    reg.stop()


def q(reg, statement):
    return reg.pg.psql(reg.name, statement)


def lit(value):
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def arr(values, kind="text"):
    return "ARRAY[" + ",".join(lit(v) if kind == "text" else str(v) for v in values) + \
        f"]::{kind}[]"


def link_sql(path, digest, size=10):
    return f"SELECT status FROM registry_link_blob({lit(path)}, {lit(digest)}, {size})"


def put_sql(path, digest, blobs=(), children=(), tag=None, subject=None, media=OCI_MANIFEST):
    return ("SELECT status, detail FROM registry_put_manifest("
            f"{lit(path)}, {grant_sql(path)}, {lit(digest)}, {lit(media)}, NULL, NULL, NULL,"
            f" {lit(subject)}, NULL, 'payload'::bytea, {arr(blobs)},"
            f" {arr([10] * len(blobs), 'bigint')}, {arr(children)}, {lit(tag)}, 0, false, NULL)")


def grant_sql(path):
    """The grant a token on path holds now: its project and that project's path generation."""
    return (f"(SELECT x.project_id FROM registry_resolve({lit(path)}) x),"
            f" (SELECT p.path_generation FROM projects p"
            f" JOIN registry_resolve({lit(path)}) x ON p.id = x.project_id)")


def due(reg, table, where):
    """Makes the entries of table matching where due now."""
    q(reg, f"UPDATE {table} SET review_after = now() - interval '1 minute' WHERE {where}")


def review_blobs(reg):
    return [int(x) for x in q(reg, "SELECT claimed, reviewed, deleted, bytes "
                                   "FROM gc_review_blobs(100)").split("|")]


def review_manifests(reg):
    return [int(x) for x in q(reg, "SELECT claimed, reviewed, deleted "
                                   "FROM gc_review_manifests(100)").split("|")]


def manifest_id(reg, path, digest):
    return q(reg, "SELECT m.id FROM manifests m JOIN repositories r ON r.id = m.repository_id "
                  f"WHERE r.path = {lit(path)} AND m.digest = {lit(digest)}")


def events(reg, table, where):
    return sorted(q(reg, f"SELECT event FROM {table} WHERE {where}").split())


def clear_queues(reg):
    q(reg, "DELETE FROM gc_manifest_queue; DELETE FROM gc_blob_queue; DELETE FROM gc_blob_files")


class Background:
    """A statement run in its own session on a thread (it may wait for a lock)."""

    def __init__(self, reg, statement):
        self.session = SqlSession(reg)
        self.out = None
        self.thread = threading.Thread(target=self._run, args=(statement,), daemon=True)
        self.thread.start()

    def _run(self, statement):
        self.out = self.session.run(statement.rstrip(";") + ";")

    def result(self):
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the statement never finished"
        return self.out

    def close(self):
        if self.session.p.poll() is None and self.thread.is_alive():
            self.session.p.kill()
        self.thread.join(timeout=30)
        self.session.close()


@contextlib.contextmanager
def race(reg, first, then):
    """Session one runs first in an open transaction; then runs in session two (on a thread,
    where it may wait for session one's locks). Yields (one, two); one is committed by the
    test, and both end however the test does."""
    one = SqlSession(reg)
    two = None
    try:
        one.run("BEGIN; " + first.rstrip(";") + ";")
        two = Background(reg, then)
        yield one, two
    finally:
        one.close()  # a transaction left open is rolled back: two goes on
        if two is not None:
            two.close()


def wait_for_lock_wait(reg):
    wait_for(lambda: q(reg, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            f"{lit(reg.name)} AND wait_event_type = 'Lock'") != "0",
             timeout=10, what="a session to wait for a lock")


@pytest.fixture
def repo(db, uniq):
    path = f"{uniq}/app"
    make_project(db, path)
    clear_queues(db)
    return path


# ---- feeding ---------------------------------------------------------------------------------

def test_triggers_queue_what_a_removed_reference_may_free(db, repo):
    d1, d2 = sha256(b"one" + repo.encode()), sha256(b"two" + repo.encode())
    assert q(db, link_sql(repo, d1)) == "ok" and q(db, link_sql(repo, d2)) == "ok"
    assert events(db, "gc_blob_queue", f"digest = {lit(d1)}") == ["blob_link"]
    # linking again restarts the blob's review, as a new link would
    q(db, link_sql(repo, d1))
    assert events(db, "gc_blob_queue", f"digest = {lit(d1)}") == ["blob_link", "blob_link"]
    img, idx, ref = (sha256(x + repo.encode()) for x in (b"img", b"idx", b"ref"))
    assert q(db, put_sql(repo, img, blobs=[d1, d2])).startswith("ok")
    assert q(db, put_sql(repo, idx, children=[img], tag="t", media=OCI_INDEX)).startswith("ok")
    assert q(db, put_sql(repo, ref, subject=img)).startswith("ok")
    mimg, midx, mref = (manifest_id(db, repo, d) for d in (img, idx, ref))
    for m in (mimg, midx, mref):
        assert events(db, "gc_manifest_queue", f"manifest_id = {m}") == ["manifest_upload"]
    clear_queues(db)
    # a tag moved away, then deleted
    assert q(db, put_sql(repo, img, tag="t")).startswith("ok")
    assert events(db, "gc_manifest_queue", f"manifest_id = {midx}") == ["tag_switch"]
    q(db, f"DELETE FROM tags WHERE manifest_id = {mimg}")
    assert events(db, "gc_manifest_queue", f"manifest_id = {mimg}") == ["tag_delete"]
    clear_queues(db)
    # an index deleted queues its children; a subject deleted its referrers; a manifest its blobs
    q(db, f"DELETE FROM manifests WHERE id = {midx}")
    assert events(db, "gc_manifest_queue", f"manifest_id = {mimg}") == ["index_delete"]
    q(db, f"DELETE FROM manifests WHERE id = {mimg}")
    assert events(db, "gc_manifest_queue", f"manifest_id = {mref}") == ["subject_delete"]
    assert events(db, "gc_blob_queue", f"digest IN ({lit(d1)}, {lit(d2)})") == \
        ["manifest_delete", "manifest_delete"]
    # every entry waits for the review delay
    assert q(db, "SELECT bool_and(review_after > now() + interval '1 hour') "
                 "FROM gc_blob_queue") == "t"
    clear_queues(db)
    # a repository deleted queues the blobs it linked
    q(db, f"DELETE FROM repositories WHERE path = {lit(repo)}")
    assert events(db, "gc_blob_queue", f"digest IN ({lit(d1)}, {lit(d2)})") == \
        ["blob_unlink", "blob_unlink"]


# ---- reviewing -------------------------------------------------------------------------------

def test_a_review_keeps_what_is_referenced_and_deletes_the_rest(db, repo):
    blob = sha256(b"layer" + repo.encode())
    q(db, link_sql(repo, blob))
    tagged, child, idx, ref, loose = (sha256(x + repo.encode())
                                      for x in (b"tagged", b"child", b"idx", b"ref", b"loose"))
    q(db, put_sql(repo, tagged, blobs=[blob], tag="t"))
    q(db, put_sql(repo, child))
    q(db, put_sql(repo, idx, children=[child], media=OCI_INDEX))
    q(db, put_sql(repo, ref, subject=tagged))
    q(db, put_sql(repo, loose))
    # nothing is due yet
    assert review_manifests(db) == [0, 0, 0]
    due(db, "gc_manifest_queue", "true")
    # the tagged image, the index's child and the referrer stay; the untagged index and the
    # loose manifest go
    assert review_manifests(db) == [5, 5, 2]
    assert manifest_id(db, repo, idx) == "" and manifest_id(db, repo, loose) == ""
    assert manifest_id(db, repo, tagged) and manifest_id(db, repo, ref)
    # the child's index went: its review is due at once, and it goes in the next batch
    assert events(db, "gc_manifest_queue", "review_after <= now()") == ["index_delete"]
    assert review_manifests(db) == [1, 1, 1]
    assert manifest_id(db, repo, child) == ""
    # the blob is referenced; pushed again within the delay a manifest is in review
    due(db, "gc_blob_queue", "true")
    assert review_blobs(db)[:3] == [1, 1, 0]
    q(db, f"DELETE FROM tags WHERE manifest_id = {manifest_id(db, repo, tagged)}")
    q(db, put_sql(repo, tagged))  # by digest again: reviewed after the delay again
    due(db, "gc_manifest_queue", "event = 'tag_delete'")
    assert review_manifests(db) == [1, 1, 0]
    due(db, "gc_manifest_queue", "true")
    # now the image goes, and its referrer, and its blob with its file queued, at once
    assert review_manifests(db) == [1, 1, 1]
    assert review_manifests(db) == [1, 1, 1]
    assert review_blobs(db) == [1, 1, 1, 10]
    assert q(db, f"SELECT count(*) FROM blobs WHERE digest = {lit(blob)}") == "0"
    assert q(db, f"SELECT size FROM gc_blob_files WHERE digest = {lit(blob)}") == "10"
    assert q(db, "SELECT count(*) FROM gc_manifest_queue") == "0"
    assert q(db, "SELECT count(*) FROM gc_blob_queue") == "0"


def test_a_blob_linked_within_the_delay_is_kept(db, repo):
    blob = sha256(b"linked twice" + repo.encode())
    q(db, link_sql(repo, blob))
    due(db, "gc_blob_queue", f"digest = {lit(blob)}")
    other = f"{repo}/other"
    q(db, link_sql(other, blob))  # a mount or upload elsewhere: a new entry, not due
    assert review_blobs(db)[:3] == [1, 1, 0]
    assert q(db, f"SELECT count(*) FROM blobs WHERE digest = {lit(blob)}") == "1"


# ---- races: a review against a push ----------------------------------------------------------

def test_a_review_leaves_a_blob_a_push_holds(db, repo):
    """A push holding the blob's row (FOR KEY SHARE) makes the review look again shortly."""
    blob = sha256(b"held" + repo.encode())
    q(db, link_sql(repo, blob))
    due(db, "gc_blob_queue", "true")
    push = SqlSession(db)
    try:
        push.run(f"BEGIN; SELECT 1 FROM blobs WHERE digest = {lit(blob)} FOR KEY SHARE;")
        before = q(db, "SELECT clock_timestamp()")
        assert review_blobs(db) == [1, 0, 0, 0]
        # put off past the moment of the review (not past now: a loaded machine may take
        # longer than the short delay between the two statements)
        assert q(db, "SELECT bool_and(review_after > "
                     f"{lit(before)}::timestamptz) FROM gc_blob_queue") == "t"
    finally:
        push.run("COMMIT;")
        push.close()
    assert q(db, f"SELECT count(*) FROM blobs WHERE digest = {lit(blob)}") == "1"


def test_a_manifest_push_waiting_for_a_review_finds_the_blob_gone(db, repo):
    """The review deletes the blob first: the manifest naming it waits, then is refused with
    MANIFEST_BLOB_UNKNOWN (the client pushes the blob again), never stored without it."""
    blob = sha256(b"reviewed" + repo.encode())
    q(db, link_sql(repo, blob))
    due(db, "gc_blob_queue", "true")
    img = sha256(b"img" + repo.encode())
    with race(db, "SELECT * FROM gc_review_blobs(100)",
              put_sql(repo, img, blobs=[blob], tag="t")) as (review, push):
        wait_for_lock_wait(db)
        review.run("COMMIT;")
        assert push.result() == [f"blob_unknown|{blob}"]
    assert manifest_id(db, repo, img) == ""


def test_a_link_waiting_for_a_review_makes_the_row_again(db, repo):
    """The review deletes the blob (its file queued): an upload of it waits, then makes the row
    again and cancels the file's deletion, which blobd had not claimed."""
    blob = sha256(b"linked again" + repo.encode())
    q(db, link_sql(repo, blob))
    due(db, "gc_blob_queue", "true")
    with race(db, "SELECT * FROM gc_review_blobs(100)", link_sql(repo, blob)) as (review, push):
        wait_for_lock_wait(db)
        review.run("COMMIT;")
        assert push.result() == ["ok"]
    assert q(db, f"SELECT count(*) FROM blobs WHERE digest = {lit(blob)}") == "1"
    assert q(db, f"SELECT count(*) FROM gc_blob_files WHERE digest = {lit(blob)}") == "0"
    assert q(db, "SELECT count(*) FROM repository_blobs rb JOIN repositories r ON "
                 f"r.id = rb.repository_id WHERE r.path = {lit(repo)}") == "1"


def test_a_link_of_a_file_being_deleted_is_refused_until_done(db, repo):
    blob = sha256(b"claimed" + repo.encode())
    q(db, f"INSERT INTO gc_blob_files (digest, size) VALUES ({lit(blob)}, 10)")
    assert q(db, "SELECT digest FROM gc_files_claim('host-a', 30, 10)") == blob
    assert q(db, link_sql(repo, blob)) == "blob_deleting"
    assert q(db, f"SELECT count(*) FROM blobs WHERE digest = {lit(blob)}") == "0"
    # another host's claim stands while its lease does; the same host takes its own again
    assert q(db, "SELECT count(*) FROM gc_files_claim('host-b', 30, 10)") == "0"
    assert q(db, "SELECT digest FROM gc_files_claim('host-a', 30, 10)") == blob
    assert q(db, f"SELECT gc_files_done('host-b', ARRAY[{lit(blob)}])") == "0"
    assert q(db, f"SELECT gc_files_done('host-a', ARRAY[{lit(blob)}])") == "1"
    assert q(db, link_sql(repo, blob)) == "ok"
    # a lease that ran out is anyone's
    other = sha256(b"expired" + repo.encode())
    q(db, f"INSERT INTO gc_blob_files (digest, claimed_by, claimed_until) VALUES ({lit(other)},"
          " 'host-a', now() - interval '1 second')")
    assert q(db, "SELECT digest FROM gc_files_claim('host-b', 30, 10)") == other


def test_orphans_are_queued_unless_a_row_names_them(db, repo):
    known, orphan = sha256(b"known" + repo.encode()), sha256(b"orphan" + repo.encode())
    q(db, link_sql(repo, known))
    assert q(db, f"SELECT * FROM gc_files_orphans(ARRAY[{lit(known)}, {lit(orphan)}])") == orphan
    assert q(db, "SELECT digest FROM gc_blob_files") == orphan
    # an upload of it before blobd claimed the file: the row is back, the deletion cancelled
    assert q(db, link_sql(repo, orphan)) == "ok"
    assert q(db, "SELECT count(*) FROM gc_blob_files") == "0"


def test_an_index_push_waiting_for_a_review_finds_its_child_gone(db, repo):
    """The review deletes an untagged child: an index listing it waits, then is refused with
    MANIFEST_UNKNOWN, never stored with a missing child."""
    child, idx = sha256(b"child" + repo.encode()), sha256(b"index" + repo.encode())
    q(db, put_sql(repo, child))
    due(db, "gc_manifest_queue", "true")
    with race(db, "SELECT * FROM gc_review_manifests(100)",
              put_sql(repo, idx, children=[child], tag="t", media=OCI_INDEX)) as (review, push):
        wait_for_lock_wait(db)
        review.run("COMMIT;")
        assert push.result() == [f"manifest_unknown|{child}"]
    assert manifest_id(db, repo, idx) == ""


def test_a_tag_push_waiting_for_a_review_stores_the_manifest_again(db, repo):
    """The review deletes an untagged manifest: the same manifest pushed by tag waits, then
    stores it again and tags it."""
    img = sha256(b"retagged" + repo.encode())
    q(db, put_sql(repo, img))
    old = manifest_id(db, repo, img)
    due(db, "gc_manifest_queue", "true")
    with race(db, "SELECT * FROM gc_review_manifests(100)",
              put_sql(repo, img, tag="latest")) as (review, push):
        wait_for_lock_wait(db)
        review.run("COMMIT;")
        assert push.result()[0].startswith("ok")
    new = manifest_id(db, repo, img)
    assert new and new != old
    assert q(db, f"SELECT manifest_id FROM tags WHERE name = 'latest' AND manifest_id = {new}") \
        == new


def test_a_review_leaves_a_manifest_a_push_holds(db, repo):
    img = sha256(b"tag me" + repo.encode())
    q(db, put_sql(repo, img))
    due(db, "gc_manifest_queue", "true")
    push = SqlSession(db)
    try:
        push.run(f"BEGIN; SELECT 1 FROM manifests WHERE digest = {lit(img)} FOR KEY SHARE;")
        assert review_manifests(db) == [1, 0, 0]
    finally:
        push.run("COMMIT;")
        push.close()
    assert manifest_id(db, repo, img)

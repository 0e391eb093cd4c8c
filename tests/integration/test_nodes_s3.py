"""Upload sessions of S3 storage across nodes (docs/S3.md, "Upload sessions"): two nodes sharing
PostgreSQL and one bucket prefix but no filesystem (test_nodes.Cluster with s3), the session's
state in the database, its bytes a multipart upload of s3_part_size parts plus a tail object.
boto3 and psql are the witnesses of what the bucket and the database hold."""
import hashlib
import os
import secrets
import threading
import time

import pytest

from registry import wait_for
from test_nodes import S3_PART, Cluster, path_of, token
from v2util import V2, make_project, sha256

MiB = 1 << 20


@pytest.fixture
def s3_cluster(make_registry, workdir, ceph_rgw):
    c = Cluster(make_registry, workdir, s3=ceph_rgw,
                blobd={"s3_part_size": str(S3_PART), "upload_purge_after": "60"})
    yield c
    c.stop()


def row(node, upload_id):
    """The session's row: byte_count, tail_length, the parts' numbers ('' when gone)."""
    return node.pg.psql(node.db, "SELECT byte_count || ' ' || tail_length || ' ' || coalesce("
                        "(SELECT string_agg(p->>'number', ',') FROM jsonb_array_elements(parts) p),"
                        " '-') FROM upload_sessions WHERE id = '" + upload_id + "'")


def uploads_objects(node):
    """Keys under the prefix's uploads/, and the multipart uploads in progress there."""
    s3, bucket, prefix = node.s3.client(), node.s3.bucket, f"{node.s3_prefix}/uploads/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    mps = [u["Key"] for u in
           s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])]
    return keys, mps


def no_local_sessions(c):
    """Nothing of a session on either node's disk: the bytes are in S3, the state in the rows."""
    for node in c.nodes:
        assert os.listdir(os.path.join(node.storage, "uploads")) in ([], [".purge.lock"])


def chunk(v2, loc, data, start):
    return v2.req("PATCH", loc, data=data, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{start}-{start + len(data) - 1}"})


def test_a_session_continues_on_any_node_in_parts_and_tails(s3_cluster):
    c = s3_cluster.start()
    name = "s3nodes/app"
    make_project(c.a, name)
    a, b = V2(c.a, token(c.a.url, name)), V2(c.b, token(c.b.url, name))
    sizes = [1 * MiB, 7 * MiB, 1 * MiB, 7 * MiB]
    chunks = [os.urandom(n) for n in sizes]
    last = os.urandom(MiB // 2 + 3)
    data = b"".join(chunks) + last

    r = a.start_upload(name)  # on a
    assert r.status_code == 202, r.text
    sid = r.headers["Docker-Upload-UUID"]
    loc = path_of(r.headers["Location"])
    assert row(c.a, sid) == "0 0 -"
    # 1 MiB on b: under a part, so a tail; 7 on a: a part of 5 MiB and a tail of 3; 1 on b: a
    # tail of 4; 7 on a: two parts, a tail of 1
    expect = ["1048576 1048576 -", "8388608 3145728 1", "9437184 4194304 1",
              "16777216 1048576 1,2,3"]
    offset = 0
    for i, (data_i, v2) in enumerate(zip(chunks, [b, a, b, a])):
        r = chunk(v2, loc, data_i, offset)
        assert r.status_code == 202, r.text
        offset += len(data_i)
        assert r.headers["Range"] == f"0-{offset - 1}"
        loc = path_of(r.headers["Location"])
        assert row(c.a, sid) == expect[i]
        # the other node sees where it stands
        other = a if v2 is b else b
        r = other.req("GET", loc)
        assert r.status_code == 204 and r.headers["Range"] == f"0-{offset - 1}"
        # one tail object (the one the row names: the previous one goes after the answer),
        # and the multipart upload
        wait_for(lambda: len(uploads_objects(c.a)[0]) == 1, timeout=10, what="one tail")
        keys, mps = uploads_objects(c.a)
        assert mps == [f"{c.a.s3_prefix}/uploads/{sid}/data"]
        assert "/tail-" in keys[0], keys
    no_local_sessions(c)
    # a chunk out of order is refused by either node: the offset is the row's
    assert chunk(b, loc, b"x", 0).status_code == 416

    started = time.monotonic()
    r = b.req("PUT", loc, params={"digest": sha256(data)}, data=last)  # finished on b
    assert r.status_code == 201, r.text
    assert time.monotonic() - started < 10  # the refused chunk never held the session
    for v2 in (a, b):
        got = v2.get_blob(name, sha256(data))
        assert got.status_code == 200 and got.content == data
    head = c.a.s3.client().head_object(Bucket=c.a.s3.bucket, Key=c.a.s3_blob_key(sha256(data)))
    assert head["ContentLength"] == len(data)
    # the session is gone: its row, its multipart upload, its objects
    assert row(c.a, sid) == ""
    wait_for(lambda: uploads_objects(c.a) == ([], []), timeout=10, what="the objects to go")
    assert a.req("GET", loc).status_code == 404

    # the same blob again through a session: deduplicated, and the session leaves nothing
    r = b.start_upload(name)
    loc = path_of(r.headers["Location"])
    r = chunk(a, loc, data[:6 * MiB], 0)
    assert r.status_code == 202, r.text
    r = b.req("PUT", path_of(r.headers["Location"]), params={"digest": sha256(data)},
              data=data[6 * MiB:])
    assert r.status_code == 201, r.text
    wait_for(lambda: uploads_objects(c.a) == ([], []), timeout=10, what="the objects to go")

    # a small blob whose session never filled a part (POST, PUT with the body; and empty)
    for small in (os.urandom(1000), b""):
        r = a.start_upload(name)
        r = b.req("PUT", path_of(r.headers["Location"]), params={"digest": sha256(small)},
                  data=small)
        assert r.status_code == 201, r.text
        assert a.get_blob(name, sha256(small)).content == small
    wait_for(lambda: uploads_objects(c.a) == ([], []), timeout=10, what="the objects to go")
    # a monolithic upload is not a session
    assert a.push_blob(name, os.urandom(2 * MiB)) is not None


def test_a_wrong_digest_leaves_nothing(s3_cluster):
    c = s3_cluster.start()
    name = "s3nodes/bad"
    make_project(c.a, name)
    a, b = V2(c.a, token(c.a.url, name)), V2(c.b, token(c.b.url, name))
    data = os.urandom(7 * MiB)
    r = a.start_upload(name)
    sid = r.headers["Docker-Upload-UUID"]
    r = chunk(b, path_of(r.headers["Location"]), data, 0)
    assert r.status_code == 202, r.text
    wrong = sha256(data + b"x")
    r = a.req("PUT", path_of(r.headers["Location"]), params={"digest": wrong}, data=b"y")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID", r.text
    assert r.json()["errors"][0]["detail"] == sha256(data + b"y")
    assert row(c.a, sid) == ""
    wait_for(lambda: uploads_objects(c.a) == ([], []), timeout=10, what="the objects to go")
    for digest in (wrong, sha256(data + b"y")):
        assert b.get_blob(name, digest).status_code == 404
    assert a.req("GET", f"/v2/{name}/blobs/uploads/{sid}").status_code == 404

    # finished with a digest in another algorithm than the session's (sha256): the bytes are
    # read back from the completed upload, and a wrong one leaves nothing either
    for good in (False, True):
        r = b.start_upload(name)
        r = chunk(a, path_of(r.headers["Location"]), data, 0)  # a part and a tail
        assert r.status_code == 202, r.text
        digest = "sha512:" + hashlib.sha512(data + (b"" if good else b"!")).hexdigest()
        r = b.req("PUT", path_of(r.headers["Location"]), params={"digest": digest})
        if good:
            assert r.status_code == 201, r.text
            assert a.get_blob(name, digest).content == data
        else:
            assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
            assert r.json()["errors"][0]["detail"] == \
                "sha512:" + hashlib.sha512(data).hexdigest()
            assert a.get_blob(name, digest).status_code == 404
        wait_for(lambda: uploads_objects(c.a) == ([], []), timeout=10, what="the objects to go")


def parts_in_s3(node, sid):
    """The part numbers S3 holds of the session's multipart upload so far."""
    s3, bucket, key = node.s3.client(), node.s3.bucket, f"{node.s3_prefix}/uploads/{sid}/data"
    upload_id = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)["Uploads"][0]["UploadId"]
    got = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
    return [p["PartNumber"] for p in got]


def test_parts_go_to_s3_while_a_chunked_patch_streams(s3_cluster):
    """Each part is sent as it fills, before the body ends (numbered by its place in the blob),
    and the writer holds the session while it streams."""
    c = s3_cluster.start()
    name = "s3nodes/stream"
    make_project(c.a, name)
    a, b = V2(c.a, token(c.a.url, name)), V2(c.b, token(c.b.url, name))
    data = os.urandom(5 * S3_PART + 2 * MiB)
    r = a.start_upload(name)
    sid = r.headers["Docker-Upload-UUID"]
    loc = path_of(r.headers["Location"])
    seen = []

    def body():  # chunked: no Content-Length
        sent = 0
        for checkpoint in (2 * S3_PART + MiB, 4 * S3_PART + MiB, len(data)):
            while sent < checkpoint:
                yield data[sent:sent + MiB]
                sent += MiB
            if sent < len(data):
                want = checkpoint // S3_PART
                wait_for(lambda: len(parts_in_s3(c.a, sid)) >= want, timeout=20,
                         what=f"{want} parts in S3 while the body streams")
                seen.append(parts_in_s3(c.a, sid))
                if len(seen) == 1:  # another request meanwhile, which must wait
                    other.start()

    # the session is held while its writer streams: another request waits, then finds it
    # moved on (it never takes it over: its parts would spoil the multipart upload)
    got = {}
    other = threading.Thread(target=lambda: got.update(r=chunk(b, loc, b"x", 0)))
    r = a.req("PATCH", loc, data=body(), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    assert seen == [[1, 2], [1, 2, 3, 4]]
    other.join(60)
    assert got["r"].status_code == 400, got["r"].text
    assert got["r"].json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID", got["r"].text
    assert row(c.a, sid) == f"{len(data)} {2 * MiB} 1,2,3,4,5"
    loc = path_of(r.headers["Location"])
    r = b.req("PUT", loc, params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    assert a.get_blob(name, sha256(data)).content == data
    wait_for(lambda: uploads_objects(c.a) == ([], []), timeout=10, what="the objects to go")
    no_local_sessions(c)


def test_two_writers_of_one_session_cannot_both_count(s3_cluster):
    c = s3_cluster.start()
    name = "s3nodes/race"
    make_project(c.a, name)
    a, b = V2(c.a, token(c.a.url, name)), V2(c.b, token(c.b.url, name))
    r = a.start_upload(name)
    loc = path_of(r.headers["Location"])
    bodies = {"a": os.urandom(6 * MiB), "b": os.urandom(6 * MiB)}
    got = {}
    go = threading.Barrier(2)

    def write(who, v2):
        go.wait()
        got[who] = chunk(v2, loc, bodies[who], 0)

    threads = [threading.Thread(target=write, args=w) for w in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    codes = sorted(r.status_code for r in got.values())
    # one wins; the other is refused, by the version it read (400 BLOB_UPLOAD_INVALID) or, when
    # it read after the winner saved, by the offset (416)
    assert codes[0] == 202 and codes[1] in (400, 416), {k: r.text for k, r in got.items()}
    loser = next(r for r in got.values() if r.status_code != 202)
    if loser.status_code == 400:
        assert loser.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    winner = next(k for k, r in got.items() if r.status_code == 202)
    r = a.req("GET", loc)
    assert r.headers["Range"] == f"0-{6 * MiB - 1}"  # counted once
    r = b.req("PUT", loc, params={"digest": sha256(bodies[winner])})
    assert r.status_code == 201, r.text + c.a.log("blobd")[-3000:] + c.b.log("blobd")[-3000:]
    assert a.get_blob(name, sha256(bodies[winner])).content == bodies[winner]
    wait_for(lambda: uploads_objects(c.a) == ([], []), timeout=10, what="the objects to go")


def test_abandoned_sessions_and_orphan_uploads_are_swept(s3_cluster):
    c = s3_cluster.start()
    name = "s3nodes/old"
    make_project(c.a, name)
    a = V2(c.a, token(c.a.url, name))
    s3, bucket = c.a.s3.client(), c.a.s3.bucket
    # a multipart upload under uploads/ that no session names (a node died between making it
    # and recording the session)
    orphan = f"{c.a.s3_prefix}/uploads/{secrets.token_hex(16)}/data"
    orphan_id = s3.create_multipart_upload(Bucket=bucket, Key=orphan)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=orphan, UploadId=orphan_id, PartNumber=1, Body=b"z" * 10)
    made = time.time()

    r = a.start_upload(name)
    old = r.headers["Docker-Upload-UUID"]
    r = chunk(a, path_of(r.headers["Location"]), os.urandom(7 * MiB), 0)  # a part and a tail
    assert r.status_code == 202, r.text
    r = a.start_upload(name)
    fresh = path_of(r.headers["Location"])
    assert chunk(a, fresh, b"still going", 0).status_code == 202
    c.a.pg.psql(c.a.db, "UPDATE upload_sessions SET updated_at = now() - interval '1 hour'"
                        f" WHERE id = '{old}'")

    def old_gone():
        keys, mps = uploads_objects(c.a)
        return row(c.a, old) == "" and not any(f"/{old}/" in k for k in keys + mps)
    wait_for(old_gone, timeout=60, what="the abandoned session to be purged")
    assert a.req("GET", f"/v2/{name}/blobs/uploads/{old}").status_code == 404
    r = a.req("GET", fresh)
    assert r.status_code == 204 and r.headers["Range"] == f"0-{len(b'still going') - 1}"
    # the orphan goes once S3 says it is older than upload_purge_after (60 s); the fresh
    # session, whose multipart upload is as old but whose row a PATCH touches every few seconds,
    # stays
    assert orphan in uploads_objects(c.a)[1]
    offset = len(b"still going")
    deadline = time.time() + max(5, 60 - (time.time() - made)) + 60
    while orphan in uploads_objects(c.a)[1]:
        assert time.time() < deadline, "the orphan multipart upload was not aborted"
        r = chunk(a, fresh, b"+", offset)
        assert r.status_code == 202, r.text
        offset += 1
        time.sleep(3)
    keys, mps = uploads_objects(c.a)
    assert mps == [f"{c.a.s3_prefix}/uploads/{fresh.rsplit('/', 1)[1]}/data"], mps
    r = a.req("GET", fresh)
    assert r.status_code == 204 and r.headers["Range"] == f"0-{offset - 1}"


def test_a_put_whose_parts_cannot_be_completed_links_nothing(s3_cluster):
    c = s3_cluster.start()
    name = "s3nodes/lost"
    make_project(c.a, name)
    a, b = V2(c.a, token(c.a.url, name)), V2(c.b, token(c.b.url, name))
    data = os.urandom(7 * MiB)
    r = a.start_upload(name)
    sid = r.headers["Docker-Upload-UUID"]
    r = chunk(a, path_of(r.headers["Location"]), data, 0)
    assert r.status_code == 202, r.text
    # the multipart upload is gone from the store (aborted behind the registry's back)
    s3, bucket = c.a.s3.client(), c.a.s3.bucket
    key = f"{c.a.s3_prefix}/uploads/{sid}/data"
    upload_id = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)["Uploads"][0]["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    r = b.req("PUT", path_of(r.headers["Location"]), params={"digest": sha256(data)})
    assert r.status_code == 500 and r.json()["errors"][0]["code"] == "UNKNOWN", r.text
    # nothing linked, nothing stored
    assert c.a.pg.psql(c.a.db, "SELECT count(*) FROM repository_blobs WHERE blob_digest = '"
                       + sha256(data) + "'") == "0"
    assert b.get_blob(name, sha256(data)).status_code == 404

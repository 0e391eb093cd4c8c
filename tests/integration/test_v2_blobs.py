"""Blobs and uploads over the distribution API: every upload style, reads with ranges, and the
error codes clients rely on. Tokens are real registry JWTs signed with the instance's key."""
import hashlib
import os
import re

import pytest
import requests

import jwtutil
from tenants import Tenancy

from v2util import (V2, add_member, blob_files, client, grant_binding, make_project, make_user,
                    mint_token, sha256, upload_dirs)


@pytest.fixture(params=["filesystem", "s3"])
def registry(request, registry):
    """Every test here runs against each storage driver (S3: the Ceph RADOS Gateway fixture)."""
    return request.getfixturevalue("registry_s3") if request.param == "s3" else registry


@pytest.mark.parametrize("how", ["monolithic", "put", "stream", "chunked"])
def test_upload_styles_store_and_serve_the_bytes(registry, proj, how):
    c = client(registry, (proj, "pull,push"))
    data = os.urandom(300_000)
    digest = c.push_blob(proj, data, how=how)
    r = c.get_blob(proj, digest)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Accept-Ranges"] == "bytes"
    r = c.req("HEAD", f"/v2/{proj}/blobs/{digest}")
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(data))
    assert r.headers["Docker-Content-Digest"] == digest
    assert blob_files(registry)[digest]


def test_chunked_transfer_encoding(registry, proj):
    """docker and containerd stream PATCH bodies with Transfer-Encoding: chunked."""
    c = client(registry, (proj, "pull,push"))
    data = os.urandom(1_500_000)

    def gen():
        for i in range(0, len(data), 100_000):
            yield data[i:i + 100_000]
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PATCH", loc, data=gen())
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = c.req("HEAD", r.headers["Location"])
    assert r.status_code == 204 and r.headers["Range"] == f"0-{len(data) - 1}"
    more = os.urandom(1000)
    r = c.req("PUT", loc, params={"digest": sha256(data + more)}, data=iter([more]))
    assert r.status_code == 201, r.text
    assert c.get_blob(proj, sha256(data + more)).content == data + more
    r = c.req("POST", f"/v2/{proj}/blobs/uploads/", params={"digest": sha256(data)}, data=gen())
    assert r.status_code == 201, r.text


def test_range_reads(registry, proj):
    c = client(registry, (proj, "pull,push"))
    data = bytes(range(256)) * 40
    digest = c.push_blob(proj, data)
    r = c.get_blob(proj, digest, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    r = c.get_blob(proj, digest, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = c.get_blob(proj, digest, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"


def test_empty_blob(registry, proj):
    c = client(registry, (proj, "pull,push"))
    for how in ("monolithic", "put"):
        digest = c.push_blob(proj, b"", how=how)
        r = c.get_blob(proj, digest)
        assert r.status_code == 200 and r.content == b""


def test_sha512_digests(registry, proj):
    c = client(registry, (proj, "pull,push"))
    data = os.urandom(70_000)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = c.req("POST", f"/v2/{proj}/blobs/uploads/", params={"digest": digest}, data=data)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert c.get_blob(proj, digest).content == data
    # a chunked upload hashed with sha256, finished with a sha512 digest: read again and verify
    data2 = os.urandom(50_000)
    digest2 = "sha512:" + hashlib.sha512(data2).hexdigest()
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PATCH", loc, data=data2)
    assert r.status_code == 202
    r = c.req("PUT", r.headers["Location"], params={"digest": digest2})
    assert r.status_code == 201, r.text
    assert c.get_blob(proj, digest2).content == data2
    assert digest2 in blob_files(registry)


def test_upload_status_cancel_and_unknown_uploads(registry, proj, uniq):
    c = client(registry, (proj, "pull,push"), (proj + "/other", "pull,push"))
    r = c.start_upload(proj)
    assert r.status_code == 202
    assert r.headers["Range"] == "0-0"
    uid = r.headers["Docker-Upload-UUID"]
    loc = r.headers["Location"]
    assert loc == f"{registry.url}/v2/{proj}/blobs/uploads/{uid}"
    r = c.req("PATCH", loc, data=b"x" * 10, headers={"Content-Range": "0-9"})
    assert r.status_code == 202 and r.headers["Range"] == "0-9"
    r = c.req("GET", loc)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-9" and r.headers["Location"] == loc
    # the same upload id under another repository is unknown there
    r = c.req("GET", f"/v2/{proj}/other/blobs/uploads/{uid}")
    assert r.status_code == 404 and c.error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    r = c.req("DELETE", loc)
    assert r.status_code == 204
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        r = c.req(method, loc, params={"digest": sha256(b"")} if method == "PUT" else None)
        assert r.status_code == 404, method
        assert c.error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    r = c.req("PATCH", f"/v2/{proj}/blobs/uploads/not-an-upload-id", data=b"x")
    assert r.status_code == 404 and c.error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_out_of_order_chunk_is_416(registry, proj):
    c = client(registry, (proj, "pull,push"))
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PATCH", loc, data=b"a" * 100, headers={"Content-Range": "0-99"})
    assert r.status_code == 202
    loc = r.headers["Location"]
    r = c.req("PATCH", loc, data=b"b" * 100, headers={"Content-Range": "150-249"})
    assert r.status_code == 416
    assert c.error_code(r) == "RANGE_INVALID"
    assert r.headers["Range"] == "0-99"
    r = c.req("PATCH", loc, data=b"b" * 100, headers={"Content-Range": "50-149"})
    assert r.status_code == 416
    # the session is intact: the right chunk goes on, and the blob verifies
    r = c.req("PATCH", loc, data=b"b" * 100, headers={"Content-Range": "100-199"})
    assert r.status_code == 202 and r.headers["Range"] == "0-199"
    r = c.req("PUT", loc, params={"digest": sha256(b"a" * 100 + b"b" * 100)})
    assert r.status_code == 201
    # Content-Length must agree with Content-Range
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PATCH", loc, data=b"c" * 10, headers={"Content-Range": "0-19"})
    assert r.status_code == 400 and c.error_code(r) == "SIZE_INVALID"


def test_put_with_final_chunk(registry, proj):
    c = client(registry, (proj, "pull,push"))
    data = os.urandom(5000)
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PATCH", loc, data=data[:3000], headers={"Content-Range": "0-2999"})
    assert r.status_code == 202
    r = c.req("PUT", r.headers["Location"], params={"digest": sha256(data)}, data=data[3000:],
              headers={"Content-Range": "3000-4999"})
    assert r.status_code == 201, r.text
    assert c.get_blob(proj, sha256(data)).content == data


def test_digest_mismatch_stores_nothing(registry, proj):
    c = client(registry, (proj, "pull,push"))
    data = os.urandom(20_000)
    wrong = sha256(b"something else")
    before_uploads = set(upload_dirs(registry))
    # monolithic
    r = c.req("POST", f"/v2/{proj}/blobs/uploads/", params={"digest": wrong}, data=data)
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"
    # chunked then PUT
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PATCH", loc, data=data)
    r = c.req("PUT", r.headers["Location"], params={"digest": wrong})
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"
    files = blob_files(registry)
    assert sha256(data) not in files and wrong not in files
    assert set(upload_dirs(registry)) <= before_uploads  # the sessions are gone
    for d in (wrong, sha256(data)):
        r = c.req("HEAD", f"/v2/{proj}/blobs/{d}")
        assert r.status_code == 404
    # the upload is over: finishing it again is unknown
    r = c.req("PUT", loc, params={"digest": sha256(data)})
    assert r.status_code == 404 and c.error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_bad_digests(registry, proj):
    c = client(registry, (proj, "pull,push"))
    r = c.get_blob(proj, "sha256:abc")
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"
    r = c.get_blob(proj, "md5:d41d8cd98f00b204e9800998ecf8427e")
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PUT", loc)
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"
    r = c.req("PUT", loc, params={"digest": "sha256:XYZ"})
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"


def test_unknown_blob(registry, proj):
    c = client(registry, (proj, "pull,push"))
    r = c.get_blob(proj, sha256(b"never pushed"))
    assert r.status_code == 404 and c.error_code(r) == "BLOB_UNKNOWN"
    r = c.req("HEAD", f"/v2/{proj}/blobs/{sha256(b'never pushed')}")
    assert r.status_code == 404


def test_bad_name(registry, proj):
    c = client(registry, (proj, "pull,push"))
    for name in ("Upper/Case", "a//b", "-lead/x", "x/y_"):
        r = c.req("POST", f"/v2/{name}/blobs/uploads/")
        assert r.status_code == 400, name
        assert c.error_code(r) == "NAME_INVALID"


def test_push_without_push_scope_is_insufficient_scope(registry, proj):
    c = client(registry, (proj, "pull"))
    r = c.start_upload(proj)
    assert r.status_code == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert f'scope="repository:{proj}:push,pull"' in r.headers["WWW-Authenticate"]
    r = c.put_manifest(proj, "x", {"schemaVersion": 2})
    assert r.status_code == 401
    # and reading someone else's repository needs a token for it
    r = V2(registry, mint_token(registry, [("other/repo", "pull")])).get_blob(proj, sha256(b"x"))
    assert r.status_code == 401


def test_paths_without_project_or_too_deep_are_denied(registry, proj, uniq):
    c = client(registry, (f"{uniq}/nothing/here", "pull,push"), (f"{proj}/a/b/c", "pull,push"),
               (f"{uniq}", "pull,push"))
    for name in (f"{uniq}/nothing/here", f"{proj}/a/b/c", uniq):
        r = c.start_upload(name)
        assert r.status_code == 403, name
        assert c.error_code(r) == "DENIED"
        r = c.req("POST", f"/v2/{name}/blobs/uploads/", params={"digest": sha256(b"x")}, data=b"x")
        assert r.status_code == 403 and c.error_code(r) == "DENIED"
        r = c.put_manifest(name, "t", {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                       "manifests": []})
        assert r.status_code == 403 and c.error_code(r) == "DENIED"


def test_first_push_creates_repositories_below_the_project(registry, proj):
    names = [proj, f"{proj}/a", f"{proj}/a/b"]
    c = client(registry, *[(n, "pull,push") for n in names])
    for n in names:
        c.push_blob(n, b"first push " + n.encode())
    pid = registry.pg.psql(registry.name, f"SELECT id FROM projects WHERE full_path = '{proj}'")
    rows = registry.pg.psql(registry.name,
                            f"SELECT '[' || name || ']' FROM repositories WHERE project_id = {pid} ORDER BY name")
    assert rows.split("\n") == ["[]", "[a]", "[a/b]"]


def test_delete_scheduled_repository_refuses_pushes(registry, proj):
    c = client(registry, (proj, "pull,push"))
    digest = c.push_blob(proj, b"before")
    registry.pg.psql(registry.name, (
        "UPDATE repositories SET status = 'delete_scheduled' WHERE project_id = "
        f"(SELECT id FROM projects WHERE full_path = '{proj}') AND name = ''"))
    r = c.start_upload(proj)
    assert r.status_code == 403 and c.error_code(r) == "DENIED"
    r = c.put_manifest(proj, "t", {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                   "manifests": []})
    assert r.status_code == 403 and c.error_code(r) == "DENIED"
    assert c.get_blob(proj, digest).content == b"before"


def test_delete_blob_unlinks_it(registry, proj):
    c = client(registry, (proj, "pull,push,delete"))
    digest = c.push_blob(proj, b"to be deleted")
    r = c.req("DELETE", f"/v2/{proj}/blobs/{digest}")
    assert r.status_code == 202
    r = c.get_blob(proj, digest)
    assert r.status_code == 404 and c.error_code(r) == "BLOB_UNKNOWN"
    r = c.req("DELETE", f"/v2/{proj}/blobs/{digest}")
    assert r.status_code == 404 and c.error_code(r) == "BLOB_UNKNOWN"
    nodelete = client(registry, (proj, "pull,push"))
    r = nodelete.req("DELETE", f"/v2/{proj}/blobs/{digest}")
    assert r.status_code == 401


def test_tenant_isolation_and_deduplication(registry, uniq):
    a, b = f"{uniq}a/app", f"{uniq}b/app"
    make_project(registry, a)
    make_project(registry, b)
    ca = client(registry, (a, "pull,push"))
    cb = client(registry, (b, "pull,push"))
    data = os.urandom(100_000)
    digest = ca.push_blob(a, data)
    # B knows the digest but its repository does not link the blob
    r = cb.get_blob(b, digest)
    assert r.status_code == 404 and cb.error_code(r) == "BLOB_UNKNOWN"
    r = cb.req("HEAD", f"/v2/{b}/blobs/{digest}")
    assert r.status_code == 404
    # nor can B mount it: B cannot pull from A, so it gets an ordinary upload, and still cannot
    # read the blob
    for mount in ({"mount": digest, "from": a}, {"mount": digest}):
        r = cb.req("POST", f"/v2/{b}/blobs/uploads/", params=mount)
        assert r.status_code == 202 and "Docker-Upload-UUID" in r.headers, (mount, r.text)
        assert r.headers["Location"].startswith(f"{registry.url}/v2/{b}/blobs/uploads/")
        r = cb.get_blob(b, digest)
        assert r.status_code == 404 and cb.error_code(r) == "BLOB_UNKNOWN", mount
        assert cb.req("HEAD", f"/v2/{b}/blobs/{digest}").status_code == 404
    # B pushing the same bytes stores no second copy
    path = blob_files(registry)[digest]
    if registry.s3 is not None:
        # one object, not written again (S3 keeps its date of writing)
        s3 = registry.s3.client()
        before = s3.head_object(Bucket=registry.s3.bucket, Key=path)
        cb.push_blob(b, data, how="stream")
        assert cb.get_blob(b, digest).content == data
        assert blob_files(registry)[digest] == path
        after = s3.head_object(Bucket=registry.s3.bucket, Key=path)
        assert after["LastModified"] == before["LastModified"]
        assert after["ETag"] == before["ETag"]
        return
    inode = os.stat(path).st_ino
    cb.push_blob(b, data, how="stream")
    assert cb.get_blob(b, digest).content == data
    assert blob_files(registry)[digest] == path
    assert os.stat(path).st_ino == inode and os.stat(path).st_nlink == 1


def test_cross_repository_mount(registry, uniq):
    src, dst = f"{uniq}/src", f"{uniq}/dst"
    make_project(registry, src)
    make_project(registry, dst)
    c = client(registry, (src, "pull,push"), (dst, "pull,push"))
    digest = c.push_blob(src, b"mount me")
    r = c.req("POST", f"/v2/{dst}/blobs/uploads/", params={"mount": digest, "from": src})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{registry.url}/v2/{dst}/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert c.get_blob(dst, digest).content == b"mount me"
    # a token without pull on the source gets an ordinary upload instead
    nopull = client(registry, (f"{uniq}/dst", "pull,push"))
    other = c.push_blob(src, b"other")
    r = nopull.req("POST", f"/v2/{dst}/blobs/uploads/", params={"mount": other, "from": src})
    assert r.status_code == 202 and "Docker-Upload-UUID" in r.headers
    r = nopull.get_blob(dst, other)
    assert r.status_code == 404 and nopull.error_code(r) == "BLOB_UNKNOWN"
    # mounting what the source does not have starts an upload too
    r = c.req("POST", f"/v2/{dst}/blobs/uploads/", params={"mount": sha256(b"nope"), "from": src})
    assert r.status_code == 202


def bearer_challenge(r):
    """The parameters of a 401's Bearer challenge, as a plain client reads them."""
    assert r.status_code == 401, r.text
    header = r.headers["WWW-Authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def follow_challenge(r, auth, repeated):
    """A token from the challenge's realm for every scope it names: in one scope parameter as
    the challenge gives it (reggie, the conformance suite's client), or one parameter per scope
    (docker)."""
    ch = bearer_challenge(r)
    scopes = ch["scope"].split(" ") if repeated else [ch["scope"]]
    got = requests.get(ch["realm"], params=[("service", ch["service"])] +
                       [("scope", s) for s in scopes], auth=auth, timeout=30)
    assert got.status_code == 200, got.text
    return got.json()["token"]


@pytest.mark.parametrize("repeated", [False, True])
def test_following_the_mount_challenge_mounts(registry, uniq, repeated):
    t = Tenancy(registry)
    gid = t.group(f"mnt{uniq}")
    alice = t.user(f"mnt{uniq}a")
    t.add_group_member(gid, alice["id"], "developer")
    _, src = t.project(gid, "src")
    _, dst = t.project(gid, "dst")
    auth = (alice["username"], alice["password"])
    pusher = V2(registry, registry.registry_token([f"repository:{src}:pull,push"], *auth))
    digest = pusher.push_blob(src, b"layer to mount " + uniq.encode())
    anonymous = V2(registry)
    mount = {"mount": digest, "from": src}
    r = anonymous.req("POST", f"/v2/{dst}/blobs/uploads/", params=mount)
    # one challenge names every scope the mount needs
    assert bearer_challenge(r)["scope"] == f"repository:{dst}:push,pull repository:{src}:pull"
    token = follow_challenge(r, auth, repeated)
    assert jwtutil.access_of(token) == {("repository", dst): {"push", "pull"},
                                        ("repository", src): {"pull"}}
    r = V2(registry, token).req("POST", f"/v2/{dst}/blobs/uploads/", params=mount)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert V2(registry, token).get_blob(dst, digest).status_code == 200
    # a token short of push on the target is challenged for both scopes too
    puller = V2(registry, registry.registry_token([f"repository:{dst}:pull"], *auth))
    r = puller.req("POST", f"/v2/{dst}/blobs/uploads/", params=mount)
    ch = bearer_challenge(r)
    assert ch["error"] == "insufficient_scope"
    assert ch["scope"] == f"repository:{dst}:push,pull repository:{src}:pull"
    # an upload without a source, or from itself, names the repository alone
    r = anonymous.req("POST", f"/v2/{dst}/blobs/uploads/", params={"mount": digest})
    assert bearer_challenge(r)["scope"] == f"repository:{dst}:push,pull"
    r = anonymous.req("POST", f"/v2/{dst}/blobs/uploads/", params={"mount": digest, "from": dst})
    assert bearer_challenge(r)["scope"] == f"repository:{dst}:push,pull"
    r = anonymous.req("POST", f"/v2/{dst}/blobs/uploads/",
                      params={"mount": digest, "from": 'bad"name'})
    assert bearer_challenge(r)["scope"] == f"repository:{dst}:push,pull"


def test_mount_without_from_finds_a_readable_repository(registry, uniq):
    a, b = f"{uniq}/a", f"{uniq}/b"
    pa, pb = make_project(registry, a), make_project(registry, b)
    alice, bob = make_user(registry, uniq + "alice"), make_user(registry, uniq + "bob")
    add_member(registry, pa, alice, 30)
    add_member(registry, pb, alice, 30)
    add_member(registry, pb, bob, 30)
    ca = client(registry, (a, "pull,push"), (b, "pull,push"), user_id=alice)
    digest = ca.push_blob(a, b"shared layer " + uniq.encode())
    # bob may push to b but cannot read a: no mount
    cbob = client(registry, (b, "pull,push"), user_id=bob)
    r = cbob.req("POST", f"/v2/{b}/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 202
    assert cbob.get_blob(b, digest).status_code == 404
    # alice can read a: the blob is mounted into b
    r = ca.req("POST", f"/v2/{b}/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201
    assert cbob.get_blob(b, digest).status_code == 200


def backend_get(reg, daemon, target, actions, grant):
    """GET target straight on a backend's socket, with the identity the gateway would forward for
    a caller granted actions on grant ((project id, generation)); (status, the body, parsed when
    it is JSON)."""
    import http.client
    import json
    import socket

    class Unix(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(os.path.join(reg.sock_dir, f"{daemon}.sock"))

    conn = Unix("localhost")
    conn.request("GET", target, headers={"X-Registry-User-Id": "1", "X-Registry-Admin": "1",
                                         "X-Registry-Auth-Kind": "password",
                                         "X-Registry-Actions": actions,
                                         "X-Registry-Grant": "%d:%d" % grant})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, json.loads(body) if r.getheader("Content-Type") == "application/json" else body


def test_backends_check_the_forwarded_grant_of_the_route(registry, proj):
    """blobd and metad serve a /v2 route only when the grant the gateway forwards covers what the
    route needs (routes.def), whoever asks."""
    c = client(registry, (proj, "pull,push"))
    digest = c.push_blob(proj, b"grant")
    c.push_image(proj, "granted")
    enc = proj.replace("/", "%2F")
    grant = grant_binding(registry, proj)
    for daemon, target in (("blobd", f"/v2/{enc}/blobs/{digest.replace(':', '%3A')}"),
                           ("metad", f"/v2/{enc}/tags/list")):
        status, body = backend_get(registry, daemon, target, "push,delete", grant)
        assert status == 403 and body["errors"][0]["code"] == "DENIED", (daemon, status, body)
        status, _ = backend_get(registry, daemon, target, "pull", grant)
        assert status == 200, (daemon, status)
        # a grant made on another project, or on this one at another path generation
        for other in ((grant[0] + 1000000, grant[1]), (grant[0], grant[1] + 1), (0, 0)):
            status, body = backend_get(registry, daemon, target, "pull", other)
            assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED", \
                (daemon, other, status, body)

"""Tenant B, with a token for its own repository, on what only tenant A holds, over /v2: a blob
digest A links, A's upload ids, a manifest digest only A holds, an index naming A's manifest, and
referrers of A's subject. Every answer is the exact refusal, no answer carries A's bytes, and A's
objects are as they were."""
import json
import uuid

import pytest

from v2util import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, client, make_project, sha256

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def tenants(registry):
    """Two projects of two tenants; a client for each, allowed everything on its own only (the
    tests use bytes of their own)."""
    tag = uuid.uuid4().hex[:8]
    a, b = f"iso{tag}a/app", f"iso{tag}b/app"
    make_project(registry, a)
    make_project(registry, b)
    return (a, client(registry, (a, "pull,push,delete")),
            b, client(registry, (b, "pull,push,delete")))


def refused(c, r, status, code):
    """r is the refusal status with the OCI code (HEAD: no body)."""
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    if r.request.method != "HEAD":
        assert c.error_code(r) == code, r.text


def carries_nothing_of(r, *secrets):
    for s in secrets:
        assert s not in r.content, (r.request.method, r.request.url, r.content[:300])


def test_blob_delete_of_a_digest_another_tenant_links(tenants):
    a, ca, b, cb = tenants
    data = b"A's layer, secret " + a.encode()
    digest = ca.push_blob(a, data)
    # B names A's digest in its own repository: unknown there, nothing unlinked
    r = cb.req("DELETE", f"/v2/{b}/blobs/{digest}")
    refused(cb, r, 404, "BLOB_UNKNOWN")
    # in A's repository B's token grants nothing
    r = cb.req("DELETE", f"/v2/{a}/blobs/{digest}")
    refused(cb, r, 401, "DENIED")
    assert ca.get_blob(a, digest).content == data
    # B holding the same bytes and deleting them unlinks its own link only
    cb.push_blob(b, data)
    assert cb.req("DELETE", f"/v2/{b}/blobs/{digest}").status_code == 202
    refused(cb, cb.get_blob(b, digest), 404, "BLOB_UNKNOWN")
    assert ca.get_blob(a, digest).content == data


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_another_tenants_upload_id(tenants, method):
    a, ca, b, cb = tenants
    head, tail = f"A's upload for {method}, ".encode(), b"and its end"
    whole = head + tail
    r = ca.start_upload(a)
    assert r.status_code == 202, r.text
    upload = r.headers["Docker-Upload-UUID"]
    r = ca.req("PATCH", r.headers["Location"], data=head, headers=OCTETS)
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(head) - 1}", r.text
    kw = {"PATCH": {"data": b"B's bytes", "headers": OCTETS},
          "PUT": {"params": {"digest": sha256(head)}}}.get(method, {})
    # through B's repository the id is unknown; through A's, B's token grants nothing
    r = cb.req(method, f"/v2/{b}/blobs/uploads/{upload}", **kw)
    refused(cb, r, 404, "BLOB_UPLOAD_UNKNOWN")
    carries_nothing_of(r, head)
    r = cb.req(method, f"/v2/{a}/blobs/uploads/{upload}", **kw)
    refused(cb, r, 401, "DENIED")
    carries_nothing_of(r, head)
    # A's upload is untouched: the same bytes, and it goes on to the end
    r = ca.req("GET", f"/v2/{a}/blobs/uploads/{upload}")
    assert r.status_code == 204 and r.headers["Range"] == f"0-{len(head) - 1}"
    r = ca.req("PATCH", f"/v2/{a}/blobs/uploads/{upload}", data=tail,
               headers=dict(OCTETS, **{"Content-Range": f"{len(head)}-{len(whole) - 1}"}))
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(whole) - 1}", r.text
    r = ca.req("PUT", f"/v2/{a}/blobs/uploads/{upload}", params={"digest": sha256(whole)})
    assert r.status_code == 201, r.text
    assert ca.get_blob(a, sha256(whole)).content == whole
    refused(cb, cb.get_blob(b, sha256(whole)), 404, "BLOB_UNKNOWN")
    refused(cb, cb.get_blob(b, sha256(head)), 404, "BLOB_UNKNOWN")


def test_manifest_by_a_digest_only_another_tenant_holds(tenants):
    a, ca, b, cb = tenants
    digest, _ = ca.push_image(a, "v1", layers=(b"A's only layer " + a.encode(),))
    body = ca.get_manifest(a, digest).content
    for method in ("GET", "HEAD", "DELETE"):
        r = cb.req(method, f"/v2/{b}/manifests/{digest}")
        refused(cb, r, 404, "MANIFEST_UNKNOWN")
        carries_nothing_of(r, body, a.encode())
        refused(cb, cb.req(method, f"/v2/{a}/manifests/{digest}"), 401, "DENIED")
    r = ca.get_manifest(a, digest)
    assert r.status_code == 200 and r.content == body
    assert ca.get_manifest(a, "v1").content == body


def test_index_naming_another_tenants_manifest(tenants):
    a, ca, b, cb = tenants
    digest, _ = ca.push_image(a, "v1", layers=(b"A's indexed layer " + a.encode(),))
    size = len(ca.get_manifest(a, digest).content)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": size}]}
    r = cb.put_manifest(b, "borrowed", index)
    refused(cb, r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert r.json()["errors"][0]["detail"] == digest
    # nothing was stored under B, and A's manifest is still not B's to read
    refused(cb, cb.get_manifest(b, "borrowed"), 404, "MANIFEST_UNKNOWN")
    refused(cb, cb.get_manifest(b, sha256(json.dumps(index).encode())), 404, "MANIFEST_UNKNOWN")
    refused(cb, cb.get_manifest(b, digest), 404, "MANIFEST_UNKNOWN")


def test_referrers_of_another_tenants_subject(tenants):
    a, ca, b, cb = tenants
    subject, _ = ca.push_image(a, "v1", layers=(b"A's subject layer " + a.encode(),))
    size = len(ca.get_manifest(a, subject).content)

    def artifact(c, name, kind):
        empty = c.push_blob(name, b"{}")
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
             "config": {"mediaType": OCI_EMPTY, "digest": empty, "size": 2}, "layers": [],
             "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
             "annotations": {"org.example.owner": name}}
        body = json.dumps(m).encode()
        r = c.put_manifest(name, sha256(body), body, OCI_MANIFEST)
        assert r.status_code == 201 and r.headers["OCI-Subject"] == subject, r.text
        return sha256(body)

    a_sig = artifact(ca, a, "application/vnd.example.signature")
    # B asks for referrers of A's subject in its own repository: an empty list
    r = cb.req("GET", f"/v2/{b}/referrers/{subject}")
    assert r.status_code == 200 and r.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                 "manifests": []}
    refused(cb, cb.req("GET", f"/v2/{a}/referrers/{subject}"), 401, "DENIED")
    # B may refer to the digest from its own repository (a subject need not exist), and each
    # repository lists its own referrers only
    b_sig = artifact(cb, b, "application/vnd.example.b-signature")
    r = ca.req("GET", f"/v2/{a}/referrers/{subject}")
    assert [m["digest"] for m in r.json()["manifests"]] == [a_sig]
    carries_nothing_of(r, b.encode())
    r = cb.req("GET", f"/v2/{b}/referrers/{subject}")
    assert [m["digest"] for m in r.json()["manifests"]] == [b_sig]
    carries_nothing_of(r, a.encode())

"""Manifests, tags, referrers and the catalog over the distribution API."""
import http.client
import json

import requests

from v2util import (ACCEPT_ALL, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_EMPTY, OCI_INDEX,
                    OCI_LAYER, OCI_MANIFEST, add_member, client, make_project, make_user, sha256)


def test_manifest_round_trip_is_byte_exact(registry, proj):
    c = client(registry, (proj, "pull,push"))
    digest, m = c.push_image(proj, "v1")
    body = json.dumps(m, indent=2).encode()
    for ref in ("v1", digest):
        r = c.get_manifest(proj, ref)
        assert r.status_code == 200
        assert r.content == body
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest
        r = c.get_manifest(proj, ref, method="HEAD")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["Content-Length"] == str(len(body))
        assert r.headers["Docker-Content-Digest"] == digest
        assert r.headers["Content-Type"] == OCI_MANIFEST
    # pushing by digest
    r = c.put_manifest(proj, digest, body, OCI_MANIFEST)
    assert r.status_code == 201
    assert r.headers["Location"] == f"{registry.url}/v2/{proj}/manifests/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    # If-None-Match with the digest
    r = c.req("GET", f"/v2/{proj}/manifests/v1",
              headers={"Accept": ACCEPT_ALL, "If-None-Match": f'"{digest}"'})
    assert r.status_code == 304


def test_docker_schema2_and_manifest_list(registry, proj):
    c = client(registry, (proj, "pull,push"))
    amd, _ = c.push_image(proj, "amd", media_type=DOCKER_MANIFEST, layers=[b"amd64 layer"])
    arm, _ = c.push_image(proj, "arm", media_type=DOCKER_MANIFEST, layers=[b"arm64 layer"])
    lst = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": arm, "size": len(c.get_manifest(proj, arm).content),
         "platform": {"architecture": "arm64", "os": "linux"}},
        {"mediaType": DOCKER_MANIFEST, "digest": amd, "size": len(c.get_manifest(proj, amd).content),
         "platform": {"architecture": "amd64", "os": "linux"}}]}
    body = json.dumps(lst).encode()
    r = c.put_manifest(proj, "multi", body, DOCKER_LIST)
    assert r.status_code == 201, r.text
    r = c.get_manifest(proj, "multi")
    assert r.content == body and r.headers["Content-Type"] == DOCKER_LIST
    # a client that does not know manifest lists gets the linux/amd64 image (by tag only)
    r = c.get_manifest(proj, "multi", accept=DOCKER_MANIFEST)
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == amd
    assert r.headers["Content-Type"] == DOCKER_MANIFEST
    r = c.get_manifest(proj, sha256(body), accept=DOCKER_MANIFEST)
    assert r.headers["Docker-Content-Digest"] == sha256(body)
    # schema 2 is served whatever the Accept header says
    r = c.req("GET", f"/v2/{proj}/manifests/amd")
    assert r.status_code == 200 and r.headers["Content-Type"] == DOCKER_MANIFEST


def test_oci_content_negotiation(registry, proj):
    c = client(registry, (proj, "pull,push"))
    digest, _ = c.push_image(proj, "oci")
    r = c.get_manifest(proj, "oci", accept=DOCKER_MANIFEST)
    assert r.status_code == 404 and c.error_code(r) == "MANIFEST_UNKNOWN"
    assert "does not support OCI manifests" in r.json()["errors"][0]["message"]
    # several Accept header fields count, as Go clients send them
    conn = http.client.HTTPConnection(registry.host, timeout=30)
    conn.putrequest("GET", f"/v2/{proj}/manifests/oci")
    conn.putheader("Authorization", c.s.headers["Authorization"])
    conn.putheader("Accept", DOCKER_MANIFEST)
    conn.putheader("Accept", OCI_MANIFEST)
    conn.endheaders()
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200 and resp.getheader("Docker-Content-Digest") == digest
    conn.close()
    r = c.get_manifest(proj, "oci", accept=f"{OCI_MANIFEST};q=0.5")
    assert r.status_code == 200


def test_oci_index_needs_its_manifests(registry, proj):
    c = client(registry, (proj, "pull,push"))
    child, _ = c.push_image(proj, "child")
    missing = sha256(b"not a manifest here")
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child, "size": 100,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": missing, "size": 100}]}
    r = c.put_manifest(proj, "idx", idx)
    assert r.status_code == 400 and c.error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert r.json()["errors"][0]["detail"] == missing
    idx["manifests"].pop()
    r = c.put_manifest(proj, "idx", idx)
    assert r.status_code == 201
    r = c.get_manifest(proj, "idx", accept=OCI_MANIFEST)
    assert r.status_code == 404 and "OCI index" in r.json()["errors"][0]["message"]
    assert c.get_manifest(proj, "idx").headers["Content-Type"] == OCI_INDEX


def test_manifest_naming_a_missing_blob(registry, proj):
    c = client(registry, (proj, "pull,push"))
    cfg = b'{"architecture":"amd64","os":"linux"}'
    cdig = c.push_blob(proj, cfg)
    missing = sha256(b"layer that was never pushed")
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": OCI_CONFIG, "digest": cdig, "size": len(cfg)},
         "layers": [{"mediaType": OCI_LAYER, "digest": missing, "size": 5}]}
    r = c.put_manifest(proj, "broken", m)
    assert r.status_code == 400 and c.error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert r.json()["errors"][0]["detail"] == missing
    # a blob of another repository does not count
    other = f"{proj}/other"
    c2 = client(registry, (other, "pull,push"))
    r = c2.put_manifest(other, "x", {**m, "layers": []})
    assert r.status_code == 400 and c2.error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    # a declared size that is not the blob's size is refused
    r = c.put_manifest(proj, "badsize", {**m, "layers": [], "config": {**m["config"], "size": 3}})
    assert r.status_code == 400 and c.error_code(r) == "MANIFEST_INVALID"
    r = c.get_manifest(proj, "broken")
    assert r.status_code == 404 and c.error_code(r) == "MANIFEST_UNKNOWN"


def test_manifest_validation(registry, proj):
    c = client(registry, (proj, "pull,push"))
    schema1 = {"schemaVersion": 1, "name": proj, "tag": "x", "architecture": "amd64",
               "fsLayers": [], "history": []}
    r = c.put_manifest(proj, "s1", schema1, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    assert r.status_code == 400 and c.error_code(r) == "MANIFEST_INVALID"
    assert "schema 1" in r.json()["errors"][0]["message"]
    r = c.put_manifest(proj, "s1", schema1, "application/json")
    assert r.status_code == 400 and "schema 1" in r.json()["errors"][0]["message"]
    r = c.put_manifest(proj, "bad", b"{not json", OCI_MANIFEST)
    assert r.status_code == 400 and c.error_code(r) == "MANIFEST_INVALID"
    r = c.put_manifest(proj, "bad", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []},
                       OCI_MANIFEST)
    assert r.status_code == 400 and c.error_code(r) == "MANIFEST_INVALID"
    assert "does not match" in r.json()["errors"][0]["message"]
    r = c.put_manifest(proj, "bad", {"schemaVersion": 2, "config": {}, "layers": []}, OCI_MANIFEST)
    assert r.status_code == 400 and c.error_code(r) == "MANIFEST_INVALID"
    r = c.put_manifest(proj, "bad", {"schemaVersion": 2, "manifests": []}, "application/vnd.example+json")
    assert r.status_code == 400 and c.error_code(r) == "MANIFEST_INVALID"
    r = c.put_manifest(proj, "bad", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": "sha256:1234", "size": 1}]})
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"
    r = c.put_manifest(proj, "bad tag!", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    assert r.status_code == 400 and c.error_code(r) == "TAG_INVALID"
    good = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    r = c.put_manifest(proj, sha256(b"other bytes"), good, OCI_INDEX)
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"
    # without a mediaType and with a generic Content-Type the kind is read from the body
    r = c.put_manifest(proj, "inferred", b'{"schemaVersion":2,"manifests":[]}', "application/json")
    assert r.status_code == 201
    assert c.get_manifest(proj, "inferred").headers["Content-Type"] == OCI_INDEX


def test_oversize_manifest_is_413(registry, proj):
    c = client(registry, (proj, "pull,push"))
    big = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
           "annotations": {"pad": "x" * (4 * 1024 * 1024)}}
    r = c.put_manifest(proj, "big", big)
    assert r.status_code == 413
    assert c.error_code(r) == "MANIFEST_INVALID"


def test_delete_by_tag_and_by_digest(registry, proj):
    c = client(registry, (proj, "pull,push,delete"))
    digest, _ = c.push_image(proj, "one")
    body = c.get_manifest(proj, digest).content
    for tag in ("two", "three"):
        assert c.put_manifest(proj, tag, body, OCI_MANIFEST).status_code == 201

    def tags():  # asked until every metad worker has answered twice (the second time from
        # what it kept); all answers must agree
        def ask():
            return requests.get(c.url(f"/v2/{proj}/tags/list"), headers=dict(c.s.headers),
                                timeout=30)
        served = registry.every_worker("metad", ask, each=2).values()
        answers = [r.json()["tags"] for rs in served for r in rs]
        assert all(a == answers[0] for a in answers), answers
        return answers[0]
    assert tags() == ["one", "three", "two"]
    r = c.req("DELETE", f"/v2/{proj}/manifests/one")
    assert r.status_code == 202
    assert c.get_manifest(proj, "one").status_code == 404
    assert c.get_manifest(proj, digest).status_code == 200
    r = c.req("DELETE", f"/v2/{proj}/manifests/one")
    assert r.status_code == 404 and c.error_code(r) == "MANIFEST_UNKNOWN"
    assert tags() == ["three", "two"]
    r = c.req("DELETE", f"/v2/{proj}/manifests/{digest}")
    assert r.status_code == 202
    assert c.get_manifest(proj, digest).status_code == 404
    assert c.get_manifest(proj, "two").status_code == 404
    assert tags() == []  # the tags went with their manifest
    r = c.req("DELETE", f"/v2/{proj}/manifests/{digest}")
    assert r.status_code == 404 and c.error_code(r) == "MANIFEST_UNKNOWN"
    # delete needs the delete action
    r = client(registry, (proj, "pull,push")).req("DELETE", f"/v2/{proj}/manifests/three")
    assert r.status_code == 401


def test_tags_list_in_lexical_order_with_pagination(registry, proj):
    c = client(registry, (proj, "pull,push"))
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    tags = ["latest", "1.0", "1.10", "1.9", "B", "a", "_x", "v2-rc.1"]
    for t in tags:
        assert c.put_manifest(proj, t, body, OCI_INDEX).status_code == 201
    want = sorted(tags)  # bytewise, as Distribution lists them
    r = c.req("GET", f"/v2/{proj}/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": proj, "tags": want}
    assert "Link" not in r.headers
    got, url = [], f"/v2/{proj}/tags/list?n=3"
    while url:
        r = c.req("GET", url)
        assert r.status_code == 200
        page = r.json()["tags"]
        assert len(page) <= 3
        got += page
        link = r.headers.get("Link")
        url = link[1:link.index(">")] if link else None
        if url:
            assert link.endswith('rel="next"')
    assert got == want
    r = c.req("GET", f"/v2/{proj}/tags/list", params={"n": 2, "last": "1.9"})
    assert r.json()["tags"] == want[want.index("1.9") + 1:][:2]
    r = c.req("GET", f"/v2/{proj}/tags/list", params={"n": 0})
    assert r.json()["tags"] == []
    r = c.req("GET", f"/v2/{proj}/tags/list", params={"n": "many"})
    assert r.status_code == 400 and c.error_code(r) == "PAGINATION_NUMBER_INVALID"
    c2 = client(registry, (proj + "/nothing", "pull"))
    r = c2.req("GET", f"/v2/{proj}/nothing/tags/list")
    assert r.status_code == 404 and c2.error_code(r) == "NAME_UNKNOWN"


def test_referrers_and_subject(registry, proj):
    c = client(registry, (proj, "pull,push"))
    subject, _ = c.push_image(proj, "app")
    subject_size = len(c.get_manifest(proj, subject).content)
    empty = c.push_blob(proj, b"{}")
    sig = c.push_blob(proj, b"signature bytes")
    sbom = c.push_blob(proj, b'{"sbom": true}')

    def artifact(artifact_type, blob, blob_type, annotations):
        return {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                "config": {"mediaType": OCI_EMPTY, "digest": empty, "size": 2},
                "layers": [{"mediaType": blob_type, "digest": blob,
                            "size": len(b"signature bytes") if blob == sig else len(b'{"sbom": true}')}],
                "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
                "annotations": annotations}

    a1 = artifact("application/vnd.example.signature", sig, "application/octet-stream",
                  {"org.example.signer": "alice"})
    a2 = artifact("application/vnd.example.sbom+json", sbom, "application/json",
                  {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    digests = []
    for a in (a1, a2):
        body = json.dumps(a).encode()
        r = c.put_manifest(proj, sha256(body), body, OCI_MANIFEST)
        assert r.status_code == 201, r.text
        assert r.headers["OCI-Subject"] == subject
        digests.append(sha256(body))
    # an image manifest whose artifactType comes from its config
    cfg_art = c.push_blob(proj, b'{"kind":"attestation"}')
    a3 = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
          "config": {"mediaType": "application/vnd.example.attestation.config+json",
                     "digest": cfg_art, "size": len(b'{"kind":"attestation"}')},
          "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": subject,
                                    "size": subject_size}}
    r = c.put_manifest(proj, "att", a3)
    assert r.status_code == 201 and r.headers["OCI-Subject"] == subject

    r = c.req("GET", f"/v2/{proj}/referrers/{subject}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in r.headers
    idx = r.json()
    assert idx["schemaVersion"] == 2 and idx["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in idx["manifests"]}
    assert set(by_digest) == set(digests) | {sha256(json.dumps(a3).encode())}
    d1 = by_digest[digests[0]]
    assert d1["mediaType"] == OCI_MANIFEST
    assert d1["artifactType"] == "application/vnd.example.signature"
    assert d1["annotations"] == {"org.example.signer": "alice"}
    assert d1["size"] == len(json.dumps(a1).encode())
    assert by_digest[sha256(json.dumps(a3).encode())]["artifactType"] == \
        "application/vnd.example.attestation.config+json"

    r = c.req("GET", f"/v2/{proj}/referrers/{subject}",
              params={"artifactType": "application/vnd.example.sbom+json"})
    assert r.status_code == 200
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in r.json()["manifests"]] == [digests[1]]

    # never 404 for a valid digest; 400 for an invalid one
    r = c.req("GET", f"/v2/{proj}/referrers/{sha256(b'nothing refers to me')}")
    assert r.status_code == 200 and r.json()["manifests"] == []
    r = c.req("GET", f"/v2/{proj}/referrers/sha256:nope")
    assert r.status_code == 400 and c.error_code(r) == "DIGEST_INVALID"


def test_subject_may_be_absent(registry, proj):
    c = client(registry, (proj, "pull,push"))
    empty = c.push_blob(proj, b"{}")
    elsewhere = sha256(b"a manifest pushed later or elsewhere")
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example",
         "config": {"mediaType": OCI_EMPTY, "digest": empty, "size": 2}, "layers": [],
         "subject": {"mediaType": OCI_MANIFEST, "digest": elsewhere, "size": 10}}
    r = c.put_manifest(proj, "dangling", m)
    assert r.status_code == 201 and r.headers["OCI-Subject"] == elsewhere
    r = c.req("GET", f"/v2/{proj}/referrers/{elsewhere}")
    assert len(r.json()["manifests"]) == 1


def test_catalog_lists_what_the_caller_may_pull(registry, uniq):
    mine, theirs, public = f"{uniq}/mine", f"{uniq}x/theirs", f"{uniq}p/public"
    pm = make_project(registry, mine)
    make_project(registry, theirs)
    make_project(registry, public, visibility="public")
    admin = client(registry, (mine, "pull,push"), (mine + "/a", "pull,push"),
                   (theirs, "pull,push"), (public, "pull,push"), admin=True, user_id=1)
    for name in (mine, mine + "/a", theirs, public):
        admin.push_blob(name, b"catalog " + name.encode())
    user = make_user(registry, uniq + "cat")
    add_member(registry, pm, user, 20)

    def catalog(c, **params):
        r = c.req("GET", "/v2/_catalog", params=params)
        assert r.status_code == 200, r.text
        return r

    def ours(names):
        return [n for n in names if n.startswith(uniq)]

    r = catalog(client(registry, ("registry:catalog", "*"), admin=True, user_id=1), n=1000)
    assert ours(r.json()["repositories"]) == sorted([mine, mine + "/a", theirs, public])
    r = catalog(client(registry, ("registry:catalog", "*"), user_id=user), n=1000)
    assert ours(r.json()["repositories"]) == sorted([mine, mine + "/a", public])
    # anonymous: public projects only
    r = catalog(client(registry, ("registry:catalog", "*")), n=1000)
    assert ours(r.json()["repositories"]) == [public]
    # pagination with Link
    c = client(registry, ("registry:catalog", "*"), admin=True, user_id=1)
    r = catalog(c, n=1, last=mine)
    assert r.json()["repositories"] == [mine + "/a"]
    assert r.headers["Link"].startswith("</v2/_catalog?n=1&last=")
    # a deploy token sees the projects it covers (and nothing once revoked)
    dt = int(registry.pg.psql(registry.name, (
        "INSERT INTO deploy_tokens (project_id, name, username, scopes, token_lookup, token_hash)"
        f" VALUES ({pm}, 'ci', 'gitlab+deploy-token-{uniq}', '{{read_registry}}', '{uniq}dt', 'x')"
        " RETURNING id")).split()[0])
    dtc = client(registry, ("registry:catalog", "*"), kind="deploy_token", deploy_token_id=dt,
                 username=f"gitlab+deploy-token-{uniq}")
    assert ours(catalog(dtc, n=1000).json()["repositories"]) == sorted([mine, mine + "/a", public])
    registry.pg.psql(registry.name, f"UPDATE deploy_tokens SET revoked = true WHERE id = {dt}")
    assert ours(catalog(dtc, n=1000).json()["repositories"]) == [public]
    # the catalog needs registry:catalog:*
    r = client(registry, (mine, "pull")).req("GET", "/v2/_catalog")
    assert r.status_code == 401

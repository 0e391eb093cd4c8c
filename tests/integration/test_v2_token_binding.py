"""Registry tokens are bound to the project they were granted on: each repository grant of a
token names the project and its path generation, and a token never reaches another project that
took the path since (deleted and created again by another tenant, renamed away, transferred),
nor the same project after its path changed hands. The refusal is the 401 challenge that sends
clients for a new token; tokens on other projects and catalog tokens keep working."""
import hashlib
import json
import os
import re

import pytest
import requests

import jwtutil
from registry import skopeo
from tenants import Tenancy
from v2util import V2

SERVICE = "container_registry"


def token(registry, user, *scopes):
    """A token from the token service for user's password and the scopes."""
    r = requests.get(f"{registry.url}/jwt/auth",
                     params=[("service", SERVICE)] + [("scope", s) for s in scopes],
                     auth=(user["username"], user["password"]), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def challenge(r):
    """The parameters of a Bearer challenge."""
    value = r.headers.get("WWW-Authenticate", "")
    assert value.startswith("Bearer "), value
    return dict(re.findall(r'(\w+)="([^"]*)"', value))


def assert_stale(registry, r, name, actions="pull"):
    """The refusal of a grant made on another project: 401 UNAUTHORIZED with the challenge a
    client follows to the token service, for the scope of the request."""
    assert r.status_code == 401, (r.status_code, r.text)
    if r.request.method != "HEAD":
        assert [e["code"] for e in r.json()["errors"]] == ["UNAUTHORIZED"], r.text
    c = challenge(r)
    assert c["realm"] == f"{registry.url}/jwt/auth"
    assert c["service"] == SERVICE
    assert c["scope"] == f"repository:{name}:{actions}"
    assert c["error"] == "invalid_token"


@pytest.fixture(scope="module")
def world(registry):
    """Group <tag>g; alice Maintainer of its projects (given one by one), bob a Developer of the
    group who creates projects at the paths alice's projects leave."""
    t = Tenancy(registry)
    tag = os.urandom(3).hex()
    alice = t.user(f"b{tag}alice")
    bob = t.user(f"b{tag}bob")
    gid = t.group(f"b{tag}g")
    t.add_group_member(gid, bob["id"], "developer")
    return {"t": t, "alice": alice, "bob": bob, "gid": gid, "group": f"b{tag}g"}


def alice_project(registry, world, path):
    """A project of the group alice is Maintainer of, with an image pushed; (id, full path)."""
    t = world["t"]
    pid, full = t.project(world["gid"], path)
    t.add_project_member(pid, world["alice"]["id"], "maintainer")
    return pid, full


def bob_takes(registry, world, path):
    """bob creates a project at the group's path and pushes an image there; its tag's digest."""
    pat = world["t"].pat(world["bob"]["id"], ["api"])["token"]
    r = requests.post(f"{registry.url}/api/v4/projects", timeout=30,
                      headers={"PRIVATE-TOKEN": pat},
                      json={"name": path, "path": path, "namespace_id": world["gid"]})
    assert r.status_code == 201, r.text
    name = f"{world['group']}/{path}"
    v2 = V2(registry, token(registry, world["bob"], f"repository:{name}:pull,push"))
    return v2.push_image(name, "bobs", layers=(b"bob's own layer",))[0]


def every_use_refused(registry, v2, name, blob, bobs_digest):
    """Every /v2 route of the repository refuses the stale token, and nothing of bob's moved."""
    assert_stale(registry, v2.get_manifest(name, "v1"), name)
    assert_stale(registry, v2.get_manifest(name, "bobs"), name)
    assert_stale(registry, v2.get_manifest(name, "bobs", method="HEAD"), name)
    assert_stale(registry, v2.req("GET", f"/v2/{name}/tags/list"), name)
    assert_stale(registry, v2.req("GET", f"/v2/{name}/referrers/{bobs_digest}"), name)
    assert_stale(registry, v2.get_blob(name, blob), name)  # blobd asks metad
    assert_stale(registry, v2.req("POST", f"/v2/{name}/blobs/uploads/"), name, "push,pull")
    # a manifest PUT writes nothing
    r = v2.put_manifest(name, "bobs", {"schemaVersion": 2, "mediaType":
                                       "application/vnd.oci.image.index.v1+json",
                                       "manifests": []})
    assert_stale(registry, r, name, "push,pull")


def test_a_token_stops_at_a_project_deleted_and_created_again(registry, world):
    alice = world["alice"]
    pid, name = alice_project(registry, world, "proj")
    keep_pid, keep = alice_project(registry, world, "keep")
    tok = token(registry, alice, f"repository:{name}:pull,push", f"repository:{keep}:pull,push")
    _, claims = jwtutil.decode(tok)
    generation = int(registry.pg.psql(registry.name,
                                      f"SELECT path_generation FROM projects WHERE id = {pid}"))
    assert {a["name"]: (a["project_id"], a["generation"]) for a in claims["access"]} == {
        name: (pid, generation), keep: (keep_pid, generation)}
    v2 = V2(registry, tok)
    v2.push_image(name, "v1")
    v2.push_image(keep, "v1")
    blob = v2.push_blob(name, b"alice's blob")
    assert v2.get_manifest(name, "v1").status_code == 200
    r = v2.start_upload(name)
    assert r.status_code == 202
    alices_upload = r.headers["Location"]

    r = registry.api("DELETE", f"/projects/{pid}")
    assert r.status_code == 202, r.text
    bobs = bob_takes(registry, world, "proj")
    # bob's image holds alice's blob too: a link is all a stale token would need to read it
    bob_v2 = V2(registry, token(registry, world["bob"], f"repository:{name}:pull,push"))
    assert bob_v2.push_blob(name, b"alice's blob") == blob
    every_use_refused(registry, v2, name, blob, bobs)
    tags = bob_v2.req("GET", f"/v2/{name}/tags/list")
    assert tags.status_code == 200 and tags.json()["tags"] == ["bobs"], tags.text
    # uploads: alice's session, started before, links nothing into bob's project; bob's session
    # is unknown to alice's token
    data = b"late bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = v2.req("PUT", alices_upload, params={"digest": digest}, data=data)
    assert_stale(registry, r, name, "push,pull")
    r = bob_v2.start_upload(name)
    assert r.status_code == 202
    bobs_upload = r.headers["Location"]
    r = v2.req("PATCH", bobs_upload, data=b"garbage",
               headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 404 and v2.error_code(r) == "BLOB_UPLOAD_UNKNOWN", r.text
    r = bob_v2.req("PUT", bobs_upload, params={"digest": digest}, data=data)
    assert r.status_code == 201, r.text

    # the client follows the challenge: alice has no rights on bob's project, the new token
    # grants nothing there, and the answer is the ordinary refusal
    c = challenge(v2.get_manifest(name, "v1"))
    fresh = token(registry, alice, c["scope"])
    assert jwtutil.decode(fresh)[1]["access"] == []
    r = V2(registry, fresh).get_manifest(name, "bobs")
    assert r.status_code == 401 and challenge(r)["error"] == "insufficient_scope"

    # the same token's grant on a project nobody touched still works
    assert v2.get_manifest(keep, "v1").status_code == 200
    assert v2.req("GET", f"/v2/{keep}/tags/list").json()["tags"] == ["v1"]


def test_a_token_stops_at_a_renamed_path_taken_again_and_at_its_project_come_back(
        registry, world):
    alice = world["alice"]
    pid, name = alice_project(registry, world, "ren")
    tok = token(registry, alice, f"repository:{name}:pull,push")
    v2 = V2(registry, tok)
    v2.push_image(name, "v1")
    blob = v2.push_blob(name, b"renamed blob")
    r = registry.api("PUT", f"/projects/{pid}", json={"path": "ren-old", "name": "ren-old"})
    assert r.status_code == 200, r.text
    bobs = bob_takes(registry, world, "ren")
    every_use_refused(registry, v2, name, blob, bobs)

    # bob's project goes, alice's comes back to the path: the same project, but its path changed
    # hands twice since the token was granted
    bob_pid = int(registry.pg.psql(registry.name, "SELECT id FROM projects WHERE lower(full_path)"
                                   f" = lower('{name}')"))
    assert registry.api("DELETE", f"/projects/{bob_pid}").status_code == 202
    r = registry.api("PUT", f"/projects/{pid}", json={"path": "ren", "name": "ren"})
    assert r.status_code == 200, r.text
    assert_stale(registry, v2.get_manifest(name, "v1"), name)
    # a new token reaches it again
    fresh = V2(registry, token(registry, alice, f"repository:{name}:pull"))
    assert fresh.get_manifest(name, "v1").status_code == 200


def test_a_token_stops_at_a_transferred_project_path(registry, world):
    alice, t = world["alice"], world["t"]
    pid, name = alice_project(registry, world, "moving")
    other = t.group(f"{world['group']}-other")
    tok = token(registry, alice, f"repository:{name}:pull,push")
    v2 = V2(registry, tok)
    v2.push_image(name, "v1")
    blob = v2.push_blob(name, b"moving blob")
    r = registry.api("PUT", f"/projects/{pid}/transfer", json={"namespace": other})
    assert r.status_code == 200, r.text
    bobs = bob_takes(registry, world, "moving")
    every_use_refused(registry, v2, name, blob, bobs)


def test_a_token_stops_when_its_group_moves_and_the_path_comes_back(registry, world):
    """The project keeps its id while its group is renamed away and back: the generation tells
    the token's grant from the project's path now."""
    alice, t = world["alice"], world["t"]
    sub = t.group("sub", parent_id=world["gid"])
    pid, name = t.project(sub, "deep")
    t.add_project_member(pid, alice["id"], "maintainer")
    v2 = V2(registry, token(registry, alice, f"repository:{name}:pull,push"))
    v2.push_image(name, "v1")
    for path in ("sub-away", "sub"):
        r = registry.api("PUT", f"/groups/{sub}", json={"path": path, "name": path})
        assert r.status_code == 200, r.text
    assert_stale(registry, v2.get_manifest(name, "v1"), name)
    assert_stale(registry, v2.req("GET", f"/v2/{name}/tags/list"), name)


def test_a_catalog_token_and_a_rename_of_the_project_name_alone_keep_working(registry, world):
    alice = world["alice"]
    pid, name = alice_project(registry, world, "named")
    tok = token(registry, alice, f"repository:{name}:pull,push", "registry:catalog:*")
    v2 = V2(registry, tok)
    v2.push_image(name, "v1")
    # the display name changes, the path does not: nothing changed hands
    r = registry.api("PUT", f"/projects/{pid}", json={"name": "A new name"})
    assert r.status_code == 200, r.text
    assert v2.get_manifest(name, "v1").status_code == 200
    r = registry.api("DELETE", f"/projects/{pid}")
    assert r.status_code == 202
    r = v2.req("GET", "/v2/_catalog")
    assert r.status_code == 200 and name not in r.json()["repositories"], r.text


def test_skopeo_fetches_a_new_token_after_the_path_changed_hands(registry, world, tmp_path):
    """Real clients ask the token service on every run: bob's image, not alice's, is what a
    client gets at the path now, and alice's credentials are refused there."""
    alice, bob = world["alice"], world["bob"]
    pid, name = alice_project(registry, world, "cli")
    V2(registry, token(registry, alice, f"repository:{name}:pull,push")).push_image(name, "v1")
    assert registry.api("DELETE", f"/projects/{pid}").status_code == 202
    bobs = bob_takes(registry, world, "cli")
    res = skopeo("inspect", "--tls-verify=false", "--creds",
                 f"{bob['username']}:{bob['password']}", f"docker://{registry.host}/{name}:bobs")
    assert json.loads(res.stdout)["Digest"] == bobs
    res = skopeo("inspect", "--tls-verify=false", "--creds",
                 f"{alice['username']}:{alice['password']}",
                 f"docker://{registry.host}/{name}:bobs", check=False)
    assert res.returncode != 0 and ("denied" in res.stderr or "unauthorized" in res.stderr), \
        res.stderr

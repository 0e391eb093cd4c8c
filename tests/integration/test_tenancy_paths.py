"""One path space for namespaces and projects: renames and transfers carry every path below in
one step, collisions and bad input get GitLab's errors, lists paginate as GitLab's do."""
import concurrent.futures
import re

import pytest

from tenancy import create_user

PATH_MESSAGE = ("can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', "
                "end in '.git' or end in '.atom'")


@pytest.fixture
def alice(registry, uniq):
    return create_user(registry, f"alice{uniq}")


def test_group_rename_moves_everything_below_in_one_step(registry, uniq, alice):
    top = alice.ok("POST", "/groups", json={"name": "Top", "path": f"top-{uniq}"})
    mid = alice.ok("POST", "/groups", json={"name": "Mid", "path": "mid", "parent_id": top["id"]})
    low = alice.ok("POST", "/groups", json={"name": "Low", "path": "low", "parent_id": mid["id"]})
    projects = [alice.ok("POST", "/projects", json={"name": n, "namespace_id": ns["id"]})
                for n, ns in (("a", top), ("b", mid), ("c", low), ("d", low))]
    alice.ok("PUT", f"/groups/{mid['id']}", json={"path": "middle", "name": "Middle"})
    base = f"top-{uniq}/middle"
    assert alice.ok("GET", f"/groups/{low['id']}")["full_path"] == f"{base}/low"
    assert alice.ok("GET", f"/groups/{low['id']}")["full_name"] == "Top / Middle / Low"
    got = {p["name"]: p["path_with_namespace"] for p in
           (alice.ok("GET", f"/projects/{p['id']}") for p in projects)}
    assert got == {"a": f"top-{uniq}/a", "b": f"{base}/b", "c": f"{base}/low/c",
                   "d": f"{base}/low/d"}
    prefix = alice.ok("GET", f"/projects/{projects[2]['id']}")["container_registry_image_prefix"]
    assert prefix == f"{registry.host}/{base}/low/c"
    # the database agrees: full paths are materialised, not computed on read
    rows = registry.pg.psql(registry.name,
                            f"SELECT full_path FROM projects WHERE full_path LIKE 'top-{uniq}/%'"
                            " ORDER BY full_path").split()
    assert rows == sorted(got.values())


def test_paths_are_shared_and_unique(registry, uniq, alice):
    top = alice.ok("POST", "/groups", json={"name": "T", "path": f"t-{uniq}"})
    alice.ok("POST", "/projects", json={"name": "x", "namespace_id": top["id"]})
    # a subgroup cannot take a project's path, nor a project a subgroup's
    r = alice.post("/groups", json={"name": "x", "path": "X", "parent_id": top["id"]})
    assert (r.status_code, r.json()) == (
        400, {"message": "Failed to save group {:path=>[\"has already been taken\"]}"})
    alice.ok("POST", "/groups", json={"name": "y", "path": "y", "parent_id": top["id"]})
    r = alice.post("/projects", json={"name": "other", "path": "y", "namespace_id": top["id"]})
    assert (r.status_code, r.json()) == (400, {"message": {"path": ["has already been taken"]}})
    r = alice.post("/projects", json={"name": "x", "namespace_id": top["id"]})
    assert (r.status_code, r.json()) == (400, {"message": {
        "name": ["has already been taken"], "path": ["has already been taken"]}})
    # a top-level group cannot take a username
    r = alice.post("/groups", json={"name": "a", "path": alice.username})
    assert r.status_code == 400
    # renames and transfers check the same space
    p = alice.ok("POST", "/projects", json={"name": "z", "namespace_id": top["id"]})
    r = alice.put(f"/projects/{p['id']}", json={"path": "y"})
    assert (r.status_code, r.json()) == (400, {"message": {"path": ["has already been taken"]}})
    other = alice.ok("POST", "/groups", json={"name": "O", "path": f"o-{uniq}"})
    alice.ok("POST", "/projects", json={"name": "z", "namespace_id": other["id"]})
    r = alice.put(f"/projects/{p['id']}/transfer", json={"namespace": f"o-{uniq}"})
    assert (r.status_code, r.json()) == (400, {"message":
        "Failed to transfer project {:new_namespace=>[\"Project with same name or path in "
        "target namespace already exists\"]}"})
    r = alice.put(f"/groups/{other['id']}", json={"path": f"t-{uniq}"})
    assert (r.status_code, r.json()) == (400, {"message": {"path": ["has already been taken"]}})
    # a case-only rename of oneself is fine
    assert alice.ok("PUT", f"/groups/{other['id']}", json={"path": f"O-{uniq}"})["full_path"] \
        == f"O-{uniq}"
    assert alice.ok("GET", f"/groups/o-{uniq}")["id"] == other["id"]


def test_concurrent_creates_of_one_path_make_one(registry, uniq, alice):
    top = alice.ok("POST", "/groups", json={"name": "C", "path": f"c-{uniq}"})

    def create(i):
        if i % 2:
            return alice.post("/projects", json={"name": f"n{i}", "path": "same",
                                                 "namespace_id": top["id"]}).status_code
        return alice.post("/groups", json={"name": f"n{i}", "path": "same",
                                           "parent_id": top["id"]}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(create, range(16)))
    assert sorted(codes) == [201] + [400] * 15


def test_validation_errors(registry, uniq, alice):
    def err(method, path, body):
        r = alice.request(method, path, json=body)
        return r.status_code, r.json()

    assert err("POST", "/groups", {}) == (400, {"error": "name is missing, path is missing"})
    assert err("POST", "/groups", {"name": "x"}) == (400, {"error": "path is missing"})
    assert err("POST", "/groups", {"name": "x", "path": "-bad"}) == (
        400, {"message": "Failed to save group {:path=>[\"" + PATH_MESSAGE + "\"]}"})
    assert err("POST", "/groups", {"name": "x", "path": f"v-{uniq}", "visibility": "secret"}) \
        == (400, {"error": "visibility does not have a valid value"})
    assert err("POST", "/groups", {"name": "x", "path": f"v-{uniq}", "parent_id": "abc"}) \
        == (400, {"error": "parent_id is invalid"})
    assert err("POST", "/groups", {"name": "x", "path": f"v-{uniq}", "parent_id": 999999999}) \
        == (404, {"message": "404 Group Not Found"})
    assert err("POST", "/projects", {}) == (
        400, {"error": "name, path are missing, at least one parameter must be provided"})
    assert err("POST", "/projects", {"path": "x.git"}) == (
        400, {"message": {"path": [PATH_MESSAGE]}})
    assert err("POST", "/projects", {"name": "-x"})[1]["message"]["name"][0].startswith(
        "can contain only letters")
    assert err("POST", "/projects", {"name": "x", "namespace_id": 999999999}) == (
        400, {"message": {"namespace": ["is not valid"]}})
    assert err("POST", "/projects", {"name": "x", "container_registry_access_level": "on"}) == (
        400, {"error": "container_registry_access_level does not have a valid value"})
    p = alice.ok("POST", "/projects", json={"name": f"My Project {uniq}"})
    assert p["path"] == f"my-project-{uniq}"
    assert err("PUT", f"/projects/{p['id']}", {}) == (400, {"error":
        "name, path, description, visibility, container_registry_access_level, "
        "container_registry_enabled, container_expiration_policy_attributes are missing, at "
        "least one parameter must be provided"})
    assert alice.ok("PUT", f"/projects/{p['id']}", json={"container_registry_enabled": False})[
        "container_registry_access_level"] == "disabled"
    assert err("GET", "/projects", {"order_by": "stars"}) == (
        400, {"error": "order_by does not have a valid value"})
    r = alice.request("POST", "/groups", data="{not json",
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["message"].startswith("400 Bad request")
    # text PostgreSQL would refuse is a parameter error, not a server error
    for body in (b'{"name": "x", "path": "u", "description": "\xff\xfe"}',
                 b'{"name": "x", "path": "u", "description": "a\\u0000b"}'):
        r = alice.request("POST", "/groups", data=body,
                          headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()) == (400, {"error": "description is invalid"})
    r = alice.get("/groups?search=%FF")
    assert (r.status_code, r.json()) == (400, {"error": "search is invalid"})
    r = alice.get("/projects/%FF%FE")
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    assert err("POST", "/groups", {"name": "x", "path": f"d-{uniq}", "description": "é" * 2001}) \
        == (400, {"message": "Failed to save group {:description=>[\"is too long (maximum is "
                             "2000 characters)\"]}"})
    # null is absent, as Grape reads it
    g = alice.ok("POST", "/groups", json={"name": "N", "path": f"null-{uniq}", "parent_id": None})
    assert g["parent_id"] is None
    assert [x["id"] for x in alice.ok("GET", "/groups", params={"search": f"null-{uniq}"})] == [
        g["id"]]
    assert alice.ok("GET", "/groups", params={"search": f"null-{uniq}",
                                              "skip_groups[]": [g["id"]]}) == []
    # form bodies and query parameters work as in GitLab
    g = alice.ok("POST", "/groups", data={"name": "Form", "path": f"form-{uniq}"})
    assert g["full_path"] == f"form-{uniq}"
    g = alice.ok("POST", "/groups", params={"name": "Query", "path": f"query-{uniq}"})
    assert g["name"] == "Query"


def test_visibility_is_bounded_by_the_group(registry, uniq, alice):
    g = alice.ok("POST", "/groups", json={"name": "V", "path": f"vis-{uniq}",
                                          "visibility": "internal"})
    r = alice.post("/projects", json={"name": "p", "namespace_id": g["id"],
                                      "visibility": "public"})
    assert (r.status_code, r.json()) == (400, {"message": {
        "visibility_level": ["public is not allowed in a internal group."]}})
    r = alice.post("/groups", json={"name": "s", "path": "s", "parent_id": g["id"],
                                    "visibility": "public"})
    assert r.status_code == 400 and "visibility_level" in r.json()["message"]
    proj = alice.ok("POST", "/projects", json={"name": "p", "namespace_id": g["id"],
                                               "visibility": "internal"})
    r = alice.put(f"/groups/{g['id']}", json={"visibility": "private"})
    assert (r.status_code, r.json()) == (400, {"message": {"visibility_level": [
        "private is not allowed since this group contains projects with higher visibility."]}})
    # moving into a more private group lowers the project to it
    priv = alice.ok("POST", "/groups", json={"name": "P", "path": f"priv-{uniq}"})
    moved = alice.ok("PUT", f"/projects/vis-{uniq}%2Fp/transfer", json={"namespace": priv["id"]})
    assert moved["id"] == proj["id"]
    assert moved["visibility"] == "private" and moved["path_with_namespace"] == f"priv-{uniq}/p"


def test_member_rules(registry, uniq, alice):
    bob = create_user(registry, f"bob{uniq}")
    carol = create_user(registry, f"carol{uniq}")
    g = alice.ok("POST", "/groups", json={"name": "M", "path": f"m-{uniq}"})
    sub = alice.ok("POST", "/groups", json={"name": "S", "path": "s", "parent_id": g["id"]})
    p = alice.ok("POST", "/projects", json={"name": "p", "namespace_id": sub["id"]})

    def err(method, path, body=None):
        r = alice.request(method, path, json=body)
        return r.status_code, r.json()

    assert err("POST", f"/projects/{p['id']}/members", {"user_id": bob.id}) == (
        400, {"error": "access_level is missing"})
    assert err("POST", f"/projects/{p['id']}/members", {"user_id": bob.id, "access_level": 35}) \
        == (400, {"error": "access_level does not have a valid value"})
    assert err("POST", f"/projects/{p['id']}/members",
               {"user_id": 999999999, "access_level": 30}) == (
        404, {"message": "404 User Not Found"})
    assert err("POST", f"/projects/{p['id']}/members",
               {"user_id": bob.id, "access_level": 30, "expires_at": "2001-01-01"}) == (
        400, {"message": {"expires_at": ["cannot be a date in the past"]}})
    assert err("POST", f"/projects/{p['id']}/members",
               {"user_id": bob.id, "access_level": 30, "expires_at": "2099-02-30"}) == (
        400, {"error": "expires_at is invalid"})
    m = alice.ok("POST", f"/projects/{p['id']}/members",
                 json={"user_id": bob.id, "access_level": 30, "expires_at": "2099-01-31"})
    assert m["expires_at"] == "2099-01-31" and m["access_level"] == 30
    assert err("PUT", f"/projects/{p['id']}/members/{carol.id}", {"access_level": 30}) == (
        404, {"message": "404 Not found"})
    assert err("DELETE", f"/projects/{p['id']}/members/{carol.id}") == (
        404, {"message": "404 Not found"})
    # a role inherited from a group is a floor for the project role
    alice.ok("POST", f"/groups/{g['id']}/members", json={"user_id": carol.id, "access_level": 30})
    assert err("POST", f"/projects/{p['id']}/members",
               {"user_id": carol.id, "access_level": 20}) == (400, {"message": {"access_level": [
                   "should be greater than or equal to Developer inherited membership from "
                   "group M"]}})
    alice.ok("POST", f"/projects/{p['id']}/members", json={"user_id": carol.id, "access_level": 40})
    everyone = {u["username"]: u["access_level"]
                for u in alice.ok("GET", f"/projects/{p['id']}/members/all")}
    assert everyone == {alice.username: 50, bob.username: 30, carol.username: 40}
    assert alice.ok("GET", f"/groups/{sub['id']}/members/all/{carol.id}")["access_level"] == 30
    # search and user_ids filters
    assert [u["id"] for u in alice.ok("GET", f"/projects/{p['id']}/members/all",
                                      params={"query": f"bob{uniq}"})] == [bob.id]
    assert sorted(u["id"] for u in alice.ok("GET", f"/projects/{p['id']}/members/all",
                                            params={"user_ids": f"{bob.id},{carol.id}"})) == \
        sorted([bob.id, carol.id])
    # the last Owner of a top-level group stays; a subgroup inherits Owners from above
    forbidden = (403, {"message": "403 Forbidden"})
    assert err("DELETE", f"/groups/{g['id']}/members/{alice.id}") == forbidden
    assert err("PUT", f"/groups/{g['id']}/members/{alice.id}", {"access_level": 40}) == forbidden
    alice.ok("DELETE", f"/groups/{sub['id']}/members/{alice.id}")
    assert alice.ok("GET", f"/groups/{sub['id']}/members/all/{alice.id}")["access_level"] == 50
    # a personal project's owner stays its Owner
    mine = alice.ok("POST", "/projects", json={"name": f"mine{uniq}"})
    assert err("DELETE", f"/projects/{mine['id']}/members/{alice.id}") == forbidden
    r = alice.post(f"/groups/{g['id']}/members", json={"user_id": carol.id, "access_level": 30})
    assert (r.status_code, r.json()) == (409, {"message": "Member already exists"})


def test_pagination_as_gitlab(registry, uniq, alice):
    g = alice.ok("POST", "/groups", json={"name": "Pg", "path": f"pg-{uniq}"})
    for i in range(5):
        alice.ok("POST", "/projects", json={"name": f"p{i}", "namespace_id": g["id"]})
    r = alice.get(f"/groups/{g['id']}/projects",
                  params={"per_page": 2, "page": 2, "order_by": "name", "sort": "asc"})
    assert r.status_code == 200
    assert [p["name"] for p in r.json()] == ["p2", "p3"]
    h = r.headers
    assert (h["X-Total"], h["X-Total-Pages"], h["X-Page"], h["X-Per-Page"]) == ("5", "3", "2", "2")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', h["Link"]))
    assert set(links) == {"prev", "next", "first", "last"}
    assert links["next"].startswith(f"{registry.url}/api/v4/groups/{g['id']}/projects?")
    assert "page=3" in links["next"] and "order_by=name" in links["next"]
    r = alice.get(f"/groups/{g['id']}/projects", params={"per_page": 2, "page": 9})
    assert r.json() == [] and r.headers["X-Total"] == "5"
    r = alice.get("/projects", params={"page": "x"})
    assert (r.status_code, r.json()) == (400, {"error": "page is invalid"})
    newest = alice.ok("GET", f"/groups/{g['id']}/projects")
    assert [p["name"] for p in newest] == ["p4", "p3", "p2", "p1", "p0"]
    assert [p["name"] for p in alice.ok("GET", f"/groups/{g['id']}/projects",
                                        params={"search": "P3"})] == ["p3"]
    simple = alice.ok("GET", f"/groups/{g['id']}/projects", params={"simple": "true"})[0]
    assert "permissions" not in simple and "path_with_namespace" in simple

"""Who sees what: private projects and groups are invisible (404) on every endpoint to callers
without a role; internal ones are visible to signed-in users; public ones to anyone. Writes need
a signed-in caller (401) with the right role (403)."""
import pytest

from tenancy import anonymous, create_user

NOT_FOUND_PROJECT = {"message": "404 Project Not Found"}
NOT_FOUND_GROUP = {"message": "404 Group Not Found"}


@pytest.fixture
def world(registry, uniq):
    """alice owns group g with a private, an internal and a public project."""
    alice = create_user(registry, f"alice{uniq}")
    dave = create_user(registry, f"dave{uniq}")
    group = alice.ok("POST", "/groups", json={"name": "G", "path": f"g-{uniq}",
                                              "visibility": "public"})
    projects = {}
    for vis in ("private", "internal", "public"):
        projects[vis] = alice.ok("POST", "/projects", json={
            "name": vis, "namespace_id": group["id"], "visibility": vis})
    return {"alice": alice, "dave": dave, "anon": anonymous(registry), "group": group,
            "projects": projects, "uniq": uniq}


def every_project_endpoint(pid, member_id):
    """(method, path, body) of every endpoint under a project."""
    return [
        ("GET", f"/projects/{pid}", None),
        ("PUT", f"/projects/{pid}", {"description": "x"}),
        ("DELETE", f"/projects/{pid}", None),
        ("PUT", f"/projects/{pid}/transfer", {"namespace": 1}),
        ("GET", f"/projects/{pid}/members", None),
        ("GET", f"/projects/{pid}/members/all", None),
        ("GET", f"/projects/{pid}/members/{member_id}", None),
        ("GET", f"/projects/{pid}/members/all/{member_id}", None),
        ("POST", f"/projects/{pid}/members", {"user_id": member_id, "access_level": 30}),
        ("PUT", f"/projects/{pid}/members/{member_id}", {"access_level": 30}),
        ("DELETE", f"/projects/{pid}/members/{member_id}", None),
    ]


def test_private_project_is_not_found_everywhere(world):
    alice, dave = world["alice"], world["dave"]
    private = world["projects"]["private"]
    for ref in (private["id"], private["path_with_namespace"].replace("/", "%2F")):
        for method, path, body in every_project_endpoint(ref, alice.id):
            r = dave.request(method, path, json=body)
            assert (r.status_code, r.json()) == (404, NOT_FOUND_PROJECT), (method, path, r.text)
    # nothing changed
    assert alice.ok("GET", f"/projects/{private['id']}")["description"] == ""
    # and it never shows in a list
    for path in ("/projects", f"/groups/{world['group']['id']}/projects",
                 f"/users/{alice.id}/projects"):
        listed = [p["id"] for p in dave.ok("GET", path)]
        assert private["id"] not in listed, path


def test_unknown_and_invisible_look_the_same(world):
    dave = world["dave"]
    for ref in ("999999999", "nobody%2Fnothing"):
        r = dave.get(f"/projects/{ref}")
        assert (r.status_code, r.json()) == (404, NOT_FOUND_PROJECT)
        r = dave.get(f"/groups/{ref}")
        assert (r.status_code, r.json()) == (404, NOT_FOUND_GROUP)


def test_internal_for_signed_in_public_for_all(world):
    dave, anon = world["dave"], world["anon"]
    internal, public = world["projects"]["internal"], world["projects"]["public"]
    assert dave.ok("GET", f"/projects/{internal['id']}")["visibility"] == "internal"
    r = anon.get(f"/projects/{internal['id']}")
    assert (r.status_code, r.json()) == (404, NOT_FOUND_PROJECT)
    assert anon.ok("GET", f"/projects/{public['id']}")["id"] == public["id"]
    gid = world["group"]["id"]
    assert sorted(p["name"] for p in anon.ok("GET", f"/groups/{gid}/projects")) == ["public"]
    assert sorted(p["name"] for p in dave.ok("GET", f"/groups/{gid}/projects")) == [
        "internal", "public"]
    assert sorted(p["name"] for p in world["alice"].ok("GET", f"/groups/{gid}/projects")) == [
        "internal", "private", "public"]
    # a signed-in stranger may read internal members lists, not change them
    assert [m["username"] for m in dave.ok("GET", f"/projects/{internal['id']}/members/all")] \
        == [world["alice"].username]
    r = dave.post(f"/projects/{internal['id']}/members",
                  json={"user_id": dave.id, "access_level": 50})
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    # anonymous lists carry the basic shape only
    listed = {p["id"]: p for p in anon.ok("GET", "/projects", params={"per_page": 100})}
    assert public["id"] in listed and internal["id"] not in listed
    assert "visibility" not in listed[public["id"]]


def test_anonymous_writes_are_unauthorized(world):
    anon = world["anon"]
    pid, gid = world["projects"]["public"]["id"], world["group"]["id"]
    for method, path, body in [("POST", "/groups", {"name": "x", "path": "x"}),
                               ("POST", "/projects", {"name": "x"}),
                               ("PUT", f"/projects/{pid}", {"description": "x"}),
                               ("DELETE", f"/projects/{pid}", None),
                               ("PUT", f"/groups/{gid}", {"description": "x"}),
                               ("DELETE", f"/groups/{gid}", None),
                               ("GET", f"/projects/{pid}/members", None),
                               ("POST", f"/groups/{gid}/members",
                                {"user_id": 1, "access_level": 10}),
                               ("GET", "/namespaces", None)]:
        r = anon.request(method, path, json=body)
        assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"}), (method, path)


def test_roles_gate_writes(registry, world):
    alice, uniq = world["alice"], world["uniq"]
    private = world["projects"]["private"]
    pid, gid = private["id"], world["group"]["id"]
    roles = {}
    for level in (10, 20, 30, 40):
        u = create_user(registry, f"r{level}x{uniq}")
        alice.ok("POST", f"/projects/{pid}/members", json={"user_id": u.id, "access_level": level})
        roles[level] = u
    forbidden = (403, {"message": "403 Forbidden"})
    # settings need Maintainer
    for level in (10, 20, 30):
        r = roles[level].put(f"/projects/{pid}", json={"description": "x"})
        assert (r.status_code, r.json()) == forbidden
    assert roles[40].ok("PUT", f"/projects/{pid}", json={"description": "by m"})["description"] \
        == "by m"
    # deleting and transferring need Owner
    r = roles[40].delete(f"/projects/{pid}")
    assert (r.status_code, r.json()) == forbidden
    r = roles[40].put(f"/projects/{pid}/transfer", json={"namespace": roles[40].username})
    assert (r.status_code, r.json()) == forbidden
    # a Maintainer manages members below Owner, not Owners
    outsider = world["dave"]
    r = roles[40].post(f"/projects/{pid}/members",
                       json={"user_id": outsider.id, "access_level": 50})
    assert (r.status_code, r.json()) == forbidden
    roles[40].ok("POST", f"/projects/{pid}/members",
                 json={"user_id": outsider.id, "access_level": 30})
    r = roles[30].delete(f"/projects/{pid}/members/{outsider.id}")
    assert (r.status_code, r.json()) == forbidden
    # anyone may leave
    roles[10].ok("DELETE", f"/projects/{pid}/members/{roles[10].id}")
    r = roles[10].get(f"/projects/{pid}")
    assert (r.status_code, r.json()) == (404, NOT_FOUND_PROJECT)
    # group settings need Owner; subgroups need Maintainer
    alice.ok("POST", f"/groups/{gid}/members", json={"user_id": roles[40].id, "access_level": 40})
    r = roles[40].put(f"/groups/{gid}", json={"description": "x"})
    assert (r.status_code, r.json()) == forbidden
    sub = roles[40].ok("POST", "/groups", json={"name": "s", "path": "s", "parent_id": gid})
    assert sub["full_path"] == f"g-{uniq}/s"
    r = roles[30].post("/groups", json={"name": "t", "path": "t", "parent_id": gid})
    assert (r.status_code, r.json()) == forbidden
    # projects in a group need Developer
    r = roles[20].post("/projects", json={"name": "x", "namespace_id": gid})
    assert (r.status_code, r.json()) == (400, {"message": {"namespace": ["is not valid"]}})


def test_admin_sees_and_manages_everything(registry, world):
    admin = create_user(registry, f"adm{world['uniq']}", admin=True)
    private = world["projects"]["private"]
    assert admin.ok("GET", f"/projects/{private['id']}")["id"] == private["id"]
    groups = [g["id"] for g in admin.ok("GET", "/groups", params={"per_page": 100,
                                                                  "search": world["uniq"]})]
    assert world["group"]["id"] in groups
    made = admin.ok("POST", f"/projects/user/{world['dave'].id}", json={"name": "for dave"})
    assert made["path_with_namespace"] == f"{world['dave'].username}/for-dave"
    assert made["owner"]["id"] == world["dave"].id
    assert world["dave"].ok("GET", f"/projects/{made['id']}/members")[0]["access_level"] == 50
    r = world["dave"].post(f"/projects/user/{world['alice'].id}", json={"name": "x"})
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    r = admin.post("/projects/user/999999999", json={"name": "x"})
    assert (r.status_code, r.json()) == (404, {"message": "404 User Not Found"})
    admin.ok("DELETE", f"/projects/{private['id']}", status=202)


def test_through_the_gateway_identity_cannot_be_forged(registry, world):
    """The public listener forwards anonymous calls to metad and drops client X-Registry-*."""
    import requests
    public, private = world["projects"]["public"], world["projects"]["private"]
    r = requests.get(f"{registry.url}/api/v4/projects/{public['id']}", timeout=30)
    assert r.status_code == 200 and r.json()["path_with_namespace"] == public[
        "path_with_namespace"]
    assert r.json()["web_url"] == f"{registry.url}/{public['path_with_namespace']}"
    forged = {"X-Registry-User-Id": str(world["alice"].id), "X-Registry-Admin": "1",
              "X-Registry-Username": world["alice"].username}
    r = requests.get(f"{registry.url}/api/v4/projects/{private['id']}", headers=forged,
                     timeout=30)
    assert (r.status_code, r.json()) == (404, NOT_FOUND_PROJECT)
    r = requests.delete(f"{registry.url}/api/v4/projects/{public['id']}", headers=forged,
                        timeout=30)
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = requests.get(f"{registry.url}/api/v4/groups/{world['group']['id']}/projects",
                     params={"per_page": 1}, timeout=30)
    assert r.headers["X-Total"] == "1"

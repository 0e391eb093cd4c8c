"""Sharing projects and groups with groups (GitLab's /projects/:id/share, /groups/:id/share), a
project's groups, and whether a namespace exists: driven by python-gitlab and requests, with
GitLab's answers; and what a share grants, end to end: the API's visibility and lists, the token
service's access list, and skopeo pushing and pulling."""
import datetime

import gitlab
import pytest

import jwtutil
from regapi import creds_of, image_layout, inspect_digest, push
from tenancy import anonymous, create_user

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50


def day(offset):
    """A date offset days from today, as the API takes it."""
    return (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()


def actions(registry, caller, path):
    """The actions /jwt/auth grants caller on the repository at path when asked for all."""
    token = registry.registry_token([f"repository:{path}:pull,push,delete"],
                                    user=caller.username, password=caller.token)
    return jwtutil.access_of(token).get(("repository", path), set())


def project_ids(caller):
    return {p["id"] for p in caller.ok("GET", "/projects", params={"per_page": 100})}


@pytest.fixture
def people(registry, uniq):
    """alice (owns everything), bob, carol, dave and an admin."""
    return {name: create_user(registry, f"{name}{uniq}", admin=(name == "admin"))
            for name in ("alice", "bob", "carol", "dave", "admin")}


@pytest.fixture
def world(people, uniq):
    """alice's private group A with a subgroup A/sub, projects A/p and A/sub/q; a private group B
    where bob is Developer; a private group C where carol is Maintainer, inside a parent group
    CP where dave is Owner."""
    alice = people["alice"]

    def group(path, parent=None):
        body = {"name": path, "path": path}
        if parent:
            body["parent_id"] = parent["id"]
        return alice.ok("POST", "/groups", json=body)

    a = group(f"a-{uniq}")
    sub = group("sub", a)
    p = alice.ok("POST", "/projects", json={"name": "p", "namespace_id": a["id"]})
    q = alice.ok("POST", "/projects", json={"name": "q", "namespace_id": sub["id"]})
    b = group(f"b-{uniq}")
    alice.ok("POST", f"/groups/{b['id']}/members",
             json={"user_id": people["bob"].id, "access_level": DEVELOPER})
    cp = group(f"cp-{uniq}")
    c = group("c", cp)
    alice.ok("POST", f"/groups/{c['id']}/members",
             json={"user_id": people["carol"].id, "access_level": MAINTAINER})
    alice.ok("POST", f"/groups/{cp['id']}/members",
             json={"user_id": people["dave"].id, "access_level": OWNER})
    return {"a": a, "sub": sub, "p": p, "q": q, "b": b, "c": c, "cp": cp}


# ---- python-gitlab -------------------------------------------------------------------------------

def test_group_share_and_unshare_with_python_gitlab(people, world):
    gl = people["alice"].gitlab()
    a = gl.groups.get(world["a"]["id"])
    assert a.shared_with_groups == []
    a.share(world["b"]["id"], gitlab.const.AccessLevel.DEVELOPER)
    # share() answers the group itself, with the share in it
    assert [s["group_id"] for s in a.shared_with_groups] == [world["b"]["id"]]
    a.share(world["c"]["id"], gitlab.const.AccessLevel.MAINTAINER, expires_at=day(30))
    a = gl.groups.get(a.id)
    assert a.shared_with_groups == [
        {"group_id": world["b"]["id"], "group_name": world["b"]["name"],
         "group_full_path": world["b"]["full_path"], "group_access_level": DEVELOPER,
         "expires_at": None},
        {"group_id": world["c"]["id"], "group_name": "c",
         "group_full_path": world["c"]["full_path"], "group_access_level": MAINTAINER,
         "expires_at": day(30)}]
    a.unshare(world["b"]["id"])
    a = gl.groups.get(a.id)
    assert [s["group_id"] for s in a.shared_with_groups] == [world["c"]["id"]]
    # lists show GitLab's Group entity, without the detail
    assert "shared_with_groups" not in gl.groups.list(search=a.path)[0].attributes

    with pytest.raises(gitlab.GitlabCreateError) as e:
        a.share(world["c"]["id"], gitlab.const.AccessLevel.GUEST)
    assert e.value.response_code == 409
    assert e.value.error_message == ("Shared group The group has already been shared with this "
                                     "group")
    with pytest.raises(gitlab.GitlabDeleteError) as e:
        a.unshare(world["b"]["id"])
    assert (e.value.response_code, e.value.error_message) == (404, "404 Group Link Not Found")


def test_project_share_unshare_and_groups_with_python_gitlab(people, world):
    gl = people["alice"].gitlab()
    q = gl.projects.get(world["q"]["id"])
    assert q.shared_with_groups == []
    q.share(world["b"]["id"], gitlab.const.AccessLevel.REPORTER)
    q.share(world["c"]["id"], gitlab.const.AccessLevel.DEVELOPER, expires_at=day(7))
    q = gl.projects.get(q.id)
    assert q.shared_with_groups == [
        {"group_id": world["b"]["id"], "group_name": world["b"]["name"],
         "group_full_path": world["b"]["full_path"], "group_access_level": REPORTER,
         "expires_at": None},
        {"group_id": world["c"]["id"], "group_name": "c",
         "group_full_path": world["c"]["full_path"], "group_access_level": DEVELOPER,
         "expires_at": day(7)}]
    # lists carry it too
    listed = [p for p in gl.projects.list(search="q", get_all=True) if p.id == q.id]
    assert [s["group_id"] for s in listed[0].shared_with_groups] == [
        world["b"]["id"], world["c"]["id"]]

    # the project's groups: its ancestors, newest first; with_shared adds the invited ones
    a, sub, b, c = world["a"], world["sub"], world["b"], world["c"]
    assert [g.id for g in q.groups.list()] == [sub["id"], a["id"]]
    assert [g.id for g in q.groups.list(with_shared=True)] == sorted(
        [a["id"], sub["id"], b["id"], c["id"]], reverse=True)
    assert [g.id for g in q.groups.list(with_shared=True, shared_min_access_level=30)] == sorted(
        [a["id"], sub["id"], c["id"]], reverse=True)
    assert [g.id for g in q.groups.list(with_shared=True, skip_groups=[a["id"], c["id"]])] == \
        sorted([sub["id"], b["id"]], reverse=True)
    assert [g.id for g in q.groups.list(with_shared=True, search="sub")] == [sub["id"]]
    one = people["alice"].ok("GET", f"/projects/{q.id}/groups",
                             params={"with_shared": "true", "search": b["path"]})
    assert one == [{"id": b["id"], "web_url": b["web_url"], "name": b["name"],
                    "avatar_url": None, "full_name": b["full_name"],
                    "full_path": b["full_path"]}]
    # shared_visible_only: bob sees q through b, and is a direct member of b only
    bob_q = people["bob"].gitlab().projects.get(q.id, lazy=True)
    assert [g.id for g in bob_q.groups.list(with_shared=True, shared_visible_only=True)] == \
        sorted([a["id"], sub["id"], b["id"]], reverse=True)
    # bob sees only the shares with groups he may see
    assert [s["group_id"] for s in people["bob"].gitlab().projects.get(q.id)
            .shared_with_groups] == [b["id"]]

    q.unshare(b["id"])
    assert [s["group_id"] for s in gl.projects.get(q.id).shared_with_groups] == [c["id"]]
    with pytest.raises(gitlab.GitlabCreateError) as e:
        q.share(c["id"], gitlab.const.AccessLevel.GUEST)
    assert (e.value.response_code, e.value.error_message) == (
        409, "Group already shared with this group")


def test_namespace_exists_with_python_gitlab(registry, people, world, uniq):
    gl = people["bob"].gitlab()
    found = gl.namespaces.exists(people["alice"].username)
    assert (found.exists, found.suggests) == (True, [f"{people['alice'].username}1"])
    # case does not matter; the suggestion keeps the case asked for, as GitLab's
    found = gl.namespaces.exists(world["a"]["path"].upper())
    assert (found.exists, found.suggests) == (True, [f"{world['a']['path'].upper()}1"])
    found = gl.namespaces.exists(f"nothing-{uniq}")
    assert (found.exists, found.suggests) == (False, [])
    # a subgroup's path exists only below its parent
    assert gl.namespaces.exists("sub").exists is False
    found = gl.namespaces.exists("sub", parent_id=world["a"]["id"])
    assert found.exists is True and found.suggests[0].startswith("sub")
    # the suggestion skips what is taken: a-<uniq>1 too
    people["alice"].ok("POST", "/groups", json={"name": "x", "path": f"{world['a']['path']}1"})
    assert gl.namespaces.exists(world["a"]["path"]).suggests == [f"{world['a']['path']}2"]
    # GitLab's clean_path: the part before '@', allowed characters only
    weird = people["alice"].ok("POST", "/groups", json={"name": f"w{uniq}", "path": f"w.{uniq}"})
    assert gl.namespaces.exists(weird["path"]).suggests == [f"w.{uniq}1"]
    with pytest.raises(gitlab.GitlabAuthenticationError):
        anonymous(registry).gitlab().namespaces.exists(people["alice"].username)
    r = people["bob"].get(f"/namespaces/{uniq}/exists", params={"parent_id": "x"})
    assert (r.status_code, r.json()) == (400, {"error": "parent_id is invalid"})


# ---- errors --------------------------------------------------------------------------------------

def test_project_share_errors(registry, people, world):
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    p, b = world["p"], world["b"]
    share = f"/projects/{p['id']}/share"

    def fails(caller, body, status, answer, method="POST", path=share):
        r = caller.request(method, path, json=body)
        assert (r.status_code, r.json()) == (status, answer), (body, r.text)

    fails(alice, {}, 400, {"error": "group_id is missing, group_access is missing"})
    fails(alice, {"group_access": 30}, 400, {"error": "group_id is missing"})
    fails(alice, {"group_id": b["id"]}, 400, {"error": "group_access is missing"})
    fails(alice, {"group_id": b["id"], "group_access": 50}, 400,
          {"error": "group_access does not have a valid value"})
    fails(alice, {"group_id": b["id"], "group_access": 15}, 400,
          {"error": "group_access does not have a valid value"})
    fails(alice, {"group_id": b["id"], "group_access": "dev"}, 400,
          {"error": "group_access is invalid"})
    fails(alice, {"group_id": "b", "group_access": 30}, 400, {"error": "group_id is invalid"})
    fails(alice, {"group_id": b["id"], "group_access": 30, "expires_at": "2026-02-30"}, 400,
          {"error": "expires_at is invalid"})
    # the project's own group or an ancestor
    fails(alice, {"group_id": world["a"]["id"], "group_access": 30}, 409,
          {"message": "Project cannot be shared with the group it is in or one of its "
                      "ancestors."})
    r = alice.post(f"/projects/{world['q']['id']}/share",
                   json={"group_id": world["a"]["id"], "group_access": 30})
    assert r.status_code == 409
    # a group that does not exist, or that the caller holds no role in: GitLab's "Not Found"
    fails(alice, {"group_id": 999999999, "group_access": 30}, 404, {"message": "Not Found"})
    public = dave.ok("POST", "/groups", json={"name": "pub", "path": f"pub-{world['a']['id']}",
                                             "visibility": "public"})
    fails(alice, {"group_id": public["id"], "group_access": 30}, 404, {"message": "Not Found"})
    # a project one cannot see, a role below Maintainer, nobody signed in
    fails(bob, {"group_id": b["id"], "group_access": 30}, 404,
          {"message": "404 Project Not Found"})
    alice.ok("POST", f"/projects/{p['id']}/members",
             json={"user_id": carol.id, "access_level": DEVELOPER})
    fails(carol, {"group_id": b["id"], "group_access": 30}, 403, {"message": "403 Forbidden"})
    fails(anonymous(registry), {"group_id": b["id"], "group_access": 30}, 401,
          {"message": "401 Unauthorized"})
    # a Maintainer who holds a role in the group may share; once
    alice.ok("PUT", f"/projects/{p['id']}/members/{carol.id}", json={"access_level": MAINTAINER})
    alice.ok("POST", f"/groups/{b['id']}/members", json={"user_id": carol.id, "access_level": 10})
    link = carol.ok("POST", share, json={"group_id": b["id"], "group_access": 20,
                                         "expires_at": day(3)})
    assert set(link) == {"id", "project_id", "group_id", "group_access", "expires_at"}
    assert (link["project_id"], link["group_id"], link["group_access"], link["expires_at"]) == (
        p["id"], b["id"], 20, day(3))
    fails(carol, {"group_id": b["id"], "group_access": 20}, 409,
          {"message": "Group already shared with this group"})
    # unsharing: the same rights (bob, a Developer of b, now sees the project: a Reporter),
    # then the link must exist
    fails(dave, None, 404, {"message": "404 Project Not Found"}, "DELETE", f"{share}/{b['id']}")
    fails(bob, None, 403, {"message": "403 Forbidden"}, "DELETE", f"{share}/{b['id']}")
    fails(alice, None, 404, {"message": "404 Group Link Not Found"}, "DELETE",
          f"{share}/{world['c']['id']}")
    fails(alice, None, 400, {"error": "group_id is invalid"}, "DELETE", f"{share}/b")
    r = carol.delete(f"{share}/{b['id']}")
    assert (r.status_code, r.content) == (204, b"")
    fails(carol, None, 404, {"message": "404 Group Link Not Found"}, "DELETE",
          f"{share}/{b['id']}")
    # by path too
    ref = p["path_with_namespace"].replace("/", "%2F")
    alice.ok("POST", f"/projects/{ref}/share", json={"group_id": b["id"], "group_access": 40})
    assert alice.delete(f"/projects/{ref}/share/{b['id']}").status_code == 204


def test_group_share_errors(registry, people, world):
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    a, b, c = world["a"], world["b"], world["c"]
    share = f"/groups/{a['id']}/share"

    def fails(caller, body, status, answer, method="POST", path=share):
        r = caller.request(method, path, json=body)
        assert (r.status_code, r.json()) == (status, answer), (body, r.text)

    fails(alice, {"group_id": b["id"]}, 400, {"error": "group_access is missing"})
    fails(alice, {"group_id": b["id"], "group_access": 60}, 400,
          {"error": "group_access does not have a valid value"})
    fails(alice, {"group_id": 999999999, "group_access": 30}, 404,
          {"message": "404 Group Not Found"})
    # a group alice cannot see
    hidden = dave.ok("POST", "/groups", json={"name": "h", "path": f"h-{a['id']}"})
    fails(alice, {"group_id": hidden["id"], "group_access": 30}, 404,
          {"message": "404 Group Not Found"})
    fails(bob, {"group_id": b["id"], "group_access": 30}, 404,
          {"message": "404 Group Not Found"})
    fails(anonymous(registry), {"group_id": b["id"], "group_access": 30}, 401,
          {"message": "401 Unauthorized"})
    # sharing takes Owner: a Maintainer gets GitLab's "Not Found"
    alice.ok("POST", f"/groups/{a['id']}/members",
             json={"user_id": carol.id, "access_level": MAINTAINER})
    fails(carol, {"group_id": c["id"], "group_access": 30}, 404, {"message": "Not Found"})
    # Owner (50) is a level a group share may give
    detail = alice.ok("POST", share, json={"group_id": c["id"], "group_access": OWNER})
    assert detail["id"] == a["id"] and detail["shared_with_groups"][0]["group_access_level"] == 50
    fails(carol, None, 404, {"message": "Not Found"}, "DELETE", f"{share}/{c['id']}")
    fails(alice, None, 404, {"message": "404 Group Link Not Found"}, "DELETE",
          f"{share}/{b['id']}")
    fails(alice, None, 400, {"error": "group_id is invalid"}, "DELETE", f"{share}/x")
    assert alice.delete(f"{share}/{c['id']}").status_code == 204
    assert alice.ok("GET", f"/groups/{a['id']}")["shared_with_groups"] == []


# ---- what a share grants -------------------------------------------------------------------------

def test_project_share_grants_pull_then_push_then_nothing(registry, people, world, tmp_path):
    """bob is only a Developer of group B; project A/p is shared with B."""
    alice, bob = people["alice"], people["bob"]
    p = world["p"]
    path = p["path_with_namespace"]
    lay, _ = image_layout(str(tmp_path / "img"), "shared")
    push(registry, creds_of(alice), lay, f"{path}:v1")
    # before: nothing, and a 404
    assert actions(registry, bob, path) == set()
    assert bob.get(f"/projects/{p['id']}").status_code == 404
    assert p["id"] not in project_ids(bob)

    # at Reporter: bob sees the project, lists it, pulls, but may not push
    alice.ok("POST", f"/projects/{p['id']}/share",
             json={"group_id": world["b"]["id"], "group_access": REPORTER})
    assert bob.ok("GET", f"/projects/{p['id']}")["id"] == p["id"]
    assert p["id"] in project_ids(bob)
    assert p["id"] in {x["id"] for x in bob.ok("GET", "/projects",
                                                  params={"min_access_level": 20})}
    assert p["id"] not in {x["id"] for x in bob.ok("GET", "/projects",
                                                      params={"min_access_level": 30})}
    assert actions(registry, bob, path) == {"pull"}
    assert inspect_digest(registry, creds_of(bob), f"{path}:v1").startswith("sha256:")
    with pytest.raises(AssertionError):
        push(registry, creds_of(bob), lay, f"{path}:bob")
    # bob's group may be seen through the share (the project's group, A, too)
    assert bob.ok("GET", f"/groups/{world['a']['id']}")["id"] == world["a"]["id"]

    # at Developer: bob pushes; his own role (Developer) caps it below Maintainer's delete
    alice.ok("DELETE", f"/projects/{p['id']}/share/{world['b']['id']}")
    alice.ok("POST", f"/projects/{p['id']}/share",
             json={"group_id": world["b"]["id"], "group_access": MAINTAINER})
    assert actions(registry, bob, path) == {"pull", "push"}
    push(registry, creds_of(bob), lay, f"{path}:bob")

    # unshared: nothing at all
    alice.ok("DELETE", f"/projects/{p['id']}/share/{world['b']['id']}")
    assert actions(registry, bob, path) == set()
    assert bob.get(f"/projects/{p['id']}").status_code == 404
    assert bob.get(f"/groups/{world['a']['id']}").status_code == 404
    assert p["id"] not in project_ids(bob)


def test_expired_share_grants_nothing(registry, people, world):
    alice, bob = people["alice"], people["bob"]
    p, b = world["p"], world["b"]
    path = p["path_with_namespace"]
    alice.ok("POST", f"/projects/{p['id']}/share",
             json={"group_id": b["id"], "group_access": DEVELOPER, "expires_at": day(1)})
    assert actions(registry, bob, path) == {"pull", "push"}
    registry.pg.psql(registry.name, "UPDATE project_group_links SET expires_at = current_date"
                     f" WHERE project_id = {p['id']}")
    assert actions(registry, bob, path) == set()
    assert bob.get(f"/projects/{p['id']}").status_code == 404
    assert alice.ok("GET", f"/projects/{p['id']}")["shared_with_groups"] == []
    # gone: it may be shared again, and unsharing it finds nothing
    r = alice.delete(f"/projects/{p['id']}/share/{b['id']}")
    assert (r.status_code, r.json()) == (404, {"message": "404 Group Link Not Found"})
    # a date already past is taken, as GitLab takes it, and grants nothing either
    alice.ok("POST", f"/projects/{p['id']}/share",
             json={"group_id": b["id"], "group_access": DEVELOPER, "expires_at": day(-1)})
    assert actions(registry, bob, path) == set()
    # the same for a group share
    alice.ok("POST", f"/groups/{world['a']['id']}/share",
             json={"group_id": b["id"], "group_access": DEVELOPER, "expires_at": day(-1)})
    assert actions(registry, bob, path) == set()
    assert bob.get(f"/groups/{world['a']['id']}").status_code == 404


def test_group_share_reaches_subgroups_and_projects(registry, people, world):
    """A shared with C at Developer: carol (Maintainer of C) gets Developer on A, A/sub, A/p and
    A/sub/q; dave (Owner of C's parent) gets nothing: one level deep, direct members only."""
    alice, carol, dave, bob = (people[n] for n in ("alice", "carol", "dave", "bob"))
    a, sub, p, q = world["a"], world["sub"], world["p"], world["q"]
    assert actions(registry, carol, q["path_with_namespace"]) == set()
    alice.ok("POST", f"/groups/{a['id']}/share",
             json={"group_id": world["c"]["id"], "group_access": DEVELOPER})
    for proj in (p, q):
        assert actions(registry, carol, proj["path_with_namespace"]) == {"pull", "push"}
        assert actions(registry, dave, proj["path_with_namespace"]) == set()
    assert {p["id"], q["id"]} <= project_ids(carol)
    assert carol.ok("GET", f"/groups/{sub['id']}")["id"] == sub["id"]
    assert dave.get(f"/groups/{sub['id']}").status_code == 404
    # Developer on the group: carol creates projects there, not subgroups (Maintainer's)
    carol.ok("POST", "/projects", json={"name": "carols", "namespace_id": sub["id"]})
    r = carol.post("/groups", json={"name": "n", "path": "n", "parent_id": sub["id"]})
    assert r.status_code == 403
    # "my groups" lists them; min_access_level counts the share
    mine = {g["id"] for g in carol.ok("GET", "/groups", params={"min_access_level": 30})}
    assert {a["id"], sub["id"], world["c"]["id"]} <= mine
    # the highest grant wins: q shared with C at Maintainer lifts carol (Maintainer of C) to
    # Maintainer on q, above the group share's Developer
    alice.ok("POST", f"/projects/{q['id']}/share",
             json={"group_id": world["c"]["id"], "group_access": MAINTAINER})
    assert actions(registry, carol, q["path_with_namespace"]) == {"pull", "push", "delete"}
    # a link never lifts a member above their own role: bob, Developer of B, stays Developer on
    # A/p shared with B at Maintainer
    alice.ok("POST", f"/projects/{p['id']}/share",
             json={"group_id": world["b"]["id"], "group_access": MAINTAINER})
    assert actions(registry, bob, p["path_with_namespace"]) == {"pull", "push"}


def test_project_share_reaches_members_of_the_groups_ancestors(registry, people, world):
    """A project shared with group C reaches members of C's parent (their role on C is
    inherited), unlike a group share."""
    alice, dave = people["alice"], people["dave"]
    p = world["p"]
    alice.ok("POST", f"/projects/{p['id']}/share",
             json={"group_id": world["c"]["id"], "group_access": REPORTER})
    assert actions(registry, dave, p["path_with_namespace"]) == {"pull"}


def test_guest_through_a_share_sees_but_does_not_pull(registry, people, world):
    alice, dave = people["alice"], people["dave"]
    p, b = world["p"], world["b"]
    alice.ok("POST", f"/groups/{b['id']}/members", json={"user_id": dave.id, "access_level": 10})
    alice.ok("POST", f"/projects/{p['id']}/share", json={"group_id": b["id"], "group_access": 20})
    assert dave.ok("GET", f"/projects/{p['id']}")["id"] == p["id"]
    assert actions(registry, dave, p["path_with_namespace"]) == set()


def test_deleting_a_group_removes_its_shares_and_transfer_keeps_them(registry, people, world):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    p, q, b, c = world["p"], world["q"], world["b"], world["c"]
    alice.ok("POST", f"/projects/{p['id']}/share", json={"group_id": b["id"], "group_access": 30})
    alice.ok("POST", f"/projects/{q['id']}/share", json={"group_id": c["id"], "group_access": 30})
    # moving q to another group keeps its share, and its new path is what is granted
    other = alice.ok("POST", "/groups", json={"name": "o", "path": f"o-{world['a']['id']}"})
    moved = alice.ok("PUT", f"/projects/{q['id']}/transfer", json={"namespace": other["id"]})
    assert [s["group_id"] for s in moved["shared_with_groups"]] == [c["id"]]
    assert actions(registry, carol, moved["path_with_namespace"]) == {"pull", "push"}
    # deleting the invited group takes its links away
    assert alice.delete(f"/groups/{b['id']}").status_code == 202
    assert alice.ok("GET", f"/projects/{p['id']}")["shared_with_groups"] == []
    count = registry.pg.psql(registry.name, "SELECT count(*) FROM project_group_links"
                             f" WHERE group_id = {b['id']}")
    assert count.split()[0] == "0"
    assert actions(registry, bob, p["path_with_namespace"]) == set()


def test_role_functions_agree_per_object_and_as_sets(registry, people, world):
    """The rights are computed per object (project_access_level, group_access_level,
    group_visible: single checks, /jwt/auth) and as sets (user_project_levels, user_group_levels,
    user_member_groups: lists). With shares of every kind in place, both must say the same."""
    alice = people["alice"]
    a, sub, b, c, cp = (world[k] for k in ("a", "sub", "b", "c", "cp"))
    alice.ok("POST", f"/groups/{sub['id']}/share", json={"group_id": b["id"], "group_access": 40})
    alice.ok("POST", f"/groups/{cp['id']}/share", json={"group_id": b["id"], "group_access": 20})
    alice.ok("POST", f"/projects/{world['p']['id']}/share",
             json={"group_id": c["id"], "group_access": 30})
    alice.ok("POST", f"/projects/{world['q']['id']}/share",
             json={"group_id": cp["id"], "group_access": 40, "expires_at": day(-1)})
    alice.ok("POST", f"/groups/{a['id']}/share",
             json={"group_id": c["id"], "group_access": 10, "expires_at": day(2)})
    users = ",".join(str(people[n].id) for n in ("alice", "bob", "carol", "dave"))
    groups = ",".join(str(world[k]["id"]) for k in ("a", "sub", "b", "c", "cp"))
    projects = f"SELECT id FROM projects WHERE namespace_id IN ({groups})"

    def count(sql):
        return int(registry.pg.psql(registry.name, sql).split()[0])

    assert count(f"""SELECT count(*) FROM unnest(ARRAY[{users}]) u, ({projects}) p
        WHERE project_access_level(u, p.id) <> coalesce((SELECT l.access_level
              FROM user_project_levels(u) l WHERE l.project_id = p.id), 0)""") == 0
    assert count(f"""SELECT count(*) FROM unnest(ARRAY[{users}]) u, unnest(ARRAY[{groups}]) g
        WHERE group_access_level(u, g) <> coalesce((SELECT l.access_level
              FROM user_group_levels(u) l WHERE l.namespace_id = g), 0)""") == 0
    # every group in "my groups" may be seen, and every private one seen is in it
    assert count(f"""SELECT count(*) FROM unnest(ARRAY[{users}]) u, unnest(ARRAY[{groups}]) g
        WHERE group_visible(u, false, g)
              <> (g IN (SELECT namespace_id FROM user_member_groups(u)))""") == 0
    # and the shares did reach someone: bob (Developer of b) is Maintainer-capped-to-Developer on
    # sub, Reporter on cp and so on c
    levels = registry.pg.psql(registry.name, f"""SELECT string_agg(group_access_level(
        {people['bob'].id}, g)::text, ',' ORDER BY g) FROM unnest(ARRAY[{sub['id']}, {cp['id']},
        {c['id']}]) g""")
    assert levels == "30,20,20"

"""Project and group access tokens (GitLab's resource access tokens) end to end: python-gitlab's
project.access_tokens and group.access_tokens managers make, list, rotate and revoke them;
skopeo pushes and pulls with them as the bot's role and the token's scopes allow; the bot is a
user of its own that no password signs in as; GitLab's refusals, word for word."""
import datetime
import uuid

import pytest
import requests

from regapi import image_layout, push, tmp_layout_dir
from registry import skopeo
from tenancy import create_user


def day(n):
    """The date n days from today (UTC, as the database's current_date here)."""
    return (datetime.datetime.now(datetime.timezone.utc).date()
            + datetime.timedelta(days=n)).isoformat()


@pytest.fixture(scope="module")
def world(registry):
    """Tenant A: a group with a project and a subgroup project, its Owner, a Maintainer and a
    Developer of the project; tenant B: a project of another owner."""
    tag = uuid.uuid4().hex[:6]
    w = type("World", (), {})()
    w.tag = tag
    w.owner = create_user(registry, f"rt{tag}own")
    w.maint = create_user(registry, f"rt{tag}mnt")
    w.dev = create_user(registry, f"rt{tag}dev")
    w.outsider = create_user(registry, f"rt{tag}out")
    w.gid = w.owner.ok("POST", "/groups", json={"name": f"rt{tag}", "path": f"rt{tag}"})["id"]
    w.sub = w.owner.ok("POST", "/groups", json={"name": "sub", "path": "sub",
                                                "parent_id": w.gid})["id"]
    p = w.owner.ok("POST", "/projects", json={"name": "app", "namespace_id": w.gid})
    w.pid, w.path = p["id"], p["path_with_namespace"]
    s = w.owner.ok("POST", "/projects", json={"name": "deep", "namespace_id": w.sub})
    w.sub_pid, w.sub_path = s["id"], s["path_with_namespace"]
    for who, level in ((w.maint, 40), (w.dev, 30)):
        w.owner.ok("POST", f"/projects/{w.pid}/members",
                   json={"user_id": who.id, "access_level": level})
    w.other = create_user(registry, f"rt{tag}oth")
    b = w.other.ok("POST", "/projects", json={"name": f"b{tag}"})
    w.b_pid, w.b_path = b["id"], b["path_with_namespace"]
    return w


def layout(tmp_path, name):
    return image_layout(tmp_layout_dir(tmp_path, name), name)[0]


def pull(registry, creds, ref, check=True):
    return skopeo("inspect", "--tls-verify=false", "--creds", creds,
                  f"docker://{registry.host}/{ref}", check=check)


def push_res(registry, creds, lay, ref):
    return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds,
                  f"oci:{lay.path}:img", f"docker://{registry.host}/{ref}", check=False)


def test_project_token_push_pull_revoke_rotate(registry, world, tmp_path):
    w = world
    gl = w.maint.gitlab()
    project = gl.projects.get(w.pid)
    t = project.access_tokens.create({"name": "ci", "scopes": ["write_registry",
                                                              "read_registry"],
                                      "expires_at": day(30)})
    assert t.token.startswith("glpat-") and t.access_level == 40 and t.active
    assert sorted(t.scopes) == ["read_registry", "write_registry"]
    assert t.expires_at == day(30) and t.revoked is False

    # the bot: a user of its own, a member of the project, named as GitLab names it
    bot = w.owner.ok("GET", f"/users/{t.user_id}", 200)
    assert bot["username"].startswith(f"project_{w.pid}_bot_") and bot["bot"] is True
    assert bot["name"] == "ci"
    members = {m["id"]: m["access_level"] for m in w.owner.ok("GET",
                                                                f"/projects/{w.pid}/members")}
    assert members[t.user_id] == 40
    assert w.owner.ok("GET", f"/users/{w.owner.id}", 200)["bot"] is False

    # skopeo pushes and pulls with it, under any username or the bot's
    lay = layout(tmp_path, "a")
    push(registry, f"anything:{t.token}", lay, f"{w.path}:v1")
    pull(registry, f"{bot['username']}:{t.token}", f"{w.path}:v1")

    # a read_registry token pulls and cannot push
    ro = project.access_tokens.create({"name": "ro", "scopes": ["read_registry"],
                                       "expires_at": day(5), "access_level": 30})
    assert ro.access_level == 30
    pull(registry, f"x:{ro.token}", f"{w.path}:v1")
    res = push_res(registry, f"x:{ro.token}", layout(tmp_path, "b"), f"{w.path}:ro")
    assert res.returncode != 0 and ("denied" in res.stderr.lower()
                                    or "unauthorized" in res.stderr.lower()), res.stderr

    # tenant isolation: a token of project A reads nothing of project B
    w.other.ok("GET", f"/projects/{w.b_pid}")
    push(registry, f"{w.other.username}:{w.other.token}", layout(tmp_path, "c"), f"{w.b_path}:v1")
    res = pull(registry, f"x:{t.token}", f"{w.b_path}:v1", check=False)
    assert res.returncode != 0
    res = push_res(registry, f"x:{t.token}", layout(tmp_path, "d"), f"{w.b_path}:evil")
    assert res.returncode != 0
    r = requests.get(f"{registry.url}/api/v4/projects/{w.b_pid}",
                     headers={"PRIVATE-TOKEN": t.token}, timeout=30)
    assert r.status_code in (401, 403, 404)

    # rotation: the old secret stops working, the new one works, as the same bot
    old = t.token
    # (python-gitlab 3.12 has no rotate nor get on this manager: its HTTP calls do them)
    rotated = gl.http_post(f"/projects/{w.pid}/access_tokens/{t.id}/rotate")
    assert rotated["token"] != old and rotated["user_id"] == t.user_id
    assert rotated["id"] != t.id and rotated["expires_at"] == day(7)
    res = pull(registry, f"x:{old}", f"{w.path}:v1", check=False)
    assert res.returncode != 0
    pull(registry, f"x:{rotated['token']}", f"{w.path}:v1")
    assert gl.http_get(f"/projects/{w.pid}/access_tokens/{t.id}")["revoked"] is True
    r = w.maint.request("POST", f"/projects/{w.pid}/access_tokens/{t.id}/rotate")
    assert (r.status_code, r.json()) == (400, {"message": "400 Bad request - token already revoked"})

    # revocation: the token no longer signs in anywhere
    project.access_tokens.delete(rotated["id"])
    res = pull(registry, f"x:{rotated['token']}", f"{w.path}:v1", check=False)
    assert res.returncode != 0
    r = requests.get(f"{registry.url}/api/v4/user",
                     headers={"PRIVATE-TOKEN": rotated["token"]}, timeout=30)
    assert r.status_code == 401
    states = {x.id: x.active for x in project.access_tokens.list(get_all=True)}
    assert states[rotated["id"]] is False and states[ro.id] is True
    inactive = project.access_tokens.list(state="inactive", get_all=True)
    assert {x.id for x in inactive} >= {t.id, rotated["id"]} and ro.id not in {
        x.id for x in inactive}


def test_token_speaks_as_its_bot(registry, world):
    w = world
    t = w.maint.ok("POST", f"/projects/{w.pid}/access_tokens",
                   json={"name": "api", "scopes": ["read_api"], "expires_at": day(3),
                         "access_level": 20})
    h = {"PRIVATE-TOKEN": t["token"]}
    me = requests.get(f"{registry.url}/api/v4/user", headers=h, timeout=30)
    assert me.status_code == 200 and me.json()["id"] == t["user_id"] and me.json()["bot"] is True
    r = requests.get(f"{registry.url}/api/v4/projects/{w.pid}", headers=h, timeout=30)
    assert r.status_code == 200 and r.json()["id"] == w.pid
    # read_api: no writes
    r = requests.post(f"{registry.url}/api/v4/projects/{w.pid}/access_tokens", headers=h,
                      json={"name": "x", "scopes": ["api"], "expires_at": day(3)}, timeout=30)
    assert r.status_code == 403
    # the bot is no human in user lists
    users = registry.api("GET", f"/users?username={me.json()['username']}").json()
    assert [u["bot"] for u in users] == [True]
    for flag in ("humans", "without_project_bots"):
        assert registry.api("GET", f"/users?username={me.json()['username']}&{flag}=true"
                            ).json() == []
    # GET /personal_access_tokens/self answers the bot's token
    r = requests.get(f"{registry.url}/api/v4/personal_access_tokens/self", headers=h, timeout=30)
    assert r.status_code == 200 and r.json()["id"] == t["id"]
    # no password signs in as the bot
    bot = w.owner.ok("GET", f"/users/{t['user_id']}", 200)["username"]
    r = requests.post(f"{registry.url}/oauth/token", data={
        "grant_type": "password", "username": bot, "password": "x" * 12}, timeout=30)
    assert r.status_code in (400, 401)
    # an expired token is refused at login and on the API
    registry.pg.psql(registry.name, "UPDATE personal_access_tokens SET expires_at = "
                                    f"current_date - 1 WHERE id = {t['id']}")
    r = requests.get(f"{registry.url}/api/v4/user", headers=h, timeout=30)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    res = pull(registry, f"x:{t['token']}", f"{w.path}:v1", check=False)
    assert res.returncode != 0


def test_validation_and_rights(registry, world):
    w = world
    url = f"/projects/{w.pid}/access_tokens"
    good = {"name": "v", "scopes": ["read_registry"], "expires_at": day(10)}

    def post(caller, **change):
        body = dict(good, **change)
        for k in [k for k, v in body.items() if v is None]:
            del body[k]
        r = caller.request("POST", url, json=body)
        return r.status_code, r.json()

    assert post(w.maint, expires_at=None) == (400, {"error": "expires_at is missing"})
    assert post(w.maint, expires_at=day(366)) == (
        400, {"message": f"400 Bad request - Expires at must be before {day(365)}"})
    assert post(w.maint, expires_at=day(0)) == (
        400, {"message": "400 Bad request - Expiration date must be in the future"})
    assert post(w.maint, expires_at="2030-02-30") == (400, {"error": "expires_at is invalid"})
    assert post(w.maint, scopes=["read_repository"]) == (
        400, {"error": "scopes does not have a valid value"})
    assert post(w.maint, scopes=["sudo"]) == (400, {"error": "scopes does not have a valid value"})
    assert post(w.maint, access_level=35) == (
        400, {"error": "access_level does not have a valid value"})
    assert post(w.maint, access_level=50) == (
        400, {"message": "400 Bad request - Could not provision owner access to project access "
                         "token"})
    # a Maintainer of the project through a group Owner's role may give Owner
    assert post(w.owner, access_level=50)[0] == 201
    assert post(w.maint, name="")[1] == {"message": "400 Bad request - Name can't be blank"}
    # a Developer: GitLab's 400 on create, 401 on reads; an outsider sees no project
    assert post(w.dev) == (400, {"message": "400 Bad request - User does not have permission to "
                                            "create project access token"})
    r = w.dev.request("GET", url)
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    assert post(w.outsider) == (404, {"message": "404 Project Not Found"})
    r = w.outsider.request("GET", url)
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    # one token, asked for by another project's path or a wrong id
    t = w.maint.ok("POST", url, json=good)
    r = w.maint.request("GET", f"{url}/{t['id'] + 100000}")
    assert (r.status_code, r.json()) == (404, {"message": "404 Could not find project access "
                                               f"token with token_id: {t['id'] + 100000} Not Found"})
    r = w.other.request("GET", f"/projects/{w.b_pid}/access_tokens/{t['id']}")
    assert r.status_code == 404
    r = w.other.request("DELETE", f"/projects/{w.b_pid}/access_tokens/{t['id']}")
    assert r.status_code == 404
    r = w.dev.request("DELETE", f"{url}/{t['id']}")
    assert r.status_code == 400 and "cannot delete v" in r.json()["message"]
    r = w.dev.request("POST", f"{url}/{t['id']}/rotate")
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    got = w.maint.ok("GET", f"{url}/{t['id']}", 200)
    assert got["active"] is True and "token" not in got
    # a rotation may not go past the lifetime either, nor raise the caller above their role
    r = w.maint.request("POST", f"{url}/{t['id']}/rotate", json={"expires_at": day(400)})
    assert r.status_code == 400 and r.json()["message"].startswith(
        "400 Bad request - Expires at must be before")
    owner_tok = w.owner.ok("POST", url, json=dict(good, access_level=50))
    r = w.maint.request("POST", f"{url}/{owner_tok['id']}/rotate")
    assert (r.status_code, r.json()) == (400, {"message": "400 Bad request - Not eligible to "
                                               "rotate token with access level higher than the "
                                               "user"})


def test_group_token_reaches_subgroup_project(registry, world, tmp_path):
    w = world
    group = w.owner.gitlab().groups.get(w.gid)
    t = group.access_tokens.create({"name": "g", "scopes": ["write_registry", "read_registry"],
                                    "expires_at": day(20), "access_level": 30})
    assert t.access_level == 30
    bot = w.owner.ok("GET", f"/users/{t.user_id}", 200)
    assert bot["username"].startswith(f"group_{w.gid}_bot_") and bot["bot"] is True
    push(registry, f"x:{t.token}", layout(tmp_path, "g"), f"{w.sub_path}:v1")
    pull(registry, f"x:{t.token}", f"{w.sub_path}:v1")
    res = pull(registry, f"x:{t.token}", f"{w.b_path}:v1", check=False)
    assert res.returncode != 0
    assert [x.id for x in group.access_tokens.list(get_all=True)] == [t.id]
    # a group's tokens are its Owners': a project Maintainer gets GitLab's answers
    r = w.maint.request("GET", f"/groups/{w.gid}/access_tokens")
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = w.maint.request("POST", f"/groups/{w.gid}/access_tokens",
                        json={"name": "g", "scopes": ["api"], "expires_at": day(2)})
    assert (r.status_code, r.json()) == (400, {"message": "400 Bad request - User does not have "
                                                          "permission to create group access "
                                                          "token"})
    group.access_tokens.delete(t.id)
    res = pull(registry, f"x:{t.token}", f"{w.sub_path}:v1", check=False)
    assert res.returncode != 0
    r = w.outsider.request("GET", f"/groups/{w.gid}/access_tokens")
    assert (r.status_code, r.json()) == (404, {"message": "404 Group Not Found"})


def test_bot_rotates_its_own_token(registry, world):
    w = world
    t = w.maint.ok("POST", f"/projects/{w.pid}/access_tokens",
                   json={"name": "self", "scopes": ["api", "read_registry"],
                         "expires_at": day(3), "access_level": 30})
    h = {"PRIVATE-TOKEN": t["token"]}
    base = f"{registry.url}/api/v4/projects/{w.pid}/access_tokens/self/rotate"
    # another tenant's project: the bot does not see it
    r = requests.post(f"{registry.url}/api/v4/projects/{w.b_pid}/access_tokens/self/rotate",
                      headers=h, timeout=30)
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    # a project the bot sees but whose token it is not (GitLab: 401)
    seen = w.other.ok("POST", "/projects", json={"name": f"i{w.tag}",
                                                 "visibility": "internal"})["id"]
    r = requests.post(f"{registry.url}/api/v4/projects/{seen}/access_tokens/self/rotate",
                      headers=h, timeout=30)
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = requests.post(base, headers=h, json={"expires_at": day(9)}, timeout=30)
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["token"] != t["token"] and new["user_id"] == t["user_id"]
    assert new["expires_at"] == day(9) and new["access_level"] == 30
    assert requests.get(f"{registry.url}/api/v4/user", headers=h, timeout=30).status_code == 401
    me = requests.get(f"{registry.url}/api/v4/user",
                      headers={"PRIVATE-TOKEN": new["token"]}, timeout=30)
    assert me.status_code == 200 and me.json()["id"] == t["user_id"]
    # a person's token does not rotate here (GitLab: 405)
    r = w.maint.request("POST", f"/projects/{w.pid}/access_tokens/self/rotate")
    assert (r.status_code, r.json()) == (405, {"message": "405 Method Not Allowed"})
    # nor does a token without the api scope
    ro = w.maint.ok("POST", f"/projects/{w.pid}/access_tokens",
                    json={"name": "ro", "scopes": ["read_api"], "expires_at": day(3)})
    r = requests.post(base, headers={"PRIVATE-TOKEN": ro["token"]}, timeout=30)
    assert r.status_code == 403

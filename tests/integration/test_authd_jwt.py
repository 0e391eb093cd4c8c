"""The token service (/jwt/auth): every role x action x visibility x registry access level, scope
parsing, the token's claims and signature, and the error answers."""
import base64
import itertools
import uuid

import nacl.signing
import pytest
import requests

import jwtutil
from tenants import Tenancy

VISIBILITIES = ("private", "internal", "public")
REGISTRY_LEVELS = ("enabled", "private", "disabled")
ACTIONS = ("pull", "push", "delete")
MEMBER_ROLES = ("none", "guest", "reporter", "developer", "maintainer", "owner")
ROLES = MEMBER_ROLES + ("admin", "anonymous", "deploy_read", "deploy_write", "expired_token",
                        "revoked_token")
LEVEL = {"none": 0, "guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}


def expected(role, action, visibility, registry):
    """GitLab's rights for the registry, written out independently of authd's code."""
    if registry == "disabled":
        return False  # GitLab's policy prevents container image actions even for admins
    if role == "admin":
        return True
    public_pull = action == "pull" and visibility == "public" and registry == "enabled"
    if role == "anonymous":
        return public_pull
    if role in ("deploy_read", "deploy_write"):
        # the group deploy token covers every project here; anybody's rights apply too
        if action == "pull":
            return role == "deploy_read" or public_pull
        return action == "push" and role == "deploy_write"
    level = LEVEL[role]
    if action == "pull":
        if registry == "enabled" and visibility in ("public", "internal"):
            return True
        return level >= 20
    if action == "push":
        return level >= 30
    return level >= 40


def token_request(registry, scopes, auth=None, service="container_registry"):
    params = [("service", service)] if service is not None else []
    params += [("scope", s) for s in scopes]
    return requests.get(f"{registry.url}/jwt/auth", params=params, auth=auth, timeout=30)


@pytest.fixture(scope="module")
def world(registry):
    """One group with a project per visibility x registry level, a member of each role on the
    group, an admin, group deploy tokens, and an expired and a revoked personal access token."""
    t = Tenancy(registry)
    tag = uuid.uuid4().hex[:6]
    users = {role: t.user(f"j{tag}{role}") for role in MEMBER_ROLES}
    users["admin"] = t.user(f"j{tag}admin", admin=True)
    group_path = f"jg{tag}"
    gid = t.group(group_path, visibility="public")
    for role in MEMBER_ROLES[1:]:
        t.add_group_member(gid, users[role]["id"], role)
    projects = {}
    for vis, reg in itertools.product(VISIBILITIES, REGISTRY_LEVELS):
        projects[(vis, reg)] = t.project(gid, f"p-{vis}-{reg}", vis, reg)[1]

    creds = {role: (users[role]["username"], users[role]["password"]) for role in users}
    creds["anonymous"] = None
    for role, scope in (("deploy_read", "read_registry"), ("deploy_write", "write_registry")):
        r = registry.api("POST", f"/groups/{gid}/deploy_tokens",
                         json={"name": role, "scopes": [scope]})
        assert r.status_code == 201, r.text
        creds[role] = (r.json()["username"], r.json()["token"])
    dev = users["developer"]
    expired = t.pat(dev["id"], ["api"], name="expired")
    t.sql(f"UPDATE personal_access_tokens SET expires_at = current_date - 1 "
          f"WHERE id = {expired['id']}")
    creds["expired_token"] = (dev["username"], expired["token"])
    revoked = t.pat(dev["id"], ["api"], name="revoked")
    assert registry.api("DELETE", f"/personal_access_tokens/{revoked['id']}").status_code == 204
    creds["revoked_token"] = (dev["username"], revoked["token"])
    return {"t": t, "users": users, "gid": gid, "group": group_path, "projects": projects,
            "creds": creds, "tag": tag}


@pytest.mark.parametrize("visibility,level", list(itertools.product(VISIBILITIES, REGISTRY_LEVELS)))
@pytest.mark.parametrize("role", ROLES)
def test_rights_matrix(registry, world, role, visibility, level):
    repo = world["projects"][(visibility, level)] + "/img"
    r = token_request(registry, [f"repository:{repo}:pull,push,delete"], auth=world["creds"][role])
    if role in ("expired_token", "revoked_token"):
        assert r.status_code == 401, r.text
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
        return
    want = {a for a in ACTIONS if expected(role, a, visibility, level)}
    if role == "anonymous" and not want:
        assert r.status_code == 403, r.text
        assert r.json() == {"errors": [{"code": "DENIED", "message": "access forbidden"}]}
        return
    assert r.status_code == 200, r.text
    got = jwtutil.access_of(r.json()["token"]).get(("repository", repo), set())
    assert got == want, f"{role} on {visibility}/{level}: granted {got}, expected {want}"


@pytest.mark.parametrize("action", ACTIONS)
def test_single_action_scopes(registry, world, action):
    """Asking for one action grants exactly that one when allowed."""
    repo = world["projects"][("private", "enabled")] + "/single"
    for role in ("reporter", "developer", "maintainer"):
        r = token_request(registry, [f"repository:{repo}:{action}"], auth=world["creds"][role])
        assert r.status_code == 200
        got = jwtutil.access_of(r.json()["token"]).get(("repository", repo), set())
        assert got == ({action} if expected(role, action, "private", "enabled") else set())


def test_token_claims_and_signature(registry, world):
    user = world["users"]["maintainer"]
    repo = world["projects"][("private", "enabled")]
    r = token_request(registry, [f"repository:{repo}:pull,push"], auth=world["creds"]["maintainer"])
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"] and body["expires_in"] == 300
    assert body["issued_at"].endswith("Z") and "T" in body["issued_at"]
    header, claims = jwtutil.decode(body["token"])
    key_dir = registry.sections["global"]["key_dir"]
    with open(f"{key_dir}/token.pub") as f:
        pub = base64.b64decode(f.read().strip())
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": jwtutil.kid(pub)}
    jwtutil.verify(body["token"], nacl.signing.VerifyKey(pub))
    assert claims["iss"] == "registry-token-issuer"
    assert claims["sub"] == user["username"] and claims["aud"] == "container_registry"
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
    assert len(claims["jti"]) == 32
    assert claims["uid"] == user["id"] and claims["knd"] == "password"
    assert "adm" not in claims and "dtid" not in claims
    # the grant is bound to the project it was made on, at its path generation
    project = registry.pg.psql(registry.name, "SELECT id || ' ' || path_generation FROM projects"
                               f" WHERE full_path = '{repo}'").split()
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull", "push"],
                                 "project_id": int(project[0]), "generation": int(project[1])}]
    again = token_request(registry, [f"repository:{repo}:pull"], auth=world["creds"]["maintainer"])
    assert jwtutil.decode(again.json()["token"])[1]["jti"] != claims["jti"]


def test_deploy_token_claims(registry, world):
    username, _ = world["creds"]["deploy_write"]
    repo = world["projects"][("private", "enabled")]
    r = token_request(registry, [f"repository:{repo}:push"], auth=world["creds"]["deploy_write"])
    _, claims = jwtutil.decode(r.json()["token"])
    assert claims["sub"] == username and claims["knd"] == "deploy_token"
    assert claims["dtid"] > 0 and "uid" not in claims


def test_admin_claim(registry, world):
    r = token_request(registry, [], auth=world["creds"]["admin"])
    _, claims = jwtutil.decode(r.json()["token"])
    assert claims["adm"] is True and claims["access"] == []


def test_login_without_scope(registry, world):
    for role in ("none", "deploy_read"):
        r = token_request(registry, [], auth=world["creds"][role])
        assert r.status_code == 200
        assert jwtutil.decode(r.json()["token"])[1]["access"] == []
    r = token_request(registry, [])
    assert r.status_code == 403
    assert r.json() == {"errors": [{"code": "DENIED", "message": "access forbidden"}]}


def test_bad_credentials(registry, world):
    username, _ = world["creds"]["reporter"]
    for auth in ((username, "not-the-password"), ("nobody-at-all", "whatever1"),
                 (username, "glpat-" + "A" * 40)):
        r = token_request(registry, [], auth=auth)
        assert r.status_code == 401, auth
        err = r.json()["errors"][0]
        assert err["code"] == "UNAUTHORIZED" and err["message"].startswith("HTTP Basic: Access denied")
    # a deploy token answers only to its own username
    _, token = world["creds"]["deploy_read"]
    assert token_request(registry, [], auth=("someone-else", token)).status_code == 401
    # not Basic
    r = requests.get(f"{registry.url}/jwt/auth", params={"service": "container_registry"},
                     headers={"Authorization": "Bearer abc"})
    assert r.status_code == 401


def test_blocked_user_is_refused(registry, world):
    t = world["t"]
    user = t.user(f"j{world['tag']}blocked")
    assert registry.api("POST", f"/users/{user['id']}/block").status_code == 201
    r = token_request(registry, [], auth=(user["username"], user["password"]))
    assert r.status_code == 401
    assert registry.api("POST", f"/users/{user['id']}/unblock").status_code == 201
    assert token_request(registry, [], auth=(user["username"], user["password"])).status_code == 200


def test_service_must_be_ours(registry, world):
    r = token_request(registry, [], auth=world["creds"]["admin"], service="other_registry")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_REQUEST"
    r = token_request(registry, [], auth=world["creds"]["admin"], service=None)
    assert r.status_code == 400


def test_scope_parsing(registry, world):
    """Repeated scope parameters, several scopes in one, names with a port, unknown types and
    actions, duplicates merged."""
    a = world["projects"][("private", "enabled")]
    b = world["projects"][("internal", "enabled")]
    r = token_request(registry, [
        f"repository:{a}/x:pull repository:{b}/y:pull,push",
        f"repository:{a}/x:push",
        "repository:localhost:5000/foo/bar:pull",
        f"repository:{a}:frobnicate,pull",
        f"repository(plugin):{a}:pull",
        "garbage", "registry:catalog:*",
    ], auth=world["creds"]["developer"])
    assert r.status_code == 200
    access = jwtutil.access_of(r.json()["token"])
    assert access == {
        ("repository", f"{a}/x"): {"pull", "push"},
        ("repository", f"{b}/y"): {"pull", "push"},
        ("repository", a): {"pull"},
        ("registry", "catalog"): {"*"},
    }


def test_catalog_scope(registry, world):
    scope = ["registry:catalog:*"]
    for role in ("none", "admin"):
        r = token_request(registry, scope, auth=world["creds"][role])
        assert jwtutil.access_of(r.json()["token"]) == {("registry", "catalog"): {"*"}}
    r = token_request(registry, scope, auth=world["creds"]["deploy_read"])
    assert jwtutil.access_of(r.json()["token"]) == {}
    assert token_request(registry, scope).status_code == 403
    # a personal access token needs a registry (or api) scope for it
    owner = world["users"]["owner"]
    for scopes, granted in ((["read_registry"], True), (["read_api"], False)):
        pat = world["t"].pat(owner["id"], scopes)
        r = token_request(registry, scope, auth=(owner["username"], pat["token"]))
        assert bool(jwtutil.access_of(r.json()["token"])) == granted


def test_repository_paths(registry, world):
    """The longest existing project path that prefixes the name, with at most two segments
    after it."""
    t = world["t"]
    sub = t.group("sub", visibility="private", parent_id=world["gid"])
    deep = t.project(sub, "app")[1]
    top = world["projects"][("private", "enabled")]
    creds = world["creds"]["maintainer"]
    cases = {
        f"{deep}": True, f"{deep}/a": True, f"{deep}/a/b": True, f"{deep}/a/b/c": False,
        f"{top}/a/b": True, f"{top}/a/b/c": False,
        f"{world['group']}/missing/img": False, f"{world['group']}": False,
        f"{world['group']}/sub": False, "nosuchgroup/x/y": False, f"{top.upper()}/x": False,
    }
    for name, granted in cases.items():
        r = token_request(registry, [f"repository:{name}:pull"], auth=creds)
        assert r.status_code == 200
        got = jwtutil.access_of(r.json()["token"])
        assert (("repository", name) in got) == granted, name
    # A project's path is matched without regard to case, as GitLab's paths are.
    t.project(sub, "MixedCase")
    r = token_request(registry, [f"repository:{world['group'].lower()}/sub/mixedcase:pull"],
                      auth=creds)
    assert jwtutil.access_of(r.json()["token"])


def test_project_deploy_token_covers_only_its_project(registry, world):
    t = world["t"]
    owner = world["users"]["owner"]
    ns = t.namespace_of_user(owner["id"])
    mine = t.project(ns, f"mine{world['tag']}")
    other = t.project(ns, f"other{world['tag']}")
    r = registry.api("POST", f"/projects/{mine[0]}/deploy_tokens",
                     json={"name": "ci", "scopes": ["read_registry", "write_registry"]})
    assert r.status_code == 201, r.text
    auth = (r.json()["username"], r.json()["token"])
    r = token_request(registry, [f"repository:{mine[1]}/x:pull,push,delete",
                                 f"repository:{other[1]}/x:pull,push"], auth=auth)
    assert jwtutil.access_of(r.json()["token"]) == {("repository", f"{mine[1]}/x"): {"pull", "push"}}


@pytest.mark.parametrize("scopes,want", [
    (["read_registry"], {"pull"}),
    (["write_registry"], {"push"}),
    (["read_registry", "write_registry"], {"pull", "push"}),
    (["api"], {"pull", "push", "delete"}),
    (["read_api", "read_user"], set()),
])
def test_personal_access_token_scopes(registry, world, scopes, want):
    owner = world["users"]["owner"]
    pat = world["t"].pat(owner["id"], scopes)
    repo = world["projects"][("private", "private")] + "/pat"
    r = token_request(registry, [f"repository:{repo}:pull,push,delete"],
                      auth=(owner["username"], pat["token"]))
    assert r.status_code == 200
    assert jwtutil.access_of(r.json()["token"]).get(("repository", repo), set()) == want
    assert jwtutil.decode(r.json()["token"])[1]["knd"] == "personal_access_token"


def test_oauth_token_as_password(registry, world):
    user = world["users"]["developer"]
    r = requests.post(f"{registry.url}/oauth/token", data={
        "grant_type": "password", "username": user["username"], "password": user["password"]})
    access_token = r.json()["access_token"]
    repo = world["projects"][("private", "enabled")]
    r = token_request(registry, [f"repository:{repo}:pull,push"], auth=("oauth2", access_token))
    assert r.status_code == 200
    assert jwtutil.access_of(r.json()["token"]) == {("repository", repo): {"pull", "push"}}
    assert jwtutil.decode(r.json()["token"])[1]["knd"] == "oauth"
    # only with the username oauth2
    r = token_request(registry, [], auth=(user["username"], access_token))
    assert r.status_code == 401

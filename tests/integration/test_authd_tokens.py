"""Registry tokens end to end: the gateway accepts authd's tokens and refuses forged, expired,
misdirected and foreign ones; skopeo logs in with every kind of credential; deploy tokens over
GitLab's API; repeated wrong passwords are slowed down."""
import json
import os
import subprocess
import tempfile
import time
import uuid

import gitlab
import nacl.signing
import pytest
import requests

import jwtutil
from tenants import Tenancy


@pytest.fixture(scope="module")
def setup(registry):
    t = Tenancy(registry)
    tag = uuid.uuid4().hex[:6]
    user = t.user(f"k{tag}dev")
    gid = t.group(f"kg{tag}")
    t.add_group_member(gid, user["id"], "developer")
    pid, path = t.project(gid, "app")
    return {"t": t, "user": user, "gid": gid, "pid": pid, "path": path, "tag": tag}


def v2(registry, path, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{registry.url}{path}", headers=headers, timeout=30)


def refused(r, why=None):
    """A 401 Bearer challenge that names the token as invalid."""
    challenge = r.headers.get("WWW-Authenticate", "")
    ok = r.status_code == 401 and challenge.startswith("Bearer ") and \
        'error="invalid_token"' in challenge
    return ok and (why is None or why in challenge)


def test_gateway_accepts_real_tokens(registry, setup):
    token = registry.registry_token([f"repository:{setup['path']}/img:pull"],
                                    setup["user"]["username"], setup["user"]["password"])
    assert v2(registry, "/v2/", token).status_code == 200
    r = v2(registry, f"/v2/{setup['path']}/img/tags/list", token)
    assert r.status_code != 401  # past the gateway's checks (metad answers what it has)
    r = v2(registry, f"/v2/{setup['path']}/other/tags/list", token)
    assert r.status_code == 401 and 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]


def test_gateway_refuses_bad_tokens(registry, setup):
    repo = f"{setup['path']}/img"
    good = registry.registry_token([f"repository:{repo}:pull"], setup["user"]["username"],
                                   setup["user"]["password"])
    header, claims = jwtutil.decode(good)
    key = jwtutil.registry_keys(registry)
    now = int(time.time())
    paths = ("/v2/", f"/v2/{repo}/tags/list")

    # payload edited, signature kept: more rights for someone else
    h64, _, sig = good.split(".")
    forged_claims = dict(claims, sub="root", adm=True,
                         access=[{"type": "repository", "name": repo,
                                  "actions": ["pull", "push", "delete"]}])
    tampered = ".".join([h64, jwtutil.b64url(json.dumps(forged_claims).encode()), sig])
    # expired well beyond the minute of clock skew the gateway allows
    expired = jwtutil.sign(header, dict(claims, iat=now - 900, nbf=now - 900, exp=now - 600), key)
    # issued for another service
    other_aud = jwtutil.sign(header, dict(claims, aud="other_registry"), key)
    # signed by another key, once claiming our key id and once with its own
    stranger = nacl.signing.SigningKey.generate()
    foreign = jwtutil.sign(header, claims, stranger)
    foreign_kid = jwtutil.sign(dict(header, kid=jwtutil.kid(bytes(stranger.verify_key))),
                               claims, stranger)
    # no signature algorithm at all
    unsigned = ".".join([jwtutil.b64url(b'{"alg":"none","typ":"JWT"}'), good.split(".")[1], ""])
    # the same claims signed properly by our key are accepted: the checks above are the cause
    assert v2(registry, paths[1], jwtutil.sign(header, claims, key)).status_code != 401

    cases = {
        "tampered": (tampered, "invalid token signature"),
        "expired": (expired, "token expired"),
        "other audience": (other_aud, "token issued for another service"),
        "foreign key": (foreign, "invalid token signature"),
        "foreign key id": (foreign_kid, "unknown key"),
        "unsigned": (unsigned, None),
        "garbage": ("not.a.jwt", None),
    }
    for name, (token, why) in cases.items():
        for path in paths:
            r = v2(registry, path, token)
            assert refused(r, why), (name, path, r.status_code, r.headers.get("WWW-Authenticate"))
            assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


def skopeo_login(registry, user, password):
    with tempfile.TemporaryDirectory() as d:
        return subprocess.run(
            ["skopeo", "login", "--tls-verify=false", "--authfile", os.path.join(d, "auth.json"),
             "-u", user, "-p", password, registry.host],
            capture_output=True, text=True, timeout=60)


def test_skopeo_login(registry, setup):
    user = setup["user"]
    res = skopeo_login(registry, user["username"], user["password"])
    assert res.returncode == 0 and "Login Succeeded" in res.stdout, res.stderr

    pat = setup["t"].pat(user["id"], ["read_registry"])
    res = skopeo_login(registry, user["username"], pat["token"])
    assert res.returncode == 0, res.stderr

    r = registry.api("POST", f"/projects/{setup['pid']}/deploy_tokens",
                     json={"name": "ci", "scopes": ["read_registry", "write_registry"]})
    dt = r.json()
    res = skopeo_login(registry, dt["username"], dt["token"])
    assert res.returncode == 0, res.stderr

    res = skopeo_login(registry, user["username"], "wrong-password")
    assert res.returncode != 0
    # skopeo words the token service's 401 this way
    assert "invalid username/password" in res.stderr, res.stderr


def test_deploy_tokens_api(registry, setup):
    t, tag = setup["t"], setup["tag"]
    gl = gitlab.Gitlab(registry.url, private_token=registry.root_token)
    project = gl.projects.get(setup["pid"], lazy=True)
    dt = project.deploytokens.create({"name": "deploy", "scopes": ["read_registry"],
                                      "expires_at": "2099-03-15T08:00:00Z"})
    assert dt.username == f"gitlab+deploy-token-{dt.id}" and dt.token.startswith("gldt-")
    assert dt.expires_at == "2099-03-15T08:00:00.000Z" and dt.scopes == ["read_registry"]
    assert dt.revoked is False and dt.expired is False
    named = project.deploytokens.create({"name": "named", "scopes": ["write_registry"],
                                         "username": f"ci-{tag}"})
    assert named.username == f"ci-{tag}"
    assert {d.id for d in project.deploytokens.list()} >= {dt.id, named.id}
    assert project.deploytokens.get(dt.id).name == "deploy"
    assert dt.id in {d.id for d in gl.deploytokens.list(get_all=True)}

    # by URL-encoded path too
    r = registry.api("GET", f"/projects/{setup['path'].replace('/', '%2F')}/deploy_tokens")
    assert r.status_code == 200 and "token" not in r.json()[0]

    # an expired deploy token cannot sign in; a deleted one neither
    old = project.deploytokens.create({"name": "old", "scopes": ["read_registry"],
                                       "expires_at": "2001-01-01"})
    assert old.expired is True
    r = requests.get(f"{registry.url}/jwt/auth", params={"service": "container_registry"},
                     auth=(old.username, old.token))
    assert r.status_code == 401
    project.deploytokens.delete(named.id)
    r = requests.get(f"{registry.url}/jwt/auth", params={"service": "container_registry"},
                     auth=(named.username, named.token))
    assert r.status_code == 401
    assert registry.api("GET", f"/projects/{setup['pid']}/deploy_tokens/{named.id}").json() == \
        {"message": "404 Not found"}

    # group deploy tokens
    group = gl.groups.get(setup["gid"], lazy=True)
    gdt = group.deploytokens.create({"name": "group", "scopes": ["read_registry", "write_registry"]})
    assert [d.id for d in group.deploytokens.list()] == [gdt.id]

    # rights: developers may not manage, maintainers may manage the project's; a group's need
    # its Owners; strangers do not see the project at all
    dev = setup["user"]
    stranger = t.user(f"k{tag}stranger")
    maint = t.user(f"k{tag}maint")
    t.add_project_member(setup["pid"], maint["id"], "maintainer")
    tokens = {u["username"]: t.pat(u["id"], ["api"])["token"] for u in (dev, stranger, maint)}
    body = {"name": "x", "scopes": ["read_registry"]}
    url = f"/projects/{setup['pid']}/deploy_tokens"
    r = registry.api("POST", url, json=body, token=tokens[dev["username"]])
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    r = registry.api("GET", url, token=tokens[stranger["username"]])
    assert r.status_code == 404 and r.json() == {"message": "404 Project Not Found"}
    r = registry.api("GET", f"/groups/{setup['gid']}/deploy_tokens",
                     token=tokens[stranger["username"]])
    assert r.status_code == 404 and r.json() == {"message": "404 Group Not Found"}
    r = registry.api("POST", url, json=body, token=tokens[maint["username"]])
    assert r.status_code == 201
    r = registry.api("DELETE", f"{url}/{r.json()['id']}", token=tokens[maint["username"]])
    assert r.status_code == 204
    t.add_group_member(setup["gid"], maint["id"], "maintainer")
    r = registry.api("GET", f"/groups/{setup['gid']}/deploy_tokens", token=tokens[maint["username"]])
    assert r.status_code == 200
    r = registry.api("POST", f"/groups/{setup['gid']}/deploy_tokens", json=body,
                     token=tokens[maint["username"]])
    assert r.status_code == 403
    r = registry.api("GET", "/deploy_tokens", token=tokens[maint["username"]])
    assert r.status_code == 403
    r = requests.get(f"{registry.url}/api/v4{url}")
    assert r.status_code == 401

    # parameters
    r = registry.api("POST", url, json={"name": "x", "scopes": ["read_repository"]})
    assert r.status_code == 400 and r.json() == {"error": "scopes does not have a valid value"}
    r = registry.api("POST", url, json={"scopes": ["read_registry"]})
    assert r.json() == {"error": "name is missing"}
    r = registry.api("POST", url, json=dict(body, username="bad name"))
    assert r.status_code == 400
    r = registry.api("POST", url, json=dict(body, expires_at="yesterday-ish"))
    assert r.status_code == 400 and r.json() == {"error": "expires_at is invalid"}
    r = registry.api("POST", "/projects/999999/deploy_tokens", json=body)
    assert r.status_code == 404 and r.json() == {"message": "404 Project Not Found"}


def test_repeated_wrong_passwords_are_slowed_down(make_registry):
    reg = make_registry().start()
    t = Tenancy(reg)
    bob = t.user("bob")
    url = f"{reg.url}/jwt/auth"
    params = {"service": "container_registry"}

    def sign_in(user, password):
        return requests.get(url, params=params, auth=(user, password), timeout=30)

    def fail_then_ask(user, window):
        """One more wrong password, which makes the wait `window` seconds, then at once the
        right one and the other ways in. The wait is counted from the moment the failure was
        stored, between sending it and its answer, so every answer that came within `window`
        seconds of sending it fell inside the wait: those are checked. Returns when the
        failure's answer came (the wait ends at most `window` seconds later); None when the
        machine was too slow to tell (the right password may then have signed in, which clears
        the count: the caller starts over)."""
        start = time.monotonic()
        assert sign_in(user["username"], "wrong-one").status_code == 401
        stored = time.monotonic()  # the failure was stored before this answer
        # the right password waits too, and costs no hashing
        right = sign_in(user["username"], user["password"])
        # every worker and entry point agree (the count is in PostgreSQL)
        oauth = requests.post(f"{reg.url}/oauth/token", data={
            "grant_type": "password", "username": user["username"], "password": "x"})
        api = requests.get(f"{reg.url}/api/v4/user", auth=(user["username"], user["password"]))
        # another account from the same client is not held up...
        other = sign_in("bob", bob["password"])
        # ...nor does signing in there reset this one's count
        again = sign_in(user["username"], user["password"])
        span = time.monotonic() - start
        assert other.status_code == 200
        if span >= window:
            return None
        assert right.status_code == 429 and right.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        # the seconds left of the wait, rounded up: the window itself when asked at once
        assert window - span <= int(right.headers["Retry-After"]) <= window, \
            (right.headers["Retry-After"], window, span)
        assert oauth.status_code == 429 and "Retry-After" in oauth.headers
        assert api.status_code == 429 and api.json() == {"message": "429 Too Many Requests"}
        assert again.status_code == 429
        return stored

    # Five failures make a one-second wait, a sixth (once that one passed) two seconds. Each
    # try takes a new user; a loaded machine may need a few, one that never answers a handful of
    # requests within a second fails. (Four tries at most: past 30 failures the client itself
    # would be slowed down, bob's sign-in with it.)
    for attempt in range(4):
        alice = t.user(f"alice{attempt}")
        for _ in range(4):
            assert sign_in(alice["username"], "wrong-one").status_code == 401
        fifth = fail_then_ask(alice, 1)
        if fifth is None:
            continue
        time.sleep(max(0.0, fifth + 1.1 - time.monotonic()))  # the one-second wait is over
        sixth = fail_then_ask(alice, 2)
        if sixth is not None:
            break
    else:
        pytest.fail("never observed the waits: no try answered within them")
    assert "slowing down" in reg.log("authd")
    # once the wait has passed, the right password signs in, and that clears the count: four
    # failures again are not enough to slow anyone down
    time.sleep(max(0.0, sixth + 2.1 - time.monotonic()))
    assert sign_in(alice["username"], alice["password"]).status_code == 200
    for _ in range(4):
        assert sign_in(alice["username"], "wrong-again").status_code == 401
    assert sign_in(alice["username"], alice["password"]).status_code == 200

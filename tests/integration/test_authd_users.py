"""Users, personal access tokens and OAuth through GitLab's own client (python-gitlab), with
GitLab's error bodies checked over plain HTTP."""
import gitlab
import pytest
import requests

from tenants import Tenancy


@pytest.fixture
def gl(registry):
    client = gitlab.Gitlab(registry.url, private_token=registry.root_token)
    client.auth()
    return client


def new_user(gl, name, **extra):
    return gl.users.create({"username": name, "name": name.title(), "email": f"{name}@example.com",
                            "password": f"{name}-Passw0rd", **extra})


def test_root_is_bootstrapped(registry, gl):
    assert gl.user.username == "root" and gl.user.is_admin is True
    assert gl.user.email == "admin@example.com" and gl.user.name == "Administrator"
    creds = registry.bootstrap()
    assert creds["ROOT_PASSWORD"] == registry.ROOT_PASSWORD
    assert creds["ROOT_TOKEN"].startswith("glpat-")
    import os
    import stat
    assert stat.S_IMODE(os.stat(registry.bootstrap_file).st_mode) == 0o600
    token = gl.personal_access_tokens.list(user_id=gl.user.id)[0]
    assert set(token.scopes) == {"api", "read_api", "read_user", "read_registry",
                                 "write_registry", "sudo"}


def test_user_lifecycle(registry, gl, uniq):
    uniq += "-"  # searches below must not match another test's t0x12 in t0x123
    alice = new_user(gl, f"{uniq}alice")
    bob = new_user(gl, f"{uniq}bob", admin=False, bio="builds things")
    carol = new_user(gl, f"{uniq}carol")
    assert alice.username == f"{uniq}alice" and alice.state == "active"
    assert alice.is_admin is False and alice.namespace_id > 0 and bob.bio == "builds things"
    assert alice.web_url == f"{registry.url}/{uniq}alice"

    # the personal namespace exists, with the username as its path
    t = Tenancy(registry)
    assert t.sql(f"SELECT full_path || '|' || kind || '|' || traversal_ids::text FROM namespaces "
                 f"WHERE owner_id = {alice.id}") == f"{uniq}alice|user|{{{alice.namespace_id}}}"

    # lists, filters, pagination
    found = gl.users.list(username=f"{uniq}BOB")
    assert [u.id for u in found] == [bob.id]
    mine = gl.users.list(search=uniq, order_by="username", sort="asc", get_all=True)
    assert [u.username for u in mine] == [f"{uniq}alice", f"{uniq}bob", f"{uniq}carol"]
    page = gl.users.list(search=uniq, per_page=2, page=1, order_by="id", sort="asc")
    assert [u.id for u in page] == [alice.id, bob.id]
    r = registry.api("GET", f"/users?search={uniq}&per_page=2&page=2")
    assert r.headers["X-Total"] == "3" and r.headers["X-Total-Pages"] == "2"
    assert r.headers["X-Page"] == "2" and r.headers["X-Prev-Page"] == "1"
    assert 'rel="first"' in r.headers["Link"]

    # update, including a rename that moves the personal namespace and its projects
    ns = t.namespace_of_user(carol.id)
    t.project(ns, "app")
    carol.name = "Carol C."
    carol.username = f"{uniq}caroline"
    carol.save()
    carol = gl.users.get(carol.id)
    assert carol.name == "Carol C." and carol.username == f"{uniq}caroline"
    assert t.sql(f"SELECT full_path FROM projects WHERE namespace_id = {ns}") == \
        f"{uniq}caroline/app"

    # block / unblock as python-gitlab sees it
    assert bob.block() is True and bob.state == "blocked"
    assert gl.users.get(bob.id).state == "blocked"
    assert bob.block() is None
    assert bob.unblock() is True and bob.unblock() is False
    assert gl.users.list(username=f"{uniq}bob", blocked=True) == []

    # delete
    carol.delete()
    with pytest.raises(gitlab.GitlabGetError) as e:
        gl.users.get(carol.id)
    assert e.value.response_code == 404
    assert e.value.error_message == "404 User Not Found"
    # and its namespace with it
    r = registry.api("GET", "/namespaces", params={"search": f"{uniq}carol"})
    assert r.status_code == 200 and r.json() == [], r.text
    assert registry.api("GET", f"/namespaces/{ns}").status_code == 404


def test_personal_access_tokens(registry, gl, uniq):
    alice = new_user(gl, f"{uniq}alice")
    pat = alice.personal_access_tokens.create({"name": "ci", "scopes": ["write_registry"],
                                               "expires_at": "2099-01-31"})
    assert pat.token.startswith("glpat-") and len(pat.token) == 46
    assert pat.scopes == ["write_registry"] and pat.expires_at == "2099-01-31"
    assert pat.user_id == alice.id and pat.active is True and pat.revoked is False

    # the database keeps an Argon2id hash and a lookup prefix, never the token
    t = Tenancy(registry)
    row = t.sql(f"SELECT token_lookup || '|' || token_hash FROM personal_access_tokens "
                f"WHERE id = {pat.id}")
    lookup, stored = row.split("|", 1)
    assert stored.startswith("$argon2id$") and pat.token not in row
    assert pat.token.startswith("glpat-" + lookup)

    # the owner sees and revokes its own tokens; admins see everyone's
    api = t.pat(alice.id, ["api"], name="api")
    as_alice = gitlab.Gitlab(registry.url, private_token=api["token"])
    as_alice.auth()
    assert as_alice.user.username == f"{uniq}alice"
    assert sorted(p.name for p in as_alice.personal_access_tokens.list()) == ["api", "ci"]
    assert [p.id for p in gl.personal_access_tokens.list(user_id=alice.id)] == [pat.id, api["id"]]
    r = requests.get(f"{registry.url}/api/v4/personal_access_tokens/self",
                     headers={"PRIVATE-TOKEN": api["token"]})
    assert r.status_code == 200 and r.json()["id"] == api["id"] and "token" not in r.json()
    root_pat = gl.personal_access_tokens.list(user_id=gl.user.id)[0].id
    r = requests.get(f"{registry.url}/api/v4/personal_access_tokens/{root_pat}",
                     headers={"PRIVATE-TOKEN": api["token"]})
    assert r.status_code == 401
    r = requests.get(f"{registry.url}/api/v4/personal_access_tokens?user_id=1",
                     headers={"PRIVATE-TOKEN": api["token"]})
    assert r.status_code == 401
    r = requests.delete(f"{registry.url}/api/v4/personal_access_tokens/{root_pat}",
                        headers={"PRIVATE-TOKEN": api["token"]})
    assert r.status_code == 400

    as_alice.personal_access_tokens.delete(pat.id)
    assert gl.personal_access_tokens.list(user_id=alice.id, revoked=True)[0].id == pat.id
    r = registry.api("GET", "/user", token=pat.token)
    assert r.status_code == 401 and r.json() == {
        "error": "invalid_token",
        "error_description": "Token was revoked. You have to re-authorize from the user."}

    # expiry takes effect at once, even for a token verified a moment ago (cached)
    assert registry.api("GET", "/user", token=api["token"]).status_code == 200
    t.sql(f"UPDATE personal_access_tokens SET expires_at = current_date WHERE id = {api['id']}")
    r = registry.api("GET", "/user", token=api["token"])
    assert r.status_code == 401 and r.json()["error_description"] == "Token has expired."

    # self-revocation
    other = t.pat(alice.id, ["api"], name="self")
    r = requests.delete(f"{registry.url}/api/v4/personal_access_tokens/self",
                        headers={"PRIVATE-TOKEN": other["token"]})
    assert r.status_code == 204
    assert registry.api("GET", "/user", token=other["token"]).status_code == 401


def test_blocked_user_tokens_are_refused_at_once(registry, gl, uniq):
    bob = new_user(gl, f"{uniq}bob")
    token = Tenancy(registry).pat(bob.id, ["api"])["token"]
    assert registry.api("GET", "/user", token=token).status_code == 200
    bob.block()
    r = registry.api("GET", "/user", token=token)
    assert r.status_code == 403
    assert r.json() == {"message": "403 Forbidden - Your account has been blocked."}
    bob.unblock()
    assert registry.api("GET", "/user", token=token).status_code == 200


def test_error_bodies(registry, gl, uniq):
    alice = new_user(gl, f"{uniq}alice")
    api = lambda *a, **k: registry.api(*a, **k)  # noqa: E731
    body = {"username": f"{uniq}alice", "name": "X", "email": f"{uniq}other@example.com",
            "password": "long-enough"}
    r = api("POST", "/users", json=body)
    assert r.status_code == 409 and r.json() == {"message": "Username has already been taken"}
    r = api("POST", "/users", json=dict(body, username=f"{uniq}ALICE"))
    assert r.status_code == 409
    r = api("POST", "/users", json=dict(body, username=f"{uniq}x", email=f"{uniq}ALICE@example.com"))
    assert r.status_code == 409 and r.json() == {"message": "Email has already been taken"}
    r = api("POST", "/users", json={"username": f"{uniq}y", "email": f"{uniq}y@example.com",
                                    "password": "long-enough"})
    assert r.status_code == 400 and r.json() == {"error": "name is missing"}
    r = api("POST", "/users", json={"username": f"{uniq}y", "name": "Y", "email": "y@e.com"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("password, reset_password, force_random_password are")
    r = api("POST", "/users", json=dict(body, username=f"{uniq}z", email="nope", password="x" * 9))
    assert r.status_code == 400 and r.json() == {"message": {"email": ["is invalid"]}}
    r = api("POST", "/users", json=dict(body, username=f"{uniq}z", email=f"{uniq}z@e.com",
                                        password="short"))
    assert r.json() == {"message": {"password": ["is too short (minimum is 8 characters)"]}}
    r = api("POST", "/users", json=dict(body, username="-bad", email=f"{uniq}z@e.com"))
    assert r.status_code == 400 and "username" in r.json()["message"]
    # form bodies and "scopes[]", as curl users send them
    r = api("POST", f"/users/{alice.id}/personal_access_tokens",
            data="name=f&scopes[]=read_api&scopes[]=read_user",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 201 and r.json()["scopes"] == ["read_api", "read_user"]
    r = api("POST", f"/users/{alice.id}/personal_access_tokens", json={"name": "x", "scopes": ["nope"]})
    assert r.status_code == 400 and r.json() == {"error": "scopes does not have a valid value"}
    r = api("POST", f"/users/{alice.id}/personal_access_tokens", json={"scopes": ["api"]})
    assert r.json() == {"error": "name is missing"}
    r = api("POST", f"/users/{alice.id}/personal_access_tokens",
            json={"name": "x", "scopes": ["api"], "expires_at": "2001-01-01"})
    assert r.status_code == 400
    r = api("POST", f"/users/{alice.id}/personal_access_tokens",
            json={"name": "x", "scopes": ["api"], "expires_at": "2031-02-30"})
    assert r.json() == {"error": "expires_at is invalid"}
    r = api("POST", "/users/999999/personal_access_tokens", json={"name": "x", "scopes": ["api"]})
    assert r.status_code == 404 and r.json() == {"message": "404 User Not Found"}
    assert api("GET", "/users/999999").json() == {"message": "404 User Not Found"}
    assert api("PUT", "/users/999999", json={"name": "x"}).status_code == 404
    assert api("DELETE", "/users/999999").status_code == 404
    assert api("POST", "/users/999999/block").status_code == 404
    r = api("POST", f"/users/{gl.user.id}/block")
    assert r.status_code == 403
    assert r.json() == {"message": "403 Forbidden - The API initiating user cannot be blocked by the API"}
    # unauthenticated and unauthorised callers
    r = requests.get(f"{registry.url}/api/v4/user")
    assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}
    r = requests.get(f"{registry.url}/api/v4/user", headers={"PRIVATE-TOKEN": "glpat-nope"})
    assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}
    r = requests.get(f"{registry.url}/api/v4/users")
    assert r.status_code == 403
    r = requests.get(f"{registry.url}/api/v4/users?username={uniq}alice")
    assert r.status_code == 200 and [u["id"] for u in r.json()] == [alice.id]
    assert "email" not in r.json()[0]
    token = Tenancy(registry).pat(alice.id, ["api"])["token"]
    as_alice = gitlab.Gitlab(registry.url, private_token=token)
    with pytest.raises(gitlab.GitlabCreateError) as e:
        new_user(as_alice, f"{uniq}mallory")
    assert e.value.response_code == 403
    r = registry.api("DELETE", f"/users/{alice.id}", token=token)
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    r = registry.api("GET", f"/users/{alice.id}", token=token)
    assert r.status_code == 200 and "is_admin" not in r.json() and "username" in r.json()
    r = registry.api("GET", "/users", token=token, params={"username": "root"})
    assert "email" not in r.json()[0]


def test_sole_group_owner_cannot_be_deleted(registry, gl, uniq):
    t = Tenancy(registry)
    dave = new_user(gl, f"{uniq}dave")
    gid = t.group(f"{uniq}g")
    t.add_group_member(gid, dave.id, "owner")
    # root created the group and is its owner too: leave dave the only one
    assert registry.api("DELETE", f"/groups/{gid}/members/1").status_code == 204
    r = registry.api("DELETE", f"/users/{dave.id}")
    assert r.status_code == 409
    assert r.json() == {"message": "User cannot be removed while is the sole-owner of a group"}
    assert registry.api("DELETE", f"/users/{dave.id}?hard_delete=true").status_code == 204


def test_oauth_password_grant(registry, gl, uniq):
    new_user(gl, f"{uniq}erin")
    url = f"{registry.url}/oauth/token"
    r = requests.post(url, data={"grant_type": "password", "username": f"{uniq}erin",
                                 "password": f"{uniq}erin-Passw0rd"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    assert body["scope"] == "api" and isinstance(body["created_at"], int)
    assert len(body["access_token"]) == 64 and len(body["refresh_token"]) == 64
    as_erin = gitlab.Gitlab(registry.url, oauth_token=body["access_token"])
    as_erin.auth()
    assert as_erin.user.username == f"{uniq}erin"

    # JSON bodies too; the refresh grant replaces the pair and retires the old one
    r = requests.post(url, json={"grant_type": "refresh_token",
                                 "refresh_token": body["refresh_token"]})
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert gitlab.Gitlab(registry.url, oauth_token=fresh["access_token"]).users.list(
        username=f"{uniq}erin")
    r = requests.post(url, json={"grant_type": "refresh_token",
                                 "refresh_token": body["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = requests.get(f"{registry.url}/api/v4/user",
                     headers={"Authorization": f"Bearer {body['access_token']}"})
    assert r.status_code == 401

    r = requests.post(url, data={"grant_type": "password", "username": f"{uniq}erin",
                                 "password": "wrong-password"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = requests.post(url, data={"grant_type": "password", "username": f"{uniq}erin"})
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_request", "error_description": "Missing required parameter: password."}
    r = requests.post(url, data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_changed_password_is_not_served_from_the_cache(make_registry):
    """Verified passwords are remembered for a while (Docker clients ask for tokens often); a new
    password must end the old one at once, on every worker. Behind a trusted proxy, each sign-in
    from an address of its own, so that the wrong passwords asked of every worker are not slowed
    down. The old password is asked until every worker has answered, which may take more
    failures than the account lock allows: the lock is not what this test is about."""
    reg = make_registry(extra_config={
        "gateway": {"trusted_proxies": "127.0.0.1", "forwarded_hosts": "registry.example.com"},
        "authd": {"max_login_attempts": "1000"}}).start()
    t = Tenancy(reg)
    user = t.user("pwcache")
    clients = iter(range(1, 60000))

    def sign_in(password):
        n = next(clients)
        return requests.get(f"{reg.url}/jwt/auth", params={"service": "container_registry"},
                            auth=(user["username"], password), timeout=30,
                            headers={"X-Forwarded-For": f"10.77.{n // 250}.{n % 250 + 1}"})
    # every worker verifies and remembers the old password
    for served in reg.every_worker("authd", lambda: sign_in(user["password"]), each=2).values():
        assert all(r.status_code == 200 for r in served), [r.text for r in served]
    r = reg.api("PUT", f"/users/{user['id']}", json={"password": "N3w-passw0rd-123"})
    assert r.status_code == 200, r.text
    for served in reg.every_worker("authd", lambda: sign_in(user["password"])).values():
        assert all(r.status_code == 401 for r in served), [(r.status_code, r.text[:80])
                                                           for r in served]
    for served in reg.every_worker("authd", lambda: sign_in("N3w-passw0rd-123")).values():
        assert all(r.status_code == 200 for r in served), [r.text for r in served]

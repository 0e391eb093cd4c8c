"""POST /oauth/revoke as GitLab (Doorkeeper) answers it (RFC 7009): the token is revoked in
PostgreSQL, so /api/v4 and /jwt/auth refuse it at once; the answer is 200 {} whether the token
was known or not. The password grant's tokens belong to no OAuth application, so, as Doorkeeper
does for them, the token alone is the credential of its revocation."""
import requests

from tenants import Tenancy

# GitLab's answer to a revoked OAuth token on /api/v4
REVOKED = {"error": "invalid_token",
           "error_description": "Token was revoked. You have to re-authorize from the user."}


def sign_in(registry, user):
    r = requests.post(f"{registry.url}/oauth/token", data={
        "grant_type": "password", "username": user["username"], "password": user["password"]})
    assert r.status_code == 200, r.text
    return r.json()


def revoke(registry, **data):
    return requests.post(f"{registry.url}/oauth/revoke", data=data, timeout=30)


def user_status(registry, token):
    return requests.get(f"{registry.url}/api/v4/user",
                        headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def jwt_status(registry, token):
    return requests.get(f"{registry.url}/jwt/auth", params={"service": "container_registry"},
                        auth=("oauth2", token), timeout=30).status_code


def test_revoke_access_token(registry, uniq):
    t = Tenancy(registry)
    user = t.user(f"{uniq}rv")
    pair, other = sign_in(registry, user), sign_in(registry, user)
    token = pair["access_token"]
    assert user_status(registry, token) == 200
    assert jwt_status(registry, token) == 200

    r = revoke(registry, token=token, token_type_hint="access_token")
    assert r.status_code == 200 and r.json() == {}, r.text
    assert r.headers["Cache-Control"] == "no-store"
    r = requests.get(f"{registry.url}/api/v4/user",
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 401 and r.json() == REVOKED, r.text
    assert jwt_status(registry, token) == 401
    # its refresh token went with it
    r = requests.post(f"{registry.url}/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # the user's other sign-in is untouched
    assert user_status(registry, other["access_token"]) == 200
    # again: already revoked, still 200 {}
    r = revoke(registry, token=token)
    assert r.status_code == 200 and r.json() == {}


def test_revoke_by_refresh_token(registry, uniq):
    """Doorkeeper finds the pair by either token, whatever token_type_hint says; a right refresh
    token is no failed attempt (many revocations in a row are never slowed down)."""
    user = Tenancy(registry).user(f"{uniq}rf")
    pair = sign_in(registry, user)
    r = revoke(registry, token=pair["refresh_token"], token_type_hint="access_token")
    assert r.status_code == 200 and r.json() == {}, r.text
    assert user_status(registry, pair["access_token"]) == 401
    # and with the hint that says so
    pair = sign_in(registry, user)
    r = revoke(registry, token=pair["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200 and r.json() == {}, r.text
    assert user_status(registry, pair["access_token"]) == 401
    assert jwt_status(registry, pair["access_token"]) == 401
    for _ in range(32):  # more than the 30 failures a client may make before it waits
        pair = sign_in(registry, user)
        r = revoke(registry, token=pair["refresh_token"])
        assert r.status_code == 200 and r.json() == {}, r.text
        assert user_status(registry, pair["access_token"]) == 401


def test_revoke_unknown_or_missing(registry, uniq):
    """An unknown token and a missing one are Doorkeeper's 200 {} (it looks the token up and
    finds none); a personal access token is no OAuth token: not revoked, still working."""
    user = Tenancy(registry).user(f"{uniq}ru")
    pair = sign_in(registry, user)
    bogus = pair["access_token"][:-4] + ("aaaa" if not pair["access_token"].endswith("aaaa")
                                         else "bbbb")
    for data in ({"token": bogus}, {"token": "not-a-token"}, {}, {"token": ""}):
        r = revoke(registry, **data)
        assert r.status_code == 200 and r.json() == {}, (data, r.text)
    assert user_status(registry, pair["access_token"]) == 200  # a near miss revokes nothing
    pat = Tenancy(registry).pat(user["id"], ["api"])
    r = revoke(registry, token=pat["token"])
    assert r.status_code == 200 and r.json() == {}
    r = requests.get(f"{registry.url}/api/v4/user", headers={"PRIVATE-TOKEN": pat["token"]})
    assert r.status_code == 200
    # only POST
    r = requests.get(f"{registry.url}/oauth/revoke", params={"token": pair["access_token"]})
    assert r.status_code in (404, 405)
    assert user_status(registry, pair["access_token"]) == 200


def test_other_credentials_cannot_revoke_without_the_token(registry, uniq):
    """Revocation needs the token itself: another user's credentials, even an admin's, name no
    token, and revoke nothing."""
    t = Tenancy(registry)
    alice, bob = t.user(f"{uniq}ra"), t.user(f"{uniq}rb")
    a = sign_in(registry, alice)
    b = sign_in(registry, bob)
    r = requests.post(f"{registry.url}/oauth/revoke", data={"token": ""},
                      headers={"Authorization": f"Bearer {b['access_token']}"})
    assert r.status_code == 200 and r.json() == {}
    r = requests.post(f"{registry.url}/oauth/revoke", data={},
                      headers={"PRIVATE-TOKEN": registry.root_token})
    assert r.status_code == 200
    assert user_status(registry, a["access_token"]) == 200
    assert user_status(registry, b["access_token"]) == 200


def test_revoke_in_the_query_is_not_logged(registry, uniq):
    """Doorkeeper takes the token from the query too; the access lines filter it as any
    parameter named *token."""
    user = Tenancy(registry).user(f"{uniq}rq")
    pair = sign_in(registry, user)
    r = requests.post(f"{registry.url}/oauth/revoke", params={"token": pair["access_token"]})
    assert r.status_code == 200 and r.json() == {}, r.text
    assert user_status(registry, pair["access_token"]) == 401
    for daemon in ("gateway", "authd"):
        assert pair["access_token"] not in registry.log(daemon)

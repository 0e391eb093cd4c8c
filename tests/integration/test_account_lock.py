"""An account locks after [authd] max_login_attempts failed password sign-ins in a row, from any
address, as GitLab's accounts do; tokens keep working; an admin unlocks it."""
import requests

from tenants import Tenancy


def sign_in(reg, username, password, client):
    """A docker-style sign-in (/jwt/auth with Basic) as if from client (behind the proxy)."""
    return requests.get(f"{reg.url}/jwt/auth", params={"service": "container_registry"},
                        auth=(username, password), headers={"X-Forwarded-For": client})


def user_entity(reg, uid):
    r = reg.api("GET", f"/users/{uid}")
    assert r.status_code == 200, r.text
    return r.json()


def test_account_locks_after_failures_from_any_address(make_registry):
    reg = make_registry(extra_config={
        "gateway": {"trusted_proxies": "127.0.0.1", "forwarded_hosts": "registry.example.com"},
        "authd": {"max_login_attempts": "4", "lock_minutes": "30"}}).start()
    t = Tenancy(reg)
    fay = t.user("fay")
    pat = t.pat(fay["id"], ["read_registry"])
    assert user_entity(reg, fay["id"])["locked"] is False
    # failures in a row from four addresses (one each: no address alone is throttled) ...
    for i in range(4):
        assert sign_in(reg, "fay", "wrong-password", f"10.1.{i}.1").status_code == 401
    # ... lock the account: the right password from a fresh address is refused until the lock
    # ends, and says for how long
    r = sign_in(reg, "fay", fay["password"], "10.2.0.1")
    assert r.status_code == 429, r.text
    assert 29 * 60 <= int(r.headers["Retry-After"]) <= 30 * 60
    assert user_entity(reg, fay["id"])["locked"] is True
    # a token of the account is no password: it still signs in
    assert sign_in(reg, "fay", pat["token"], "10.2.0.2").status_code == 200
    # an admin lifts the lock; the password works again, and the count starts afresh
    assert reg.api("POST", f"/users/{fay['id']}/unlock").json() is True
    assert user_entity(reg, fay["id"])["locked"] is False
    assert sign_in(reg, "fay", fay["password"], "10.2.0.3").status_code == 200
    assert reg.api("POST", f"/users/{fay['id']}/unlock").json() is False


def test_a_success_starts_the_count_afresh(make_registry):
    reg = make_registry(extra_config={
        "gateway": {"trusted_proxies": "127.0.0.1", "forwarded_hosts": "registry.example.com"},
        "authd": {"max_login_attempts": "3"}}).start()
    gus = Tenancy(reg).user("gus")
    for client in ("10.3.0.1", "10.3.0.2"):
        assert sign_in(reg, "gus", "nope", client).status_code == 401
    assert sign_in(reg, "gus", gus["password"], "10.3.0.3").status_code == 200
    for client in ("10.3.0.4", "10.3.0.5"):
        assert sign_in(reg, "gus", "nope", client).status_code == 401
    assert sign_in(reg, "gus", gus["password"], "10.3.0.6").status_code == 200
    assert user_entity(reg, gus["id"])["locked"] is False


def test_unlock_is_for_admins(registry):
    t = Tenancy(registry)
    hal = t.user("hal_lock")
    other = t.user("ida_lock")
    pat = t.pat(other["id"], ["api"])
    r = requests.post(f"{registry.url}/api/v4/users/{hal['id']}/unlock",
                      headers={"PRIVATE-TOKEN": pat["token"]})
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    r = registry.api("POST", "/users/999999/unlock")
    assert r.status_code == 404 and r.json() == {"message": "404 User Not Found"}

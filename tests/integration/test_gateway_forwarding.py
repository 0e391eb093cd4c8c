"""What the gateway takes from a trusted proxy (client address, scheme, host) and nothing from
anyone else; and GitLab's token scope rules on the REST API."""
import requests

from tenants import Tenancy


def test_forwarded_headers_only_from_trusted_proxies(registry, make_registry):
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"}
    r = requests.get(registry.url + "/v2/", headers=fwd)
    assert f'realm="{registry.url}/jwt/auth"' in r.headers["WWW-Authenticate"]
    behind = make_registry(extra_config={"gateway": {
        "trusted_proxies": "127.0.0.1, ::1",
        "forwarded_hosts": "registry.example.com, Mirror.example.com:8443"}}).start()
    r = requests.get(behind.url + "/v2/", headers=fwd)
    assert 'realm="https://registry.example.com/jwt/auth"' in r.headers["WWW-Authenticate"]
    r = requests.get(behind.url + "/v2/", headers=dict(fwd, **{
        "X-Forwarded-Host": "mirror.example.com:8443"}))
    assert 'realm="https://mirror.example.com:8443/jwt/auth"' in r.headers["WWW-Authenticate"]
    # a host the operator did not list is never echoed into URLs, through either header (a
    # proxy passes its client's Host on): the first listed host stands
    for hdrs in ({"X-Forwarded-Host": "attacker.example"}, {"Host": "attacker.example"},
                 {"X-Forwarded-Host": 'evil"x'}, {"X-Forwarded-Host": "registry.example.com.evil"}):
        r = requests.get(behind.url + "/v2/", headers=dict({"X-Forwarded-Proto": "https"}, **hdrs))
        challenge = r.headers["WWW-Authenticate"]
        assert 'realm="https://registry.example.com/jwt/auth"' in challenge, (hdrs, challenge)


def test_external_url_wins_over_forwarded_hosts(make_registry):
    reg = make_registry(extra_config={
        "global": {"external_url": "https://registry.example.com"},
        "gateway": {"trusted_proxies": "127.0.0.1", "forwarded_hosts": "other.example.com"}}).start()
    r = requests.get(reg.url + "/v2/", headers={"X-Forwarded-Proto": "http",
                                                "X-Forwarded-Host": "other.example.com"})
    assert 'realm="https://registry.example.com/jwt/auth"' in r.headers["WWW-Authenticate"]



def wrong_sign_ins(reg, username, client, n):
    statuses = []
    for _ in range(n):
        r = requests.get(f"{reg.url}/jwt/auth", params={"service": "container_registry"},
                         auth=(username, "wrong-password"), headers={"X-Forwarded-For": client})
        statuses.append(r.status_code)
    return statuses


def until_limited(reg, username, client):
    """Fails to sign in as client until the limit answers 429, which must come: past the free
    failures each one doubles the wait (1, 2, 4... s), so even a slow machine soon sends an
    attempt inside it. Every other answer must be 401."""
    for _ in range(8):
        status = wrong_sign_ins(reg, username, client, 1)[0]
        if status == 429:
            return
        assert status == 401
    raise AssertionError("no 429 although each failure doubled the wait")


def test_rate_limit_keys_on_the_real_client_behind_a_proxy(make_registry):
    reg = make_registry(extra_config={"gateway": {
        "trusted_proxies": "127.0.0.1", "forwarded_hosts": "registry.example.com"}}).start()
    Tenancy(reg).user("dora")
    assert wrong_sign_ins(reg, "dora", "10.9.0.9", 5) == [401] * 5
    until_limited(reg, "dora", "10.9.0.9")
    # another client behind the same proxy is not held up
    assert wrong_sign_ins(reg, "dora", "10.9.0.8", 1) == [401]


def test_clients_cannot_choose_their_address_without_a_trusted_proxy(make_registry):
    reg = make_registry().start()
    Tenancy(reg).user("ed")
    # a new X-Forwarded-For each time, ignored: all are the one peer's failures
    assert [wrong_sign_ins(reg, "ed", f"10.0.0.{i}", 1)[0] for i in range(5)] == [401] * 5
    for i in range(5, 13):
        status = wrong_sign_ins(reg, "ed", f"10.0.0.{i}", 1)[0]
        if status == 429:
            break
        assert status == 401
    else:
        raise AssertionError("a forged X-Forwarded-For escaped the limit")


def test_token_scopes_on_the_rest_api(registry, uniq):
    t = Tenancy(registry)
    user = t.user(f"{uniq}scopes")
    read_user = t.pat(user["id"], ["read_user"])["token"]
    assert registry.api("GET", "/user", token=read_user).status_code == 200
    assert registry.api("GET", f"/users/{user['id']}", token=read_user).status_code == 200
    r = registry.api("GET", "/projects", token=read_user)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    read_api = t.pat(user["id"], ["read_api"])["token"]
    assert registry.api("GET", "/projects", token=read_api).status_code == 200
    r = registry.api("POST", "/projects", token=read_api, json={"name": f"{uniq}p"})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    registry_only = t.pat(user["id"], ["read_registry"])["token"]
    assert registry.api("GET", "/user", token=registry_only).status_code == 403
    # any token may revoke itself
    assert registry.api("DELETE", "/personal_access_tokens/self",
                        token=registry_only).status_code == 204
    assert registry.api("GET", "/user", token=registry_only).status_code == 401


def test_paths_no_endpoint_serves(registry, uniq):
    """A path no route of the API serves is 404 whatever the token may do (405 for a method the
    path has no endpoint for), once the credentials are checked, as GitLab's catch-all route."""
    t = Tenancy(registry)
    user = t.user(f"{uniq}noroute")
    read_api = t.pat(user["id"], ["read_api"])["token"]
    r = registry.api("POST", "/nothing/here", token=read_api)
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}
    r = registry.api("GET", f"/users/{user['id']}/nothing", token=read_api)
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}
    r = registry.api("PATCH", f"/users/{user['id']}", token=read_api)
    assert r.status_code == 405 and r.json() == {"message": "405 Method Not Allowed"}
    r = registry.api("GET", "/nothing/here", token="glpat-" + "x" * 40)
    assert r.status_code == 401
    # a path that is an endpoint still needs the scope
    r = registry.api("POST", "/projects", token=read_api, json={"name": f"{uniq}np"})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"


def test_rate_limit_counts_an_ipv6_client_by_its_64(make_registry):
    reg = make_registry(extra_config={"gateway": {
        "trusted_proxies": "127.0.0.1", "forwarded_hosts": "registry.example.com"}}).start()
    Tenancy(reg).user("erin")
    # five free failures spread over five addresses of one /64 ...
    for i in range(5):
        assert wrong_sign_ins(reg, "erin", f"2001:db8:1:2::{i + 1:x}", 1) == [401]
    # ... so new addresses of that /64 are slowed down: each failure doubles the wait, so one of
    # them must meet a 429 (were each address counted alone, none ever would)
    statuses = []
    for i in range(8):
        statuses += wrong_sign_ins(reg, "erin", f"2001:db8:1:2:ffff::{i + 1:x}", 1)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429 and set(statuses) <= {401, 429}, statuses
    # another /64 is not held up, nor the same host written as IPv4-mapped IPv6 of another
    assert wrong_sign_ins(reg, "erin", "2001:db8:1:3::1", 1) == [401]
    assert wrong_sign_ins(reg, "erin", "::ffff:10.7.7.7", 1) == [401]

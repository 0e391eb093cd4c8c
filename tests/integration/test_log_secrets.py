"""No secret a client sends reaches a log: a sentinel password goes every way a client can send
one (query strings to every daemon, form and JSON bodies, Basic, Bearer, PRIVATE-TOKEN and the
other token headers, the OAuth grants, user creation, token creation, malformed requests), and
neither the four daemons' logs nor PostgreSQL's hold it, nor any token the registry handed out."""
import base64
import glob
import http.client
import json
import os
import subprocess
import uuid

import pytest
import requests

import rawhttp
from tenants import Tenancy
from v2util import V2

# Every spelling of a secret parameter's name a client may use (GitLab filters them all).
SECRET_NAMES = ["password", "token", "private_token", "access_token", "refresh_token",
                "client_secret", "secret", "a_token", "job_token", "PASSWORD", "Private_Token",
                "pass%77ord", "private%5Ftoken", "user%5Bpassword%5D", "new_password"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_any_log(make_registry, log_format):
    reg = make_registry(extra_config={"global": {"log_format": log_format}}).start()
    url = reg.url
    tag = uuid.uuid4().hex[:8]
    sentinel = f"SntlLeak{uuid.uuid4().hex}"
    handed_out = []  # tokens the registry gave us: none may be logged either
    t = Tenancy(reg)

    def get(path, **kw):
        kw.setdefault("timeout", 30)
        return requests.get(url + path, **kw)

    def post(path, **kw):
        kw.setdefault("timeout", 30)
        return requests.post(url + path, **kw)

    def exact(method, target, headers=None):
        """The status of a request whose target is sent byte for byte (requests would
        normalise pass%77ord into password)."""
        conn = http.client.HTTPConnection("127.0.0.1", reg.port, timeout=30)
        try:
            conn.request(method, target, headers=dict(headers or {}))
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    # -- creating users with the sentinel as password: JSON and form bodies, then a change ----
    alice = t.user(f"sntl{tag}a", password=sentinel)
    r = reg.api("POST", "/users", data={
        "username": f"sntl{tag}b", "name": "B", "email": f"sntl{tag}b@example.com",
        "password": sentinel})
    assert r.status_code == 201, r.text
    bob = r.json()
    r = reg.api("PUT", f"/users/{bob['id']}", json={"password": sentinel + "2"})
    assert r.status_code == 200, r.text
    r = reg.api("POST", "/users", json={"username": f"sntl{tag}c", "name": "C",
                                        "email": f"sntl{tag}c@example.com",
                                        "password": sentinel[:6]})  # too short: refused
    assert r.status_code == 400
    gid = t.group(f"sntl{tag}")
    t.add_group_member(gid, alice["id"], "maintainer")
    pid, path = t.project(gid, "app")

    # -- tokens the API hands out ---------------------------------------------------------------
    pat = t.pat(alice["id"], ["api", "read_registry", "write_registry"])["token"]
    handed_out.append(pat)
    r = reg.api("POST", f"/projects/{pid}/deploy_tokens",
                json={"name": "ci", "scopes": ["read_registry", "write_registry"]})
    assert r.status_code == 201, r.text
    deploy = r.json()
    handed_out.append(deploy["token"])

    # -- OAuth: the password grant (form, JSON and the query string), the refresh grant
    r = post("/oauth/token", data={"grant_type": "password", "username": alice["username"],
                                   "password": sentinel})
    assert r.status_code == 200, r.text
    handed_out += [r.json()["access_token"], r.json()["refresh_token"]]
    r = post("/oauth/token", json={"grant_type": "refresh_token",
                                   "refresh_token": r.json()["refresh_token"]})
    assert r.status_code == 200, r.text
    handed_out += [r.json()["access_token"], r.json()["refresh_token"]]
    r = post(f"/oauth/token?grant_type=refresh_token&refresh_token={r.json()['refresh_token']}")
    assert r.status_code == 200, r.text
    access, refresh = r.json()["access_token"], r.json()["refresh_token"]
    handed_out += [access, refresh]
    # the issue's own request, with curl
    curl = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
         f"{url}/oauth/token?grant_type=password&username={alice['username']}"
         f"&password={sentinel}"], capture_output=True, text=True, timeout=60)
    assert curl.stdout == "200"
    # a wrong password by every way
    assert post("/oauth/token", data={"grant_type": "password", "username": alice["username"],
                                      "password": sentinel + "x"}).status_code == 400
    assert post("/oauth/token", data={"grant_type": "password", "username": "root",
                                      "password": sentinel}).status_code == 400

    # -- credentials in headers -----------------------------------------------------------------
    assert get("/api/v4/user", headers={"PRIVATE-TOKEN": pat}).status_code == 200
    assert get("/api/v4/user", headers={"Authorization": f"Bearer {access}"}).status_code == 200
    for header in ("PRIVATE-TOKEN", "Job-Token", "Deploy-Token"):
        assert get("/api/v4/user", headers={header: sentinel}).status_code in (401, 403)
    assert get("/api/v4/user", headers={"Authorization": f"Bearer {sentinel}"}).status_code == 401
    assert get("/v2/", headers={"Authorization": f"Bearer {sentinel}"}).status_code == 401
    assert get("/v2/", headers={"Authorization": f"Bearer {pat}"}).status_code == 401
    # Basic at the token service: a password, a wrong one, tokens, a token as the username
    jwt = {"service": "container_registry", "scope": f"repository:{path}/img:pull,push"}
    r = get("/jwt/auth", params=jwt, auth=(alice["username"], sentinel))
    assert r.status_code == 200
    handed_out.append(r.json()["token"])
    r = get("/jwt/auth", params=jwt, auth=(deploy["username"], deploy["token"]))
    assert r.status_code == 200
    registry_token = r.json()["token"]
    handed_out.append(registry_token)
    assert get("/jwt/auth", params=jwt, auth=(alice["username"], pat)).status_code == 200
    assert get("/jwt/auth", params=jwt, auth=("root", sentinel)).status_code == 401
    assert get("/jwt/auth", params=jwt, auth=(pat, "x")).status_code == 401
    assert get("/jwt/auth", params=jwt, auth=(sentinel, sentinel)).status_code == 401
    assert get("/api/v4/user", auth=(alice["username"], sentinel)).status_code in (200, 401)

    # -- secrets in query strings, to every daemon ------------------------------------------------
    v2 = V2(reg, registry_token)
    digest = v2.push_blob(f"{path}/img", b"sentinel layer " + tag.encode())
    targets = [
        ("GET", "/api/v4/user", {"PRIVATE-TOKEN": pat}),               # authd
        ("GET", "/api/v4/projects", {"PRIVATE-TOKEN": pat}),           # metad
        ("GET", f"/v2/{path}/img/tags/list", v2.s.headers),            # metad via /v2
        ("HEAD", f"/v2/{path}/img/blobs/{digest}", v2.s.headers),      # blobd
        ("POST", f"/v2/{path}/img/blobs/uploads/", v2.s.headers),      # blobd
        ("GET", "/jwt/auth", {}),                                       # authd
        ("POST", "/oauth/token", {}),                                   # authd
        ("GET", "/-/health", {}),                                       # the gateway itself
        ("GET", "/v2/", {}),                                            # the gateway's 401
    ]
    query = "&".join(f"{name}={sentinel}" for name in SECRET_NAMES)
    for method, where, headers in targets:
        status = exact(method, f"{where}?n=1&{query}&service=container_registry", headers)
        assert status < 500, (where, status)
    # names without values, undecodable names and values, the secret last
    for query in (f"password&token={sentinel}", f"pass%zzword={sentinel}",
                  f"password={sentinel}%zz", f"%={sentinel}", f"token={sentinel}#frag",
                  f"password={sentinel}&password={sentinel}"):
        assert exact("GET", f"/api/v4/user?{query}", {"PRIVATE-TOKEN": pat}) < 500
        assert exact("GET", f"/jwt/auth?service=container_registry&{query}") < 500

    # -- failed requests that carry the secret in their body ---------------------------------------
    form = {"Content-Type": "application/x-www-form-urlencoded", "PRIVATE-TOKEN": reg.root_token}
    for body in (f"username=x&password={sentinel}%zz", f"password={sentinel}&%zz=1",
                 f"password={sentinel}\x00"):
        r = post("/api/v4/users", data=body.encode(), headers=form)
        assert r.status_code == 400, r.text
        r = post("/oauth/token", data=body.encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400, r.text
    as_json = {"Content-Type": "application/json", "PRIVATE-TOKEN": reg.root_token}
    for body in ('{"password": "%s"' % sentinel, '["%s"]' % sentinel,
                 '{"password": "%s", "username": 7}' % sentinel):
        r = post("/api/v4/users", data=body.encode(), headers=as_json)
        assert r.status_code == 400, r.text
    r = post("/api/v4/users", data=f"password={sentinel}".encode(),
             headers={"Content-Type": f"text/{sentinel}", "PRIVATE-TOKEN": reg.root_token})
    assert r.status_code == 415
    # malformed HTTP: the connection is closed with an error line in the log
    for raw in (f"GET /v2/?password={sentinel} HTTP/1.1\r\nHost: x\r\n{sentinel}\r\n\r\n",
                f"GET /v2/?password={sentinel} HTTP/1.1\r\nHost: x\r\nX-Big: "
                + "a" * 70000 + "\r\n\r\n",
                f"POST /oauth/token?password={sentinel} HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: 99999999999999999999\r\n\r\n",
                f"GET /jwt/auth HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
                f"{base64.b64encode(('root:' + sentinel).encode()).decode()}\r\n"
                f"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"):
        answer = rawhttp.exchange(reg.port, raw.encode(), timeout=5)
        assert rawhttp.parse(answer)[0] in (400, 413, 431), answer[:200]

    # -- every log of the instance, PostgreSQL's included ---------------------------------------
    logs = sorted(glob.glob(os.path.join(reg.dir, "**", "*.log"), recursive=True))
    assert {os.path.basename(p) for p in logs} >= {f"{d}.log" for d in
                                                    ("gateway", "authd", "metad", "blobd")}
    logs.append(reg.pg.log_path)
    texts = {}
    for p in logs:
        with open(p, "rb") as f:
            texts[p] = f.read()
    # the test reached every daemon with secrets in the query: their access lines show them hidden
    for d in ("gateway", "authd", "metad", "blobd"):
        text = texts[os.path.join(reg.dir, f"{d}.log")]
        assert b"password=[FILTERED]" in text and b"pass%77ord=[FILTERED]" in text, d
    assert b"/oauth/token?grant_type=password&username=" + alice["username"].encode() + \
        b"&password=[FILTERED]" in texts[os.path.join(reg.dir, "authd.log")]
    if log_format == "json":  # every line of the daemons' logs is a JSON object
        for d in ("gateway", "authd", "metad", "blobd"):
            for line in texts[os.path.join(reg.dir, f"{d}.log")].splitlines():
                assert isinstance(json.loads(line), dict), line[:300]
    leaks = []
    for secret in [sentinel] + handed_out:
        needles = {secret.encode(), base64.b64encode(f"root:{secret}".encode())}
        for p, text in texts.items():
            for needle in needles:
                at = text.find(needle)
                if at >= 0:
                    line = text[text.rfind(b"\n", 0, at) + 1:text.find(b"\n", at)]
                    leaks.append(f"{p}: {line[:300]!r}")
    assert leaks == [], "secrets in the logs:\n" + "\n".join(leaks)
    # PostgreSQL logs no statement with its values, nor an error's DETAIL
    for name, value in (("log_statement", "none"), ("log_parameter_max_length", "0"),
                        ("log_parameter_max_length_on_error", "0"),
                        ("log_error_verbosity", "terse")):
        assert reg.pg.psql(reg.name, f"SHOW {name}") == value

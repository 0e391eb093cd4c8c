"""[global] log_format: with json, every line of every daemon is one JSON object (time, level,
daemon, worker, request_id, message; the access line's method, path, status, bytes, duration_ms,
actor, remote_addr). The request id the gateway gives a request is on the gateway's line and on
every backend line of that request, in both formats; a secret in a query string reaches no log."""
import json
import re
import signal
import uuid

import requests

from registry import wait_for
from tenants import Tenancy
from v2util import V2, sha256

DAEMONS = ("gateway", "authd", "metad", "blobd")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"debug", "info", "warn", "error"}
ACCESS_FIELDS = {"method": str, "path": str, "status": int, "bytes": int, "bytes_in": int,
                 "duration_ms": (int, float)}


def json_records(reg, daemon):
    """Every line of the daemon's log as a JSON object, each checked for the common fields."""
    records = []
    for n, line in enumerate(reg.log(daemon).splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"{daemon}.log line {n} is not JSON ({e}): {line[:300]!r}")
        assert isinstance(rec, dict), line
        assert TIME.match(rec["time"]), line
        assert rec["level"] in LEVELS, line
        assert rec["daemon"] == daemon, line
        assert rec["worker"] == "master" or (isinstance(rec["worker"], int)
                                             and rec["worker"] >= 0), line
        assert isinstance(rec["message"], str), line
        if "request_id" in rec:
            assert isinstance(rec["request_id"], str) and rec["request_id"], line
        if rec["message"] == "access":
            for field, kind in ACCESS_FIELDS.items():
                assert isinstance(rec[field], kind), (field, line)
            assert rec["actor"] is None or isinstance(rec["actor"], str), line
            assert isinstance(rec["remote_addr"], str), line
        records.append(rec)
    return records


def traffic(reg, tag, sentinel):
    """Requests that cross the daemons, with a secret in their queries; returns the user's name
    and the X-Request-Id of a blob push (gateway, blobd, metad), of an API read (gateway,
    authd, metad) and of a token request (gateway, authd)."""
    t = Tenancy(reg)
    alice = t.user(f"logs{tag}", password=f"{tag}-Passw0rd")
    gid = t.group(f"logsg{tag}")
    t.add_group_member(gid, alice["id"], "maintainer")
    pid, path = t.project(gid, "app")
    pat = t.pat(alice["id"], ["api", "read_registry", "write_registry"])["token"]
    scope = f"repository:{path}/img:pull,push"
    r = requests.get(f"{reg.url}/jwt/auth", auth=(alice["username"], alice["password"]),
                     params={"service": "container_registry", "scope": scope,
                             "password": sentinel}, timeout=30)
    assert r.status_code == 200, r.text
    jwt = r.headers["X-Request-Id"]
    v2 = V2(reg, r.json()["token"])
    data = f"layer {tag}".encode()
    r = v2.req("POST", f"/v2/{path}/img/blobs/uploads/?digest={sha256(data)}"
               f"&access_token={sentinel}&X-Amz-Signature={sentinel}", data=data,
               headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    push = r.headers["X-Request-Id"]
    r = requests.get(f"{reg.url}/api/v4/projects/{pid}?private_token={sentinel}&code={sentinel}",
                     headers={"PRIVATE-TOKEN": pat}, timeout=30)
    assert r.status_code == 200, r.text
    return alice["username"], push, r.headers["X-Request-Id"], jwt


def test_json_logs_follow_a_request_through_every_daemon(make_registry):
    reg = make_registry(extra_config={"global": {"log_format": "json"}}).start()
    tag = uuid.uuid4().hex[:8]
    sentinel = f"SntlJson{uuid.uuid4().hex}"
    user, push, api, jwt = traffic(reg, tag, sentinel)

    def lines_of(rid, daemons):
        """{daemon: its records of request rid} once each of daemons has an access line."""
        found = {d: [r for r in json_records(reg, d) if r.get("request_id") == rid]
                 for d in DAEMONS}
        done = all(any(r["message"] == "access" for r in found[d]) for d in daemons)
        return found if done else None

    # the push: the gateway's access line, blobd's, and metad's for blobd's calls (the upload's
    # start and the blob's link) carry the gateway's id
    seen = wait_for(lambda: lines_of(push, ("gateway", "blobd", "metad")), what="push lines")
    assert seen["authd"] == []
    gw = [r for r in seen["gateway"] if r["message"] == "access"]
    assert len(gw) == 1
    assert gw[0]["method"] == "POST" and gw[0]["status"] == 201 and gw[0]["actor"] == user
    assert gw[0]["path"].endswith("&access_token=[FILTERED]&X-Amz-Signature=[FILTERED]")
    assert gw[0]["bytes_in"] >= len(f"layer {tag}") and gw[0]["remote_addr"] == "127.0.0.1"
    bd = [r for r in seen["blobd"] if r["message"] == "access"]
    assert len(bd) == 1 and bd[0]["status"] == 201 and bd[0]["actor"] == user
    assert "access_token=[FILTERED]" in bd[0]["path"]
    md = {r["path"] for r in seen["metad"] if r["message"] == "access"}
    assert md == {"/internal/uploads", "/internal/blobs"}, md

    # the API read: the gateway, authd (who is calling) and metad (the answer)
    seen = wait_for(lambda: lines_of(api, ("gateway", "authd", "metad")), what="API lines")
    assert seen["blobd"] == []
    gw = [r for r in seen["gateway"] if r["message"] == "access"]
    assert gw[0]["status"] == 200 and gw[0]["actor"] == user
    assert gw[0]["path"].endswith("?private_token=[FILTERED]&code=[FILTERED]")
    assert [(r["path"], r["actor"]) for r in seen["authd"] if r["message"] == "access"] == [
        ("/internal/authenticate", user)]
    md = [r for r in seen["metad"] if r["message"] == "access"]
    assert len(md) == 1 and md[0]["actor"] == user and md[0]["status"] == 200

    # the token service: the gateway does not know who asks, authd's line names them
    seen = wait_for(lambda: lines_of(jwt, ("gateway", "authd")), what="token lines")
    gw = [r for r in seen["gateway"] if r["message"] == "access"]
    assert gw[0]["actor"] is None and "password=[FILTERED]" in gw[0]["path"]
    ad = [r for r in seen["authd"] if r["message"] == "access"]
    assert len(ad) == 1 and ad[0]["actor"] == user and ad[0]["path"].startswith("/jwt/auth?")

    # the masters' lines too, and the secret nowhere
    for d in DAEMONS:
        records = json_records(reg, d)
        assert any(r["worker"] == "master" for r in records), d
        assert sentinel not in reg.log(d), d
    reg.stop()
    for d in DAEMONS:  # what the workers and masters wrote while stopping
        json_records(reg, d)


def test_text_logs_follow_a_request_through_every_daemon(registry):
    tag = uuid.uuid4().hex[:8]
    sentinel = f"SntlText{uuid.uuid4().hex}"
    user, push, api, jwt = traffic(registry, tag, sentinel)

    def access_line(daemon, rid):
        pattern = re.compile(rf"^\S+ {daemon}/w\d+ INFO req={rid} access (.*)$", re.M)
        return pattern.findall(registry.log(daemon))

    for rid, daemons in ((push, ("gateway", "blobd", "metad")),
                         (api, ("gateway", "authd", "metad"))):
        for d in daemons:
            wait_for(lambda: access_line(d, rid), what=f"{d}'s access line of {rid}")
    assert "&access_token=[FILTERED]&X-Amz-Signature=[FILTERED]\" 201 " in \
        access_line("gateway", push)[0]
    assert access_line("authd", push) == [] and access_line("blobd", api) == []
    for d in DAEMONS:
        assert sentinel not in registry.log(d), d


def test_log_format_changes_on_reload(make_registry):
    reg = make_registry().start()
    r = requests.get(reg.url + "/v2/", timeout=10)
    first = r.headers["X-Request-Id"]
    wait_for(lambda: f"INFO req={first} access " in reg.log("gateway"), what="a text line")
    reg.sections["global"]["log_format"] = "json"
    reg.write_config()
    reg.signal("gateway", signal.SIGHUP)

    def json_access():
        r = requests.get(reg.url + "/v2/", timeout=10)
        rid = r.headers["X-Request-Id"]
        for line in reg.log("gateway").splitlines():
            if line.startswith("{") and json.loads(line).get("request_id") == rid:
                return json.loads(line)
        return None
    rec = wait_for(json_access, what="a JSON access line after the reload")
    assert rec["message"] == "access" and rec["status"] == 401 and rec["actor"] is None
    reg.sections["global"]["log_format"] = "yaml"
    reg.write_config()
    reg.signal("gateway", signal.SIGHUP)
    wait_for(lambda: "log_format must be text or json" in reg.log("gateway"),
             what="the refused reload")

"""Instance-level notifications in CNCF Distribution's format ([notifications.<name>] sections
of registry.conf): the envelopes of a skopeo push, of a tag and a manifest deletion through /v2
(application/vnd.docker.distribution.events.v1+json, events[] with action, target, request,
actor, source), the configured headers, ignored actions, an endpoint down that gets its events
later and in order once it is up, the actor of a deploy token's push, and the configuration's
refusals of bad endpoints."""
import json
import os
import subprocess
import time

import pytest
import requests

from regapi import creds_of, image_layout, push, wait_until
from registry import Registry
from tenancy import Caller, create_user
from test_hooks import Receiver, free_port

MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"


@pytest.fixture(scope="module")
def receivers():
    main = Receiver()
    quiet = Receiver()
    yield main, quiet
    main.close()
    quiet.close()


@pytest.fixture(scope="module")
def late_port():
    return free_port()


@pytest.fixture(scope="module")
def reg(pg, workdir, receivers, late_port):
    main, quiet = receivers
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    r = Registry(pg, workdir, f"regnotify_{worker}", db_roles=True, extra_config={
        "notifications.main": {"url": main.url, "header": "Authorization: Bearer n0tify",
                               "timeout": "5", "threshold": "3", "backoff": "1"},
        "notifications.quiet": {"url": quiet.url, "ignored_actions": "push"},
        "notifications.late": {"url": f"http://127.0.0.1:{late_port}/events",
                               "threshold": "2", "backoff": "1"},
        "notifications.off": {"url": "http://127.0.0.1:9/never", "disabled": "true"},
    }).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def root(reg):
    return Caller(reg, token=reg.root_token)


def envelopes(receiver, path):
    """The (headers, event) of the envelopes received about repository path."""
    out = []
    for headers, body, _ in list(receiver.events):
        for e in body["events"]:
            if e["target"]["repository"] == path:
                out.append((headers, e))
    return out


def v2_delete(reg, caller, path, ref):
    token = reg.registry_token([f"repository:{path}:delete,pull"], caller.username, caller.token)
    r = requests.delete(f"{reg.url}/v2/{path}/manifests/{ref}",
                        headers={"Authorization": f"Bearer {token}",
                                 "User-Agent": "notify-test/1.0"}, timeout=30)
    assert r.status_code == 202, r.text
    return r.headers["X-Request-Id"]


def test_push_and_deletes_are_distribution_envelopes(reg, root, uniq, receivers, tmp_path):
    main, quiet = receivers
    owner = create_user(reg, f"nown{uniq}")
    p = owner.ok("POST", "/projects", json={"name": f"napp{uniq}"})
    path = p["path_with_namespace"]
    lay, desc = image_layout(str(tmp_path / "a"), f"n{uniq}")
    push(reg, creds_of(owner), lay, f"{path}:v1")
    wait_until(lambda: envelopes(main, path), "the push's envelope")
    (headers, e), = envelopes(main, path)
    assert headers["Content-Type"] == MEDIA_TYPE
    assert headers["Authorization"] == "Bearer n0tify"
    assert "X-Gitlab-Event" not in headers
    host = reg.host
    assert e == {
        "id": e["id"], "timestamp": e["timestamp"], "action": "push",
        "target": {"mediaType": desc["mediaType"], "size": desc["size"],
                   "digest": desc["digest"], "length": desc["size"], "repository": path,
                   "url": f"{reg.url}/v2/{path}/manifests/{desc['digest']}", "tag": "v1"},
        "request": {"id": e["request"]["id"], "addr": "127.0.0.1", "host": host,
                    "method": "PUT", "useragent": e["request"]["useragent"]},
        "actor": {"name": owner.username},
        "source": {"addr": e["source"]["addr"], "instanceID": e["source"]["instanceID"]},
    }
    assert "skopeo" in e["request"]["useragent"] or "containers" in e["request"]["useragent"]
    assert len(e["id"]) == 36 and e["timestamp"].endswith("Z")

    # the same manifest under a second tag, then that tag deleted, then the manifest
    push(reg, creds_of(owner), lay, f"{path}:v2")
    rid = v2_delete(reg, owner, path, "v2")
    v2_delete(reg, owner, path, desc["digest"])
    wait_until(lambda: len(envelopes(main, path)) == 4, "four envelopes")
    events = [e for _, e in envelopes(main, path)]
    assert [(e["action"], e["target"].get("tag")) for e in events] == [
        ("push", "v1"), ("push", "v2"), ("delete", "v2"), ("delete", None)]
    tag_delete = events[2]
    assert tag_delete["target"] == {"repository": path, "tag": "v2"}
    assert tag_delete["request"] == {"id": rid, "addr": "127.0.0.1", "host": host,
                                     "method": "DELETE", "useragent": "notify-test/1.0"}
    assert tag_delete["actor"] == {"name": owner.username}
    assert events[3]["target"] == {"digest": desc["digest"], "repository": path}
    # one instance: the same source on every event
    assert len({json.dumps(e["source"], sort_keys=True) for e in events}) == 1

    # the endpoint ignoring pushes got the deletions alone
    wait_until(lambda: len(envelopes(quiet, path)) == 2, "the deletions only")
    assert [e["action"] for _, e in envelopes(quiet, path)] == ["delete", "delete"]


def test_endpoint_down_gets_the_events_later_in_order(reg, root, uniq, late_port, tmp_path):
    owner = create_user(reg, f"lown{uniq}")
    p = owner.ok("POST", "/projects", json={"name": f"lapp{uniq}"})
    path = p["path_with_namespace"]
    lay, desc = image_layout(str(tmp_path / "b"), f"l{uniq}")
    t0 = time.monotonic()
    for tag in ("a", "b", "c"):
        push(reg, creds_of(owner), lay, f"{path}:{tag}")
    assert time.monotonic() - t0 < 60
    time.sleep(3)  # attempts fail meanwhile: nothing listens
    late = Receiver(port=late_port)
    try:
        wait_until(lambda: len(envelopes(late, path)) == 3, "the queued events", timeout=30)
        assert [e["target"]["tag"] for _, e in envelopes(late, path)] == ["a", "b", "c"]
        assert all(h["Content-Type"] == MEDIA_TYPE for h, _ in envelopes(late, path))
    finally:
        late.close()


def test_deploy_token_push_names_the_token(reg, root, uniq, receivers, tmp_path):
    main, _ = receivers
    owner = create_user(reg, f"down{uniq}")
    p = owner.ok("POST", "/projects", json={"name": f"dapp{uniq}"})
    path = p["path_with_namespace"]
    t = owner.ok("POST", f"/projects/{p['id']}/deploy_tokens",
                 json={"name": "ship", "scopes": ["read_registry", "write_registry"]})
    lay, _ = image_layout(str(tmp_path / "c"), f"d{uniq}")
    push(reg, f"{t['username']}:{t['token']}", lay, f"{path}:v1")
    wait_until(lambda: envelopes(main, path), "the deploy token's push")
    (_, e), = envelopes(main, path)
    assert e["actor"] == {"name": t["username"]}


def test_bad_endpoints_are_refused(reg, tmp_path):
    binary = reg.binary("metad")
    for section, problem in (
            ({"url": "ftp://example.com/"}, "url"),
            ({"header": "no colon"}, "header"),
            ({"url": "http://example.com/", "timeout": "0"}, "timeout"),
            ({"url": "http://example.com/", "ignored_actions": "push,fly"}, "fly"),
            ({"url": "http://example.com/", "colour": "blue"}, "colour"),
            ({"timeout": "5"}, "has no url")):
        conf = tmp_path / "bad.conf"
        conf.write_text("[notifications.x]\n" +
                        "".join(f"{k} = {v}\n" for k, v in section.items()))
        out = subprocess.run([binary, "-c", str(conf), "-n"], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode != 0, section
        assert problem in out.stderr, (section, out.stderr)

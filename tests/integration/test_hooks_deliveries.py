"""Webhook tests and deliveries (GitLab's POST .../hooks/:hook_id/test/:trigger, GET
.../hooks/:hook_id/events, POST .../events/:hook_event_id/resend): a test event built from the
latest tag (or a sample) reaches a real receiver through the delivery queue; every attempt is
logged with what was sent (the token and custom headers' values masked) and what the receiver
answered, shown to the hook's owners only, filtered by status, paged as GitLab pages it, resent
on demand, and pruned after 7 days. The hooks' list is paged too."""
import json
import os
import time

import pytest

from regapi import creds_of, image_layout, push, wait_until
from registry import Registry
from tenancy import Caller, create_user
from test_hooks import Receiver, allow_local, check_signature, free_port, maintainer_project

EVENT_KEYS = {"id", "url", "trigger", "request_headers", "request_data", "response_headers",
              "response_body", "execution_duration", "response_status"}


@pytest.fixture(scope="module")
def reg(pg, workdir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    r = Registry(pg, workdir, f"reghookd_{worker}").start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def root(reg):
    c = Caller(reg, token=reg.root_token)
    allow_local(c, True)
    return c


@pytest.fixture
def receiver():
    r = Receiver(body=b'{"ok":true}')
    yield r
    r.close()


def events(caller, hook_path, **params):
    return caller.ok("GET", f"{hook_path}/events", params=params)


def test_test_event_logged_and_resent(reg, root, uniq, receiver, tmp_path):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    path = p["path_with_namespace"]
    # the test is sent whatever events the hook takes
    h = maint.ok("POST", f"/projects/{p['id']}/hooks", json={
        "url": receiver.url, "token": f"tk-{uniq}",
        "custom_headers": [{"key": "X-Team", "value": f"blue-{uniq}"}]})
    hook = f"/projects/{p['id']}/hooks/{h['id']}"
    assert events(maint, hook) == []

    # no tag yet: a sample push of the project
    r = maint.request("POST", f"{hook}/test/container_registry_events")
    assert (r.status_code, r.json()) == (201, {"message": "201 Created"})
    wait_until(lambda: len(receiver.events) == 1, "the sample test event")
    headers, sample, raw = receiver.events[0]
    check_signature(headers, raw, f"tk-{uniq}")
    assert headers["X-Team"] == f"blue-{uniq}"
    assert sample["object_kind"] == "container_registry" and sample["action"] == "push"
    assert (sample["tag"], sample["size"]) == ("latest", 0)
    assert sample["repository"]["path"] == path
    assert sample["project"] == {"id": p["id"], "path_with_namespace": path}
    assert sample["user"]["id"] == maint.id

    # with a tag: a push of the latest one
    lay, desc = image_layout(str(tmp_path / "a"), "hookd")
    push(reg, creds_of(dev), lay, f"{path}/web:v1")
    maint.ok("POST", f"{hook}/test/container_registry_events", status=201)
    wait_until(lambda: len(receiver.events) == 2, "the test event of the tag")
    _, latest, raw2 = receiver.events[1]
    assert (latest["tag"], latest["digest"]) == ("v1", desc["digest"])
    assert latest["repository"] == {"path": f"{path}/web", "name": "web",
                                    "location": f"{reg.host}/{path}/web"}

    # the log, newest first, as GitLab shows it; the token and custom values masked
    wait_until(lambda: len(events(maint, hook)) == 2, "both deliveries logged")
    log = events(maint, hook)
    assert [set(e) for e in log] == [EVENT_KEYS, EVENT_KEYS]
    newest, oldest = log
    assert newest["id"] > oldest["id"]
    assert newest["request_data"] == latest and oldest["request_data"] == sample
    assert newest["url"] == receiver.url
    assert newest["trigger"] == "container_registry_hooks"
    assert newest["response_status"] == "200"
    assert newest["response_body"] == '{"ok":true}'
    assert newest["response_headers"]["X-Receiver"] == "test"
    assert isinstance(newest["execution_duration"], float) and newest["execution_duration"] >= 0
    sent = newest["request_headers"]
    assert sent["X-Gitlab-Token"] == "[REDACTED]" and sent["X-Team"] == "[REDACTED]"
    assert sent["X-Gitlab-Event"] == "Container Registry Hook"
    assert sent["X-Registry-Signature"] == receiver.events[1][0]["X-Registry-Signature"]
    text = json.dumps(log)
    assert f"tk-{uniq}" not in text and f"blue-{uniq}" not in text

    # resending the sample queues its request again, to the receiver of now
    r = maint.request("POST", f"{hook}/events/{oldest['id']}/resend")
    assert (r.status_code, r.json()) == (201, {"response_status": None})
    wait_until(lambda: len(receiver.events) == 3, "the resent event")
    assert receiver.events[2][2] == raw
    wait_until(lambda: len(events(maint, hook)) == 3, "the resend logged")
    assert events(maint, hook)[0]["request_data"] == sample

    # GitLab's refusals
    r = maint.request("POST", f"{hook}/test/bogus_events")
    assert (r.status_code, r.json()) == (400, {"error": "trigger does not have a valid value"})
    r = maint.request("POST", f"{hook}/test/member_events")  # a group hook's trigger
    assert (r.status_code, r.json()) == (400, {"error": "trigger does not have a valid value"})
    r = maint.request("POST", f"{hook}/test/issues_events")
    assert (r.status_code, r.json()) == (422, {"message": "The registry sends no issues_events"})
    r = maint.request("POST", f"{hook}/events/{newest['id'] + 1000}/resend")
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})
    r = maint.request("POST", f"{hook}/events/abc/resend")
    assert r.status_code == 400
    r = maint.request("POST", f"/projects/{p['id']}/hooks/{h['id'] + 1000}/test/"
                      "container_registry_events")
    assert (r.status_code, r.json()) == (404, {"message": "404 Hook Not Found"})
    time.sleep(1)
    assert len(receiver.events) == 3


def test_deliveries_only_for_the_hooks_owners(reg, root, uniq, receiver):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    h = maint.ok("POST", f"/projects/{p['id']}/hooks", json={"url": receiver.url})
    hook = f"/projects/{p['id']}/hooks/{h['id']}"
    maint.ok("POST", f"{hook}/test/container_registry_events", status=201)
    wait_until(lambda: len(events(maint, hook)) == 1, "the delivery logged")
    log_id = events(maint, hook)[0]["id"]
    assert events(owner, hook) == events(root, hook)

    # a Maintainer of another project: not its project, and not through its own
    o_owner, o_maint, _, p2 = maintainer_project(reg, f"x{uniq}")
    mine = f"/projects/{p2['id']}/hooks/{h['id']}"
    for method, suffix in (("GET", "/events"), ("POST", "/test/container_registry_events"),
                           ("POST", f"/events/{log_id}/resend")):
        r = o_maint.request(method, hook + suffix)
        assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"}), suffix
        r = o_maint.request(method, mine + suffix)
        assert (r.status_code, r.json()) == (404, {"message": "404 Hook Not Found"}), suffix
        r = dev.request(method, hook + suffix)
        assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"}), suffix
        assert Caller(reg).request(method, hook + suffix).status_code == 401
    # a log of another hook of the same project is not this hook's
    h2 = maint.ok("POST", f"/projects/{p['id']}/hooks", json={"url": receiver.url})
    r = maint.request("POST", f"/projects/{p['id']}/hooks/{h2['id']}/events/{log_id}/resend")
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})
    assert events(maint, f"/projects/{p['id']}/hooks/{h2['id']}") == []
    time.sleep(1)
    assert len(receiver.events) == 1


def test_events_status_filter_and_paging(reg, root, uniq):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    failing = Receiver(status=500, body=b"boom")
    try:
        h = maint.ok("POST", f"/projects/{p['id']}/hooks", json={"url": failing.url})
        hook = f"/projects/{p['id']}/hooks/{h['id']}"
        maint.ok("POST", f"{hook}/test/container_registry_events", status=201)
        # retried after 1 and 2 seconds: three failed attempts logged
        wait_until(lambda: len(events(maint, hook)) >= 3, "three failed attempts", timeout=20)
        failing.status = 200
        wait_until(lambda: events(maint, hook)[0]["response_status"] == "200",
                   "the attempt that succeeds", timeout=20)
        log = events(maint, hook)
        ok, failed = log[0], log[1:]
        assert {e["response_status"] for e in failed} == {"500"}
        assert failed[0]["response_body"] == "boom"
        assert events(maint, hook, status="500") == failed
        assert events(maint, hook, status="server_failure") == failed
        assert events(maint, hook, status="successful") == [ok]
        assert events(maint, hook, status="200") == [ok]
        assert events(maint, hook, status="client_failure") == []
        assert events(maint, hook, status="404,successful") == [ok]
        assert events(maint, hook, **{"status[]": ["500", "200"]}) == log
        for bad in ("abc", "99", "2000", ""):
            r = maint.request("GET", f"{hook}/events", params={"status": bad})
            assert (r.status_code, r.json()) == (
                400, {"error": "status does not have a valid value"}), bad
        # GitLab's paging, at most 20 a page
        r = maint.request("GET", f"{hook}/events", params={"per_page": 1, "page": 2})
        assert r.status_code == 200 and r.json() == [log[1]]
        assert r.headers["X-Total"] == str(len(log))
        assert r.headers["X-Page"] == "2" and r.headers["X-Per-Page"] == "1"
        assert 'rel="next"' in r.headers["Link"]
        r = maint.request("GET", f"{hook}/events", params={"per_page": 21})
        assert (r.status_code, r.json()) == (400, {"error": "per_page does not have a valid value"})
    finally:
        failing.close()

    # no answer at all: "internal error", in no status category
    h = maint.ok("POST", f"/projects/{p['id']}/hooks",
                 json={"url": f"http://127.0.0.1:{free_port()}/hook"})
    hook = f"/projects/{p['id']}/hooks/{h['id']}"
    maint.ok("POST", f"{hook}/test/container_registry_events", status=201)
    wait_until(lambda: events(maint, hook), "the failed attempt logged")
    e = events(maint, hook)[-1]
    assert (e["response_status"], e["response_headers"], e["response_body"]) == \
        ("internal error", {}, "")
    assert events(maint, hook, status="server_failure") == []


def test_logs_pruned_after_seven_days(reg, root, uniq, receiver):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    h = maint.ok("POST", f"/projects/{p['id']}/hooks", json={"url": receiver.url})
    hook = f"/projects/{p['id']}/hooks/{h['id']}"
    maint.ok("POST", f"{hook}/test/container_registry_events", status=201)
    wait_until(lambda: len(events(maint, hook)) == 1, "the delivery logged")
    first = events(maint, hook)[0]
    # eight days pass for that log: not recent any more, then gone with the next delivery
    reg.pg.psql(reg.name, "UPDATE hook_logs SET created_at = now() - interval '8 days'"
                          f" WHERE id = {first['id']}")
    assert events(maint, hook) == []
    r = maint.request("POST", f"{hook}/events/{first['id']}/resend")
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})
    maint.ok("POST", f"{hook}/test/container_registry_events", status=201)
    wait_until(lambda: len(events(maint, hook)) == 1, "the new delivery logged")
    assert reg.pg.psql(reg.name, f"SELECT count(*) FROM hook_logs WHERE id = {first['id']}") == "0"


def test_group_hook_test_and_events(reg, root, uniq, receiver, tmp_path):
    owner = create_user(reg, f"gow{uniq}")
    maint = create_user(reg, f"gmn{uniq}")
    g = owner.ok("POST", "/groups", json={"name": f"g{uniq}", "path": f"g{uniq}"})
    owner.ok("POST", f"/groups/{g['id']}/members", json={"user_id": maint.id, "access_level": 40})
    h = owner.ok("POST", f"/groups/{g['id']}/hooks", json={"url": receiver.url})
    hook = f"/groups/{g['id']}/hooks/{h['id']}"
    # no project yet: a sample without one
    owner.ok("POST", f"{hook}/test/container_registry_events", status=201)
    wait_until(lambda: len(receiver.events) == 1, "the group's sample")
    assert receiver.events[0][1]["project"] is None
    # the latest tag of the projects of its subgroups
    sub = owner.ok("POST", "/groups", json={"name": "sub", "path": "sub", "parent_id": g["id"]})
    p = owner.ok("POST", "/projects", json={"name": "app", "namespace_id": sub["id"]})
    lay, _ = image_layout(str(tmp_path / "a"), "grpd")
    push(reg, creds_of(owner), lay, f"{p['path_with_namespace']}:g1")
    owner.ok("POST", f"{hook}/test/container_registry_events", status=201)
    wait_until(lambda: len(receiver.events) == 2, "the group's test event")
    body = receiver.events[1][1]
    assert (body["tag"], body["project"]["id"]) == ("g1", p["id"])
    r = owner.request("POST", f"{hook}/test/member_events")
    assert (r.status_code, r.json()) == (422, {"message": "The registry sends no member_events"})
    wait_until(lambda: len(events(owner, hook)) == 2, "the group's deliveries logged")
    log = events(owner, hook)
    assert log[0]["request_data"] == body
    owner.ok("POST", f"{hook}/events/{log[1]['id']}/resend", status=201)
    wait_until(lambda: len(receiver.events) == 3, "the group's resent event")
    # Owners only
    for method, suffix in (("GET", "/events"), ("POST", "/test/container_registry_events"),
                           ("POST", f"/events/{log[1]['id']}/resend")):
        r = maint.request(method, hook + suffix)
        assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"}), suffix


def test_hooks_list_paged(reg, root, uniq):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    made = [maint.ok("POST", f"/projects/{p['id']}/hooks",
                     json={"url": f"https://h{i}.example.com/"})["id"] for i in range(3)]
    r = maint.request("GET", f"/projects/{p['id']}/hooks", params={"per_page": 2})
    assert [h["id"] for h in r.json()] == made[:2]
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Next-Page"]) == \
        ("3", "2", "2")
    assert 'rel="next"' in r.headers["Link"]
    r = maint.request("GET", f"/projects/{p['id']}/hooks", params={"per_page": 2, "page": 2})
    assert [h["id"] for h in r.json()] == made[2:]
    # python-gitlab pages through them
    project = maint.gitlab().projects.get(p["id"])
    pages = project.hooks.list(per_page=1, iterator=True)
    assert pages.total == 3
    assert [h.id for h in pages] == made


def test_custom_headers_from_a_form(reg, root, uniq, receiver):
    """custom_headers[][key]=..&custom_headers[][value]=.. as Rack reads a form (curl -d)."""
    owner, maint, dev, p = maintainer_project(reg, uniq)
    form = [("url", receiver.url), ("custom_headers[][key]", "X-One"),
            ("custom_headers[][value]", "1"), ("custom_headers[][key]", "X-Two"),
            ("custom_headers[][value]", "2")]
    h = maint.ok("POST", f"/projects/{p['id']}/hooks", data=form)
    assert h["custom_headers"] == [{"key": "X-One"}, {"key": "X-Two"}]
    hook = f"/projects/{p['id']}/hooks/{h['id']}"
    maint.ok("POST", f"{hook}/test/container_registry_events", status=201)
    wait_until(lambda: len(receiver.events) == 1, "the test event")
    assert (receiver.events[0][0]["X-One"], receiver.events[0][0]["X-Two"]) == ("1", "2")
    # a field without its pair is refused as a bad list
    r = maint.request("PUT", hook, data=[("custom_headers[][key]", "X-Three")])
    assert (r.status_code, r.json()) == (400, {"error": "custom_headers is invalid"})

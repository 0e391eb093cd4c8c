"""Webhooks of projects and groups (GitLab's /projects/:id/hooks and /groups/:id/hooks) with
container registry events: the API as GitLab shapes it, the events of skopeo pushes, tag and
repository deletions delivered in order to a real HTTP receiver with a valid signature, retried
while the receiver is down, never slowing a push; and the refusal of hooks to the local network
unless the admin setting allow_local_requests_from_web_hooks_and_services allows them (checked
at creation and again at delivery, after resolution).

Every receiver here listens on 127.0.0.1, so the module's instance allows local hooks through
the API as an admin would, except where the refusal is tested."""
import hashlib
import hmac
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from regapi import creds_of, image_layout, push, timed, wait_until
from registry import Registry
from tenancy import Caller, create_user


@pytest.fixture(scope="module")
def reg(pg, workdir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    r = Registry(pg, workdir, f"reghooks_{worker}",
                 extra_config={"metad": {"jobs_interval": "1"}}).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def root(reg):
    return Caller(reg, token=reg.root_token)


def allow_local(root, allowed):
    s = root.ok("PUT", "/application/settings",
                json={"allow_local_requests_from_web_hooks_and_services": allowed})
    assert s["allow_local_requests_from_web_hooks_and_services"] is allowed


class Receiver:
    """An HTTP server in a thread recording the POSTs it gets (headers, JSON body, raw body);
    `delay` seconds of sleep before each answer, which is `status` with `body`."""

    def __init__(self, port=0, delay=0.0, status=200, body=b""):
        self.events = []
        self.delay = delay
        self.status = status
        self.body = body
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.delay:
                    time.sleep(outer.delay)
                outer.events.append((dict(self.headers), json.loads(body), body))
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.send_header("X-Receiver", "test")
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def maintainer_project(reg, uniq):
    """(owner, maintainer, developer, project)."""
    owner = create_user(reg, f"own{uniq}")
    maint = create_user(reg, f"mnt{uniq}")
    dev = create_user(reg, f"dev{uniq}")
    p = owner.ok("POST", "/projects", json={"name": f"app{uniq}"})
    for user, level in ((maint, 40), (dev, 30)):
        owner.ok("POST", f"/projects/{p['id']}/members",
                 json={"user_id": user.id, "access_level": level})
    return owner, maint, dev, p


def test_settings_and_local_urls_refused(reg, root, uniq):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    hooks = f"/projects/{p['id']}/hooks"
    allow_local(root, False)
    assert root.ok("GET", "/application/settings") == {
        "id": 1, "allow_local_requests_from_web_hooks_and_services": False}
    for caller in (owner, maint):
        r = caller.request("GET", "/application/settings")
        assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
        r = caller.request("PUT", "/application/settings",
                           json={"allow_local_requests_from_web_hooks_and_services": True})
        assert r.status_code == 403
    r = root.request("PUT", "/application/settings",
                     json={"allow_local_requests_from_web_hooks_and_services": "maybe"})
    assert r.status_code == 400

    # local addresses and what is no http(s) URL: GitLab's 422
    for url in ("http://127.0.0.1:9/h", "http://localhost:9/", "http://[::1]:9/",
                "http://10.1.2.3/", "http://192.168.0.1/", "http://169.254.169.254/latest",
                "http://0.0.0.0:80/", "ftp://example.com/", "not a url", "http://"):
        r = maint.request("POST", hooks, json={"url": url, "container_registry_events": True})
        assert (r.status_code, r.json()) == (422, {"error": "Invalid url given"}), url
    r = maint.request("POST", hooks, json={"push_events": True})
    assert (r.status_code, r.json()) == (400, {"error": "url is missing"})
    assert maint.ok("GET", hooks) == []

    # once an admin allows it, the same URL is taken
    allow_local(root, True)
    h = maint.ok("POST", hooks, json={"url": "http://127.0.0.1:9/h"})
    assert h["url"] == "http://127.0.0.1:9/h"
    # and refused again to an update once it is not
    allow_local(root, False)
    r = maint.request("PUT", f"{hooks}/{h['id']}", json={"url": "http://127.0.0.2:9/h"})
    assert (r.status_code, r.json()) == (422, {"error": "Invalid url given"})
    allow_local(root, True)


def test_project_hooks_api(reg, root, uniq):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    other = create_user(reg, f"oth{uniq}")
    hooks = f"/projects/{p['id']}/hooks"
    allow_local(root, True)
    h = maint.ok("POST", hooks, json={
        "url": "https://hooks.example.com/registry", "token": "s3cret", "name": "ci",
        "container_registry_events": True, "push_events": False,
        "custom_headers": [{"key": "X-Team", "value": "blue"}]})
    assert h == {
        "id": h["id"], "url": "https://hooks.example.com/registry", "name": "ci",
        "description": "", "created_at": h["created_at"], "push_events": False,
        "tag_push_events": False, "container_registry_events": True,
        "container_registry_tag_push_events": True, "container_registry_tag_delete_events": True,
        "container_registry_repository_delete_events": True,
        "container_registry_quota_exceeded_events": True,
        "enable_ssl_verification": True, "alert_status": "executable", "disabled_until": None,
        "custom_headers": [{"key": "X-Team"}], "project_id": p["id"]}
    assert "token" not in json.dumps(maint.ok("GET", hooks))
    assert maint.ok("GET", hooks) == [h]
    assert owner.ok("GET", f"{hooks}/{h['id']}") == h
    root.ok("GET", f"{hooks}/{h['id']}")
    h2 = maint.ok("PUT", f"{hooks}/{h['id']}", json={"enable_ssl_verification": False})
    assert h2 == dict(h, enable_ssl_verification=False)

    # a Developer may not; an outsider does not see the project; anonymous must sign in
    for method in ("GET", "POST"):
        r = dev.request(method, hooks, json={"url": "https://x.example.com/"})
        assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
        r = other.request(method, hooks, json={"url": "https://x.example.com/"})
        assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    assert Caller(reg).request("GET", hooks).status_code == 401
    # a hook of another project is not found through this one
    p2 = owner.ok("POST", "/projects", json={"name": f"two{uniq}"})
    for method in ("GET", "PUT", "DELETE"):
        r = owner.request(method, f"/projects/{p2['id']}/hooks/{h['id']}", json={})
        assert (r.status_code, r.json()) == (404, {"message": "404 Hook Not Found"})
    r = maint.request("POST", hooks, json={"url": "https://x.example.com/",
                                           "custom_headers": [{"key": "Bad: key", "value": "v"}]})
    assert (r.status_code, r.json()) == (400, {"error": "custom_headers is invalid"})
    maint.ok("DELETE", f"{hooks}/{h['id']}")
    r = maint.request("DELETE", f"{hooks}/{h['id']}")
    assert (r.status_code, r.json()) == (404, {"message": "404 Hook Not Found"})


def test_python_gitlab_project_hooks(reg, root, uniq):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    allow_local(root, True)
    project = maint.gitlab().projects.get(p["id"])
    hook = project.hooks.create({"url": "https://ci.example.com/hook",
                                 "container_registry_events": True, "token": "t"})
    assert hook.container_registry_events is True
    assert [x.id for x in project.hooks.list()] == [hook.id]
    hook.name = "renamed"
    hook.save()
    assert project.hooks.get(hook.id).name == "renamed"
    project.hooks.delete(hook.id)
    assert project.hooks.list() == []


def check_signature(headers, raw, token):
    assert headers["X-Gitlab-Event"] == "Container Registry Hook"
    assert headers["X-Gitlab-Token"] == token
    mac = hmac.new(token.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Registry-Signature"] == f"sha256={mac}"


def test_events_in_order_with_signature(reg, root, uniq, receiver, tmp_path):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    allow_local(root, True)
    path = p["path_with_namespace"]
    maint.ok("POST", f"/projects/{p['id']}/hooks", json={
        "url": receiver.url, "token": f"tok-{uniq}", "container_registry_events": True,
        "custom_headers": [{"key": "X-Team", "value": "blue"}]})
    # a hook without registry events gets none
    maint.ok("POST", f"/projects/{p['id']}/hooks", json={"url": receiver.url + "/quiet"})
    lay, desc = image_layout(str(tmp_path / "a"), "hooks")
    push(reg, creds_of(dev), lay, f"{path}:v1")
    push(reg, creds_of(dev), lay, f"{path}/sub:v2")
    [repo, sub] = sorted(owner.ok("GET", f"/projects/{p['id']}/registry/repositories"),
                         key=lambda x: x["path"])
    owner.ok("DELETE", f"/projects/{p['id']}/registry/repositories/{repo['id']}/tags/v1",
             status=200)
    owner.ok("DELETE", f"/projects/{p['id']}/registry/repositories/{sub['id']}", status=202)
    wait_until(lambda: len(receiver.events) >= 3, "three events")
    wait_until(lambda: len(receiver.events) >= 4, "the repository deletion's event")
    time.sleep(1.5)
    assert len(receiver.events) == 4
    by_repo = {}
    for headers, body, raw in receiver.events:
        check_signature(headers, raw, f"tok-{uniq}")
        assert headers["X-Team"] == "blue"
        by_repo.setdefault(body["repository"]["path"], []).append(body)
    main, subs = by_repo[path], by_repo[f"{path}/sub"]
    assert [(e["action"], e["tag"]) for e in main] == [("push", "v1"), ("delete", "v1")]
    assert [(e["action"], e["tag"]) for e in subs] == [("push", "v2"), ("repository_delete", None)]
    push_v1 = main[0]
    assert push_v1["object_kind"] == "container_registry"
    assert push_v1["digest"] == desc["digest"]
    assert push_v1["media_type"] == desc["mediaType"]
    assert push_v1["size"] > desc["size"]
    assert push_v1["repository"]["location"] == f"{reg.host}/{path}"
    assert push_v1["user"] == {"id": dev.id, "username": dev.username, "name": dev.username.capitalize()}
    assert push_v1["project"] == {"id": p["id"], "path_with_namespace": path}
    assert main[1]["user"]["id"] == owner.id and main[1]["digest"] == desc["digest"]
    assert subs[1]["user"]["id"] == owner.id


def test_a_hook_takes_the_registry_actions_it_switches_on(reg, root, uniq, tmp_path):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    allow_local(root, True)
    path = p["path_with_namespace"]
    pushes, deletions = Receiver(), Receiver()
    try:
        h = maint.ok("POST", f"/projects/{p['id']}/hooks", json={
            "url": pushes.url, "container_registry_events": True,
            "container_registry_tag_delete_events": False,
            "container_registry_repository_delete_events": False})
        assert (h["container_registry_tag_push_events"], h["container_registry_tag_delete_events"],
                h["container_registry_repository_delete_events"],
                h["container_registry_quota_exceeded_events"]) == (True, False, False, True)
        h2 = maint.ok("POST", f"/projects/{p['id']}/hooks", json={
            "url": deletions.url, "container_registry_events": True})
        h2 = maint.ok("PUT", f"/projects/{p['id']}/hooks/{h2['id']}",
                      json={"container_registry_tag_push_events": False})
        assert h2["container_registry_tag_push_events"] is False
        assert h2["container_registry_tag_delete_events"] is True
        lay, _ = image_layout(str(tmp_path / "a"), "flags")
        push(reg, creds_of(dev), lay, f"{path}:v1")
        [repo] = owner.ok("GET", f"/projects/{p['id']}/registry/repositories")
        owner.ok("DELETE", f"/projects/{p['id']}/registry/repositories/{repo['id']}/tags/v1",
                 status=200)
        owner.ok("DELETE", f"/projects/{p['id']}/registry/repositories/{repo['id']}", status=202)
        wait_until(lambda: len(deletions.events) >= 2, "the deletions' events")
        wait_until(lambda: len(pushes.events) >= 1, "the push's event")
        time.sleep(1.5)
        assert [e[1]["action"] for e in pushes.events] == ["push"]
        assert [e[1]["action"] for e in deletions.events] == ["delete", "repository_delete"]
    finally:
        pushes.close()
        deletions.close()


def test_receiver_down_then_back(reg, root, uniq, tmp_path):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    allow_local(root, True)
    port = free_port()
    h = maint.ok("POST", f"/projects/{p['id']}/hooks", json={
        "url": f"http://127.0.0.1:{port}/hook", "container_registry_events": True})
    lay, _ = image_layout(str(tmp_path / "a"), "down")
    push(reg, creds_of(dev), lay, f"{p['path_with_namespace']}:one")
    push(reg, creds_of(dev), lay, f"{p['path_with_namespace']}:two")
    time.sleep(1.5)  # at least one failed attempt
    back = Receiver(port=port)
    try:
        wait_until(lambda: len(back.events) >= 2, "the events once the receiver is back")
        assert [e[1]["tag"] for e in back.events] == ["one", "two"]
        assert maint.ok("GET", f"/projects/{p['id']}/hooks/{h['id']}")["alert_status"] == \
            "executable"
    finally:
        back.close()


def test_failing_hook_disabled_for_a_while(reg, root, uniq, tmp_path):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    allow_local(root, True)
    h = maint.ok("POST", f"/projects/{p['id']}/hooks", json={
        "url": f"http://127.0.0.1:{free_port()}/hook", "container_registry_events": True})
    lay, _ = image_layout(str(tmp_path / "a"), "fail")
    push(reg, creds_of(dev), lay, f"{p['path_with_namespace']}:one")
    url = f"/projects/{p['id']}/hooks/{h['id']}"
    wait_until(lambda: maint.ok("GET", url)["alert_status"] == "temporarily_disabled",
               "the hook disabled after four failures", timeout=40)
    assert maint.ok("GET", url)["disabled_until"] is not None
    # a new url makes it executable again
    assert maint.ok("PUT", url, json={"url": "https://elsewhere.example.com/"})[
        "alert_status"] == "executable"


def test_slow_receiver_does_not_slow_pushes(reg, root, uniq, tmp_path):
    owner, maint, dev, p = maintainer_project(reg, uniq)
    allow_local(root, True)
    slow = Receiver(delay=6)
    try:
        lay, _ = image_layout(str(tmp_path / "a"), "slow")
        path = p["path_with_namespace"]
        _, before = timed(lambda: push(reg, creds_of(dev), lay, f"{path}:base"))
        maint.ok("POST", f"/projects/{p['id']}/hooks", json={
            "url": slow.url, "container_registry_events": True})
        spent = []
        for i in range(3):
            _, t = timed(lambda: push(reg, creds_of(dev), lay, f"{path}:t{i}"))
            spent.append(t)
        assert max(spent) < 3, (before, spent)
        wait_until(lambda: len(slow.events) >= 3, "the slow receiver's events", timeout=60)
        assert [e[1]["tag"] for e in slow.events] == ["t0", "t1", "t2"]
    finally:
        slow.close()


def test_group_hooks_fire_for_subgroup_projects(reg, root, uniq, receiver, tmp_path):
    owner = create_user(reg, f"gow{uniq}")
    maint = create_user(reg, f"gmn{uniq}")
    allow_local(root, True)
    g = owner.ok("POST", "/groups", json={"name": f"g{uniq}", "path": f"g{uniq}"})
    sub = owner.ok("POST", "/groups", json={"name": "sub", "path": "sub", "parent_id": g["id"]})
    owner.ok("POST", f"/groups/{g['id']}/members", json={"user_id": maint.id, "access_level": 40})
    p = owner.ok("POST", "/projects", json={"name": "app", "namespace_id": sub["id"]})
    hooks = f"/groups/{g['id']}/hooks"
    # Owners only
    r = maint.request("POST", hooks, json={"url": receiver.url})
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    h = owner.ok("POST", hooks, json={"url": receiver.url, "container_registry_events": True,
                                      "token": "gt"})
    assert h["group_id"] == g["id"] and "project_id" not in h
    assert owner.ok("GET", hooks) == [h]
    r = owner.request("GET", f"/groups/{g['id']}/hooks/{h['id'] + 1000}")
    assert (r.status_code, r.json()) == (404, {"message": "404 Hook Not Found"})
    r = maint.request("GET", "/groups/999999999/hooks")
    assert (r.status_code, r.json()) == (404, {"message": "404 Group Not Found"})
    lay, _ = image_layout(str(tmp_path / "a"), "grp")
    push(reg, creds_of(owner), lay, f"{p['path_with_namespace']}:g1")
    wait_until(lambda: len(receiver.events) >= 1, "the group hook's event")
    headers, body, raw = receiver.events[0]
    check_signature(headers, raw, "gt")
    assert (body["action"], body["tag"], body["project"]["id"]) == ("push", "g1", p["id"])
    owner.ok("DELETE", f"{hooks}/{h['id']}")


def test_local_address_refused_at_delivery(reg, root, uniq, receiver, tmp_path):
    """A name that resolves to a local address passes the check at creation (it is no address
    literal) only to be refused after resolution, until an admin allows local requests."""
    owner, maint, dev, p = maintainer_project(reg, uniq)
    allow_local(root, True)
    # a name the resolver maps to 127.0.0.1: the machine's own name
    host = socket.gethostname()
    if not any(a[4][0].startswith("127.") for a in socket.getaddrinfo(host, None)):
        pytest.skip(f"{host} does not resolve to a loopback address here")
    url = f"http://{host}:{receiver.port}/hook"
    allow_local(root, False)
    maint.ok("POST", f"/projects/{p['id']}/hooks", json={
        "url": url, "container_registry_events": True})
    lay, _ = image_layout(str(tmp_path / "a"), "ssrf")
    push(reg, creds_of(dev), lay, f"{p['path_with_namespace']}:x")
    time.sleep(2.5)
    assert receiver.events == []
    allow_local(root, True)
    wait_until(lambda: len(receiver.events) >= 1, "the event once local requests are allowed")

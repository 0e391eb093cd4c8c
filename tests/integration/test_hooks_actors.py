"""Webhook events beyond a plain user's push: the quota_exceeded event of a push refused over the
namespace's storage limit (queued although the push is refused, at most one a minute per
repository), and the user of events whose actor is a deploy token or a project access token's
bot."""
import os
from datetime import date, timedelta

import pytest

from regapi import creds_of, image_layout, push, wait_until
from registry import Registry
from tenancy import Caller, create_user
from test_hooks import Receiver


@pytest.fixture(scope="module")
def reg(pg, workdir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    r = Registry(pg, workdir, f"reghookact_{worker}").start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def root(reg):
    c = Caller(reg, token=reg.root_token)
    c.ok("PUT", "/application/settings",
         json={"allow_local_requests_from_web_hooks_and_services": True})
    return c


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def hooked_project(reg, root, uniq, receiver, name):
    owner = create_user(reg, f"{name}{uniq}")
    p = owner.ok("POST", "/projects", json={"name": f"{name}{uniq}"})
    owner.ok("POST", f"/projects/{p['id']}/hooks",
             json={"url": receiver.url, "container_registry_events": True})
    return owner, p


def bodies(receiver, action=None):
    return [b for _, b, _ in list(receiver.events) if action is None or b["action"] == action]


def test_quota_exceeded_event(reg, root, uniq, receiver, tmp_path):
    owner, p = hooked_project(reg, root, uniq, receiver, "quota")
    path = p["path_with_namespace"]
    lay, _ = image_layout(str(tmp_path / "a"), f"qa{uniq}")
    push(reg, creds_of(owner), lay, f"{path}:v1")
    ns = p["namespace"]["id"]
    root.ok("PUT", f"/namespaces/{ns}", json={"container_registry_storage_limit": 1})
    big, _ = image_layout(str(tmp_path / "b"), f"qb{uniq}", layers=3)
    for attempt in range(2):
        with pytest.raises(AssertionError) as e:
            push(reg, creds_of(owner), big, f"{path}:v2")
        assert "storage quota exceeded" in str(e.value)
    wait_until(lambda: bodies(receiver, "quota_exceeded"), "the quota_exceeded event")
    wait_until(lambda: len(bodies(receiver)) >= 2, "both events")
    q = bodies(receiver, "quota_exceeded")
    # two refused pushes, several blobs each: one event a minute for the repository
    assert len(q) == 1
    assert q[0]["object_kind"] == "container_registry"
    assert q[0]["repository"] == {"path": path, "name": "", "location": f"{reg.host}/{path}"}
    assert q[0]["project"] == {"id": p["id"], "path_with_namespace": path}
    assert "limit" in q[0]["message"]
    # the refusal stored nothing else: the tag is not there
    tags = owner.ok("GET", f"/projects/{p['id']}/registry/repositories?tags=true")
    assert [t["name"] for t in tags[0]["tags"]] == ["v1"]


def test_deploy_token_and_bot_are_the_events_users(reg, root, uniq, receiver, tmp_path):
    owner, p = hooked_project(reg, root, uniq, receiver, "actor")
    path = p["path_with_namespace"]
    t = owner.ok("POST", f"/projects/{p['id']}/deploy_tokens",
                 json={"name": "ship", "scopes": ["read_registry", "write_registry"]})
    lay, _ = image_layout(str(tmp_path / "a"), f"ac{uniq}")
    push(reg, f"{t['username']}:{t['token']}", lay, f"{path}:dt")
    wait_until(lambda: bodies(receiver, "push"), "the deploy token's push")
    assert bodies(receiver, "push")[0]["user"] == {
        "id": None, "username": t["username"], "name": "ship", "deploy_token_id": t["id"]}

    pat = owner.ok("POST", f"/projects/{p['id']}/access_tokens",
                   json={"name": "ci", "scopes": ["write_registry", "read_registry"],
                         "access_level": 30,
                         "expires_at": (date.today() + timedelta(days=3)).isoformat()})
    bot = owner.ok("GET", f"/users/{pat['user_id']}")
    push(reg, f"{bot['username']}:{pat['token']}", lay, f"{path}:bot")
    wait_until(lambda: len(bodies(receiver, "push")) == 2, "the bot's push")
    assert bodies(receiver, "push")[1]["user"] == {
        "id": bot["id"], "username": bot["username"], "name": "ci"}

"""The admin area in a real browser (tests/ui/admin.mjs, as test_ui.py runs its walk): the
overview shows the instance ready and the storage of a top-level namespace as the API counts it
after a push; an admin creates a user in the form (Python then finds it through GET /users, and
it signed in), blocks it (it can no longer get a token: the API's message, on the page),
unblocks another; a user who is no admin has no Admin link and gets the API's 403; Sign out
revokes the token the tab held. Screenshots of each page, axe-core on each."""
import os

import requests

from tenants import Tenancy
from uibrowser import assert_clean, tools_or_skip, walk
from v2util import V2

REVOKED = {"error": "invalid_token",
           "error_description": "Token was revoked. You have to re-authorize from the user."}


def oauth(registry, user):
    return requests.post(f"{registry.url}/oauth/token", data={
        "grant_type": "password", "username": user["username"], "password": user["password"]},
        timeout=30)


def test_admin_area_in_a_browser(registry, uniq, tmp_path, record_property):
    tools_or_skip()
    t = Tenancy(registry)
    admin = t.user(f"{uniq}adm", admin=True)
    user = t.user(f"{uniq}usr")
    blocked = t.user(f"{uniq}blk")
    r = registry.api("POST", f"/users/{blocked['id']}/block")
    assert r.status_code == 201, r.text
    # an image in a top-level group: its usage as the API counts it
    gid = t.group(f"{uniq}ns")
    _, project = t.project(gid, "app")
    token = registry.registry_token([f"repository:{project}/web:pull,push"], admin["username"],
                                    admin["password"])
    V2(registry, token).push_image(f"{project}/web", "v1",
                                   layers=(os.urandom(3000), b"second layer " + uniq.encode()))
    ns = registry.api("GET", f"/namespaces/{gid}").json()
    assert ns["container_registry_size"] > 3000, ns

    new_user = {"username": f"{uniq}new", "name": f"New {uniq}", "email": f"{uniq}new@example.com",
                "password": f"{uniq}-New-Passw0rd"}
    plan = {"base": registry.url, "admin": admin, "user": user, "blocked": blocked,
            "namespace": f"{uniq}ns", "new_user": new_user}
    seen = walk("admin.mjs", plan, tmp_path, record_property)
    shots = seen["shots"]

    # the overview: ready, alive, the namespace's usage as the API has it
    assert seen["admin_link"] == 1
    assert seen["readiness"] == "true" and seen["liveness"] == "true", seen["readiness_text"]
    assert "ready" in seen["readiness_text"] and "/-/readiness: 200 ok" in seen["readiness_text"]
    assert seen["overview_url"] == f"/admin?search={uniq}ns"
    ns = registry.api("GET", f"/namespaces/{gid}").json()
    assert int(seen["usage_bytes"]) == ns["container_registry_size"]

    # a taken username: the API's own message
    r = registry.api("POST", "/users", json={
        "username": admin["username"], "name": "x", "email": "x-" + new_user["email"],
        "password": new_user["password"]})
    assert r.status_code == 409
    assert seen["taken_message"] == r.json()["message"]

    # the user the form made: as the API has it; it signed in before it was blocked
    found = registry.api("GET", "/users", params={"username": new_user["username"]}).json()
    assert len(found) == 1, found
    made = found[0]
    assert (made["name"], made["email"]) == (new_user["name"], new_user["email"])
    assert made["is_admin"] is False
    assert seen["created_state"] == "active"
    assert seen["new_user_first"] == {"signed_in": True}
    assert seen["after_cancel_state"] == "active"
    assert seen["blocked_state"] == "blocked" and made["state"] == "blocked"
    assert seen["block_status"] == f"{new_user['username']} blocked."
    assert seen["focus_after_block"] == f"Unblock {new_user['username']}"
    # blocked: no token, and the page said what the API says
    r = oauth(registry, new_user)
    assert r.status_code == 400, r.text
    assert seen["new_user_blocked"] == {"error": r.json()["error_description"]}
    r = requests.get(f"{registry.url}/jwt/auth", params={"service": "container_registry"},
                     auth=(new_user["username"], new_user["password"]), timeout=30)
    assert r.status_code in (401, 403), r.text

    # the other one, unblocked in the page: active, and it gets a token again
    assert seen["blocked_user_state"] == "blocked" and seen["unblocked_state"] == "active"
    assert seen["blocked_after_unblock"] == {"signed_in": True}
    assert registry.api("GET", f"/users/{blocked['id']}").json()["state"] == "active"
    assert oauth(registry, blocked).status_code == 200

    # no admin: no link, and the API's 403 on each admin page
    r = requests.post(f"{registry.url}/api/v4/users", json={"username": "x"},
                      headers={"Authorization": "Bearer " + oauth(registry, user).json()[
                          "access_token"]}, timeout=30)
    assert r.status_code == 403
    assert seen["user_admin_link"] == 0
    for path, text in seen["refused"].items():
        assert r.json()["message"] in text and "Only administrators" in text, (path, text)

    # Sign out revoked the token the tab held
    assert seen["token_before_sign_out"] and seen["token_after_sign_out"] is None
    r = requests.get(f"{registry.url}/api/v4/user",
                     headers={"Authorization": "Bearer " + seen["token_before_sign_out"]},
                     timeout=30)
    assert r.status_code == 401 and r.json() == REVOKED, r.text
    r = requests.get(f"{registry.url}/jwt/auth", params={"service": "container_registry"},
                     auth=("oauth2", seen["token_before_sign_out"]), timeout=30)
    assert r.status_code == 401

    assert all(v <= 0 for v in seen["phone_overflow"].values()), seen["phone_overflow"]
    assert_clean(seen)
    assert set(seen["axe"]) >= {"admin_overview", "admin_new_user", "admin_users",
                                "admin_confirm_block", "admin_refused"}
    for name in ("admin-01-overview", "admin-03-users", "admin-05-blocked", "admin-06-refused"):
        assert os.path.getsize(os.path.join(shots, name + ".png")) > 1000

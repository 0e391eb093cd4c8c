"""Users' administration as python-gitlab drives it: ban and unban, impersonation tokens,
memberships, and the user status, with GitLab's fields, status codes and error bodies."""
import datetime

import gitlab
import pytest
import requests

from tenancy import create_user


@pytest.fixture
def gl(registry):
    client = gitlab.Gitlab(registry.url, private_token=registry.root_token)
    client.auth()
    return client


def new_user(gl, name):
    return gl.users.create({"username": name, "name": name.title(), "email": f"{name}@example.com",
                            "password": f"{name}-Passw0rd"})


def api(registry, method, path, token, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["PRIVATE-TOKEN"] = token
    return requests.request(method, f"{registry.url}/api/v4{path}", headers=headers, timeout=30,
                            **kw)


def test_ban_and_unban(registry, gl, uniq):
    user = new_user(gl, f"ban{uniq}")
    pat = user.personal_access_tokens.create({"name": "t", "scopes": ["api"]}).token
    assert api(registry, "GET", "/user", pat).status_code == 200

    # python-gitlab's own test
    assert user.ban() is True and user.state == "banned"
    assert gl.users.get(user.id).state == "banned"
    # a banned user cannot sign in, to the API or the registry
    r = api(registry, "GET", "/user", pat)
    assert r.status_code == 403
    assert r.json() == {"message": "403 Forbidden - Your account has been blocked."}
    r = requests.get(f"{registry.url}/jwt/auth", auth=(user.username, f"ban{uniq}-Passw0rd"),
                     params={"service": "container_registry"}, timeout=30)
    assert r.status_code == 401
    # only active users are banned; only banned ones unbanned
    r = api(registry, "POST", f"/users/{user.id}/ban", registry.root_token)
    assert r.status_code == 403 and r.json() == {"message": "You cannot ban banned users."}
    assert user.block() is None  # a banned user is blocked already, as GitLab says
    assert user.unban() is True and user.state == "active"
    assert gl.users.get(user.id).state == "active"
    assert api(registry, "GET", "/user", pat).status_code == 200
    r = api(registry, "POST", f"/users/{user.id}/unban", registry.root_token)
    assert r.status_code == 403 and r.json() == {"message": "You cannot unban active users."}
    assert user.block() is True
    r = api(registry, "POST", f"/users/{user.id}/ban", registry.root_token)
    assert r.status_code == 403 and r.json() == {"message": "You cannot ban blocked users."}
    # unblocking a banned user activates it, as GitLab's activate does
    assert user.unblock() is True and user.ban() is True and user.unblock() is True
    assert gl.users.get(user.id).state == "active"

    # admins only; unknown users; ids only
    other = create_user(registry, f"bao{uniq}")
    r = api(registry, "POST", f"/users/{user.id}/ban", other.token)
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    assert api(registry, "POST", f"/users/{user.id}/ban", None).status_code == 401
    r = api(registry, "POST", "/users/999999999/ban", registry.root_token)
    assert r.status_code == 404 and r.json() == {"message": "404 User Not Found"}
    r = api(registry, "POST", "/users/999999999/unban", registry.root_token)
    assert r.status_code == 404 and r.json() == {"message": "404 User Not Found"}


def test_impersonation_tokens(registry, gl, uniq):
    user = new_user(gl, f"imp{uniq}")
    expires = (datetime.date.today() + datetime.timedelta(days=4)).isoformat()
    token = user.impersonationtokens.create({"name": "user_impersonation_token",
                                             "scopes": ["api", "read_user"],
                                             "expires_at": expires})
    assert token.impersonation is True and token.active is True and token.revoked is False
    assert token.scopes == ["api", "read_user"] and token.expires_at == expires
    assert token.user_id == user.id and token.token.startswith("glpat-")
    assert token in user.impersonationtokens.list(state="active")
    assert token not in user.impersonationtokens.list(state="inactive")
    got = user.impersonationtokens.get(token.id)
    assert got.name == "user_impersonation_token" and not hasattr(got, "token")

    # it signs in as the user, to the API and to the registry
    r = api(registry, "GET", "/user", token.token)
    assert r.status_code == 200 and r.json()["username"] == user.username
    r = requests.get(f"{registry.url}/jwt/auth", auth=(user.username, token.token),
                     params={"service": "container_registry"}, timeout=30)
    assert r.status_code == 200 and r.json()["token"]
    # the user does not see it among their own tokens; admins see it
    own = requests.get(f"{registry.url}/api/v4/personal_access_tokens", timeout=30,
                       headers={"PRIVATE-TOKEN": user.personal_access_tokens.create(
                           {"name": "own", "scopes": ["api"]}).token}).json()
    assert [t["name"] for t in own] == ["own"]
    assert {t.name for t in gl.personal_access_tokens.list(user_id=user.id)} == \
        {"own", "user_impersonation_token"}

    # revoked by DELETE
    token.delete()
    assert token not in user.impersonationtokens.list(state="active")
    assert [t.id for t in user.impersonationtokens.list(state="inactive")] == [token.id]
    assert user.impersonationtokens.get(token.id).revoked is True
    r = api(registry, "GET", "/user", token.token)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"

    # GitLab's refusals
    r = api(registry, "GET", f"/users/{user.id}/impersonation_tokens?state=gone",
            registry.root_token)
    assert r.status_code == 400 and r.json() == {"error": "state does not have a valid value"}
    r = api(registry, "GET", f"/users/{user.id}/impersonation_tokens/999999999",
            registry.root_token)
    assert r.status_code == 404 and r.json() == {"message": "404 Impersonation Token Not Found"}
    own_id = own[0]["id"]  # a personal access token is not an impersonation token
    r = api(registry, "DELETE", f"/users/{user.id}/impersonation_tokens/{own_id}",
            registry.root_token)
    assert r.status_code == 404
    r = api(registry, "GET", "/users/999999999/impersonation_tokens", registry.root_token)
    assert r.status_code == 404 and r.json() == {"message": "404 User Not Found"}
    r = api(registry, "POST", f"/users/{user.id}/impersonation_tokens", registry.root_token,
            json={"name": "x"})
    assert r.status_code == 400 and r.json() == {"error": "scopes is missing"}
    other = create_user(registry, f"imo{uniq}")
    r = api(registry, "GET", f"/users/{user.id}/impersonation_tokens", other.token)
    assert r.status_code == 403
    r = api(registry, "POST", f"/users/{user.id}/impersonation_tokens", other.token,
            json={"name": "x", "scopes": ["api"]})
    assert r.status_code == 403


def test_memberships(registry, gl, uniq):
    """As python-gitlab's test_groups: memberships of groups and projects, admins only."""
    user = new_user(gl, f"mea{uniq}")
    user2 = new_user(gl, f"meb{uniq}")
    group1 = gl.groups.create({"name": f"Me1 {uniq}", "path": f"me1-{uniq}"})
    group2 = gl.groups.create({"name": f"Me2 {uniq}", "path": f"me2-{uniq}"})
    group1.members.create({"access_level": gitlab.const.AccessLevel.OWNER, "user_id": user.id})
    group1.members.create({"access_level": gitlab.const.AccessLevel.GUEST, "user_id": user2.id})
    group2.members.create({"access_level": gitlab.const.AccessLevel.OWNER, "user_id": user2.id})

    memberships1 = user.memberships.list()
    assert len(memberships1) == 1
    membership = memberships1[0]
    assert membership.source_type == "Namespace" and membership.source_id == group1.id
    assert membership.source_name == f"Me1 {uniq}"
    assert membership.access_level == gitlab.const.AccessLevel.OWNER
    assert set(membership.attributes) == {"source_id", "source_name", "source_type",
                                          "access_level", "user_id"}  # user_id: python-gitlab's
    assert len(user2.memberships.list()) == 2
    assert len(user.memberships.list(type="Project")) == 0
    assert len(user.memberships.list(type="Namespace")) == 1

    project = gl.projects.create({"name": "web", "namespace_id": group2.id})
    project.members.create({"access_level": gitlab.const.AccessLevel.REPORTER,
                            "user_id": user.id})
    projects = user.memberships.list(type="Project")
    assert [(m.source_id, m.source_name, m.source_type, m.access_level) for m in projects] == \
        [(project.id, "web", "Project", 20)]
    r = api(registry, "GET", f"/users/{user.id}/memberships?per_page=1&page=2",
            registry.root_token)
    assert r.status_code == 200 and r.headers["X-Total"] == "2" and len(r.json()) == 1

    with pytest.raises(gitlab.GitlabListError) as e:
        user.memberships.list(type="Invalid")
    assert "type does not have a valid value" in str(e.value)
    with pytest.raises(gitlab.GitlabListError) as e:
        user.memberships.list(sudo=user.username)
    assert "403 Forbidden" in str(e.value)
    assert api(registry, "GET", f"/users/{user.id}/memberships", None).status_code == 401
    r = api(registry, "GET", "/users/999999999/memberships", registry.root_token)
    assert r.status_code == 404 and r.json() == {"message": "404 User Not Found"}


def test_user_status(registry, gl, uniq):
    alice = create_user(registry, f"sta{uniq}")
    me = alice.gitlab()
    me.auth()

    # python-gitlab's own test
    status = me.user.status.get()
    assert status.message is None and status.emoji is None
    status.message = "Test"
    status.emoji = "thumbsup"
    status.save()
    new_status = me.user.status.get()
    assert new_status.message == "Test" and new_status.emoji == "thumbsup"
    assert new_status.availability == "not_set" and new_status.clear_status_at is None
    assert new_status.message_html == "Test"

    # others read it by id or username
    assert gl.users.get(alice.id).status.get().message == "Test"
    r = api(registry, "GET", f"/users/{alice.username}/status", registry.root_token)
    assert r.status_code == 200 and r.json()["emoji"] == "thumbsup"

    # PUT forgets what it is not given; PATCH keeps it; the emoji defaults to speech_balloon
    r = alice.put("/user/status", json={"message": "<b>busy</b> & away",
                                        "availability": "busy", "clear_status_after": "1_day"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["emoji"] == "speech_balloon" and body["availability"] == "busy"
    assert body["message_html"] == "&lt;b&gt;busy&lt;/b&gt; &amp; away"
    clear = datetime.datetime.fromisoformat(body["clear_status_at"].replace("Z", "+00:00"))
    left = clear - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=23) < left <= datetime.timedelta(days=1)
    r = alice.request("PATCH", "/user/status", json={"emoji": "coffee"})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "<b>busy</b> & away" and r.json()["emoji"] == "coffee"
    # a status past its clear_status_at is gone
    registry.pg.psql(registry.name, "UPDATE user_statuses SET clear_status_at = now() - "
                                    f"interval '1 second' WHERE user_id = {alice.id}")
    assert alice.ok("GET", "/user/status") == {"emoji": None, "availability": None,
                                               "message": None, "message_html": "",
                                               "clear_status_at": None}
    # an empty PUT clears it
    alice.ok("PUT", "/user/status", json={"message": "x"})
    assert alice.ok("PUT", "/user/status", json={})["message"] is None
    assert alice.ok("GET", "/user/status")["emoji"] is None

    # GitLab's refusals
    r = alice.put("/user/status", json={"message": "x" * 101})
    assert r.status_code == 400
    assert r.json() == {"message": {"message": ["is too long (maximum is 100 characters)"]}}
    r = alice.put("/user/status", json={"emoji": "no such emoji!"})
    assert r.status_code == 400 and r.json() == {"message": {"emoji": ["is not a valid emoji name"]}}
    r = alice.put("/user/status", json={"clear_status_after": "2_weeks"})
    assert r.status_code == 400
    assert r.json() == {"error": "clear_status_after does not have a valid value"}
    assert api(registry, "GET", "/user/status", None).status_code == 401
    r = api(registry, "GET", "/users/no-such-user-here/status", registry.root_token)
    assert r.status_code == 404 and r.json() == {"message": "404 User Not Found"}

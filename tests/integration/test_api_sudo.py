"""Sudo: an admin's token with the sudo scope acts as another user (the Sudo header or the sudo
parameter, a user id or username) on every /api/v4 endpoint, with GitLab's refusals."""
import gitlab
import pytest
import requests

from tenancy import create_user


@pytest.fixture
def gl(registry):
    client = gitlab.Gitlab(registry.url, private_token=registry.root_token)
    client.auth()
    return client


def call(registry, method, path, token, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["PRIVATE-TOKEN"] = token
    return requests.request(method, f"{registry.url}/api/v4{path}", headers=headers, timeout=30,
                            **kw)


def test_python_gitlab_creates_as_another_user(registry, gl, uniq):
    """python-gitlab's own test: projects.create(..., sudo=user.id)."""
    alice = create_user(registry, f"sua{uniq}")
    admin_project = gl.projects.create({"name": f"admin-{uniq}"})
    sudo_project = gl.projects.create({"name": f"sudo-{uniq}"}, sudo=alice.id)
    assert sudo_project.namespace["path"] == alice.username
    assert sudo_project.creator_id == alice.id
    owned = [p.id for p in gl.projects.list(owned=True, search=uniq)]
    assert admin_project.id in owned and sudo_project.id not in owned
    assert [p.id for p in alice.gitlab().projects.list(owned=True)] == [sudo_project.id]
    # the header, by username in any case, and on authd's endpoints too
    r = call(registry, "GET", "/user", registry.root_token,
             headers={"Sudo": alice.username.upper()})
    assert r.status_code == 200 and r.json()["username"] == alice.username
    assert "is_admin" not in r.json()  # alice's own view, not an admin's
    # the parameter wins over the header
    r = call(registry, "GET", f"/user?sudo={alice.id}", registry.root_token,
             headers={"Sudo": "root"})
    assert r.json()["id"] == alice.id
    # rights are alice's: root's private project is not there, admin endpoints refuse
    r = call(registry, "GET", f"/projects/{admin_project.id}", registry.root_token,
             headers={"Sudo": str(alice.id)})
    assert r.status_code == 404 and r.json() == {"message": "404 Project Not Found"}
    r = call(registry, "POST", "/users", registry.root_token, headers={"Sudo": str(alice.id)},
             json={"username": f"x{uniq}", "name": "X", "email": f"x{uniq}@example.com",
                   "password": "long-enough-1"})
    assert r.status_code == 403
    with pytest.raises(gitlab.GitlabListError) as e:
        gl.users.get(alice.id).memberships.list(sudo=alice.username)
    assert e.value.response_code == 403 and "403 Forbidden" in str(e.value)
    admin_project.delete()


def test_sudo_refusals(registry, gl, uniq):
    alice = create_user(registry, f"sub{uniq}")
    admin = create_user(registry, f"suc{uniq}", admin=True)
    root_id = gl.user.id

    # a user who is not an admin, even with the scope
    pat = gl.users.get(alice.id).personal_access_tokens.create(
        {"name": "s", "scopes": ["api", "sudo"]}).token
    r = call(registry, "GET", "/user", pat, headers={"Sudo": str(root_id)})
    assert r.status_code == 403
    assert r.json() == {"message": "403 Forbidden - Must be admin to use sudo"}

    # an admin's token without the scope (admin's own token has api only)
    r = call(registry, "GET", "/user", admin.token, headers={"Sudo": alice.username})
    assert r.status_code == 403
    assert r.json() == {"error": "insufficient_scope",
                        "error_description": "The request requires higher privileges than "
                                             "provided by the access token.",
                        "scope": "sudo"}

    # an unknown user
    r = call(registry, "GET", "/user", registry.root_token, headers={"Sudo": "nobody-here"})
    assert r.status_code == 404
    assert r.json() == {"message": "404 User with ID or username 'nobody-here' Not Found"}
    r = call(registry, "GET", "/user?sudo=999999999", registry.root_token)
    assert r.json() == {"message": "404 User with ID or username '999999999' Not Found"}

    # a password is not a token; an OAuth token (scope api) lacks the scope
    password = "Pw-sudo-" + uniq + "-x9!"
    u = gl.users.get(admin.id)
    u.password = password
    u.save()
    r = requests.get(f"{registry.url}/api/v4/user", auth=(admin.username, password),
                     headers={"Sudo": alice.username}, timeout=30)
    assert r.status_code == 403
    assert r.json() == {"message": "403 Forbidden - Must be authenticated using an OAuth or "
                                   "Personal Access Token to use sudo"}
    r = requests.post(f"{registry.url}/oauth/token", timeout=30,
                      data={"grant_type": "password", "username": admin.username,
                            "password": password})
    assert r.status_code == 200, r.text
    r = requests.get(f"{registry.url}/api/v4/user", timeout=30,
                     headers={"Authorization": "Bearer " + r.json()["access_token"],
                              "Sudo": alice.username})
    assert r.status_code == 403 and r.json()["scope"] == "sudo"

    # nobody signed in
    r = call(registry, "GET", "/projects", None, headers={"Sudo": alice.username})
    assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}
    # an empty identifier, control characters
    r = call(registry, "GET", "/user?sudo=%0d%0aX-Evil:%201", registry.root_token)
    assert r.status_code == 404 and r.json()["message"].startswith("404 User with ID or")


def test_the_sudo_scope_alone_and_body_parameters(registry, gl, uniq):
    alice = create_user(registry, f"sud{uniq}")
    only_sudo = gl.users.get(gl.user.id).personal_access_tokens.create(
        {"name": f"only-sudo-{uniq}", "scopes": ["sudo"]}).token
    # as GitLab: acting as someone else, the endpoint's scope is not asked for
    r = call(registry, "POST", "/groups", only_sudo, headers={"Sudo": alice.username},
             json={"name": f"Su {uniq}", "path": f"su-{uniq}"})
    assert r.status_code == 201, r.text
    group = r.json()
    members = alice.ok("GET", f"/groups/{group['id']}/members")
    assert [m["username"] for m in members] == [alice.username]
    # acting as oneself is no sudo: the token's scopes count
    r = call(registry, "GET", "/user", only_sudo, headers={"Sudo": "root"})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    # sudo in a body is refused unless the header or the query said the same
    r = call(registry, "POST", "/groups", registry.root_token,
             json={"name": f"Sv {uniq}", "path": f"sv-{uniq}", "sudo": alice.username})
    assert r.status_code == 400, r.text
    r = call(registry, "POST", "/groups", registry.root_token, headers={"Sudo": alice.username},
             json={"name": f"Sv {uniq}", "path": f"sv-{uniq}", "sudo": alice.username})
    assert r.status_code == 201, r.text
    assert alice.ok("GET", f"/groups/{r.json()['id']}")["full_path"] == f"sv-{uniq}"
    # authd logs who acted as whom
    assert f"acts as {alice.username}" in registry.log("authd")

"""A signed-in user with no role (dave) on what another tenant (alice) owns, under /api/v4: every
group write, group members, group and project deploy tokens; and a user who is no admin on other
users' accounts and tokens. Every answer is GitLab's (404 where the object is invisible to the
caller, 403 where it is visible), no refusal carries the other tenant's data, and nothing
changed."""
import pytest
import requests

from tenancy import create_user

NOT_FOUND_GROUP = (404, {"message": "404 Group Not Found"})
NOT_FOUND_PROJECT = (404, {"message": "404 Project Not Found"})
FORBIDDEN = (403, {"message": "403 Forbidden"})


@pytest.fixture(scope="module")
def tenants(registry):
    """alice owns a private and a public group, each with carl as Developer, a project, a group
    and a project deploy token, and a share with another group of hers; dave owns a group and a
    project of his own."""
    import uuid
    tag = uuid.uuid4().hex[:6]
    alice = create_user(registry, f"out{tag}alice")
    carl = create_user(registry, f"out{tag}carl")
    dave = create_user(registry, f"out{tag}dave")
    world = {"alice": alice, "carl": carl, "dave": dave, "tag": tag}
    for vis in ("private", "public"):
        g = alice.ok("POST", "/groups", json={"name": f"G {vis}", "path": f"g{tag}-{vis}",
                                              "visibility": vis, "description": "alice's"})
        alice.ok("POST", f"/groups/{g['id']}/members",
                 json={"user_id": carl.id, "access_level": 30})
        p = alice.ok("POST", "/projects", json={"name": "app", "namespace_id": g["id"],
                                                "visibility": vis})
        partner = alice.ok("POST", "/groups", json={"name": f"P {vis}",
                                                    "path": f"p{tag}-{vis}", "visibility": vis})
        alice.ok("POST", f"/groups/{g['id']}/share",
                 json={"group_id": partner["id"], "group_access": 30})
        world[vis] = {
            "group": g, "project": p, "partner": partner,
            "group_token": alice.ok("POST", f"/groups/{g['id']}/deploy_tokens",
                                    json={"name": "alice-gdt", "scopes": ["read_registry"]}),
            "project_token": alice.ok("POST", f"/projects/{p['id']}/deploy_tokens",
                                      json={"name": "alice-pdt", "scopes": ["read_registry"]}),
            "own_group": dave.ok("POST", "/groups", json={"name": f"D {vis}",
                                                          "path": f"d{tag}-{vis}",
                                                          "visibility": vis}),
            "own_project": dave.ok("POST", "/projects", json={"name": f"dp-{vis}",
                                                              "visibility": vis}),
        }
    return world


def group_writes(w, carl, dave):
    """(method, path, body) of every write on alice's group w and what hangs from it."""
    gid, pid = w["group"]["id"], w["project"]["id"]
    return [
        ("PUT", f"/groups/{gid}", {"description": "dave's now", "visibility": "private"}),
        ("DELETE", f"/groups/{gid}", None),
        ("POST", "/groups", {"name": "sub", "path": "sub", "parent_id": gid}),
        ("POST", f"/groups/{gid}/transfer", {"group_id": w["own_group"]["id"]}),
        ("PUT", f"/groups/{gid}/transfer", {"group_id": w["own_group"]["id"]}),
        ("POST", f"/groups/{gid}/transfer", None),
        ("POST", f"/groups/{gid}/share", {"group_id": w["own_group"]["id"], "group_access": 50}),
        ("DELETE", f"/groups/{gid}/share/{w['partner']['id']}", None),
        ("POST", f"/groups/{gid}/members", {"user_id": dave.id, "access_level": 50}),
        ("PUT", f"/groups/{gid}/members/{carl.id}", {"access_level": 10}),
        ("DELETE", f"/groups/{gid}/members/{carl.id}", None),
        ("POST", f"/groups/{gid}/deploy_tokens",
         {"name": "dave-gdt", "scopes": ["read_registry", "write_registry"]}),
        ("DELETE", f"/groups/{gid}/deploy_tokens/{w['group_token']['id']}", None),
        ("POST", f"/projects/{pid}/deploy_tokens",
         {"name": "dave-pdt", "scopes": ["read_registry", "write_registry"]}),
        ("DELETE", f"/projects/{pid}/deploy_tokens/{w['project_token']['id']}", None),
    ]


def group_reads(w, carl):
    """(method, path) of what only members (private) or maintainers (deploy tokens) may read."""
    gid, pid = w["group"]["id"], w["project"]["id"]
    return [
        ("GET", f"/groups/{gid}/deploy_tokens"),
        ("GET", f"/groups/{gid}/deploy_tokens/{w['group_token']['id']}"),
        ("GET", f"/projects/{pid}/deploy_tokens"),
        ("GET", f"/projects/{pid}/deploy_tokens/{w['project_token']['id']}"),
    ] + ([("GET", f"/groups/{gid}"), ("GET", f"/groups/{gid}/members"),
          ("GET", f"/groups/{gid}/members/all"), ("GET", f"/groups/{gid}/members/{carl.id}"),
          ("GET", f"/groups/{gid}/members/all/{carl.id}"), ("GET", f"/groups/{gid}/subgroups"),
          ("GET", f"/groups/{gid}/projects")]
         if w["group"]["visibility"] == "private" else [])


def expected(vis, method, path, pid):
    """GitLab's answer to an outsider: the group or project is not found when private; when
    public it is found and the write forbidden (a transfer or share is refused as GitLab's
    services refuse them)."""
    if vis == "private":
        return NOT_FOUND_PROJECT if path.startswith(f"/projects/{pid}/") else NOT_FOUND_GROUP
    if path.endswith("/share") and method == "POST" or "/share/" in path:
        return (404, {"message": "Not Found"})  # GitLab's group link services
    return FORBIDDEN


def alices_view(alice, w):
    """What alice sees of her group: details, members, shares, tokens, projects."""
    gid, pid = w["group"]["id"], w["project"]["id"]
    group = alice.ok("GET", f"/groups/{gid}")
    return {
        "group": {k: group[k] for k in ("name", "path", "full_path", "description",
                                        "visibility", "parent_id", "shared_with_groups")},
        "members": sorted((m["id"], m["access_level"])
                          for m in alice.ok("GET", f"/groups/{gid}/members/all")),
        "subgroups": alice.ok("GET", f"/groups/{gid}/subgroups"),
        "projects": sorted(p["id"] for p in alice.ok("GET", f"/groups/{gid}/projects")),
        "group_tokens": alice.ok("GET", f"/groups/{gid}/deploy_tokens"),
        "project_tokens": alice.ok("GET", f"/projects/{pid}/deploy_tokens"),
    }


@pytest.mark.parametrize("vis", ["private", "public"])
def test_an_outsider_on_another_tenants_group(tenants, vis):
    alice, carl, dave = tenants["alice"], tenants["carl"], tenants["dave"]
    w = tenants[vis]
    before = alices_view(alice, w)
    secrets = [w["group_token"]["token"], w["project_token"]["token"], "alice-gdt", "alice-pdt"]
    if vis == "private":
        secrets += [w["group"]["full_path"], carl.username]
    pid = w["project"]["id"]
    for method, path, body in group_writes(w, carl, dave):
        r = dave.request(method, path, json=body)
        assert (r.status_code, r.json()) == expected(vis, method, path, pid), \
            (method, path, r.text)
    for method, path in group_reads(w, carl):
        r = dave.request(method, path)
        assert (r.status_code, r.json()) == expected(vis, method, path, pid), \
            (method, path, r.text)
        assert not any(s in r.text for s in secrets), (path, r.text)
    # a public group's members are public; its deploy tokens are not
    if vis == "public":
        listed = dave.ok("GET", f"/groups/{w['group']['id']}/members")
        assert sorted(m["id"] for m in listed) == sorted([alice.id, carl.id])
        assert not any(s in str(listed) for s in secrets[:2])
    # moving dave's own project into alice's group takes a role there (admins only for the
    # /groups/:id/projects/:project_id form)
    r = dave.post(f"/groups/{w['group']['id']}/projects/{w['own_project']['id']}")
    assert (r.status_code, r.json()) == FORBIDDEN
    r = dave.put(f"/projects/{w['own_project']['id']}/transfer",
                 json={"namespace": w["group"]["id"]})
    if vis == "private":
        assert (r.status_code, r.json()) == (404, {"message": "404 Namespace Not Found"})
    else:
        assert r.status_code == 400, r.text
    # moving dave's own group under alice's takes a role there
    r = dave.post(f"/groups/{w['own_group']['id']}/transfer", json={"group_id": w["group"]["id"]})
    if vis == "private":
        assert (r.status_code, r.json()) == NOT_FOUND_GROUP
    else:
        assert (r.status_code, r.json()) == (
            400, {"message": "Transfer failed: You don't have enough permissions."})
    # nothing changed, and the tokens alice made still work
    assert alices_view(alice, w) == before
    assert dave.ok("GET", f"/projects/{w['own_project']['id']}")["namespace"]["id"] != \
        w["group"]["id"]
    for token in (w["group_token"], w["project_token"]):
        r = requests.get(f"{alice.registry.url}/jwt/auth",
                         params={"service": "container_registry"},
                         auth=(token["username"], token["token"]), timeout=30)
        assert r.status_code == 200, r.text


def test_a_user_on_other_users_accounts_and_tokens(registry, tenants):
    carl, dave = tenants["carl"], tenants["dave"]
    root = {"PRIVATE-TOKEN": registry.root_token}
    made = registry.api("POST", f"/users/{carl.id}/personal_access_tokens",
                        json={"name": "carl-extra", "scopes": ["read_api"]})
    assert made.status_code == 201, made.text
    token = made.json()

    def carls_tokens():
        r = requests.get(f"{registry.url}/api/v4/personal_access_tokens",
                         params={"user_id": carl.id}, headers=root, timeout=30)
        assert r.status_code == 200, r.text
        return sorted((t["id"], t["revoked"], t["active"]) for t in r.json())
    before = (registry.api("GET", f"/users/{carl.id}").json(), carls_tokens())
    unauthorized = (401, {"message": "401 Unauthorized"})
    for method, path, body, answer in [
            ("PUT", f"/users/{carl.id}", {"name": "Dave's puppet", "admin": True}, FORBIDDEN),
            ("PUT", f"/users/{carl.id}", {"password": "Dave-chose-it-1234"}, FORBIDDEN),
            ("DELETE", f"/users/{carl.id}", None, FORBIDDEN),
            ("POST", f"/users/{carl.id}/block", None, FORBIDDEN),
            ("POST", f"/users/{carl.id}/unblock", None, FORBIDDEN),
            ("POST", f"/users/{carl.id}/ban", None, FORBIDDEN),
            ("POST", f"/users/{carl.id}/unban", None, FORBIDDEN),
            ("POST", f"/users/{carl.id}/personal_access_tokens",
             {"name": "dave-made", "scopes": ["api"]}, FORBIDDEN),
            ("GET", f"/users/{carl.id}/impersonation_tokens", None, FORBIDDEN),
            ("POST", f"/users/{carl.id}/impersonation_tokens",
             {"name": "dave-made", "scopes": ["api"]}, FORBIDDEN),
            ("GET", f"/users/{carl.id}/memberships", None, FORBIDDEN),
            # GitLab tells only admins whether another user's token exists
            ("GET", f"/personal_access_tokens/{token['id']}", None, unauthorized),
            ("GET", f"/personal_access_tokens?user_id={carl.id}", None, unauthorized),
            ("DELETE", f"/personal_access_tokens/{token['id']}", None,
             (400, {"message": "400 Bad request"})),
            ("GET", "/deploy_tokens", None, FORBIDDEN)]:
        r = dave.request(method, path, json=body)
        assert (r.status_code, r.json()) == answer, (method, path, r.text)
    # dave's own token list holds only his
    listed = dave.ok("GET", "/personal_access_tokens")
    assert {t["user_id"] for t in listed} == {dave.id}
    assert "carl-extra" not in str(listed) and token["token"] not in str(listed)
    # carl is as he was: same account, same tokens, his tokens work, his password is his
    assert (registry.api("GET", f"/users/{carl.id}").json(), carls_tokens()) == before
    for t in (carl.token, token["token"]):
        r = requests.get(f"{registry.url}/api/v4/user", headers={"PRIVATE-TOKEN": t}, timeout=30)
        assert r.status_code == 200 and r.json()["username"] == carl.username
    r = requests.get(f"{registry.url}/jwt/auth", params={"service": "container_registry"},
                     auth=(carl.username, "Dave-chose-it-1234"), timeout=30)
    assert r.status_code == 401

"""Audit events (GitLab's /audit_events, /groups/:id/audit_events, /projects/:id/audit_events):
password sign-ins that fail and succeed, access tokens made and revoked, members added and
changed, skopeo pushes and tag deletions each record one event with its author, entity, target
and the client's address, in the transaction of the change; who may read them is GitLab's rule;
and the table takes no UPDATE or DELETE, metad's database role least of all.

The instance runs with privilege separation's database roles, so metad writes and reads the
events under the role schema/grants.sql gives it."""
import os
import subprocess
from datetime import datetime, timedelta, timezone

import gitlab
import pytest
import requests

from regapi import creds_of, image_layout, push
from registry import Registry
from tenancy import Caller

PASSWORD = "Audit-Passw0rd-x9!"


@pytest.fixture(scope="module")
def reg(pg, workdir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    r = Registry(pg, workdir, f"regaudit_{worker}", db_roles=True).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def root(reg):
    return Caller(reg, 1, "root", True, reg.root_token)


def user(reg, root, name):
    """A user with PASSWORD and a personal access token; a Caller speaking as it."""
    u = root.ok("POST", "/users", json={
        "username": name, "name": name.capitalize(), "email": f"{name}@example.com",
        "password": PASSWORD, "skip_confirmation": True})
    t = root.ok("POST", f"/users/{u['id']}/personal_access_tokens",
                json={"name": "tests", "scopes": ["api"]})
    return Caller(reg, u["id"], name, False, t["token"])


def events(caller, path, **params):
    """The events of an audit events endpoint, newest first (all pages)."""
    r = caller.get(path, params={"per_page": 100, **params})
    assert r.status_code == 200, r.text
    return r.json()


def sign_in(reg, name, password):
    """A password sign-in at the token service (what docker login does); its status."""
    return requests.get(f"{reg.url}/jwt/auth", params={"service": "container_registry"},
                        auth=(name, password), timeout=30,
                        headers={"X-Registry-Client-Ip": "6.6.6.6"}).status_code


def test_sign_ins_failed_and_successful(reg, root, uniq):
    u = user(reg, root, f"sig{uniq}")
    assert sign_in(reg, u.username, "wrong-password") == 401
    assert sign_in(reg, u.username, PASSWORD) == 200
    evs = [e for e in events(root, "/audit_events", entity_type="User", entity_id=u.id)
           if e["details"]["target_type"] == "User"]
    assert len(evs) == 2, evs
    ok, failed = evs
    assert failed["author_id"] == -1 and failed["entity_type"] == "User"
    assert failed["entity_id"] == u.id
    assert failed["details"] == {
        "failed_login": "STANDARD", "author_name": u.username, "author_email": None,
        "target_id": u.id, "target_type": "User", "target_details": u.username,
        # the gateway's own address for the client: a client's X-Registry-Client-Ip is dropped
        "ip_address": "127.0.0.1", "entity_path": u.username}
    assert ok["author_id"] == u.id and ok["entity_id"] == u.id
    assert ok["details"] == {
        "with": "standard", "author_name": u.username.capitalize(),
        "author_email": f"{u.username}@example.com", "target_id": u.id,
        "target_type": "User", "target_details": u.username.capitalize(),
        "ip_address": "127.0.0.1", "entity_path": u.username}
    assert ok["id"] > failed["id"]
    assert ok["created_at"].endswith("Z")
    # one event, as GET /audit_events/:id gives it
    assert root.ok("GET", f"/audit_events/{ok['id']}") == ok


def test_token_and_member_events_of_a_project(reg, root, uniq):
    owner = user(reg, root, f"own{uniq}")
    dev = user(reg, root, f"dev{uniq}")
    gl = owner.gitlab()
    project = gl.projects.create({"name": f"app{uniq}"})
    member = project.members.create({"user_id": dev.id, "access_level": 30})
    member.access_level = 40
    member.save()
    token = project.access_tokens.create({"name": "ci", "scopes": ["read_registry"],
                                          "access_level": 30,
                                          "expires_at": str(datetime.now().date()
                                                            + timedelta(days=30))})
    rotated = gl.http_post(f"/projects/{project.id}/access_tokens/{token.id}/rotate")
    project.access_tokens.delete(rotated["id"])

    listed = project.audit_events.list(get_all=True)
    got = [(e.author_id, e.entity_type, e.entity_id, e.details.get("target_type"),
            e.details.get("target_id"), e.details["ip_address"]) for e in listed]
    assert got == [
        (owner.id, "Project", project.id, "PersonalAccessToken", rotated["id"], "127.0.0.1"),
        (owner.id, "Project", project.id, "PersonalAccessToken", rotated["id"], "127.0.0.1"),
        (owner.id, "Project", project.id, "PersonalAccessToken", token.id, "127.0.0.1"),
        (owner.id, "Project", project.id, "User", dev.id, "127.0.0.1"),
        (owner.id, "Project", project.id, "User", dev.id, "127.0.0.1"),
    ], got
    revoke, rotate, create, change, add = (e.details for e in listed)
    assert create["custom_message"] == (
        f"Created project access token with token_id: {token.id} with scopes: "
        "{read_registry} and Developer access level.")
    assert create["target_details"] == "ci"
    assert rotate["custom_message"] == (
        f"Rotated project access token with token_id: {rotated['id']} (was {token.id})")
    assert revoke["custom_message"] == (
        f"Revoked project access token with token_id: {rotated['id']}")
    assert add["add"] == "user_access" and add["as"] == "Developer"
    assert add["target_details"] == dev.username.capitalize()
    assert (change["change"], change["from"], change["to"]) == (
        "access_level", "Developer", "Maintainer")
    for d in (revoke, rotate, create, change, add):
        assert d["author_name"] == owner.username.capitalize()
        assert d["entity_path"] == f"{owner.username}/app{uniq}"
    # one of them by id; another project's or an unknown id is 404
    one = project.audit_events.get(listed[0].id)
    assert one.details == revoke
    r = owner.get(f"/projects/{project.id}/audit_events/999999999")
    assert r.status_code == 404 and r.json() == {"message": "404 Audit Event Not Found"}

    # GitLab: a Developer sees only the events it authored, a Reporter none
    member.access_level = 30
    member.save()
    assert events(dev, f"/projects/{project.id}/audit_events") == []
    r = dev.get(f"/projects/{project.id}/audit_events/{listed[0].id}")
    assert r.status_code == 404, r.text
    member.access_level = 20
    member.save()
    r = dev.get(f"/projects/{project.id}/audit_events")
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    outsider = user(reg, root, f"out{uniq}")
    r = outsider.get(f"/projects/{project.id}/audit_events")
    assert r.status_code == 404 and r.json() == {"message": "404 Project Not Found"}


def test_group_member_events(reg, root, uniq):
    owner = user(reg, root, f"gown{uniq}")
    dev = user(reg, root, f"gdev{uniq}")
    g = owner.ok("POST", "/groups", json={"name": f"grp{uniq}", "path": f"grp{uniq}"})
    owner.ok("POST", f"/groups/{g['id']}/members", json={"user_id": dev.id, "access_level": 30})
    owner.ok("DELETE", f"/groups/{g['id']}/members/{dev.id}")
    gl = owner.gitlab()
    listed = gl.groups.get(g["id"]).audit_events.list(get_all=True)
    assert [(e.entity_type, e.entity_id, e.author_id, e.details.get("remove"),
             e.details.get("add")) for e in listed] == [
        ("Group", g["id"], owner.id, "user_access", None),
        ("Group", g["id"], owner.id, None, "user_access")]
    assert listed[0].details["entity_path"] == f"grp{uniq}"


def test_push_and_tag_delete(reg, root, uniq, tmp_path):
    owner = user(reg, root, f"pus{uniq}")
    project = owner.ok("POST", "/projects", json={"name": f"img{uniq}"})
    path = project["path_with_namespace"]
    lay, desc = image_layout(str(tmp_path / "lay"), uniq)
    push(reg, creds_of(owner), lay, f"{path}:v1")
    [repo] = owner.ok("GET", f"/projects/{project['id']}/registry/repositories")
    owner.ok("DELETE", f"/projects/{project['id']}/registry/repositories/{repo['id']}/tags/v1",
             status=200)
    deleted, pushed = events(owner, f"/projects/{project['id']}/audit_events")
    for e in (deleted, pushed):
        assert (e["author_id"], e["entity_type"], e["entity_id"]) == (
            owner.id, "Project", project["id"])
        assert e["details"]["target_type"] == "ContainerRepository"
        assert e["details"]["target_id"] == repo["id"]
        assert e["details"]["ip_address"] == "127.0.0.1"
    assert pushed["details"]["custom_message"] == (
        f"Pushed tag v1 ({desc['digest']}) to container repository {path}")
    assert deleted["details"]["custom_message"] == "Deleted tag v1"


def test_instance_endpoint_admins_filters_and_pages(reg, root, uniq):
    someone = user(reg, root, f"ins{uniq}")
    r = someone.get("/audit_events")
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    before = datetime.now(timezone.utc) - timedelta(seconds=2)
    p = someone.ok("POST", "/projects", json={"name": f"f{uniq}"})
    other = user(reg, root, f"oth{uniq}")
    someone.ok("POST", f"/projects/{p['id']}/members",
               json={"user_id": other.id, "access_level": 20})
    gl = root.gitlab()
    stamp = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = gl.audit_events.list(created_after=stamp, entity_type="Project", get_all=True)
    assert [e.entity_id for e in recent if e.entity_id == p["id"]] == [p["id"]]
    assert all(e.entity_type == "Project" for e in recent)
    assert gl.audit_events.list(created_before="2000-01-01T00:00:00Z", get_all=True) == []
    # GitLab's page headers
    assert sign_in(reg, someone.username, "wrong") == 401
    assert sign_in(reg, someone.username, PASSWORD) == 200
    r = root.get("/audit_events", params={"per_page": 1, "entity_type": "User"})
    assert r.status_code == 200 and len(r.json()) == 1
    assert int(r.headers["X-Total"]) >= 2 and r.headers["X-Per-Page"] == "1"
    for params, message in (({"created_after": "yesterday"}, "created_after is invalid"),
                            ({"created_before": "2026-02-30"}, "created_before is invalid"),
                            ({"entity_type": "Key"}, "entity_type does not have a valid value"),
                            ({"entity_id": 1}, "entity_type is missing")):
        r = root.get("/audit_events", params=params)
        assert r.status_code == 400 and r.json() == {"error": message}, (params, r.text)
    r = root.get("/audit_events/999999999")
    assert r.status_code == 404 and r.json() == {"message": "404 Audit Event Not Found"}
    with pytest.raises(gitlab.exceptions.GitlabListError):
        other.gitlab().audit_events.list()


def test_the_table_is_append_only(reg, root, uniq):
    def psql(role, sql):
        return subprocess.run(["psql", "-X", "-qAt", "-h", reg.pg.sock_dir, "-U", role,
                               "-d", reg.name, "-c", sql], capture_output=True, text=True)
    user(reg, root, f"app{uniq}")
    assert sign_in(reg, f"app{uniq}", PASSWORD) == 200
    assert psql(reg.metad_role, "SELECT count(*) > 0 FROM audit_events").stdout.strip() == "t"
    for sql in ("UPDATE audit_events SET author_name = 'x'", "DELETE FROM audit_events",
                "TRUNCATE audit_events"):
        res = psql(reg.metad_role, sql)
        assert res.returncode != 0 and "permission denied" in res.stderr, (sql, res.stderr)
    # not even the schema's owner changes what was recorded
    for sql in ("UPDATE audit_events SET author_name = 'x'", "DELETE FROM audit_events"):
        res = psql(reg.authd_role, sql)
        assert res.returncode != 0 and "append-only" in res.stderr, (sql, res.stderr)


def test_tokens_visibility_protection_quota_transfer_and_deletes(reg, root, uniq):
    owner = user(reg, root, f"all{uniq}")
    # a personal access token of one's own, made and revoked
    made = root.ok("POST", f"/users/{owner.id}/personal_access_tokens",
                   json={"name": "mine", "scopes": ["read_api"]})
    owner.ok("DELETE", f"/personal_access_tokens/{made['id']}")
    revoked, created, first = [e for e in events(root, "/audit_events", entity_type="User",
                                                 entity_id=owner.id)
                               if e["details"].get("target_type") == "PersonalAccessToken"]
    assert first["details"]["target_details"] == "tests"
    assert (created["author_id"], created["details"]["custom_message"]) == (
        1, f"Created personal access token with id {made['id']}")
    assert (revoked["author_id"], revoked["details"]["custom_message"]) == (
        owner.id, f"Revoked personal access token with id {made['id']}")
    assert revoked["details"]["target_details"] == "mine"

    g = owner.ok("POST", "/groups", json={"name": f"gv{uniq}", "path": f"gv{uniq}",
                                          "visibility": "private"})
    p = owner.ok("POST", "/projects", json={"name": f"pv{uniq}", "visibility": "private"})
    pid = p["id"]
    owner.ok("PUT", f"/projects/{pid}", json={"visibility": "public"})
    owner.ok("PUT", f"/projects/{pid}", json={"description": "no visibility change"})
    dt = owner.ok("POST", f"/projects/{pid}/deploy_tokens",
                  json={"name": "ci", "scopes": ["read_registry"]})
    owner.ok("DELETE", f"/projects/{pid}/deploy_tokens/{dt['id']}")
    rule = owner.ok("POST", f"/projects/{pid}/registry/protection/tag/rules", json={
        "tag_name_pattern": "^v.*", "minimum_access_level_for_push": "maintainer",
        "minimum_access_level_for_delete": "owner"})
    owner.ok("DELETE", f"/projects/{pid}/registry/protection/tag/rules/{rule['id']}")
    owner.ok("PUT", f"/projects/{pid}/transfer", json={"namespace": g["id"]})
    got = [(e["author_id"], e["details"].get("custom_message") or e["details"].get("change"),
            e["details"].get("from"), e["details"].get("to"))
           for e in events(owner, f"/projects/{pid}/audit_events")]
    assert got == [
        (owner.id, "namespace", p["path_with_namespace"], f"gv{uniq}/pv{uniq}"),
        (owner.id, "Deleted container registry tag protection rule ^v.*", None, None),
        (owner.id, "Created container registry tag protection rule ^v.*", None, None),
        (owner.id, f"Revoked project deploy token with name: ci with token_id: {dt['id']}",
         None, None),
        (owner.id, f"Created project deploy token with name: ci with token_id: {dt['id']}",
         None, None),
        (owner.id, "visibility", "Private", "Public"),
    ], got

    # an admin's storage limit on the group, then the group's deletion (which takes the project)
    root.ok("PUT", f"/namespaces/{g['id']}", json={"container_registry_storage_limit": 5000})
    limit = events(owner, f"/groups/{g['id']}/audit_events")[0]
    assert (limit["author_id"], limit["details"]["change"], limit["details"]["from"],
            limit["details"]["to"], limit["details"]["target_type"]) == (
        1, "container_registry_storage_limit", "0", "5000", "Namespace")
    owner.ok("DELETE", f"/groups/{g['id']}", status=202)
    [gone] = events(root, "/audit_events", entity_type="Group", entity_id=g["id"])[:1]
    assert (gone["author_id"], gone["details"]["remove"], gone["details"]["entity_path"]) == (
        owner.id, "group", f"gv{uniq}")


def test_impersonation_token_revocation(reg, root, uniq):
    someone = user(reg, root, f"imp{uniq}")
    t = root.ok("POST", f"/users/{someone.id}/impersonation_tokens",
                json={"name": "support", "scopes": ["api"]})
    r = root.request("DELETE", f"/users/{someone.id}/impersonation_tokens/{t['id']}")
    assert r.status_code == 204
    # revoking it again answers the same and records nothing more
    r = root.request("DELETE", f"/users/{someone.id}/impersonation_tokens/{t['id']}")
    assert r.status_code == 204
    mine = [e for e in events(root, "/audit_events", entity_type="User", entity_id=someone.id)
            if e["details"].get("target_id") == t["id"]]
    revoked, created = mine
    assert created["details"]["custom_message"] == f"Created impersonation token with id {t['id']}"
    assert (revoked["author_id"], revoked["details"]["custom_message"]) == (
        1, f"Revoked impersonation token with id {t['id']}")
    assert revoked["details"]["target_type"] == "PersonalAccessToken"
    assert revoked["details"]["target_details"] == "support"
    assert revoked["details"]["ip_address"] == "127.0.0.1"


def test_deploy_token_push_names_the_token(reg, root, uniq, tmp_path):
    owner = user(reg, root, f"dtp{uniq}")
    project = owner.ok("POST", "/projects", json={"name": f"dt{uniq}"})
    path = project["path_with_namespace"]
    dt = owner.ok("POST", f"/projects/{project['id']}/deploy_tokens",
                  json={"name": "robot", "scopes": ["read_registry", "write_registry"]})
    lay, desc = image_layout(str(tmp_path / "lay"), f"dt{uniq}")
    push(reg, f"{dt['username']}:{dt['token']}", lay, f"{path}:v1")
    [pushed] = [e for e in events(owner, f"/projects/{project['id']}/audit_events")
                if e["details"].get("target_type") == "ContainerRepository"]
    # GitLab's DeployTokenAuthor: id -2, the token's name
    assert (pushed["author_id"], pushed["details"]["author_name"]) == (-2, "robot")
    assert pushed["details"]["custom_message"] == (
        f"Pushed tag v1 ({desc['digest']}) to container repository {path}")
    assert pushed["details"]["ip_address"] == "127.0.0.1"


def test_analyze_samples_few_of_the_wide_rows(pg, workdir, uniq):
    # (an instance of its own: the rows written here would show in the instance's listing)
    r = Registry(pg, workdir, f"regauditstats_{uniq}").start()
    try:
        out = subprocess.run(
            ["psql", "-X", "-q", "-h", r.pg.sock_dir, "-U", "postgres", "-d", r.name, "-c", """
                INSERT INTO audit_events (author_id, author_name, author_email, entity_type,
                                          entity_id, entity_path, target_details, details)
                SELECT g % 50, 'Author ' || g, 'author' || g || '@example.com', 'Project',
                       g % 300, 'group/project' || g % 300, 'group/project/image',
                       jsonb_build_object('custom_message', repeat('Pushed tag ', 20) || g)
                  FROM generate_series(1, 10000) g;
                ANALYZE VERBOSE audit_events;"""],
            capture_output=True, text=True, check=True)
    finally:
        r.stop()
    # a target of 10: 3,000 rows held at once rather than every one of the 10,000
    assert "3000 rows in sample" in out.stderr, out.stderr

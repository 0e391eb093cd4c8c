"""Who may do what with the Container Registry API, and GitLab's answers, checked with curl:
200/202 for what a role allows, 401 without valid credentials, 403 for a role too low, 404
"Project Not Found" from every endpoint of a project one cannot see, GitLab's 400 bodies."""
import json
import subprocess

import pytest

from regapi import creds_of, image_layout, push
from tenancy import anonymous, create_user


def curl(registry, method, path, token=None, data=None, bearer=False):
    """(status, JSON body or text) of a curl call to /api/v4."""
    cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--request", method]
    if token is not None:
        cmd += ["--header", f"Authorization: Bearer {token}" if bearer
                else f"PRIVATE-TOKEN: {token}"]
    for d in data or []:
        cmd += ["--data-urlencode", d]
    cmd.append(f"{registry.url}/api/v4{path}")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    body, _, status = res.stdout.rpartition("\n")
    try:
        return int(status), json.loads(body) if body else None
    except ValueError:
        return int(status), body


@pytest.fixture
def world(registry, uniq, tmp_path):
    """A private project with one image (owner alice) and people with each role, an outsider
    and an admin; a public project with an image too."""
    people = {name: create_user(registry, f"{name}{uniq}", admin=(name == "admin"))
              for name in ("alice", "guest", "reporter", "developer", "maintainer", "outsider",
                           "admin")}
    alice = people["alice"]
    group = alice.ok("POST", "/groups", json={"name": f"g{uniq}", "path": f"g{uniq}"})
    project = alice.ok("POST", "/projects", json={"name": "secret", "namespace_id": group["id"]})
    public = alice.ok("POST", "/projects", json={"name": "open", "namespace_id": group["id"]})
    for role, level in (("guest", 10), ("reporter", 20), ("developer", 30), ("maintainer", 40)):
        alice.ok("POST", f"/projects/{project['id']}/members",
                 json={"user_id": people[role].id, "access_level": level}, status=201)
    lay, _ = image_layout(str(tmp_path / "img"), f"rights{uniq}")
    for tag in ("v1", "v2", "v3"):
        push(registry, creds_of(alice), lay, f"{project['path_with_namespace']}:{tag}")
    push(registry, creds_of(alice), lay, f"{public['path_with_namespace']}:v1")
    repo = alice.ok("GET", f"/projects/{project['id']}/registry/repositories")[0]
    return {"people": people, "group": group, "project": project, "repo": repo,
            "public": public}


def endpoints(project_id, repo_id):
    base = f"/projects/{project_id}/registry/repositories"
    return [("GET", base), ("DELETE", f"{base}/{repo_id}"), ("GET", f"{base}/{repo_id}/tags"),
            ("DELETE", f"{base}/{repo_id}/tags"), ("GET", f"{base}/{repo_id}/tags/v1"),
            ("DELETE", f"{base}/{repo_id}/tags/v1")]


def test_outsiders_get_404_project_not_found_everywhere(registry, world):
    people, project, repo = world["people"], world["project"], world["repo"]
    outsider = people["outsider"]
    for method, path in endpoints(project["id"], repo["id"]):
        for p in (path, path.replace(str(project["id"]), project["path_with_namespace"].replace(
                "/", "%2F"), 1)):
            assert curl(registry, method, p, outsider.token,
                        data=["name_regex_delete=.*"] if method == "DELETE" else None) == (
                404, {"message": "404 Project Not Found"}), (method, p)
    # the repository by its own id, and the group, say no more
    assert curl(registry, "GET", f"/registry/repositories/{repo['id']}", outsider.token) == (
        404, {"message": "404 Not found"})
    assert curl(registry, "GET", f"/groups/{world['group']['id']}/registry/repositories",
                outsider.token) == (404, {"message": "404 Group Not Found"})
    # an unknown project answers the same
    assert curl(registry, "GET", "/projects/999999999/registry/repositories",
                outsider.token) == (404, {"message": "404 Project Not Found"})
    # and nothing was deleted
    tags = curl(registry, "GET", f"/projects/{project['id']}/registry/repositories/{repo['id']}"
                "/tags", people["alice"].token)[1]
    assert [t["name"] for t in tags] == ["v1", "v2", "v3"]


def test_roles(registry, world):
    people, project, repo = world["people"], world["project"], world["repo"]
    pid, rid = project["id"], repo["id"]
    base = f"/projects/{pid}/registry/repositories/{rid}"
    forbidden = (403, {"message": "403 Forbidden"})
    # a Guest sees the project but not its images
    guest = people["guest"].token
    for method, path in endpoints(pid, rid):
        assert curl(registry, method, path, guest) == forbidden, (method, path)
    assert curl(registry, "GET", f"/registry/repositories/{rid}", guest) == forbidden
    assert curl(registry, "GET", f"/groups/{world['group']['id']}/registry/repositories",
                guest)[1] == []
    # a Reporter reads, deletes nothing
    reporter = people["reporter"].token
    status, repos = curl(registry, "GET", f"/projects/{pid}/registry/repositories", reporter)
    assert status == 200 and [r["id"] for r in repos] == [rid]
    assert "delete_api_path" not in repos[0]
    assert curl(registry, "GET", f"{base}/tags/v1", reporter)[0] == 200
    assert curl(registry, "GET", f"/registry/repositories/{rid}?size=true", reporter)[0] == 200
    assert curl(registry, "DELETE", f"{base}/tags/v1", reporter) == forbidden
    assert curl(registry, "DELETE", f"{base}/tags", reporter, ["name_regex_delete=.*"]) == forbidden
    assert curl(registry, "DELETE", base, reporter) == forbidden
    # a Developer deletes tags one by one, not in bulk, not the repository
    developer = people["developer"].token
    assert curl(registry, "DELETE", f"{base}/tags/v1", developer) == (200, 200)
    assert curl(registry, "DELETE", f"{base}/tags/v1", developer) == (
        404, {"message": "404 Tag Not Found"})
    assert curl(registry, "DELETE", f"{base}/tags", developer, ["name_regex_delete=.*"]) == forbidden
    assert curl(registry, "DELETE", base, developer) == forbidden
    # a Maintainer deletes in bulk (with Authorization: Bearer, as GitLab takes it too)
    maintainer = people["maintainer"].token
    assert curl(registry, "DELETE", f"{base}/tags", maintainer,
                ["name_regex_delete=v2"], bearer=True) == (202, 202)
    # an admin may do everything (the repository deletion is the last thing here)
    assert curl(registry, "GET", f"{base}/tags", people["admin"].token)[0] == 200
    assert curl(registry, "DELETE", base, people["admin"].token) == (202, 202)


def test_registry_access_levels(registry, uniq, world):
    people, project = world["people"], world["project"]
    alice, reporter, admin = people["alice"], people["reporter"], people["admin"]
    pid = project["id"]
    path = f"/projects/{pid}/registry/repositories"
    # private: members with Reporter or more only, as for a private project
    alice.ok("PUT", f"/groups/{world['group']['id']}", json={"visibility": "internal"})
    alice.ok("PUT", f"/projects/{pid}", json={"container_registry_access_level": "private",
                                              "visibility": "internal"})
    assert curl(registry, "GET", path, reporter.token)[0] == 200
    assert curl(registry, "GET", path, people["outsider"].token) == (
        403, {"message": "403 Forbidden"})
    # enabled on an internal project: any signed-in user reads, anonymous callers do not see it
    alice.ok("PUT", f"/projects/{pid}", json={"container_registry_access_level": "enabled"})
    assert curl(registry, "GET", path, people["outsider"].token)[0] == 200
    assert curl(registry, "GET", path) == (404, {"message": "404 Project Not Found"})
    # disabled: nobody, admins included
    alice.ok("PUT", f"/projects/{pid}", json={"container_registry_access_level": "disabled"})
    for who in (alice, admin):
        assert curl(registry, "GET", path, who.token) == (403, {"message": "403 Forbidden"})


def test_anonymous_and_bad_credentials(registry, uniq, world):
    people, public = world["people"], world["public"]
    alice = people["alice"]
    group_id = world["group"]["id"]
    alice.ok("PUT", f"/groups/{group_id}", json={"visibility": "public"})
    alice.ok("PUT", f"/projects/{public['id']}", json={"visibility": "public"})
    path = f"/projects/{public['id']}/registry/repositories"
    # anyone reads a public project's images, as anyone may pull them
    status, repos = curl(registry, "GET", path)
    assert status == 200 and len(repos) == 1
    rid = repos[0]["id"]
    assert curl(registry, "GET", f"{path}/{rid}/tags/v1")[0] == 200
    assert [r["path"] for r in curl(registry, "GET",
                                    f"/groups/{group_id}/registry/repositories")[1]] == [
        public["path_with_namespace"]]
    # writing needs a signed-in caller
    unauthorized = (401, {"message": "401 Unauthorized"})
    assert curl(registry, "DELETE", f"{path}/{rid}/tags/v1") == unauthorized
    assert curl(registry, "DELETE", f"{path}/{rid}") == unauthorized
    # a wrong token is refused before anything, reads included
    assert curl(registry, "GET", path, "glpat-" + "x" * 40)[0] == 401
    assert curl(registry, "DELETE", f"{path}/{rid}/tags/v1", "glpat-" + "x" * 40)[0] == 401
    assert curl(registry, "GET", f"{path}/{rid}/tags")[1][0]["name"] == "v1"


def test_not_found_and_bad_requests(registry, uniq, world, tmp_path):
    people, project, repo = world["people"], world["project"], world["repo"]
    alice = people["alice"].token
    pid, rid = project["id"], repo["id"]
    base = f"/projects/{pid}/registry/repositories"
    not_found = (404, {"message": "404 Not found"})
    assert curl(registry, "GET", f"{base}/999999999/tags", alice) == not_found
    assert curl(registry, "GET", f"{base}/999999999/tags/v1", alice) == not_found
    assert curl(registry, "DELETE", f"{base}/999999999/tags/v1", alice) == not_found
    assert curl(registry, "DELETE", f"{base}/999999999", alice) == not_found
    assert curl(registry, "DELETE", f"{base}/999999999/tags", alice,
                ["name_regex_delete=.*"]) == not_found
    assert curl(registry, "GET", "/registry/repositories/999999999", alice) == not_found
    assert curl(registry, "GET", "/registry/repositories/abc", alice) == not_found
    # a repository of another project is not found through this one
    other = world["public"]
    assert curl(registry, "GET", f"/projects/{other['id']}/registry/repositories/{rid}/tags",
                alice) == not_found
    assert curl(registry, "GET", f"{base}/{rid}/tags/nope", alice) == (
        404, {"message": "404 Tag Not Found"})
    assert curl(registry, "GET", f"{base}/{rid}/tags/..bad..", alice) == (
        404, {"message": "404 Tag Not Found"})
    assert curl(registry, "GET", f"{base}/abc/tags", alice) == (
        400, {"error": "repository_id is invalid"})
    assert curl(registry, "GET", f"{base}/{rid}/tags?pagination=cursor", alice) == (
        400, {"error": "pagination does not have a valid value"})
    assert curl(registry, "GET", f"{base}?tags=maybe", alice) == (400, {"error": "tags is invalid"})

    bulk = f"{base}/{rid}/tags"
    assert curl(registry, "DELETE", bulk, alice) == (400, {
        "error": "name_regex, name_regex_delete are missing, at least one parameter must be "
                 "provided"})
    status, body = curl(registry, "DELETE", bulk, alice, ["name_regex_delete=(unclosed"])
    assert status == 400
    assert body["error"].startswith("name_regex_delete is an invalid regexp: missing closing "
                                    "parenthesis")
    status, body = curl(registry, "DELETE", bulk, alice, ["name_regex=.*",
                                                          "name_regex_keep=[z-a]"])
    assert status == 400 and body["error"].startswith("name_regex_keep is an invalid regexp: ")
    assert curl(registry, "DELETE", bulk, alice, ["name_regex_delete=(a)\\1"]) == (400, {
        "error": "name_regex_delete is an invalid regexp: backreferences are not supported"})
    assert curl(registry, "DELETE", bulk, alice, ["name_regex_delete=.*", "keep_n=two"]) == (
        400, {"error": "keep_n is invalid"})
    assert curl(registry, "DELETE", bulk, alice, ["name_regex_delete=.*", "keep_n=-1"]) == (
        400, {"error": "keep_n does not have a valid value"})
    assert curl(registry, "DELETE", bulk, alice, ["name_regex_delete=.*",
                                                  "older_than=a while"]) == (
        400, {"error": "older_than is invalid"})
    # none of that counted against the hourly limit, or deleted anything
    assert curl(registry, "DELETE", bulk, alice, ["name_regex_delete=nothing-matches"]) == (
        202, 202)
    assert curl(registry, "DELETE", bulk, alice, ["name_regex_delete=.*"]) == (400, {
        "message": "This request has already been made. You can run this at most once an hour "
                   "for a given container repository"})
    tags = curl(registry, "GET", f"{bulk}", alice)[1]
    assert [t["name"] for t in tags] == ["v1", "v2", "v3"]


def test_group_listing_follows_rights_and_subgroups(registry, uniq, tmp_path):
    alice = create_user(registry, f"alice{uniq}")
    bob = create_user(registry, f"bob{uniq}")
    top = alice.ok("POST", "/groups", json={"name": f"top{uniq}", "path": f"top{uniq}"})
    sub = alice.ok("POST", "/groups", json={"name": "sub", "path": "sub", "parent_id": top["id"]})
    a = alice.ok("POST", "/projects", json={"name": "a", "namespace_id": top["id"]})
    b = alice.ok("POST", "/projects", json={"name": "b", "namespace_id": sub["id"]})
    lay, _ = image_layout(str(tmp_path / "img"), f"groups{uniq}")
    for p in (a, b):
        push(registry, creds_of(alice), lay, f"{p['path_with_namespace']}:v1")
        push(registry, creds_of(alice), lay, f"{p['path_with_namespace']}/x:v1")
    assert len(alice.ok("GET", f"/groups/{top['id']}/registry/repositories")) == 4
    assert [r["path"] for r in alice.ok("GET", f"/groups/{sub['id']}/registry/repositories")] == [
        b["path_with_namespace"], f"{b['path_with_namespace']}/x"]
    # bob, Reporter of b only, sees b's repositories through the top group
    alice.ok("POST", f"/projects/{b['id']}/members", json={"user_id": bob.id,
                                                            "access_level": 20}, status=201)
    status, repos = curl(registry, "GET", f"/groups/{top['id']}/registry/repositories", bob.token)
    assert status == 200 and {r["project_id"] for r in repos} == {b["id"]}
    # pagination headers as GitLab's
    r = alice.get(f"/groups/{top['id']}/registry/repositories", params={"per_page": 3})
    assert r.headers["X-Total"] == "4" and r.headers["X-Total-Pages"] == "2"
    assert len(r.json()) == 3 and 'rel="next"' in r.headers["Link"]
    # by full path too
    status, repos = curl(registry, "GET", f"/groups/top{uniq}%2Fsub/registry/repositories",
                         alice.token)
    assert status == 200 and len(repos) == 2
    assert anonymous(registry).get(f"/groups/{top['id']}/registry/repositories").status_code == 404

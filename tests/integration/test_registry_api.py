"""GitLab's Container Registry API driven by python-gitlab, unchanged: images pushed with skopeo
(signing in with a personal access token through the token service) appear as repositories and
tags, with GitLab's fields; tags and repositories deleted over the API are gone from /v2."""
import datetime
import json

import gitlab
import pytest
import requests

from regapi import creds_of, image_layout, image_sizes, inspect_digest, push, wait_until
from registry import skopeo
from tenancy import create_user


def iso(text):
    """An ISO 8601 time with a zone (GitLab's "Z" or "+00:00")."""
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert t.tzinfo is not None, text
    return t


def test_xiaomage_group_and_projects_with_python_gitlab(make_registry, tmp_path):
    """The group of GitLab's documentation: two projects, three images, one group listing."""
    reg = make_registry().start()
    alice = create_user(reg, "alice")
    gl = alice.gitlab()
    group = gl.groups.create({"name": "xiaomage", "path": "xiaomage"})
    cr = gl.projects.create({"name": "cr-demo", "namespace_id": group.id})
    var = gl.projects.create({"name": "var-demo", "namespace_id": group.id})
    creds = creds_of(alice)
    images = {}
    for ref in ("xiaomage/cr-demo:0.0.1", "xiaomage/var-demo:0.0.1",
                "xiaomage/cr-demo/my/demo-image:0.0.1"):
        lay, desc = image_layout(str(tmp_path / ref.replace("/", "_").replace(":", "_")), ref)
        push(reg, creds, lay, ref)
        images[ref] = (lay, desc)

    repos = group.registry_repositories.list()
    assert [r.name for r in repos] == ["", "", "my/demo-image"]
    assert [r.path for r in repos] == ["xiaomage/cr-demo", "xiaomage/var-demo",
                                       "xiaomage/cr-demo/my/demo-image"]
    assert [r.project_id for r in repos] == [cr.id, var.id, cr.id]
    for r in repos:
        assert r.location == f"{reg.host}/{r.path}"
        assert r.status is None and r.cleanup_policy_started_at is None
        iso(r.created_at)
        # Owner of the group: may delete them
        assert r.delete_api_path == (
            f"{reg.url}/api/v4/projects/{r.project_id}/registry/repositories/{r.id}")

    listed = cr.repositories.list(tags=True, tags_count=True)
    assert [(r.name, r.tags_count) for r in listed] == [("", 1), ("my/demo-image", 1)]
    # (python-gitlab's .tags is the tags manager; the listed tags are in the attributes)
    assert listed[1].attributes["tags"] == [{"name": "0.0.1", "path": "xiaomage/cr-demo/my/demo-image:0.0.1",
                               "location": f"{reg.host}/xiaomage/cr-demo/my/demo-image:0.0.1"}]
    plain = cr.repositories.list()
    assert "tags" not in plain[0].attributes and "tags_count" not in plain[0].attributes

    # the tags manager of a repository listed through the group works as one of the project's
    demo = repos[2]
    assert [t.name for t in demo.tags.list()] == ["0.0.1"]
    tag = demo.tags.get(id="0.0.1")
    ref = "xiaomage/cr-demo/my/demo-image:0.0.1"
    lay, desc = images[ref]
    config, total = image_sizes(lay, desc)
    assert tag.name == "0.0.1"
    assert tag.path == ref
    assert tag.location == f"{reg.host}/{ref}"
    assert tag.digest == inspect_digest(reg, creds, ref) == desc["digest"]
    assert tag.revision == config.split(":")[1]
    assert tag.short_revision == tag.revision[:9]
    assert tag.total_size == total
    assert abs(iso(tag.created_at) - datetime.datetime.now(datetime.timezone.utc)).total_seconds() < 600


def v2_tags(registry, caller, path, **params):
    """/v2 tags/list, asked until every metad worker has answered it twice (the second time
    from what it kept); all answers must agree. None for 404 NAME_UNKNOWN."""
    token = registry.registry_token([f"repository:{path}:pull"], caller.username, caller.token)
    answers = []

    def ask():
        return requests.get(f"{registry.url}/v2/{path}/tags/list", params=params,
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
    for served in registry.every_worker("metad", ask, each=2).values():
        for r in served:
            if r.status_code == 404:
                assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN"
                answers.append(None)
            else:
                assert r.status_code == 200, r.text
                answers.append((r.json()["tags"], r.headers.get("Link")))
    assert all(a == answers[0] for a in answers), answers
    return answers[0] and answers[0][0]


def test_tags_repositories_and_deletion_with_python_gitlab(registry, uniq, tmp_path):
    """Every change over the API also shows in /v2 tags/list at once (metad keeps those answers
    while the repository's tags stay as they were)."""
    alice = create_user(registry, f"alice{uniq}")
    gl = alice.gitlab()
    project = gl.projects.create({"name": f"app{uniq}"})
    path = project.path_with_namespace
    creds = creds_of(alice)
    lay, desc = image_layout(str(tmp_path / "a"), "app", layers=2)
    other, other_desc = image_layout(str(tmp_path / "b"), "other")
    for tag in ("1.0", "1.1", "latest"):
        push(registry, creds, lay, f"{path}:{tag}")
    push(registry, creds, other, f"{path}:2.0")

    [repo] = project.repositories.list()
    assert [t.name for t in repo.tags.list()] == ["1.0", "1.1", "2.0", "latest"]
    assert v2_tags(registry, alice, path) == ["1.0", "1.1", "2.0", "latest"]
    assert v2_tags(registry, alice, path, n=2) == ["1.0", "1.1"]
    # the deduplicated size: both images once, however many tags point at them
    one = gl.registry_repositories.get(repo.id, tags=True, tags_count=True, size=True)
    assert one.path == path and one.project_id == project.id
    assert one.tags_count == 4 and [t["name"] for t in one.tags] == ["1.0", "1.1", "2.0", "latest"]
    assert one.size == image_sizes(lay, desc)[1] + image_sizes(other, other_desc)[1]
    bare = gl.registry_repositories.get(repo.id)
    assert "size" not in bare.attributes and "tags" not in bare.attributes

    # one tag: gone from the API and from /v2 at once; its manifest stays for the other tags
    repo.tags.get(id="1.0").delete()
    assert [t.name for t in repo.tags.list()] == ["1.1", "2.0", "latest"]
    assert v2_tags(registry, alice, path) == ["1.1", "2.0", "latest"]
    assert v2_tags(registry, alice, path, n=2) == ["1.1", "2.0"]
    with pytest.raises(gitlab.exceptions.GitlabGetError) as e:
        repo.tags.get(id="1.0")
    assert e.value.response_code == 404
    gone = skopeo("inspect", "--tls-verify=false", "--creds", creds,
                  f"docker://{registry.host}/{path}:1.0", check=False)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr
    assert inspect_digest(registry, creds, f"{path}:1.1") == desc["digest"]
    # a tag pushed over /v2 appears at once
    push(registry, creds, other, f"{path}:2.1")
    assert "2.1" in [t.name for t in repo.tags.list()]
    assert v2_tags(registry, alice, path) == ["1.1", "2.0", "2.1", "latest"]

    # bulk: everything but the newest one (and latest, never deleted)
    repo.tags.delete_in_bulk(name_regex_delete=".*", keep_n=1)
    wait_until(lambda: len(repo.tags.list()) == 2, "bulk deletion")
    left = [t.name for t in repo.tags.list()]
    assert "latest" in left and len(left) == 2
    assert v2_tags(registry, alice, path) == left
    with pytest.raises(gitlab.exceptions.GitlabDeleteError) as e:
        repo.tags.delete_in_bulk(name_regex_delete=".*")
    assert e.value.response_code == 400
    assert "at most once an hour" in e.value.error_message

    # the repository: scheduled, then gone; a push afterwards starts a new one
    project.repositories.delete(repo.id)
    wait_until(lambda: project.repositories.list() == [], "repository deletion")
    assert v2_tags(registry, alice, path) is None
    with pytest.raises(gitlab.exceptions.GitlabGetError):
        gl.registry_repositories.get(repo.id)
    gone = skopeo("inspect", "--tls-verify=false", "--creds", creds,
                  f"docker://{registry.host}/{path}:latest", check=False)
    assert gone.returncode != 0
    push(registry, creds, lay, f"{path}:again")
    [again] = project.repositories.list()
    assert again.id != repo.id and [t.name for t in again.tags.list()] == ["again"]
    assert v2_tags(registry, alice, path) == ["again"]


def test_tags_pagination_offset_and_keyset(registry, uniq, tmp_path):
    alice = create_user(registry, f"alice{uniq}")
    gl = alice.gitlab()
    project = gl.projects.create({"name": f"pages{uniq}"})
    path = project.path_with_namespace
    creds = creds_of(alice)
    lay, _ = image_layout(str(tmp_path / "a"), "pages")
    names = [f"v{i:02d}" for i in range(7)]
    for name in names:
        push(registry, creds, lay, f"{path}:{name}")
    [repo] = project.repositories.list()
    base = f"/projects/{project.id}/registry/repositories/{repo.id}/tags"
    h = {"PRIVATE-TOKEN": alice.token}

    # offset: GitLab's headers, python-gitlab follows them
    r = requests.get(f"{registry.url}/api/v4{base}", params={"per_page": 3, "page": 2},
                     headers=h, timeout=30)
    assert r.status_code == 200
    assert [t["name"] for t in r.json()] == names[3:6]
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Page"],
            r.headers["X-Next-Page"], r.headers["X-Prev-Page"]) == ("7", "3", "2", "3", "1")
    assert [t.name for t in repo.tags.list(per_page=2, get_all=True)] == names

    # keyset: only a Link to the next page, in either direction
    r = requests.get(f"{registry.url}/api/v4{base}",
                     params={"pagination": "keyset", "per_page": 3, "sort": "desc"},
                     headers=h, timeout=30)
    assert [t["name"] for t in r.json()] == ["v06", "v05", "v04"]
    assert "X-Total" not in r.headers
    link = r.headers["Link"]
    assert link.endswith('>; rel="next"') and "last=v04" in link and "sort=desc" in link
    nxt = requests.get(link[1:link.index(">")], headers=h, timeout=30)
    assert [t["name"] for t in nxt.json()] == ["v03", "v02", "v01"]
    seen = [t.name for t in repo.tags.list(pagination="keyset", per_page=3, get_all=True)]
    assert seen == names
    last = requests.get(f"{registry.url}/api/v4{base}", headers=h, timeout=30,
                        params={"pagination": "keyset", "per_page": 3, "last": "v03"})
    assert [t["name"] for t in last.json()] == ["v04", "v05", "v06"]
    assert "Link" not in last.headers

    # name: the tags whose name holds it (any case), offset or keyset; X-Total counts them
    r = requests.get(f"{registry.url}/api/v4{base}", params={"name": "V0", "per_page": 2},
                     headers=h, timeout=30)
    assert [t["name"] for t in r.json()] == names[:2] and r.headers["X-Total"] == "7"
    r = requests.get(f"{registry.url}/api/v4{base}", params={"name": "5"}, headers=h, timeout=30)
    assert [t["name"] for t in r.json()] == ["v05"] and r.headers["X-Total"] == "1"
    assert [t.name for t in repo.tags.list(name="x", get_all=True)] == []
    # order_by=published_at: when each tag last moved; the keyset cursor is still a tag name
    stamps = {n: f"2024-01-{10 - i:02d}T00:00:00Z" for i, n in enumerate(names)}
    values = ", ".join(f"('{n}', '{t}'::timestamptz)" for n, t in stamps.items())
    registry.pg.psql(registry.name, (
        f"UPDATE tags SET updated_at = v.t FROM (VALUES {values}) v(n, t) "
        f"WHERE tags.repository_id = {repo.id} AND tags.name = v.n"))
    by_date = [t.name for t in repo.tags.list(pagination="keyset", order_by="published_at",
                                               per_page=3, get_all=True)]
    assert by_date == names[::-1]
    r = requests.get(f"{registry.url}/api/v4{base}", headers=h, timeout=30, params={
        "pagination": "keyset", "order_by": "published_at", "sort": "desc", "per_page": 4})
    assert [t["name"] for t in r.json()] == names[:4] and "order_by=published_at" in r.headers["Link"]
    nxt = requests.get(r.headers["Link"][1:r.headers["Link"].index(">")], headers=h, timeout=30)
    assert [t["name"] for t in nxt.json()] == names[4:] and "Link" not in nxt.headers
    r = requests.get(f"{registry.url}/api/v4{base}", params={"order_by": "size"}, headers=h,
                     timeout=30)
    assert r.status_code == 400 and r.json() == {"error": "order_by does not have a valid value"}


def test_cleanup_policy_attributes_on_projects(registry, uniq):
    alice = create_user(registry, f"alice{uniq}")
    gl = alice.gitlab()
    project = gl.projects.create({"name": f"policy{uniq}"})
    assert project.container_expiration_policy == {
        "cadence": "1d", "enabled": False, "keep_n": 10, "older_than": "90d",
        "name_regex": ".*", "name_regex_keep": None, "next_run_at": None}
    project.container_expiration_policy_attributes = {
        "enabled": True, "cadence": "7d", "keep_n": 5, "older_than": "14d",
        "name_regex_delete": "v.*", "name_regex_keep": "stable"}
    project.save()
    policy = gl.projects.get(project.id).container_expiration_policy
    assert {k: v for k, v in policy.items() if k != "next_run_at"} == {
        "cadence": "7d", "enabled": True, "keep_n": 5, "older_than": "14d",
        "name_regex": "v.*", "name_regex_keep": "stable"}
    ahead = iso(policy["next_run_at"]) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=6, hours=23) < ahead <= datetime.timedelta(days=7)

    # a form, as curl scripts send it; null clears what may be empty
    r = requests.put(f"{registry.url}/api/v4/projects/{project.id}",
                     headers={"PRIVATE-TOKEN": alice.token},
                     data={"container_expiration_policy_attributes[keep_n]": "100",
                           "container_expiration_policy_attributes[enabled]": "false"},
                     timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["container_expiration_policy"]["keep_n"] == 100
    assert r.json()["container_expiration_policy"]["enabled"] is False
    r = alice.put(f"/projects/{project.id}",
                  json={"container_expiration_policy_attributes": {"name_regex_keep": None}})
    assert r.json()["container_expiration_policy"]["name_regex_keep"] is None
    assert r.json()["container_expiration_policy"]["cadence"] == "7d"

    def refused(attrs):
        r = alice.put(f"/projects/{project.id}",
                      json={"container_expiration_policy_attributes": attrs})
        return r.status_code, r.json()

    assert refused({"cadence": "2d"}) == (400, {"message": {
        "container_expiration_policy.cadence": ["is not included in the list"]}})
    assert refused({"keep_n": 7}) == (400, {"message": {
        "container_expiration_policy.keep_n": ["is not included in the list"]}})
    assert refused({"older_than": "1d"}) == (400, {"message": {
        "container_expiration_policy.older_than": ["is not included in the list"]}})
    assert refused({"keep_n": "many"}) == (400, {
        "error": "container_expiration_policy_attributes[keep_n] is invalid"})
    assert refused({"enabled": "maybe"}) == (400, {
        "error": "container_expiration_policy_attributes[enabled] is invalid"})
    status, body = refused({"name_regex": "(unclosed"})
    assert status == 400
    assert body["message"]["container_expiration_policy.name_regex"][0].startswith(
        "not valid RE2 syntax: ")
    r = alice.put(f"/projects/{project.id}",
                  json={"container_expiration_policy_attributes": "weekly"})
    assert (r.status_code, r.json()) == (400, {
        "error": "container_expiration_policy_attributes is invalid"})
    # nothing of the refused ones stuck
    assert gl.projects.get(project.id).container_expiration_policy["keep_n"] == 100

    # Maintainers change it; a Developer may not
    dev = create_user(registry, f"dev{uniq}")
    project.members.create({"user_id": dev.id, "access_level": gitlab.const.DEVELOPER_ACCESS})
    r = dev.put(f"/projects/{project.id}",
                json={"container_expiration_policy_attributes": {"enabled": True}})
    assert r.status_code == 403
    assert gl.projects.get(project.id).container_expiration_policy["enabled"] is False
    # every project of a list carries it
    listed = [p for p in gl.projects.list(owned=True) if p.id == project.id]
    assert listed[0].container_expiration_policy["keep_n"] == 100

    # a new project may come with one
    made = gl.projects.create({"name": f"policy-new{uniq}", "container_expiration_policy_attributes":
                               {"enabled": True, "keep_n": 25, "name_regex_keep": "main-.*"}})
    assert made.container_expiration_policy["keep_n"] == 25
    assert made.container_expiration_policy["enabled"] is True
    assert made.container_expiration_policy["name_regex_keep"] == "main-.*"
    r = alice.post("/projects", json={"name": f"policy-bad{uniq}",
                                      "container_expiration_policy_attributes": {"cadence": "1y"}})
    assert r.status_code == 400
    assert not [p for p in gl.projects.list(owned=True) if p.name == f"policy-bad{uniq}"]


def test_json_shapes_with_curl(registry, uniq, tmp_path):
    """The bytes curl sees: GitLab's field order and types."""
    alice = create_user(registry, f"alice{uniq}")
    project = alice.ok("POST", "/projects", json={"name": f"shape{uniq}"})
    path = project["path_with_namespace"]
    lay, _ = image_layout(str(tmp_path / "a"), "shape")
    push(registry, creds_of(alice), lay, f"{path}/tools/cli:v1")
    out = json.loads(_curl(registry, alice.token,
                           f"/projects/{project['id']}/registry/repositories?tags=1&tags_count=1"))
    assert list(out[0]) == ["id", "name", "path", "project_id", "location", "created_at",
                            "cleanup_policy_started_at", "tags_count", "tags", "delete_api_path",
                            "status"]
    assert out[0]["name"] == "tools/cli" and out[0]["path"] == f"{path}/tools/cli"
    # GitLab's name filter
    base = f"/projects/{project['id']}/registry/repositories"
    assert len(json.loads(_curl(registry, alice.token, f"{base}?name=CLI"))) == 1
    assert json.loads(_curl(registry, alice.token, f"{base}?name=%25")) == []
    tag = json.loads(_curl(registry, alice.token,
                           f"/projects/{project['id']}/registry/repositories/{out[0]['id']}"
                           "/tags/v1"))
    assert list(tag) == ["name", "path", "location", "revision", "short_revision", "digest",
                         "created_at", "total_size", "published_at"]
    assert isinstance(tag["total_size"], int) and tag["digest"].startswith("sha256:")
    assert tag["created_at"].endswith("+00:00")


def _curl(registry, token, path):
    import subprocess
    res = subprocess.run(["curl", "-sf", "--header", f"PRIVATE-TOKEN: {token}",
                          f"{registry.url}/api/v4{path}"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout

"""Protected and immutable container tags (GitLab's /projects/:id/registry/protection/tag/rules):
rules managed by Maintainers (immutable ones by Owners), validated as GitLab validates them, and
enforced wherever a tag changes: skopeo pushes, /v2 deletes by tag and by digest, the API's tag
deletion, bulk deletion and cleanup policies.

The instance looks for background work every second ([metad] jobs_interval), so bulk deletions
and a cleanup policy made due by SQL run within the test."""
import os

import pytest
import requests

from regapi import creds_of, image_layout, push, wait_until
from registry import Registry, skopeo
from tenancy import create_user


@pytest.fixture(scope="module")
def reg(pg, workdir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    r = Registry(pg, workdir, f"regprot_{worker}",
                 extra_config={"metad": {"jobs_interval": "1"}}).start()
    yield r
    r.stop()


def rules_path(pid):
    return f"/projects/{pid}/registry/protection/tag/rules"


def team(reg, uniq):
    """A project of an Owner, with a Developer and a Maintainer: (owner, dev, maintainer, project)."""
    owner = create_user(reg, f"own{uniq}")
    dev = create_user(reg, f"dev{uniq}")
    maint = create_user(reg, f"mnt{uniq}")
    p = owner.ok("POST", "/projects", json={"name": f"app{uniq}"})
    for user, level in ((dev, 30), (maint, 40)):
        owner.ok("POST", f"/projects/{p['id']}/members",
                 json={"user_id": user.id, "access_level": level})
    return owner, dev, maint, p


def copy(reg, caller, lay, ref):
    """skopeo copy as caller; the finished process (never raising)."""
    return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds_of(caller),
                  f"oci:{lay.path}:img", f"docker://{reg.host}/{ref}", check=False)


def v2_delete(reg, caller, path, ref):
    """DELETE /v2/<path>/manifests/<ref> with the token /jwt/auth gives caller."""
    token = reg.registry_token([f"repository:{path}:pull,push,delete"], caller.username,
                               caller.token)
    return requests.delete(f"{reg.url}/v2/{path}/manifests/{ref}",
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)


def tags_of(caller, pid):
    [repo] = caller.ok("GET", f"/projects/{pid}/registry/repositories")
    names = [t["name"] for t in caller.ok(
        "GET", f"/projects/{pid}/registry/repositories/{repo['id']}/tags?per_page=100")]
    return repo["id"], sorted(names)


def digest_of(caller, pid, rid, tag):
    return caller.ok("GET", f"/projects/{pid}/registry/repositories/{rid}/tags/{tag}")["digest"]


def test_protected_tags_push_and_delete(reg, uniq, tmp_path):
    owner, dev, maint, p = team(reg, uniq)
    path = p["path_with_namespace"]
    rule = maint.ok("POST", rules_path(p["id"]), json={
        "tag_name_pattern": "^v.*", "minimum_access_level_for_push": "maintainer",
        "minimum_access_level_for_delete": "owner"})
    assert rule == {"id": rule["id"], "project_id": p["id"], "tag_name_pattern": "^v.*",
                    "minimum_access_level_for_push": "maintainer",
                    "minimum_access_level_for_delete": "owner", "immutable": False}
    lay, _ = image_layout(str(tmp_path / "a"), "prot")

    # a Developer pushes what no rule protects, but not v1
    refused = copy(reg, dev, lay, f"{path}:v1")
    assert refused.returncode != 0 and "denied" in refused.stderr, refused.stderr
    assert "tag v1 is protected" in refused.stderr and "^v.*" in refused.stderr
    assert copy(reg, dev, lay, f"{path}:dev-1").returncode == 0
    # the Maintainer may push it
    assert copy(reg, maint, lay, f"{path}:v1").returncode == 0
    rid, names = tags_of(owner, p["id"])
    assert names == ["dev-1", "v1"]

    # deleting v1 over the API: refused below Owner with GitLab's message; dev-1 goes
    tag_url = f"/projects/{p['id']}/registry/repositories/{rid}/tags"
    for who in (dev, maint):
        r = who.request("DELETE", f"{tag_url}/v1")
        assert (r.status_code, r.json()) == (
            403, {"message": "403 Forbidden - cannot delete protected tag(s)"})
    # over /v2 the Developer gets no delete at all, the Maintainer is refused by the rule, by
    # tag and by the digest v1 points at (which would take v1 with it)
    assert v2_delete(reg, dev, path, "v1").status_code == 401
    digest = digest_of(owner, p["id"], rid, "v1")
    for ref in ("v1", digest):
        r = v2_delete(reg, maint, path, ref)
        assert r.status_code == 403, r.text
        [err] = r.json()["errors"]
        assert err["code"] == "DENIED" and "protection rule" in err["message"], err
    assert tags_of(owner, p["id"])[1] == ["dev-1", "v1"]
    dev.ok("DELETE", f"{tag_url}/dev-1", status=200)
    # the repository, with v1 in it, is the Owner's to delete too
    r = maint.request("DELETE", f"/projects/{p['id']}/registry/repositories/{rid}")
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})

    # the Owner may; and once the rule goes, the Developer pushes v2
    assert v2_delete(reg, owner, path, "v1").status_code == 202
    assert tags_of(owner, p["id"])[1] == []
    assert copy(reg, dev, lay, f"{path}:v2").returncode != 0
    owner.ok("DELETE", f"{rules_path(p['id'])}/{rule['id']}")
    assert copy(reg, dev, lay, f"{path}:v2").returncode == 0


def test_immutable_tags_stay(reg, uniq, tmp_path):
    owner, dev, maint, p = team(reg, uniq)
    path, pid = p["path_with_namespace"], p["id"]
    # Owners create immutable rules (this registry's REST extension: immutable=true)
    r = maint.request("POST", rules_path(pid),
                      json={"tag_name_pattern": "release-.*", "immutable": True})
    assert (r.status_code, r.json()) == (422, {
        "message": "Unauthorized to create an immutable protection rule for container image "
                   "tags"})
    rule = owner.ok("POST", rules_path(pid),
                    json={"tag_name_pattern": "release-.*", "immutable": True})
    assert rule["immutable"] is True and rule["minimum_access_level_for_push"] is None
    r = owner.request("PATCH", f"{rules_path(pid)}/{rule['id']}",
                      json={"tag_name_pattern": "rel-.*"})
    assert r.status_code == 422, r.text

    a, _ = image_layout(str(tmp_path / "a"), "imm-a")
    b, _ = image_layout(str(tmp_path / "b"), "imm-b")
    for tag in ("release-1", "dev-1", "dev-2"):
        assert copy(reg, dev, a, f"{path}:{tag}").returncode == 0
    # the same content again is fine; other content is refused, to admins too
    assert copy(reg, dev, a, f"{path}:release-1").returncode == 0
    root = create_user(reg, f"adm{uniq}", admin=True)
    for who in (dev, owner, root):
        refused = copy(reg, who, b, f"{path}:release-1")
        assert refused.returncode != 0 and "denied" in refused.stderr, refused.stderr
        assert "immutable" in refused.stderr
    rid, names = tags_of(owner, pid)
    digest = digest_of(owner, pid, rid, "release-1")

    # nobody deletes it: the API, /v2 by tag or digest, bulk deletion
    r = root.request("DELETE", f"/projects/{pid}/registry/repositories/{rid}/tags/release-1")
    assert (r.status_code, r.json()) == (
        403, {"message": "403 Forbidden - cannot delete protected tag(s)"})
    for ref in ("release-1", digest):
        r = v2_delete(reg, root, path, ref)
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED", r.text
    root.ok("DELETE", f"/projects/{pid}/registry/repositories/{rid}/tags", status=202,
            data={"name_regex_delete": ".*"})
    wait_until(lambda: tags_of(owner, pid)[1] == ["release-1"], "the bulk deletion")
    assert digest_of(owner, pid, rid, "release-1") == digest
    # nor the repository holding it (GitLab: a repository with tags, and a rule that would
    # refuse deleting one)
    r = root.request("DELETE", f"/projects/{pid}/registry/repositories/{rid}")
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})


def test_cleanup_policy_keeps_protected_tags(reg, uniq, tmp_path):
    owner, dev, maint, p = team(reg, uniq)
    path, pid = p["path_with_namespace"], p["id"]
    owner.ok("POST", rules_path(pid), json={
        "tag_name_pattern": "^v", "minimum_access_level_for_push": "maintainer",
        "minimum_access_level_for_delete": "maintainer"})
    owner.ok("POST", rules_path(pid), json={"tag_name_pattern": "^release-", "immutable": True})
    for i, tag in enumerate(("v1", "release-1", "dev-1", "dev-2")):
        lay, _ = image_layout(str(tmp_path / tag), f"pol-{i}")
        assert copy(reg, owner, lay, f"{path}:{tag}").returncode == 0
    rid, _ = tags_of(owner, pid)
    owner.ok("PUT", f"/projects/{pid}", status=200, json={
        "container_expiration_policy_attributes": {
            "enabled": True, "cadence": "1d", "keep_n": 1, "older_than": "7d",
            "name_regex": ".*"}})
    reg.pg.psql(reg.name, f"UPDATE manifests SET created_at = now() - interval '30 days'"
                          f" WHERE repository_id = {rid}")
    reg.pg.psql(reg.name, "UPDATE container_expiration_policies SET next_run_at = now()"
                          f" WHERE project_id = {pid}")
    # keep_n keeps the newest one; the protected v1 and the immutable release-1 are skipped
    wait_until(lambda: len(tags_of(owner, pid)[1]) == 3, "the cleanup policy's run")
    names = tags_of(owner, pid)[1]
    assert "v1" in names and "release-1" in names, names


def test_rule_validation_rights_and_isolation(reg, uniq):
    owner, dev, maint, p = team(reg, uniq)
    pid = p["id"]
    base = rules_path(pid)
    levels = {"minimum_access_level_for_push": "maintainer",
              "minimum_access_level_for_delete": "maintainer"}

    def refused(who, method, url, status, body, **kw):
        r = who.request(method, url, **kw)
        assert (r.status_code, r.json()) == (status, body), r.text

    refused(maint, "POST", base, 422, {"message": [
        "Tag name pattern not valid RE2 syntax: missing terminating ] for character class "
        "at offset 1"]}, json={"tag_name_pattern": "[", **levels})
    refused(maint, "POST", base, 422, {"message": [
        "Tag name pattern is too long (maximum is 100 characters)"]},
        json={"tag_name_pattern": "a" * 101, **levels})
    refused(maint, "POST", base, 400, {
        "error": "minimum_access_level_for_push does not have a valid value"},
        json={"tag_name_pattern": "x", "minimum_access_level_for_push": "developer",
              "minimum_access_level_for_delete": "owner"})
    refused(maint, "POST", base, 400, {"error": "minimum_access_level_for_delete is missing"},
            json={"tag_name_pattern": "x", "minimum_access_level_for_push": "owner"})
    # rights: Developers 403, someone who cannot see the project 404, anonymous 401
    outsider = create_user(reg, f"out{uniq}")
    refused(dev, "GET", base, 403, {"message": "403 Forbidden"})
    refused(dev, "POST", base, 403, {"message": "403 Forbidden"},
            json={"tag_name_pattern": "x", **levels})
    refused(outsider, "GET", base, 404, {"message": "404 Project Not Found"})
    r = requests.get(f"{reg.url}/api/v4{base}", timeout=30)
    assert r.status_code == 401

    made = [maint.ok("POST", base, json={"tag_name_pattern": f"p{i}", **levels})
            for i in range(4)]
    refused(maint, "POST", base, 422, {"message": ["Tag name pattern has already been taken"]},
            json={"tag_name_pattern": "p0", **levels})
    made.append(maint.ok("POST", base, json={"tag_name_pattern": "p4", **levels}))
    # five a project, immutable ones included
    refused(maint, "POST", base, 422, {
        "message": "Maximum number of protection rules have been reached."},
        json={"tag_name_pattern": "p5", **levels})
    assert maint.ok("GET", base) == made
    # update: a pattern another rule has, a bad level, then a good change
    refused(maint, "PATCH", f"{base}/{made[0]['id']}", 422, {"message": {"error": [
        "Tag name pattern has already been taken"]}}, json={"tag_name_pattern": "p1"})
    refused(maint, "PATCH", f"{base}/{made[0]['id']}", 400, {
        "error": "minimum_access_level_for_delete does not have a valid value"},
        json={"minimum_access_level_for_delete": "guest"})
    changed = maint.ok("PATCH", f"{base}/{made[0]['id']}", status=200,
                       json={"tag_name_pattern": "^stable$",
                             "minimum_access_level_for_push": "owner"})
    assert changed == {**made[0], "tag_name_pattern": "^stable$",
                       "minimum_access_level_for_push": "owner"}

    # another project's rule through this project's path: 404, and it stays
    other = maint.ok("POST", "/projects", json={"name": f"oth{uniq}"})
    theirs = maint.ok("POST", rules_path(other["id"]), json={"tag_name_pattern": "o", **levels})
    for method, kw in (("PATCH", {"json": {"tag_name_pattern": "z"}}), ("DELETE", {})):
        refused(maint, method, f"{base}/{theirs['id']}", 404, {"message": "404 Not found"}, **kw)
    assert maint.ok("GET", rules_path(other["id"])) == [theirs]
    maint.ok("DELETE", f"{base}/{made[4]['id']}")
    assert [r["id"] for r in maint.ok("GET", base)] == [r["id"] for r in made[:4]]
    refused(maint, "DELETE", f"{base}/{made[4]['id']}", 404, {"message": "404 Not found"})


def test_protected_repositories(reg, uniq, tmp_path):
    """GitLab's container repository protection rules: a path with * wildcards below the
    project; the token service leaves push (or delete) out for callers below the rule's level,
    and the API's deletions in the repository need its delete level."""
    owner, dev, maint, p = team(reg, uniq)
    path, pid = p["path_with_namespace"], p["id"]
    base = f"/projects/{pid}/registry/protection/repository/rules"

    def refused(who, method, url, status, body, **kw):
        r = who.request(method, url, **kw)
        assert (r.status_code, r.json()) == (status, body), r.text

    rule = maint.ok("POST", base, json={"repository_path_pattern": f"{path}/prod*",
                                        "minimum_access_level_for_push": "maintainer",
                                        "minimum_access_level_for_delete": "owner"})
    assert rule == {"id": rule["id"], "project_id": pid, "repository_path_pattern": f"{path}/prod*",
                    "minimum_access_level_for_push": "maintainer",
                    "minimum_access_level_for_delete": "owner"}
    # GitLab's checks and words
    refused(maint, "POST", base, 422, {"message": {"error": "Repository path pattern has already "
                                                            "been taken"}},
            json={"repository_path_pattern": f"{path}/prod*",
                  "minimum_access_level_for_push": "owner"})
    refused(maint, "POST", base, 422, {"message": {
        "error": "Repository path pattern should start with the project's full path"}},
        json={"repository_path_pattern": "other/prod*", "minimum_access_level_for_push": "owner"})
    refused(maint, "POST", base, 422, {"message": {
        "error": "Repository path pattern should be a valid container repository path with "
                 "optional wildcard characters."}},
        json={"repository_path_pattern": f"{path}/a b", "minimum_access_level_for_push": "owner"})
    refused(maint, "POST", base, 400, {
        "error": "minimum_access_level_for_push, minimum_access_level_for_delete are missing, "
                 "at least one parameter must be provided"},
        json={"repository_path_pattern": f"{path}/x*"})
    refused(dev, "GET", base, 403, {"message": "403 Forbidden"})
    refused(maint, "PATCH", f"{base}/{rule['id']}", 422, {"message": {
        "error": "A rule must have at least a minimum access role for push or delete."}},
        json={"minimum_access_level_for_push": "", "minimum_access_level_for_delete": ""})
    assert maint.ok("GET", base) == [rule]

    lay, _ = image_layout(str(tmp_path / "a"), "repo-prot")
    assert copy(reg, dev, lay, f"{path}/prod-app:1").returncode != 0
    assert copy(reg, dev, lay, f"{path}/dev-app:1").returncode == 0
    assert copy(reg, maint, lay, f"{path}/prod-app:1").returncode == 0
    repos = {r["path"]: r["id"] for r in owner.ok("GET", f"/projects/{pid}/registry/repositories")}
    prod = repos[f"{path}/prod-app"]
    tag_url = f"/projects/{pid}/registry/repositories/{prod}/tags/1"
    refused(maint, "DELETE", tag_url, 403, {"message": "403 Forbidden"})
    refused(maint, "DELETE", f"/projects/{pid}/registry/repositories/{prod}", 403,
            {"message": "403 Forbidden"})
    owner.ok("DELETE", tag_url, status=200)
    # unsetting one level keeps the rule; deleting it frees the Developer's pushes
    changed = maint.ok("PATCH", f"{base}/{rule['id']}", status=200,
                       json={"minimum_access_level_for_delete": ""})
    assert changed["minimum_access_level_for_delete"] is None
    maint.ok("DELETE", f"{base}/{rule['id']}")
    assert copy(reg, dev, lay, f"{path}/prod-app:2").returncode == 0

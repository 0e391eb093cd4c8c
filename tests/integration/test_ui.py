"""The web interface end to end in a real browser (tests/ui/ui.mjs: Debian's chromium, headless,
driven by playwright-core; axe-core on every page), against the real daemons: sign in, find the
image skopeo pushed, its digest as skopeo inspect reports it, delete a tag and see it gone from
/v2/.../tags/list, keyset pages of tags, a Reporter without delete buttons, a user of another
tenant who sees nothing. Screenshots go to $REGISTRY_TEST_ARTIFACTS/ui (else a temporary folder,
named in the test's junit properties and on standard output)."""
import json
import os

import requests

from regapi import image_layout, inspect_digest, push
from tenants import Tenancy
from uibrowser import assert_clean, tools_or_skip, walk
from v2util import V2

PAGED_TAGS = 23  # more than a page (20)
# what /oauth/token answers a wrong password (authd/oauth.c), shown as the API says it
WRONG_PASSWORD = ("The provided authorization grant is invalid, expired, revoked, does not "
                  "match the redirection URI used in the authorization request, or was issued "
                  "to another client.")


def ui_bytes(n):
    """A size as the interface writes it (ui/dom.js bytes())."""
    units, i = ["B", "KiB", "MiB", "GiB", "TiB"], 0
    while n >= 1024 and i < len(units) - 1:
        n, i = n / 1024, i + 1
    return (f"{n} " if i == 0 else f"{n:.1f} ") + units[i]


def tags_list(registry, user, path):
    token = registry.registry_token([f"repository:{path}:pull"], user["username"],
                                    user["password"])
    r = V2(registry, token).req("GET", f"/v2/{path}/tags/list")
    assert r.status_code == 200, r.text
    return r.json()["tags"]


def test_ui_in_a_browser(registry, uniq, tmp_path, record_property):
    tools_or_skip()
    t = Tenancy(registry)
    maintainer, reporter = t.user(f"{uniq}m"), t.user(f"{uniq}r")
    outsider = t.user(f"{uniq}o")
    gid = t.group(f"{uniq}g")
    pid, project = t.project(gid, "app")
    t.add_group_member(gid, maintainer["id"], "maintainer")
    t.add_project_member(pid, reporter["id"], "reporter")
    other_gid = t.group(f"{uniq}other")
    t.add_group_member(other_gid, outsider["id"], "owner")
    t.project(other_gid, "theirs")

    # skopeo pushes web:v1 and web:v2 as the maintainer; 23 tags of one image make pages
    creds = f"{maintainer['username']}:{maintainer['password']}"
    lay, _ = image_layout(str(tmp_path / "lay"), uniq)
    for tag in ("v1", "v2"):
        push(registry, creds, lay, f"{project}/web:{tag}")
    digest = inspect_digest(registry, creds, f"{project}/web:v1")
    many = f"{project}/many"
    token = registry.registry_token([f"repository:{many}:pull,push"], maintainer["username"],
                                    maintainer["password"])
    v2 = V2(registry, token)
    manifest_digest, m = v2.push_image(many, "t00")
    body = json.dumps(m, indent=2).encode()
    for i in range(1, PAGED_TAGS):
        assert v2.put_manifest(many, f"t{i:02d}", body).status_code == 201
    repos = registry.api("GET", f"/projects/{pid}/registry/repositories").json()
    ids = {r["name"]: r["id"] for r in repos}
    web_size = registry.api("GET", f"/registry/repositories/{ids['web']}?size=true").json()["size"]
    r = registry.api("PUT", f"/projects/{pid}", json={
        "container_expiration_policy_attributes": {"enabled": True, "cadence": "7d"}})
    assert r.status_code == 200, r.text

    plan = {
        "base": registry.url,
        "maintainer": maintainer, "reporter": reporter, "outsider": outsider,
        "project": project, "repository": "web", "tag": "v1", "delete_tag": "v2",
        "paged_repository_url": f"/{project}/container_registry/{ids['many']}",
        "group_url": f"/groups/{uniq}g/-/container_registries",
    }
    seen = walk("ui.mjs", plan, tmp_path, record_property)
    print("first page:", seen.get("first_page_bytes"), "bytes")
    shots = seen["shots"]

    # the pages, as the API has it
    assert seen["first_page_bytes"] < 150 * 1024, seen["first_page_bytes"]
    assert seen["wrong_password_message"] == WRONG_PASSWORD
    assert any(project in p or "app" in p for p in seen["home_projects"]), seen["home_projects"]
    assert seen["search_empty_url"] == "?search=no-such-project-anywhere"
    assert seen["project_url"] == f"/{project}/container_registry"
    assert seen["ci_registry_image"] == f"{registry.host}/{project}"
    assert seen["repository_url"] == f"/{project}/container_registry/{ids['web']}"
    assert seen["digest"] == digest
    assert seen["tags_before"] == ["v1", "v2"]
    assert seen["maintainer_tag_delete_buttons"] == 2
    assert seen["maintainer_repo_delete_buttons"] == 2
    assert seen["web_size"] == ui_bytes(web_size)
    assert seen["web_cleanup"].startswith("scheduled "), seen["web_cleanup"]
    assert seen["after_cancel"] == 1
    assert seen["tags_after"] == ["v1"]
    assert tags_list(registry, maintainer, f"{project}/web") == ["v1"]
    names = [f"t{i:02d}" for i in range(PAGED_TAGS)]
    assert seen["page1_tags"] == names[:20] and seen["page2_tags"] == names[20:]
    assert sorted(seen["group_repositories"]) == [f"{project}/many", f"{project}/web"]
    assert seen["phone_overflow"] <= 0
    assert seen["after_401"] == "/users/sign_in?redirect_to=" + requests.utils.quote(
        f"/{project}/container_registry", safe="")
    assert seen["back_after_sign_in"] == f"/{project}/container_registry"
    assert seen["token_after_sign_out"] is None
    # a Reporter reads, and has no delete button
    assert seen["reporter_digest"] == digest
    assert seen["reporter_repo_delete_buttons"] == 0
    assert seen["reporter_tag_delete_buttons"] == 0
    # another tenant's user sees nothing of it
    assert uniq + "g" not in seen["outsider_home"] and "app" not in seen["outsider_home"]
    assert seen["outsider_project_error"] == "404 Project Not Found"
    assert seen["outsider_repository_error"].startswith("404")
    assert seen["outsider_group_error"] == "404 Group Not Found"
    # accessible, and nothing the policy had to block
    assert_clean(seen)
    assert set(seen["axe"]) >= {"sign_in", "home", "project_registry", "repository",
                                "confirm_dialog", "group_registry", "phone_repository"}
    for name in ("01-sign-in", "04-repository-tags", "09-outsider-project"):
        assert os.path.getsize(os.path.join(shots, name + ".png")) > 1000

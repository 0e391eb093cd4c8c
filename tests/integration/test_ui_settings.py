"""A project's settings pages end to end in a real browser (tests/ui/settings.mjs, two phases):
a Maintainer's cleanup policy as GET /projects/:id then has it, a repository protection rule and
a webhook the API then lists, a deploy token shown once that skopeo logs in with and /jwt/auth
honours until the page revokes it, a member added and given a role; a Reporter sees the pages
without write controls, a user of another tenant gets the API's 404. axe-core on every page,
screenshots beside test_ui.py's."""
import base64
import datetime
import json
import os

import requests

from registry import skopeo
from tenants import Tenancy
from uibrowser import assert_clean, tools_or_skip, walk
from v2util import V2

POLICY = {"enabled": True, "cadence": "14d", "keep_n": 25, "older_than": "30d",
          "name_regex": "^dev-.*", "name_regex_keep": "^v[0-9]+"}


def shown_bytes(n):
    """A byte count as ui/dom.js bytes() shows it."""
    units, i = ["B", "KiB", "MiB", "GiB", "TiB"], 0
    while n >= 1024 and i < len(units) - 1:
        n, i = n / 1024, i + 1
    return f"{n} {units[i]}" if i == 0 else f"{n:.1f} {units[i]}"


def api_words(body):
    """An error body as the interface words it (ui/api.js messageOf): the message, or field
    errors as "field error, error; field error"."""
    m = body.get("message")
    if isinstance(m, str):
        return m
    if isinstance(m, dict):
        return "; ".join(k + " " + ", ".join(v if isinstance(v, list) else [v]) for k, v in m.items())
    return body.get("error_description") or body["error"]


def jwt_access(registry, username, token, scope):
    """/jwt/auth with HTTP Basic: (status, the access list of the registry token)."""
    r = requests.get(f"{registry.url}/jwt/auth", auth=(username, token), timeout=30,
                     params={"service": "container_registry", "scope": scope})
    if r.status_code != 200:
        return r.status_code, None
    payload = r.json()["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return 200, claims.get("access", [])


def skopeo_login(registry, username, token, tmp_path):
    return skopeo("login", "--tls-verify=false", "--authfile", str(tmp_path / "auth.json"),
                  "-u", username, "-p", token, registry.host, check=False)


def test_settings_in_a_browser(registry, uniq, tmp_path, record_property):
    tools_or_skip()
    t = Tenancy(registry)
    maintainer, reporter = t.user(f"{uniq}m"), t.user(f"{uniq}r")
    newcomer, outsider = t.user(f"{uniq}n"), t.user(f"{uniq}o")
    owner = t.user(f"{uniq}w")
    gid = t.group(f"{uniq}g")
    pid, project = t.project(gid, "app")
    t.add_group_member(gid, maintainer["id"], "maintainer")
    t.add_project_member(pid, reporter["id"], "reporter")
    t.add_group_member(gid, owner["id"], "owner")
    limit = 10 * 1024 * 1024
    r = registry.api("PUT", f"/namespaces/{gid}", json={"container_registry_storage_limit": limit})
    assert r.status_code == 200, r.text
    push_token = registry.registry_token([f"repository:{project}/web:pull,push"],
                                    maintainer["username"], maintainer["password"])
    V2(registry, push_token).push_image(f"{project}/web", "v1")
    size = registry.api("GET", f"/projects/{pid}?statistics=true").json()[
        "statistics"]["container_registry_size"]
    assert size > 0
    other_gid = t.group(f"{uniq}other")
    t.add_group_member(other_gid, outsider["id"], "owner")
    expires = (datetime.date.today() + datetime.timedelta(days=90)).isoformat()
    plan = {"base": registry.url, "maintainer": maintainer, "reporter": reporter,
            "newcomer": newcomer, "outsider": outsider, "owner": owner, "project": project, "policy": POLICY,
            "rule_pattern": f"{project}/prod*", "hook_url": "https://hooks.example.com/registry",
            "token_name": "ci-deploy", "token_expires": expires}

    # phase one: policy, rule, webhook, deploy token
    seen = walk("settings.mjs", dict(plan, phase="create"), tmp_path, record_property)
    assert seen["packages_url"] == f"/{project}/-/settings/packages_and_registries"
    assert seen["next_run_before"] == "Next cleanup: not scheduled"
    assert seen["registry_size"] == shown_bytes(size)
    assert seen["storage_limit"] == "shown to the namespace's Owners"
    policy = registry.api("GET", f"/projects/{pid}").json()["container_expiration_policy"]
    assert {k: policy[k] for k in POLICY} == POLICY, policy
    assert policy["next_run_at"] and seen["next_run_after"] != "Next cleanup: not scheduled"
    r = registry.api("PUT", f"/projects/{pid}",
                     json={"container_expiration_policy_attributes": {"name_regex": "("}})
    assert r.status_code == 400 and seen["bad_regex_message"] == api_words(r.json())
    rules = registry.api("GET", f"/projects/{pid}/registry/protection/repository/rules").json()
    assert [(x["repository_path_pattern"], x["minimum_access_level_for_push"],
             x["minimum_access_level_for_delete"]) for x in rules] == \
        [(plan["rule_pattern"], "maintainer", "owner")]
    hooks = registry.api("GET", f"/projects/{pid}/hooks").json()
    assert [(k["url"], k["name"], k["container_registry_events"]) for k in hooks] == \
        [(plan["hook_url"], "builds", True)]

    token, username = seen["token"], seen["token_username"]
    tokens = registry.api("GET", f"/projects/{pid}/deploy_tokens").json()
    made = next(x for x in tokens if x["name"] == "ci-deploy")
    assert made["username"] == username and sorted(made["scopes"]) == [
        "read_registry", "write_registry"] and made["expires_at"].startswith(expires)
    assert seen["token_rows"] == ["ci-deploy"] and seen["token_rows_after_reload"] == ["ci-deploy"]
    assert seen["token_after_reload"] == 0 and seen["token_in_page_after_reload"] is False
    # the token as CI uses it
    assert skopeo_login(registry, username, token, tmp_path).returncode == 0
    status, access = jwt_access(registry, username, token, f"repository:{project}/web:pull,push")
    assert status == 200 and access and sorted(access[0]["actions"]) == ["pull", "push"], access

    # phase two: revoke, members, a Reporter, an outsider
    seen2 = walk("settings.mjs", dict(plan, phase="revoke"), tmp_path, record_property)
    assert seen2["token_rows_after_revoke"] == []
    status, access = jwt_access(registry, username, token, f"repository:{project}/web:pull")
    assert status == 401, (status, access)
    assert skopeo_login(registry, username, token, tmp_path).returncode != 0
    assert seen2["unknown_user_message"] == f"No user with the username no-such-user-{newcomer['username']}."
    assert seen2["member_role_added"] == "30"
    member = registry.api("GET", f"/projects/{pid}/members/{newcomer['id']}").json()
    assert member["username"] == newcomer["username"] and member["access_level"] == 40, member
    assert newcomer["username"] in seen2["members"] and maintainer["username"] in seen2["members"]
    assert seen2["owner_registry_size"] == shown_bytes(size)
    assert seen2["owner_storage_limit"] == "10.0 MiB"
    assert seen2["phone_overflow"] == {"packages": 0, "repository": 0, "members": 0}
    # a Reporter: every page, no write control
    for name, page in seen2["reporter"].items():
        assert page["write_controls"] == 0, (name, page)
    assert seen2["reporter"]["packages"]["h1"] == "Packages and registries settings"
    assert "Only Maintainers and Owners can change it." in seen2["reporter"]["packages"]["text"]
    assert "The API answered: 403 Forbidden" in seen2["reporter"]["repository"]["text"]
    assert seen2["reporter"]["members"]["h1"] == "Project members"
    assert newcomer["username"] in seen2["reporter"]["members"]["text"]
    assert token not in json.dumps(seen2["reporter"])
    # another tenant's user: the API's own 404
    assert seen2["outsider"] == {"packages": "404 Project Not Found",
                                 "repository": "404 Project Not Found",
                                 "members": "404 Project Not Found"}
    for s in (seen, seen2):
        assert_clean(s)
    assert set(seen["axe"]) >= {"packages", "packages_saved", "deploy_token_created"}
    assert set(seen2["axe"]) >= {"members", "revoke_dialog", "phone_members", "reporter_packages",
                                 "reporter_repository", "reporter_members", "outsider"}
    for s, name in ((seen, "settings-01-packages"), (seen, "settings-03-deploy-token-created"),
                    (seen2, "settings-04-members"), (seen2, "settings-05-reporter-repository"),
                    (seen2, "settings-06-outsider")):
        assert os.path.getsize(os.path.join(s["shots"], name + ".png")) > 1000

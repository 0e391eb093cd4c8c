"""A repository's tags page in a real browser (tests/ui/tags.mjs), against the real daemons:
search by name (the same tags as the API answers for that filter), sort by name and by date,
select two tags and delete them together (exactly those leave /v2/.../tags/list; a protected one
fails with the API's words), the platforms of a multi-arch index and the referrers of an image
(read from /v2 with the OAuth token as the "oauth2" user's password), a Reporter without
checkboxes or delete buttons, and a repository of 10,000 tags that opens in under a second."""
import json
import time

import requests

from tenants import Tenancy
from uibrowser import assert_clean, tools_or_skip, walk
from v2util import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, V2, sha256

HUGE = 10_000
TAGS = ["alpha", "beta", "delta-1", "delta-2", "gamma", "omega", "release-1.0", "zeta"]
PROTECTED = "403 Forbidden - cannot delete protected tag(s)"  # common/status.def


def tags_list(registry, user, path):
    token = registry.registry_token([f"repository:{path}:pull"], user["username"],
                                    user["password"])
    r = V2(registry, token).req("GET", f"/v2/{path}/tags/list", params={"n": 100000})
    assert r.status_code == 200, r.text
    return r.json()["tags"]


def api_names(registry, user_token, base, **params):
    """The names GET .../tags answers for params (keyset, as the page asks)."""
    r = requests.get(f"{registry.url}/api/v4{base}", headers={"PRIVATE-TOKEN": user_token},
                     params=dict({"pagination": "keyset", "per_page": 20}, **params), timeout=30)
    assert r.status_code == 200, r.text
    return [t["name"] for t in r.json()]


def push_index(v2, path):
    """Two images (linux/amd64, linux/arm64/v8) and an OCI index of them tagged "multi"."""
    children = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        config = json.dumps({"architecture": arch, "os": "linux", "variant": variant,
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        digest, m = v2.push_image(path, f"multi-{arch}", layers=(arch.encode(),), config=config)
        platform = {"architecture": arch, "os": "linux"}
        if variant:
            platform["variant"] = variant
        children.append({"mediaType": OCI_MANIFEST, "digest": digest,
                         "size": len(json.dumps(m, indent=2).encode()), "platform": platform})
    # an attestation entry as buildx writes it: no platform of its own to show
    children.append(dict(children[0], platform={"architecture": "unknown", "os": "unknown"}))
    r = v2.put_manifest(path, "multi", {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                        "manifests": children})
    assert r.status_code == 201, r.text


def push_signature(v2, path, subject):
    """An artifact manifest whose subject is subject (a signature); answers its digest."""
    size = len(v2.get_manifest(path, subject).content)
    empty = v2.push_blob(path, b"{}")
    sig = v2.push_blob(path, b"signature bytes")
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": OCI_EMPTY, "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": sig, "size": 15}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size}}).encode()
    r = v2.put_manifest(path, sha256(body), body, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return sha256(body)


def push_many(registry, user, path, count):
    """count tags h00000... of one image: the image and its first tag through /v2, the others as
    the rows a manifest PUT by tag adds (the tags' triggers keep counts and versions), in one
    statement; 10,000 PUTs take 25 to 40 s on a 2-core machine, this about 10 (the row triggers)."""
    token = registry.registry_token([f"repository:{path}:pull,push"], user["username"],
                                    user["password"])
    V2(registry, token).push_image(path, "h00000")
    registry.pg.psql(registry.name, (
        "INSERT INTO tags (repository_id, name, manifest_id)"
        " SELECT t.repository_id, 'h' || lpad(i::text, 5, '0'), t.manifest_id"
        f" FROM tags t, generate_series(1, {count - 1}) i"
        " WHERE t.name = 'h00000' AND t.repository_id ="
        f" (SELECT id FROM repositories WHERE path = '{path}')"))


def test_tags_page_in_a_browser(registry, uniq, tmp_path, record_property):
    tools_or_skip()
    t = Tenancy(registry)
    developer, reporter = t.user(f"{uniq}d"), t.user(f"{uniq}r")
    maintainer = t.user(f"{uniq}m")
    gid = t.group(f"{uniq}g")
    pid, project = t.project(gid, "app")
    t.add_project_member(pid, developer["id"], "developer")
    t.add_project_member(pid, reporter["id"], "reporter")
    t.add_project_member(pid, maintainer["id"], "maintainer")
    m_token = t.pat(maintainer["id"], ["api"])["token"]
    d_token = t.pat(developer["id"], ["api"])["token"]

    # web: a few tags of one image, a multi-arch index, a signature of alpha
    web = f"{project}/web"
    token = registry.registry_token([f"repository:{web}:pull,push"], developer["username"],
                                    developer["password"])
    v2 = V2(registry, token)
    alpha, m = v2.push_image(web, TAGS[0])
    body = json.dumps(m, indent=2).encode()
    for i, name in enumerate(TAGS[1:]):
        assert v2.put_manifest(web, name, body, OCI_MANIFEST).status_code == 201
    push_index(v2, web)
    signature = push_signature(v2, web, alpha)
    r = requests.post(f"{registry.url}/api/v4/projects/{pid}/registry/protection/tag/rules",
                      headers={"PRIVATE-TOKEN": m_token}, timeout=30, json={
                          "tag_name_pattern": "^release", "minimum_access_level_for_push": "maintainer",
                          "minimum_access_level_for_delete": "maintainer"})
    assert r.status_code == 201, r.text
    # published_at (the tag's updated_at): an order that is not the names', oldest first
    everything = sorted(tags_list(registry, developer, web))
    by_date = sorted(everything, key=lambda n: n[::-1])
    registry.pg.psql(registry.name, (
        "UPDATE tags SET updated_at = '2024-01-01'::timestamptz + (v.i || ' hours')::interval"
        f" FROM unnest(ARRAY[{', '.join(repr(n) for n in by_date)}]) WITH ORDINALITY v(n, i)"
        f" WHERE tags.name = v.n AND tags.repository_id = (SELECT id FROM repositories"
        f" WHERE path = '{web}')"))

    started = time.monotonic()
    push_many(registry, developer, f"{project}/huge", HUGE)
    fixture_seconds = time.monotonic() - started
    print(f"{HUGE} tags made in {fixture_seconds:.1f} s")
    record_property("huge_fixture_seconds", round(fixture_seconds, 1))
    repos = registry.api("GET", f"/projects/{pid}/registry/repositories").json()
    ids = {r["name"]: r["id"] for r in repos}
    base = f"/projects/{pid}/registry/repositories/{ids['web']}/tags"

    api_searched = api_names(registry, d_token, base, name="DELTA")
    api_published = api_names(registry, d_token, base, order_by="published_at", sort="desc")
    plan = {
        "base": registry.url, "developer": developer, "reporter": reporter,
        "web_url": f"/{project}/container_registry/{ids['web']}",
        "huge_url": f"/{project}/container_registry/{ids['huge']}",
        "search": "DELTA", "delete": ["beta", "gamma"], "protected": "release-1.0",
        "index_tag": "multi", "signed_tag": "alpha",
    }
    seen = walk("tags.mjs", plan, tmp_path, record_property)
    print("10,000-tag repository opened in", seen.get("huge_open_ms"), "ms")
    record_property("huge_open_ms", seen.get("huge_open_ms"))
    record_property("walk_steps", json.dumps(seen.get("steps")))

    # the list as the API has it, in each order
    assert seen["first"] == everything
    assert seen["searched"] == ["delta-1", "delta-2"]
    assert seen["searched"] == api_searched
    assert seen["search_url"] == "?name=DELTA"
    assert seen["name_desc"] == everything[::-1]
    assert seen["published_desc"] == by_date[::-1]
    assert seen["published_desc"] == api_published
    # the index's platforms (the attestation's "unknown" left out), alpha's signature
    assert seen["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    assert seen["image_platforms"] == "–"
    assert seen["referrers"] == [f"application/vnd.example.signature {signature[:19]}…"]
    assert seen["referrer_digests"] == [signature]
    # bulk deletion: exactly the two selected go; a protected tag fails in the API's words
    assert seen["dialog_text"] == f"Delete 2 tags of {web}: beta, gamma?"
    assert seen["bulk_deleted"] == "2 tags deleted."
    assert seen["after_bulk"] == [n for n in everything if n not in ("beta", "gamma")]
    assert tags_list(registry, developer, web) == [n for n in everything
                                                  if n not in ("beta", "gamma")]
    assert seen["bulk_failures"] == [f"release-1.0: {PROTECTED}"]
    assert "release-1.0" in tags_list(registry, developer, web)
    # a Reporter reads the same page without checkboxes or delete buttons
    assert seen["reporter_tags"] == seen["after_bulk"]
    assert seen["reporter_checkboxes"] == 0 and seen["reporter_delete_buttons"] == 0
    assert seen["reporter_platforms"] == ["linux/amd64", "linux/arm64/v8"]
    # 10,000 tags: the first page in under a second, the next one as fast
    assert seen["huge_first"] == [f"h{i:05d}" for i in range(20)]
    assert seen["huge_count_text"].startswith(f"{HUGE} tags")
    assert seen["huge_open_ms"] < 1000, seen["huge_open_ms"]
    assert seen["huge_last_desc"] == f"h{HUGE - 1:05d}"
    assert seen["huge_searched_page1"] == [f"h{i:05d}" for i in range(9999, 9979, -1)]
    assert seen["huge_searched_page2"] == [f"h{i:05d}" for i in range(9979, 9959, -1)]
    assert seen["huge_searched_page2_url"] == "?name=h099&sort=published_desc&last=h09980"
    assert_clean(seen)
    assert set(seen["axe"]) >= {"tags", "searched", "bulk_dialog", "bulk_outcome", "reporter",
                                "huge", "phone_tags"}
    assert seen["phone_overflow"] <= 0
    assert seen["desktop_overflow"] <= 0
    assert seen["seconds"] < 60

"""Bad input to the groups/projects/members API gets a GitLab error and never costs a worker."""
import itertools
import json

from tenancy import create_user

ODD_VALUES = [None, True, -1, 0, 2**63, 1e300, "", " ", "x" * 5000, "../..", "a/b", "%00",
              "\u202e", [], [1, "2"], {"a": 1}, "30abc", "2024-13-40"]


def test_odd_parameters_never_crash(registry, uniq):
    alice = create_user(registry, f"odd{uniq}")
    g = alice.ok("POST", "/groups", json={"name": "Odd", "path": f"odd-{uniq}"})
    p = alice.ok("POST", "/projects", json={"name": "p", "namespace_id": g["id"]})
    workers = sorted(registry.worker_pids("metad"))
    endpoints = [
        ("POST", "/groups", ("name", "path", "parent_id", "visibility", "description")),
        ("PUT", f"/groups/{g['id']}", ("name", "path", "visibility", "description")),
        ("POST", f"/groups/{g['id']}/transfer", ("group_id",)),
        ("GET", "/groups", ("search", "all_available", "owned", "min_access_level", "order_by",
                            "sort", "page", "per_page", "skip_groups", "top_level_only")),
        ("POST", "/projects", ("name", "path", "namespace_id", "visibility",
                               "container_registry_access_level", "container_registry_enabled")),
        ("PUT", f"/projects/{p['id']}", ("name", "path", "description", "visibility")),
        ("PUT", f"/projects/{p['id']}/transfer", ("namespace",)),
        ("GET", "/projects", ("search", "membership", "simple", "order_by", "id_after",
                              "visibility", "min_access_level")),
        ("POST", f"/projects/{p['id']}/members", ("user_id", "access_level", "expires_at")),
        ("PUT", f"/groups/{g['id']}/members/{alice.id}", ("access_level", "expires_at")),
        ("GET", f"/projects/{p['id']}/members/all", ("query", "user_ids", "page")),
    ]
    seen = set()
    for (method, path, keys), value in itertools.product(endpoints, ODD_VALUES):
        body = {k: value for k in keys}
        if method == "GET":
            r = alice.request(method, path, params={k: json.dumps(value) for k in keys})
        else:
            r = alice.request(method, path, json=body)
        seen.add(r.status_code)
        assert r.status_code < 500, (method, path, body, r.status_code, r.text)
        assert r.headers["Content-Type"] == "application/json"
        r.json()
    assert sorted(registry.worker_pids("metad")) == workers
    # the project is still there, in its group (odd but valid values may have renamed them)
    assert alice.ok("GET", f"/projects/{p['id']}")["namespace"]["id"] == g["id"]
    assert 400 in seen


def test_huge_and_broken_bodies(registry, uniq):
    alice = create_user(registry, f"big{uniq}")
    r = alice.post("/groups", data=b"{" + b" " * (128 * 1024) + b"}",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    for body, ctype in ((b"[1,2]", "application/json"), (b"name=%zz", "application/x-www-form-urlencoded"),
                        (b"x", "text/plain"), (b'{"name": "x"', "application/json")):
        r = alice.post("/groups", data=body, headers={"Content-Type": ctype})
        assert 400 <= r.status_code < 500 and r.json(), (body, r.status_code, r.text)


def test_every_rest_endpoint_reads_its_parameters_alike(registry, uniq):
    """authd's and metad's endpoints take their parameters through one reader: the same bad
    query is the same 400 on both, whichever endpoint it reaches."""
    alice = create_user(registry, f"params{uniq}")
    for path in ("/user", "/personal_access_tokens", f"/users/{alice.id}", "/projects",
                 "/groups", "/namespaces"):
        r = alice.request("GET", path + "?search=%ff")
        assert r.status_code == 400 and r.json() == {"error": "search is invalid"}, (path, r.text)

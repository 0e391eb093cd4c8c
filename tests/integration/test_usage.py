"""Exact container registry usage and storage limits (schema/functions/usage.sql).

Usage is GitLab's: the distinct layer and config blobs of the manifests tags reach (through tagged
indexes too, nested), once per project and once per top-level namespace however many repositories
share them. After every kind of change the kept counts must equal a recount from scratch
(usage_check() answers no row), and the figures the API shows must equal what a model of the
pushes in this file computes on its own. Limits refuse pushes of new content over them, with a
message skopeo prints, and never what a namespace holds already."""
import json
import os
import random
import subprocess
import threading

import gitlab
import pytest
import requests

from images import Layout
from regapi import SqlSession, wait_until
from registry import Registry, skopeo
from tenancy import create_user
from v2util import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, V2, mint_token, sha256


@pytest.fixture(scope="module")
def reg(pg, workdir):
    """An instance of this module's (repository deletions run every second)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    r = Registry(pg, workdir, f"regusage_{worker}",
                 extra_config={"metad": {"jobs_interval": "1"}}).start()
    yield r
    r.stop()


def sql(reg, statement):
    return reg.pg.psql(reg.name, statement)


def assert_exact(reg):
    """The kept counts equal a recount from scratch."""
    diff = sql(reg, "SELECT kind, id, digest, stored, recounted FROM usage_check()")
    assert diff == "", "usage differs from a recount:\n" + diff


def api(reg, method, path, status=200, **kw):
    r = reg.api(method, path, **kw)
    assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
    return r.json() if r.content else None


def group(reg, path, parent=None):
    body = {"name": path, "path": path}
    if parent:
        body["parent_id"] = parent
    return api(reg, "POST", "/groups", 201, json=body)["id"]


def project(reg, name, namespace):
    return api(reg, "POST", "/projects", 201, json={"name": name, "namespace_id": namespace})


class Model:
    """What the pushes of a test put where, and the usage GitLab's definition gives it."""

    def __init__(self):
        self.repos = {}      # path -> {"project": id, "tags": {}, "manifests": {}}
        self.roots = {}      # project id -> top-level namespace id
        self.sizes = {}      # blob digest -> size

    def repo(self, path, project_id):
        return self.repos.setdefault(path, {"project": project_id, "tags": {}, "manifests": {}})

    def reachable(self, path):
        r = self.repos[path]
        seen, out, pending = set(), set(), list(r["tags"].values())
        while pending:
            d = pending.pop()
            if d in seen or d not in r["manifests"]:
                continue
            seen.add(d)
            blobs, children = r["manifests"][d]
            out |= set(blobs)
            pending += children
        return out

    def blobs_of(self, pred):
        out = set()
        for path, r in self.repos.items():
            if pred(r["project"]):
                out |= self.reachable(path)
        return out

    def project_usage(self, pid):
        return sum(self.sizes[d] for d in self.blobs_of(lambda p: p == pid))

    def root_usage(self, root):
        return sum(self.sizes[d] for d in self.blobs_of(lambda p: self.roots.get(p) == root))


class Pusher:
    """Pushes over /v2 with an admin's token and records it in the model."""

    def __init__(self, reg, model):
        self.reg = reg
        self.model = model

    def client(self, path):
        return V2(self.reg, mint_token(self.reg, [(path, "pull,push,delete")], user_id=1,
                                       username="root", admin=True))

    def image(self, path, project_id, tag, layers, label):
        """An image of config + layers; tag None pushes it by digest. Returns its descriptor."""
        c = self.client(path)
        config = json.dumps({"architecture": "amd64", "os": "linux", "label": label,
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        descs = []
        for data in (config,) + tuple(layers):
            c.push_blob(path, data)
            self.model.sizes[sha256(data)] = len(data)
        for layer in layers:
            descs.append({"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)})
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256(config),
                                      "size": len(config)},
                           "layers": descs}).encode()
        digest = sha256(body)
        self.put(c, path, project_id, tag or digest, body, OCI_MANIFEST, digest,
                 [sha256(config)] + [sha256(layer) for layer in layers], [])
        return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}

    def index(self, path, project_id, tag, children):
        c = self.client(path)
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": children}).encode()
        digest = sha256(body)
        self.put(c, path, project_id, tag or digest, body, OCI_INDEX, digest, [],
                 [d["digest"] for d in children])
        return {"mediaType": OCI_INDEX, "digest": digest, "size": len(body)}

    def put(self, c, path, project_id, ref, body, media_type, digest, blobs, children):
        r = c.put_manifest(path, ref, body, media_type)
        assert r.status_code == 201, r.text
        repo = self.model.repo(path, project_id)
        repo["manifests"][digest] = (blobs, children)
        if ref != digest:
            repo["tags"][ref] = digest

    def untag(self, path, tag):
        r = self.client(path).req("DELETE", f"/v2/{path}/manifests/{tag}")
        assert r.status_code == 202, r.text
        del self.model.repos[path]["tags"][tag]

    def delete_manifest(self, path, digest):
        r = self.client(path).req("DELETE", f"/v2/{path}/manifests/{digest}")
        assert r.status_code == 202, r.text
        repo = self.model.repos[path]
        del repo["manifests"][digest]
        repo["tags"] = {t: d for t, d in repo["tags"].items() if d != digest}


def stored_project(reg, pid):
    return int(sql(reg, f"SELECT size FROM registry_usage_projects WHERE project_id = {pid}"))


def stored_root(reg, ns):
    return int(sql(reg, f"SELECT usage_of_root({ns})"))


def check(reg, model, projects, roots):
    """Exact against the recount, and equal to the model's figures, at once."""
    assert_exact(reg)
    for pid in projects:
        assert stored_project(reg, pid) == model.project_usage(pid), f"project {pid}"
    for ns in roots:
        assert stored_root(reg, ns) == model.root_usage(ns), f"namespace {ns}"


def blob(tag, size):
    """size bytes, distinct per tag."""
    seed = (tag + ":").encode()
    return (seed * (size // len(seed) + 1))[:size]


def test_usage_follows_every_change(reg, uniq):
    """Pushes, tags moved and deleted, manifests deleted and pushed again, a multi-arch index
    nested in another, a repository deleted, transfers of a project and of a group, a project
    and a group deleted: after each, the counts equal a recount and the model's figures."""
    model = Model()
    p = Pusher(reg, model)
    g = group(reg, f"{uniq}g")
    s = group(reg, "sub", parent=g)
    h = group(reg, f"{uniq}h")
    a = project(reg, "a", g)
    b = project(reg, "b", g)
    c = project(reg, "c", s)
    for pr in (a, b, c):
        model.roots[pr["id"]] = g
    pa, pb, pc = a["path_with_namespace"], b["path_with_namespace"], c["path_with_namespace"]
    ids = [a["id"], b["id"], c["id"]]
    base, la, lb = blob("base", 3000), blob("la", 1111), blob("lb", 2222)

    p.image(pa, a["id"], "1", [base, la], "a1")
    check(reg, model, ids, [g, h])
    assert model.root_usage(g) == model.project_usage(a["id"]) > 4111
    p.image(pb, b["id"], "1", [base, lb], "b1")
    check(reg, model, ids, [g, h])
    # the base layer is counted once in the group, once in each project
    assert model.root_usage(g) < model.project_usage(a["id"]) + model.project_usage(b["id"])
    # the same image in a second repository of the project, and under a second tag
    p.image(f"{pa}/sub", a["id"], "1", [base, la], "a1")
    p.image(pa, a["id"], "again", [base, la], "a1")
    check(reg, model, ids, [g, h])

    # a multi-arch index whose children are pushed by digest: nothing counts until it is tagged
    c1 = p.image(pc, c["id"], None, [base, blob("c1", 4000)], "c1")
    c2 = p.image(pc, c["id"], None, [blob("c2", 5000)], "c2")
    check(reg, model, ids, [g, h])
    assert model.project_usage(c["id"]) == 0
    idx = p.index(pc, c["id"], None, [c1, c2])
    p.index(pc, c["id"], "multi", [idx])  # an index of an index
    check(reg, model, ids, [g, h])
    cfg = {d["digest"]: model.repos[pc]["manifests"][d["digest"]][0][0] for d in (c1, c2)}
    assert stored_project(reg, c["id"]) == 3000 + 4000 + 5000 + sum(model.sizes[x]
                                                                    for x in cfg.values())

    # a tag moved to another image, then back
    p.image(pa, a["id"], "1", [blob("a2", 700)], "a2")
    check(reg, model, ids, [g, h])
    p.image(pa, a["id"], "1", [base, la], "a1")
    check(reg, model, ids, [g, h])

    # tags deleted over /v2 and over the REST API
    p.untag(pa, "again")
    check(reg, model, ids, [g, h])
    repo_b = api(reg, "GET", f"/projects/{b['id']}/registry/repositories")[0]
    api(reg, "DELETE", f"/projects/{b['id']}/registry/repositories/{repo_b['id']}/tags/1")
    del model.repos[pb]["tags"]["1"]
    check(reg, model, ids, [g, h])
    p.image(pb, b["id"], "1", [base, lb], "b1")

    # a child of the tagged index deleted, then pushed again by digest: counted again at once
    p.delete_manifest(pc, c2["digest"])
    check(reg, model, ids, [g, h])
    again = p.image(pc, c["id"], None, [blob("c2", 5000)], "c2")
    assert again == c2
    check(reg, model, ids, [g, h])
    # the nested index untagged: all of it goes
    p.untag(pc, "multi")
    check(reg, model, ids, [g, h])
    assert model.project_usage(c["id"]) == 0
    p.index(pc, c["id"], "multi", [idx])
    check(reg, model, ids, [g, h])

    # a repository deleted (a background job)
    repo_sub = [r for r in api(reg, "GET", f"/projects/{a['id']}/registry/repositories")
                if r["name"] == "sub"][0]
    api(reg, "DELETE", f"/projects/{a['id']}/registry/repositories/{repo_sub['id']}", 202)
    wait_until(lambda: sql(reg, f"SELECT count(*) FROM repositories WHERE id = {repo_sub['id']}")
               == "0", "the repository's deletion")
    del model.repos[f"{pa}/sub"]
    check(reg, model, ids, [g, h])

    # a project moved to another top-level group takes its usage along
    before_g = stored_root(reg, g)
    api(reg, "PUT", f"/projects/{b['id']}/transfer", json={"namespace": h})
    model.roots[b["id"]] = h
    check(reg, model, ids, [g, h])
    assert stored_root(reg, h) == stored_project(reg, b["id"]) > 0
    b_config = model.repos[pb]["manifests"][model.repos[pb]["tags"]["1"]][0][0]
    assert stored_root(reg, g) == before_g - 2222 - model.sizes[b_config]  # base stays: a has it

    # a subgroup made top-level takes its projects' usage along
    api(reg, "POST", f"/groups/{s}/transfer", 201)
    model.roots[c["id"]] = s
    check(reg, model, ids, [g, h, s])
    assert stored_root(reg, s) == stored_project(reg, c["id"]) > 0
    # and back under the group
    api(reg, "POST", f"/groups/{s}/transfer", 201, json={"group_id": g})
    model.roots[c["id"]] = g
    check(reg, model, ids, [g, h, s])
    assert stored_root(reg, s) == 0

    # a project deleted, then a group
    api(reg, "DELETE", f"/projects/{a['id']}", 202)
    for path in [x for x in model.repos if model.repos[x]["project"] == a["id"]]:
        del model.repos[path]
    check(reg, model, ids[1:], [g, h])
    api(reg, "DELETE", f"/groups/{g}", 202)
    for path in [x for x in model.repos if model.roots[model.repos[x]["project"]] == g]:
        del model.repos[path]
    check(reg, model, [b["id"]], [g, h])
    assert stored_root(reg, g) == 0
    assert sql(reg, f"SELECT count(*) FROM registry_usage_root_blobs WHERE root_id = {g}") == "0"


# ---- what the API shows --------------------------------------------------------------------------


STAT_KEYS = {"commit_count", "storage_size", "repository_size", "wiki_size", "lfs_objects_size",
             "job_artifacts_size", "pipeline_artifacts_size", "packages_size", "snippets_size",
             "uploads_size", "container_registry_size"}
ROOT_KEYS = {"build_artifacts_size", "container_registry_size",
             "container_registry_size_is_estimated", "dependency_proxy_size", "lfs_objects_size",
             "packages_size", "pipeline_artifacts_size", "repository_size", "snippets_size",
             "storage_size", "uploads_size", "wiki_size"}


def test_group_and_project_figures_agree_through_the_api(reg, uniq):
    """Two projects of a group share a layer: each project counts it, the group once; GitLab's
    fields show it to those GitLab shows them to, and python-gitlab reads them unchanged."""
    alice = create_user(reg, f"{uniq}al")
    bob = create_user(reg, f"{uniq}bo")
    gl = alice.gitlab()
    g = gl.groups.create({"name": f"{uniq}grp", "path": f"{uniq}grp"})
    sub = gl.groups.create({"name": "sub", "path": "sub", "parent_id": g.id})
    p1 = gl.projects.create({"name": "one", "namespace_id": g.id})
    p2 = gl.projects.create({"name": "two", "namespace_id": sub.id})
    g.members.create({"user_id": bob.id, "access_level": 30})
    model = Model()
    model.roots.update({p1.id: g.id, p2.id: g.id})
    p = Pusher(reg, model)
    base = blob(f"{uniq}base", 20_000)
    p.image(p1.path_with_namespace, p1.id, "1", [base, blob(f"{uniq}1", 3000)], "one")
    p.image(p2.path_with_namespace, p2.id, "1", [base, blob(f"{uniq}2", 4000)], "two")
    check(reg, model, [p1.id, p2.id], [g.id])
    u1, u2, ug = model.project_usage(p1.id), model.project_usage(p2.id), model.root_usage(g.id)
    assert ug == u1 + u2 - 20_000

    # GET /projects/:id?statistics=true (Reporter or more, admins)
    stats = alice.ok("GET", f"/projects/{p1.id}", params={"statistics": "true"})["statistics"]
    assert set(stats) == STAT_KEYS
    assert stats["container_registry_size"] == u1
    assert stats["storage_size"] == 0  # GitLab's project storage_size leaves the registry out
    assert "statistics" not in alice.ok("GET", f"/projects/{p1.id}")
    assert bob.ok("GET", f"/projects/{p2.id}", params={"statistics": "true"}
                  )["statistics"]["container_registry_size"] == u2
    assert api(reg, "GET", f"/projects/{p2.id}?statistics=true")["statistics"][
        "container_registry_size"] == u2
    assert gl.projects.get(p1.id, statistics=True).statistics["container_registry_size"] == u1
    guest = create_user(reg, f"{uniq}gu")
    gl.projects.get(p1.id).members.create({"user_id": guest.id, "access_level": 10})
    assert "statistics" not in guest.ok("GET", f"/projects/{p1.id}",
                                        params={"statistics": "true"})

    # GET /groups/:id: root_storage_statistics for the top-level group's Owners and admins
    rs = alice.ok("GET", f"/groups/{g.id}")["root_storage_statistics"]
    assert set(rs) == ROOT_KEYS
    assert rs["container_registry_size"] == rs["storage_size"] == ug
    assert rs["container_registry_size_is_estimated"] is False
    assert api(reg, "GET", f"/groups/{g.id}")["root_storage_statistics"][
        "container_registry_size"] == ug
    assert gl.groups.get(g.id).root_storage_statistics["container_registry_size"] == ug
    assert "root_storage_statistics" not in bob.ok("GET", f"/groups/{g.id}")  # a Developer
    assert "root_storage_statistics" not in alice.ok("GET", f"/groups/{sub.id}")

    # GET /namespaces/:id and the list: the top-level namespace's usage and limit
    ns = alice.ok("GET", f"/namespaces/{g.id}")
    assert ns["container_registry_size"] == ug and ns["container_registry_storage_limit"] == 0
    got = gl.namespaces.get(g.id)
    assert got.container_registry_size == ug and got.container_registry_storage_limit == 0
    listed = {n.id: n for n in gl.namespaces.list(get_all=True)}
    assert listed[g.id].container_registry_size == ug
    # a subgroup counts in its top-level group: the keys, no figures
    s = alice.ok("GET", f"/namespaces/{sub.id}")
    assert s["container_registry_size"] is None and s["container_registry_storage_limit"] is None
    # a Developer of the group does not see them; the user's own namespace shows its own
    assert "container_registry_size" not in bob.ok("GET", f"/namespaces/{g.id}")
    mine = alice.ok("GET", f"/namespaces/{alice.username}")
    assert mine["container_registry_size"] == 0


def test_storage_limit_update_answers_as_gitlab(reg, uniq):
    """PUT /namespaces/:id: admins only, bytes, 0 for none, a top-level namespace's."""
    alice = create_user(reg, f"{uniq}al")
    g = alice.ok("POST", "/groups", json={"name": f"{uniq}g", "path": f"{uniq}g"})
    sub = alice.ok("POST", "/groups", json={"name": "s", "path": "s", "parent_id": g["id"]})
    key = "container_registry_storage_limit"
    r = requests.put(f"{reg.url}/api/v4/namespaces/{g['id']}", json={key: 5}, timeout=30)
    assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}
    r = alice.put(f"/namespaces/{g['id']}", json={key: 5})
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    for bad in ("lots", "1.5", True):
        r = reg.api("PUT", f"/namespaces/{g['id']}", json={key: bad})
        assert r.status_code == 400 and r.json() == {"error": f"{key} is invalid"}, r.text
    r = reg.api("PUT", f"/namespaces/{g['id']}", json={key: -1})
    assert r.status_code == 400
    assert r.json() == {"message": {key: ["must be greater than or equal to 0"]}}
    r = reg.api("PUT", f"/namespaces/{sub['id']}", json={key: 5})
    assert r.status_code == 400
    assert r.json() == {"message": {key: ["can only be set on a top-level namespace"]}}
    r = reg.api("PUT", "/namespaces/999999999", json={key: 5})
    assert r.status_code == 404 and r.json() == {"message": "404 Namespace Not Found"}
    # by id, by path, as a form; the answer is the namespace
    assert api(reg, "PUT", f"/namespaces/{g['id']}", json={key: 12345})[key] == 12345
    assert api(reg, "PUT", f"/namespaces/{uniq}g", data={key: "0"})[key] == 0
    assert alice.ok("GET", f"/namespaces/{g['id']}")[key] == 0
    # python-gitlab, as an admin's script would
    root = gitlab.Gitlab(reg.url, private_token=reg.root_token)
    root.http_put(f"/namespaces/{g['id']}", post_data={key: 777})
    assert root.namespaces.get(g["id"]).container_registry_storage_limit == 777
    assert sql(reg, f"SELECT container_registry_storage_limit FROM namespaces"
                    f" WHERE id = {g['id']}") == "777"


# ---- limits --------------------------------------------------------------------------------------


def layout_with(path, label, size):
    """An OCI layout with one image of one incompressible layer of about size bytes, "img"."""
    lay = Layout(path)
    desc = lay.image([{f"data/{label}": os.urandom(size)}], label=label)
    lay.tag(desc, "img")
    return lay


def copy(reg, creds, lay, ref, check=True):
    return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds,
                  f"oci:{lay.path}:img", f"docker://{reg.host}/{ref}", check=check)


def test_over_quota_push_fails_with_the_quota_message(reg, uniq, tmp_path):
    """skopeo prints the quota, the usage and the limit; raising the limit lets the same push
    through; a limit lowered below the usage blocks new content only."""
    alice = create_user(reg, f"{uniq}al")
    g = alice.ok("POST", "/groups", json={"name": f"{uniq}q", "path": f"{uniq}q"})
    alice.ok("POST", "/projects", json={"name": "app", "namespace_id": g["id"]})
    creds = f"{alice.username}:{alice.token}"
    key = "container_registry_storage_limit"
    api(reg, "PUT", f"/namespaces/{g['id']}", json={key: 150_000})
    big = layout_with(str(tmp_path / "big"), "big", 300_000)
    res = copy(reg, creds, big, f"{uniq}q/app:1", check=False)
    assert res.returncode != 0
    assert "container registry storage quota exceeded" in res.stderr, res.stderr
    assert f"namespace {uniq}q uses 0 bytes of its limit of 146.5 KiB (150000 bytes)" \
        in res.stderr, res.stderr
    assert "this push adds 29" in res.stderr, res.stderr
    assert stored_root(reg, g["id"]) == 0
    assert_exact(reg)

    api(reg, "PUT", f"/namespaces/{g['id']}", json={key: 1_000_000})
    copy(reg, creds, big, f"{uniq}q/app:1")
    used = stored_root(reg, g["id"])
    assert 300_000 < used < 310_000
    assert_exact(reg)

    # lowered below the usage: new content is refused when its upload starts ...
    api(reg, "PUT", f"/namespaces/{g['id']}", json={key: 1000})
    small = layout_with(str(tmp_path / "small"), "small", 2000)
    res = copy(reg, creds, small, f"{uniq}q/app:2", check=False)
    assert res.returncode != 0
    assert (f"container registry storage quota exceeded: namespace {uniq}q uses "
            f"{used / 1024:.1f} KiB ({used} bytes) of its limit of 1000 bytes") in res.stderr, \
        res.stderr
    # ... what the namespace holds is pushed again under another tag, pulled, deleted
    copy(reg, creds, big, f"{uniq}q/app:again")
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds,
           f"docker://{reg.host}/{uniq}q/app:again", f"dir:{tmp_path / 'pulled'}")
    c = V2(reg, mint_token(reg, [(f"{uniq}q/app", "pull,push,delete")], user_id=alice.id,
                           username=alice.username))
    assert c.req("DELETE", f"/v2/{uniq}q/app/manifests/again").status_code == 202
    assert stored_root(reg, g["id"]) == used
    # and into another repository of the namespace, its blobs mounted
    manifest = c.get_manifest(f"{uniq}q/app", "1").content
    other = V2(reg, mint_token(reg, [(f"{uniq}q/app/other", "pull,push"),
                                    (f"{uniq}q/app", "pull")], user_id=alice.id,
                               username=alice.username))
    for d in [json.loads(manifest)["config"]["digest"]] + [
            x["digest"] for x in json.loads(manifest)["layers"]]:
        r = other.req("POST", f"/v2/{uniq}q/app/other/blobs/uploads/",
                      params={"mount": d, "from": f"{uniq}q/app"})
        assert r.status_code == 201, r.text
    assert other.put_manifest(f"{uniq}q/app/other", "1", manifest, OCI_MANIFEST).status_code == 201
    assert stored_root(reg, g["id"]) == used
    # an upload starting over /v2 gets the error skopeo printed
    r = c.start_upload(f"{uniq}q/app")
    assert r.status_code == 403
    err = r.json()["errors"][0]
    assert err["code"] == "DENIED"
    assert err["message"].startswith("container registry storage quota exceeded: namespace ")
    assert_exact(reg)

    # raised again: the new image goes in
    api(reg, "PUT", f"/namespaces/{g['id']}", json={key: 0})
    copy(reg, creds, small, f"{uniq}q/app:2")
    assert stored_root(reg, g["id"]) > used
    assert_exact(reg)


def test_manifest_over_the_limit_adds_only_new_blobs(reg, uniq):
    """A manifest PUT is refused when the blobs it adds (not those the namespace counts, in any
    repository or project) take the namespace over; an index counts its children's blobs."""
    model = Model()
    p = Pusher(reg, model)
    g = group(reg, f"{uniq}m")
    a = project(reg, "a", g)
    b = project(reg, "b", g)
    model.roots.update({a["id"]: g, b["id"]: g})
    pa, pb = a["path_with_namespace"], b["path_with_namespace"]
    base = blob(f"{uniq}base", 10_000)
    p.image(pa, a["id"], "1", [base], "x")
    used = stored_root(reg, g)
    api(reg, "PUT", f"/namespaces/{g}", json={"container_registry_storage_limit": used + 600})
    # the same base layer in project b, a new config under 600 bytes: fits
    p.image(pb, b["id"], "1", [base], "y")
    assert stored_root(reg, g) < used + 600
    # a new 1000-byte layer does not
    c = p.client(pb)
    layer = blob(f"{uniq}new", 1000)
    c.push_blob(pb, layer)
    cfg = json.dumps({"label": "z"}).encode()
    c.push_blob(pb, cfg)
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": OCI_CONFIG, "digest": sha256(cfg),
                                  "size": len(cfg)},
                       "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer),
                                   "size": 1000}]}).encode()
    r = c.put_manifest(pb, "2", body, OCI_MANIFEST)
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["code"] == "DENIED"
    assert "and this push adds" in r.json()["errors"][0]["message"]
    # by digest (untagged) it is stored: it counts only once tagged (or reached by a tag)
    assert c.put_manifest(pb, sha256(body), body, OCI_MANIFEST).status_code == 201
    idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(body), "size": len(body)}]}).encode()
    r = c.put_manifest(pb, "multi", idx, OCI_INDEX)
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["message"].endswith(
        f"and this push adds {1000 + len(cfg)} bytes"), r.text
    assert_exact(reg)
    # once the limit allows it, the index is tagged and its child's blobs count
    api(reg, "PUT", f"/namespaces/{g}", json={"container_registry_storage_limit": used + 5000})
    assert c.put_manifest(pb, "multi", idx, OCI_INDEX).status_code == 201
    assert_exact(reg)
    assert stored_root(reg, g) >= used + 1000 + len(cfg)


def test_new_top_level_namespaces_take_the_configured_default(make_registry, uniq):
    """[metad] default_container_registry_storage_limit (here from the environment, as any
    parameter): groups and users made after it, and a group moved to the top, take it; groups
    made before keep theirs."""
    r = make_registry(env={"REGISTRY_METAD_DEFAULT_CONTAINER_REGISTRY_STORAGE_LIMIT": "4096"})
    r.start()
    key = "container_registry_storage_limit"
    g = api(r, "POST", "/groups", 201, json={"name": "top", "path": "top"})
    assert api(r, "GET", f"/namespaces/{g['id']}")[key] == 4096
    s = api(r, "POST", "/groups", 201, json={"name": "s", "path": "s", "parent_id": g["id"]})
    assert api(r, "GET", f"/namespaces/{s['id']}")[key] is None
    u = create_user(r, f"{uniq}u")
    assert api(r, "GET", f"/namespaces/{u.username}")[key] == 4096
    api(r, "PUT", f"/namespaces/{g['id']}", json={key: 0})
    api(r, "POST", f"/groups/{s['id']}/transfer", 201)
    assert api(r, "GET", f"/namespaces/{s['id']}")[key] == 4096
    assert api(r, "GET", f"/namespaces/{g['id']}")[key] == 0
    assert "default_container_registry_storage_limit = 4096" in subprocess.run(
        [r.binary("metad"), "-n", "-c", r.config_path], env=r.env, capture_output=True,
        text=True, check=True).stdout


def test_concurrent_pushes_and_deletes_count_exactly(reg, uniq):
    """Eight pushers into four projects of one group (two repositories each), sharing a pool of
    layers, tagging, moving and deleting tags at once: the counts equal a recount and the
    model's figures, with no transaction lost to a deadlock."""
    model = Model()
    g = group(reg, f"{uniq}c")
    projects = [project(reg, f"p{i}", g) for i in range(4)]
    for pr in projects:
        model.roots[pr["id"]] = g
    pool = [blob(f"{uniq}pool{i}", 500 + 37 * i) for i in range(6)]
    lock = threading.Lock()
    errors = []

    def pusher(n):
        pr = projects[n % 4]
        path = pr["path_with_namespace"] + ("" if n < 4 else "/second")
        local = Model()
        p = Pusher(reg, local)
        try:
            for i in range(12):
                layers = [pool[(n + i) % 6], pool[(n * 3 + i) % 6], blob(f"{uniq}{n}-{i}", 300)]
                p.image(path, pr["id"], f"t{i % 4}", layers, f"{n}-{i}")
                if i % 3 == 2 and f"t{(i + 1) % 4}" in local.repos[path]["tags"]:
                    p.untag(path, f"t{(i + 1) % 4}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        with lock:
            model.sizes.update(local.sizes)
            model.repos[path] = local.repos[path]

    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check(reg, model, [pr["id"] for pr in projects], [g])
    assert "deadlock" not in reg.log("metad")


def test_repair_rewrites_counts_that_went_wrong(reg, uniq):
    """usage_repair(): what an administrator runs if counts were ever changed by hand."""
    model = Model()
    g = group(reg, f"{uniq}r")
    pr = project(reg, "p", g)
    model.roots[pr["id"]] = g
    Pusher(reg, model).image(pr["path_with_namespace"], pr["id"], "1", [blob(uniq, 900)], "r")
    sql(reg, f"UPDATE registry_usage_roots SET size = size + 5 WHERE namespace_id = {g};"
             f"DELETE FROM registry_usage_project_blobs WHERE project_id = {pr['id']}")
    assert sql(reg, "SELECT count(*) FROM usage_check()") != "0"
    assert int(sql(reg, "SELECT usage_repair()")) >= 3
    check(reg, model, [pr["id"]], [g])
    assert sql(reg, "SELECT usage_repair()") == "0"


def test_the_migration_counts_what_is_there(reg, uniq):
    """Migration 034 fills the counts of a registry that had images before it (and 039 their
    stored sizes): their statements, run on this instance's registry with the counts emptied,
    give the recount's figures."""
    model = Model()
    g = group(reg, f"{uniq}f")
    pr = project(reg, "p", g)
    model.roots[pr["id"]] = g
    p = Pusher(reg, model)
    path = pr["path_with_namespace"]
    child = p.image(path, pr["id"], None, [blob(uniq, 800), blob(uniq + "x", 90)], "f")
    p.index(path, pr["id"], "multi", [p.index(path, pr["id"], None, [child])])
    p.image(path, pr["id"], "1", [blob(uniq, 800)], "g")
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "schema", "migrations",
                           "034_usage.sql")) as f:
        text = f.read()
    fill = text[text.index("-- The counts of what is there already"):]
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "schema", "migrations",
                           "039_stored_size.sql")) as f:
        fill += next(line for line in f if line.startswith("UPDATE registry_usage_roots"))
    out = sql(reg, "BEGIN;"
                   "DELETE FROM registry_usage_manifests; DELETE FROM registry_usage_project_blobs;"
                   "DELETE FROM registry_usage_root_blobs; DELETE FROM registry_usage_roots;"
                   "DELETE FROM registry_usage_projects;"
                   "UPDATE blobs SET stored_size = NULL;"  # as 039 finds them
                   + fill +
                   "SELECT 'differ', count(*) FROM usage_check();"
                   "SELECT 'root', usage_of_root(" + str(g) + ");"
                   "ROLLBACK;")
    assert "differ|0" in out.split(), out
    assert f"root|{model.root_usage(g)}" in out.split(), out


def test_racing_transactions_count_exactly(reg, uniq):
    """The counts under SQL-level contention, each statement its own transaction: six sessions
    tag, move and delete tags of manifests sharing blobs in three projects of one group (images
    and indexes of them); a seventh deletes manifests that tags or indexes reach and stores them
    again; an eighth moves one of the projects between two top-level groups back and forth.
    Every statement succeeds (no deadlock), and the counts equal a recount."""
    g = group(reg, f"{uniq}x")
    h = group(reg, f"{uniq}y")
    model = Model()
    p = Pusher(reg, model)
    projects = [project(reg, f"p{i}", g) for i in range(3)]
    shared = [blob(f"{uniq}s{i}", 400 + i) for i in range(5)]
    repos = {}  # repository id -> digests of its manifests
    for i, pr in enumerate(projects):
        for sub in ("", "/b"):
            path = pr["path_with_namespace"] + sub
            images = [p.image(path, pr["id"], None, [shared[(i + k) % 5], shared[(i * 2 + k) % 5],
                                                     blob(f"{uniq}{path}{k}", 100 + k)],
                              f"{path}{k}") for k in range(4)]
            idx = p.index(path, pr["id"], None, images[:2])
            rid = sql(reg, f"SELECT id FROM repositories WHERE path = '{path}'")
            repos[rid] = [d["digest"] for d in images] + [idx["digest"]]
    rnd = random.Random(7)
    ids = sorted(repos)

    def manifest_id(rid, digest):
        return f"(SELECT id FROM manifests WHERE repository_id = {rid} AND digest = '{digest}')"

    scripts = []
    for w in range(6):
        lines = []
        for _ in range(200):
            # half of the changes in the project being moved
            rid = rnd.choice(ids[:2] if rnd.random() < 0.5 else ids)
            tag = f"t{rnd.randrange(3)}"
            if rnd.random() < 0.3:
                lines.append(f"DELETE FROM tags WHERE repository_id = {rid} AND name = '{tag}';")
            else:
                lines.append("INSERT INTO tags (repository_id, name, manifest_id) SELECT "
                             f"{rid}, '{tag}', id FROM manifests WHERE repository_id = {rid}"
                             f" AND digest = '{rnd.choice(repos[rid])}' "
                             "ON CONFLICT (repository_id, name) DO UPDATE"
                             " SET manifest_id = EXCLUDED.manifest_id;")
        scripts.append("\n".join(lines))
    # the deleter: the two children of each index and an image, deleted and stored again (a
    # manifest with its blobs in one transaction, as a push stores it)
    saved = {}
    for rid, digests in repos.items():
        for d in digests[:3]:
            row = sql(reg, "SELECT media_type || '|' || config_digest || '|' || config_media_type"
                           " || '|' || encode(payload, 'hex') || '|' || total_size ||"
                           " '|' || (SELECT string_agg(blob_digest, ',') FROM manifest_blobs"
                           "         WHERE manifest_id = m.id)"
                           f" FROM manifests m WHERE repository_id = {rid} AND digest = '{d}'")
            saved[(rid, d)] = row.split("|")
    lines = []
    for _ in range(40):
        rid = rnd.choice(ids)
        d = rnd.choice(repos[rid][:3])
        mt, cd, cmt, payload, total, bl = saved[(rid, d)]
        lines.append(f"DELETE FROM manifests WHERE id = {manifest_id(rid, d)};")
        lines.append("BEGIN;"
                     "INSERT INTO manifests (repository_id, digest, media_type, config_digest,"
                     " config_media_type, payload, total_size) VALUES"
                     f" ({rid}, '{d}', '{mt}', '{cd}', '{cmt}', '\\x{payload}', {total});"
                     "INSERT INTO manifest_blobs (manifest_id, blob_digest) SELECT"
                     f" {manifest_id(rid, d)}, unnest('{{{bl}}}'::text[]);"
                     "COMMIT;")
    scripts.append("\n".join(lines))
    moved = projects[0]["id"]
    scripts.append("\n".join(f"UPDATE projects SET namespace_id = {h if k % 2 == 0 else g}"
                             f" WHERE id = {moved};" for k in range(200)))
    procs = [subprocess.Popen(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h",
                               reg.pg.sock_dir, "-U", "postgres", "-d", reg.name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in scripts]
    outs = [pr.communicate(s, timeout=300) for pr, s in zip(procs, scripts)]
    assert [pr.returncode for pr in procs] == [0] * len(procs), [o[1] for o in outs]
    assert_exact(reg)
    assert int(sql(reg, f"SELECT usage_of_root({g}) + usage_of_root({h})")) > 0


def test_a_transfer_waits_for_a_push_in_flight(reg, uniq):
    """A push that counted a new blob in a project and has not committed yet, and a transfer of
    the project to another top-level group at that moment: the transfer waits for the push (the
    repository it holds), then moves the blob with the rest, so the new group counts it and the
    old one does not."""
    model = Model()
    g = group(reg, f"{uniq}a")
    h = group(reg, f"{uniq}b")
    pr = project(reg, "p", g)
    path = pr["path_with_namespace"]
    p = Pusher(reg, model)
    p.image(path, pr["id"], "1", [blob(uniq + "old", 700)], "old")
    new = p.image(path, pr["id"], None, [blob(uniq + "new", 900)], "new")
    rid = sql(reg, f"SELECT id FROM repositories WHERE path = '{path}'")
    mid = sql(reg, f"SELECT id FROM manifests WHERE digest = '{new['digest']}'"
                   f" AND repository_id = {rid}")
    push = SqlSession(reg)
    try:
        push.run(f"BEGIN; INSERT INTO tags (repository_id, name, manifest_id)"
                 f" VALUES ({rid}, 'new', {mid});")
        done = []
        t = threading.Thread(target=lambda: done.append(
            reg.api("PUT", f"/projects/{pr['id']}/transfer", json={"namespace": h})))
        t.start()
        t.join(1.5)
        assert t.is_alive() and not done, "the transfer did not wait for the push"
        push.run("COMMIT;")
        t.join(30)
        assert done and done[0].status_code == 200, done and done[0].text
    finally:
        push.close()
    model.repos[path]["tags"]["new"] = new["digest"]
    model.roots[pr["id"]] = h
    check(reg, model, [pr["id"]], [g, h])
    assert stored_root(reg, g) == 0 and stored_root(reg, h) == stored_project(reg, pr["id"])

"""Exact container registry usage and storage limits (schema/functions/usage.sql).

Usage is GitLab's: the distinct layer and config blobs of the manifests tags reach (through tagged
indexes too, nested), once per project and once per top-level namespace however many repositories
share them. After every kind of change the kept counts must equal a recount from scratch
(usage_check() answers no row), and the figures the API shows must equal what a model of the
pushes in this file computes on its own. Limits refuse pushes of new content over them, with a
message skopeo prints, and never what a namespace holds already."""
import json
import os
import threading

import gitlab
import pytest
import requests

from images import Layout
from regapi import wait_until
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
        seen, out, todo = set(), set(), list(r["tags"].values())
        while todo:
            d = todo.pop()
            if d in seen or d not in r["manifests"]:
                continue
            seen.add(d)
            blobs, children = r["manifests"][d]
            out |= set(blobs)
            todo += children
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
    top = p.index(pc, c["id"], "multi", [idx])  # an index of an index
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

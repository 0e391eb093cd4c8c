"""Helpers for the garbage collection tests: an instance that collects quickly, what its queues
and storage hold, images pushed and pulled with skopeo, tags deleted over the REST API."""
import hashlib
import json
import os
import shutil
import urllib.parse

from images import Layout
from registry import Registry, skopeo, tmpdir, wait_for
from v2util import blob_files, mint_token

# What the tests' instances collect with: a second of review delay, a run every second, and a
# file placed without a link is an orphan after two seconds.
REVIEW_DELAY = 1
INTERVAL = 1
GC_CONFIG = {"gc": {"interval": str(INTERVAL), "orphan_grace": "2"}}
GC_ENV = {"REGISTRY_GC_REVIEW_DELAY": str(REVIEW_DELAY)}


def gc_registry(pg, workdir, name, extra_config=None, **kw):
    """A Registry (not started) collecting garbage as GC_CONFIG and GC_ENV say."""
    config = {k: dict(v) for k, v in GC_CONFIG.items()}
    for section, values in (extra_config or {}).items():
        config.setdefault(section, {}).update(values)
    return Registry(pg, workdir, name, extra_config=config, env=dict(GC_ENV), **kw)


def sql(reg, statement):
    return reg.pg.psql(reg.name, statement)


def queues_empty(reg):
    """Whether every review queue and the files to delete are empty (all reviewed, all gone)."""
    return sql(reg, "SELECT (SELECT count(*) FROM gc_manifest_queue) + (SELECT count(*) FROM "
                    "gc_blob_queue) + (SELECT count(*) FROM gc_blob_files)") == "0"


def settle(reg, timeout=60):
    """Waits until garbage collection has reviewed everything queued and deleted its files."""
    wait_for(lambda: queues_empty(reg), timeout=timeout, interval=0.2, what="the queues to drain")


def stored(reg):
    """The digests of the blob files in storage."""
    return set(blob_files(reg))


def blob_rows(reg):
    return set(sql(reg, "SELECT digest FROM blobs").split())


def image_blobs(lay, desc):
    """The blob digests (config and layers) of an image descriptor of a layout; of every child's
    for an index."""
    with open(os.path.join(lay.path, "blobs", "sha256", desc["digest"][7:]), "rb") as f:
        m = json.loads(f.read())
    if "manifests" in m:
        out = set()
        for child in m["manifests"]:
            out |= image_blobs(lay, child)
        return out
    return {m["config"]["digest"]} | {layer["digest"] for layer in m["layers"]}


def layout(tmp_path, name):
    path = os.path.join(str(tmp_path), name)
    os.makedirs(path, exist_ok=True)
    return Layout(path)


def push(reg, lay, tag, name, ref, all_=False):
    """skopeo copy of oci:<layout>:<tag> to HOST/<name>:<ref>."""
    token = mint_token(reg, [(name, "pull,push")])
    args = ["copy"] + (["--all"] if all_ else []) + [
        "--dest-registry-token", token, "--dest-tls-verify=false",
        f"oci:{lay.path}:{tag}", f"docker://{reg.host}/{name}:{ref}"]
    skopeo(*args)


def pull_and_verify(reg, name, ref, expect_blobs, all_=False):
    """skopeo copy of HOST/<name>:<ref> to a layout; every blob expected is there with the bytes
    of its digest."""
    token = mint_token(reg, [(name, "pull")])
    back = tmpdir("gc-back-")
    try:
        args = ["copy", "--preserve-digests"] + (["--all"] if all_ else []) + [
            "--src-registry-token", token, "--src-tls-verify=false",
            f"docker://{reg.host}/{name}:{ref}", f"oci:{back}:x"]
        skopeo(*args)
        got = set(Layout(back).blobs())
        assert set(expect_blobs) <= got, set(expect_blobs) - got
        for digest in expect_blobs:
            with open(os.path.join(back, "blobs", "sha256", digest[7:]), "rb") as f:
                assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == digest
    finally:
        shutil.rmtree(back, ignore_errors=True)


def repository_ids(reg, project_path):
    """(project id, {repository name: id}) of a project, over the REST API as root."""
    pid = reg.api("GET", "/projects/" + urllib.parse.quote(project_path, safe="")).json()["id"]
    r = reg.api("GET", f"/projects/{pid}/registry/repositories")
    assert r.status_code == 200, r.text
    return pid, {x["name"]: x["id"] for x in r.json()}


def delete_tag(reg, project_path, repo_name, tag):
    """DELETE .../registry/repositories/:id/tags/:tag as root; asserts GitLab's 200."""
    pid, repos = repository_ids(reg, project_path)
    r = reg.api("DELETE", f"/projects/{pid}/registry/repositories/{repos[repo_name]}/tags/{tag}")
    assert r.status_code == 200, r.text


def metric(text, line_prefix):
    """The value of the sample whose line starts with line_prefix (name and labels), or None."""
    for line in text.splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return None

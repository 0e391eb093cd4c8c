"""Real clients, real credentials, end to end: who may push where (the token service's rights as
skopeo reports them), deploy tokens as CI uses them, and images that follow a renamed or moved
project."""
import json
import os

import pytest

from images import Layout
from registry import skopeo
from tenants import Tenancy


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    lay = Layout(str(tmp_path_factory.mktemp("img")))
    desc = lay.image([{"bin/tool": os.urandom(200_000)}, {"etc/tool.conf": b"k=v\n"}], "amd64",
                     label="tool")
    lay.tag(desc, "v1")
    return lay


def push(registry, image, ref, creds, check=True):
    return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds,
                  f"oci:{image.path}:v1", f"docker://{registry.host}/{ref}", check=check)


def pull_digest(registry, ref, creds, check=True):
    res = skopeo("inspect", "--tls-verify=false", "--creds", creds,
                 f"docker://{registry.host}/{ref}", check=check)
    return json.loads(res.stdout)["Digest"] if res.returncode == 0 else None


@pytest.fixture(scope="module")
def acme(registry):
    """Group <tag>acme with subgroup platform, private project web, a developer member."""
    t = Tenancy(registry)
    tag = os.urandom(3).hex()
    dev = t.user(f"a{tag}dev")
    gid = t.group(f"a{tag}acme")
    sub = t.group("platform", parent_id=gid)
    pid, path = t.project(sub, "web")
    t.add_project_member(pid, dev["id"], "developer")
    return {"t": t, "dev": dev, "gid": gid, "pid": pid, "path": path, "group": f"a{tag}acme",
            "creds": f"{dev['username']}:{dev['password']}"}


def test_push_to_a_missing_project_or_too_deep_is_denied(registry, image, acme):
    for ref in (f"{acme['group']}/nope:1", f"{acme['path']}/a/b/c:1"):
        res = push(registry, image, ref, acme["creds"], check=False)
        assert res.returncode != 0
        assert "requested access to the resource is denied" in res.stderr, res.stderr
    # two segments below the project are fine
    push(registry, image, f"{acme['path']}/a/b:1", acme["creds"])


def test_reporter_pulls_but_cannot_push(registry, image, acme):
    t = acme["t"]
    rep = t.user(f"{acme['group']}rep")
    t.add_group_member(acme["gid"], rep["id"], "reporter")
    push(registry, image, f"{acme['path']}:shared", acme["creds"])
    creds = f"{rep['username']}:{rep['password']}"
    assert pull_digest(registry, f"{acme['path']}:shared", creds)
    res = push(registry, image, f"{acme['path']}:mine", creds, check=False)
    assert res.returncode != 0 and "requested access to the resource is denied" in res.stderr


def test_ci_pushes_and_pulls_with_deploy_tokens(registry, image, acme):
    r = registry.api("POST", f"/projects/{acme['pid']}/deploy_tokens",
                     json={"name": "ci", "scopes": ["read_registry", "write_registry"]})
    assert r.status_code == 201, r.text
    ci = f"{r.json()['username']}:{r.json()['token']}"
    push(registry, image, f"{acme['path']}/ci:build-1", ci)
    r = registry.api("POST", f"/projects/{acme['pid']}/deploy_tokens",
                     json={"name": "reader", "scopes": ["read_registry"]})
    reader = f"{r.json()['username']}:{r.json()['token']}"
    assert pull_digest(registry, f"{acme['path']}/ci:build-1", reader)
    res = push(registry, image, f"{acme['path']}/ci:build-2", reader, check=False)
    assert res.returncode != 0 and "denied" in res.stderr


def test_images_follow_a_renamed_and_moved_project(registry, image, acme):
    t = acme["t"]
    pid, path = t.project(acme["gid"], "mover")
    t.add_project_member(pid, acme["dev"]["id"], "developer")
    creds = acme["creds"]
    push(registry, image, f"{path}:v1", creds)
    push(registry, image, f"{path}/sub/img:v1", creds)
    before = pull_digest(registry, f"{path}:v1", creds)
    r = registry.api("PUT", f"/projects/{pid}", json={"path": "moved", "name": "moved"})
    assert r.status_code == 200, r.text
    renamed = r.json()["path_with_namespace"]
    assert renamed == f"{acme['group']}/moved"
    assert pull_digest(registry, f"{renamed}:v1", creds) == before
    assert pull_digest(registry, f"{renamed}/sub/img:v1", creds) == before
    res = skopeo("inspect", "--tls-verify=false", "--creds", creds,
                 f"docker://{registry.host}/{path}:v1", check=False)
    assert res.returncode != 0  # the old path is gone
    # moving the group under another renames everything below it in one step
    other = t.group(f"{acme['group']}x")
    r = registry.api("POST", f"/groups/{acme['gid']}/transfer", json={"group_id": other})
    assert r.status_code in (200, 201), r.text
    moved = f"{acme['group']}x/{acme['group']}/moved"
    assert pull_digest(registry, f"{moved}/sub/img:v1", creds) == before

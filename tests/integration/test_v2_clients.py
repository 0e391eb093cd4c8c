"""Real clients against the registry: skopeo copies images in and out (tokens given with
--*-registry-token after the usual 401 challenge), and podman, buildah and docker sign in through
the token service (/jwt/auth) with a user's password."""
import base64
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from images import Layout
from registry import skopeo, tmpdir
from v2util import V2, make_project, mint_token, sha256

PATHS = ["{p}", "{p}/a", "{p}/a/b"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """An OCI layout with a two-layer image, a second architecture and an index of both."""
    lay = Layout(str(tmp_path_factory.mktemp("src")))
    shared = {"etc/os-release": b"NAME=test\n" * 50}
    amd = lay.image([shared, {"bin/app": os.urandom(400_000)}, {"etc/app.conf": b"x=1\n"}],
                    "amd64", label="amd")
    arm = lay.image([shared, {"bin/app": os.urandom(300_000)}], "arm64", label="arm")
    lay.tag(amd, "single")
    lay.tag(lay.index([amd, arm]), "multi")
    return lay


def raw_manifest(host, ref, token):
    out = skopeo("inspect", "--raw", "--tls-verify=false", "--registry-token", token,
                 f"docker://{host}/{ref}").stdout
    return out.encode()


def layout_manifest(lay, tag):
    with open(os.path.join(lay.path, "index.json")) as f:
        for m in json.load(f)["manifests"]:
            if m["annotations"]["org.opencontainers.image.ref.name"] == tag:
                return m["digest"]
    raise KeyError(tag)


def referenced_blobs(manifest_bytes, fetch):
    """Every blob digest an image or index references, recursively; fetch(digest) -> bytes."""
    m = json.loads(manifest_bytes)
    out = set()
    if "manifests" in m:
        for d in m["manifests"]:
            out |= referenced_blobs(fetch(d["digest"]), fetch)
    else:
        out.add(m["config"]["digest"])
        out |= {layer["digest"] for layer in m["layers"]}
    return out


@pytest.mark.parametrize("sub", PATHS)
def test_skopeo_round_trip_oci_image_and_index(registry, proj, source, sub):
    name = sub.format(p=proj)
    token = mint_token(registry, [(name, "pull,push")])
    dest = f"docker://{registry.host}/{name}"
    skopeo("copy", "--dest-registry-token", token, "--dest-tls-verify=false",
           f"oci:{source.path}:single", f"{dest}:single")
    skopeo("copy", "--all", "--dest-registry-token", token, "--dest-tls-verify=false",
           f"oci:{source.path}:multi", f"{dest}:multi")
    # the manifests kept their bytes, so their digests are the source's
    for tag in ("single", "multi"):
        body = raw_manifest(registry.host, f"{name}:{tag}", token)
        assert "sha256:" + hashlib.sha256(body).hexdigest() == layout_manifest(source, tag)
    # pull everything back and compare every blob
    back = tmpdir("back-")
    try:
        skopeo("copy", "--all", "--src-registry-token", token, "--src-tls-verify=false",
               f"{dest}:multi", f"oci:{back}:multi")
        skopeo("copy", "--src-registry-token", token, "--src-tls-verify=false",
               f"{dest}:single", f"oci:{back}:single")
        assert Layout(back).blobs() == source.blobs()
        for digest in source.blobs():
            with open(os.path.join(back, "blobs", "sha256", digest[7:]), "rb") as f:
                assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == digest
    finally:
        shutil.rmtree(back, ignore_errors=True)


@pytest.mark.parametrize("sub", PATHS)
def test_skopeo_round_trip_docker_schema2(registry, proj, source, sub):
    name = sub.format(p=proj)
    token = mint_token(registry, [(name, "pull,push")])
    dest = f"docker://{registry.host}/{name}:v2s2"
    skopeo("copy", "--format", "v2s2", "--dest-registry-token", token, "--dest-tls-verify=false",
           f"oci:{source.path}:single", dest)
    body = raw_manifest(registry.host, f"{name}:v2s2", token)
    m = json.loads(body)
    assert m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    c = V2(registry, token)
    r = c.get_manifest(name, "v2s2")
    assert r.content == body
    digest = r.headers["Docker-Content-Digest"]
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
    # the layers are the source's, byte for byte
    src = json.loads(open(os.path.join(source.path, "blobs", "sha256",
                                       layout_manifest(source, "single")[7:]), "rb").read())
    assert [l["digest"] for l in m["layers"]] == [l["digest"] for l in src["layers"]]
    back = tmpdir("back-")
    try:
        skopeo("copy", "--src-registry-token", token, "--src-tls-verify=false", dest, f"dir:{back}")
        with open(os.path.join(back, "manifest.json"), "rb") as f:
            assert f.read() == body
        for d in referenced_blobs(body, lambda d: c.get_manifest(name, d).content):
            with open(os.path.join(back, d[7:]), "rb") as f:
                assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == d
    finally:
        shutil.rmtree(back, ignore_errors=True)


def test_skopeo_copy_between_repositories_mounts(registry, uniq, source):
    a, b = f"{uniq}/a", f"{uniq}/b"
    make_project(registry, a)
    make_project(registry, b)
    token = mint_token(registry, [(a, "pull,push"), (b, "pull,push")])
    skopeo("copy", "--dest-registry-token", token, "--dest-tls-verify=false",
           f"oci:{source.path}:single", f"docker://{registry.host}/{a}:v1")
    skopeo("copy", "--src-registry-token", token, "--dest-registry-token", token,
           "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{registry.host}/{a}:v1", f"docker://{registry.host}/{b}:v1")
    body = raw_manifest(registry.host, f"{a}:v1", token)
    assert raw_manifest(registry.host, f"{b}:v1", token) == body
    layers = [layer["digest"] for layer in json.loads(body)["layers"]]
    # what skopeo asked and was answered, as the access log has it: each of the three layers
    # was mounted (201 to the mount request), none was uploaded to b again (skopeo uploads the
    # small config itself)
    c = V2(registry, token)
    asked = [line for line in registry.log("gateway").splitlines() if f'/v2/{b}/' in line]
    for digest in layers:
        mount = f'"POST /v2/{b}/blobs/uploads/?from={a.replace("/", "%2F")}&mount=' \
                f'{digest.replace(":", "%3A")}" 201 '
        assert sum(mount in line for line in asked) == 1, (digest, asked)
        assert not any(f"digest={digest.replace(':', '%3A')}" in line for line in asked), asked
        blob = c.get_blob(b, digest)
        assert blob.status_code == 200 and sha256(blob.content) == digest


# ---- clients that sign in through the token service ------------------------------------------


def root_credentials(registry):
    return "root", registry.ROOT_PASSWORD


def podman(storage, *args, check=True):
    cmd = ["podman", "--storage-driver", "vfs", "--root", os.path.join(storage, "root"),
           "--runroot", os.path.join(storage, "run"), "--cgroup-manager", "cgroupfs"] + list(args)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{res.stderr}")
    return res


def test_podman_push_and_pull(registry, proj, source):
    user, password = root_credentials(registry)
    storage = tmpdir("podman-")
    try:
        image_id = podman(storage, "pull", "-q", f"oci:{source.path}:single").stdout.split()[-1]
        image = f"{registry.host}/{proj}/podman:v1"
        podman(storage, "push", "--tls-verify=false", "--creds", f"{user}:{password}",
               image_id, f"docker://{image}")
        podman(storage, "rmi", "--all", "--force", check=False)
        podman(storage, "pull", "--tls-verify=false", "--creds", f"{user}:{password}", image)
        out = podman(storage, "image", "inspect", image).stdout
        assert json.loads(out)[0]["Labels"]["test"] == "amd"
    finally:
        podman(storage, "rmi", "--all", "--force", check=False)
        shutil.rmtree(storage, ignore_errors=True)


def test_buildah_push(registry, proj, source):
    user, password = root_credentials(registry)
    storage = tmpdir("buildah-")
    base = ["buildah", "--storage-driver", "vfs", "--root", os.path.join(storage, "root"),
            "--runroot", os.path.join(storage, "run")]
    try:
        pulled = subprocess.run(base + ["pull", "-q", f"oci:{source.path}:single"], check=True,
                                capture_output=True, text=True, timeout=300)
        image_id = pulled.stdout.split()[-1]
        image = f"{registry.host}/{proj}/buildah:v1"
        res = subprocess.run(base + ["push", "--tls-verify=false", "--creds", f"{user}:{password}",
                                     image_id, f"docker://{image}"],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        token = mint_token(registry, [(f"{proj}/buildah", "pull")])
        r = V2(registry, token).get_manifest(f"{proj}/buildah", "v1")
        assert r.status_code == 200
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def test_docker_manifest_inspect(registry, proj, source):
    token = mint_token(registry, [(proj, "pull,push")])
    skopeo("copy", "--all", "--dest-registry-token", token, "--dest-tls-verify=false",
           f"oci:{source.path}:multi", f"docker://{registry.host}/{proj}:multi")
    user, password = root_credentials(registry)
    cfg = tmpdir("docker-")
    try:
        with open(os.path.join(cfg, "config.json"), "w") as f:
            json.dump({"auths": {registry.host: {
                "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}, f)
        res = subprocess.run(["docker", "--config", cfg, "manifest", "inspect", "--insecure",
                              f"{registry.host}/{proj}:multi"],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        listed = json.loads(res.stdout)
        assert {m["platform"]["architecture"] for m in listed["manifests"]} == {"amd64", "arm64"}
    finally:
        shutil.rmtree(cfg, ignore_errors=True)

"""The Docker engine (Debian's docker.io, driven by the docker client) against the registry:
`docker login` with a password, a personal access token and a deploy token; an image built on a
base made with `docker import` pushed under a project, one and two levels below it, refused three
levels below and outside a project; pulled back and run.

The engine is the one the environment reaches, else a private dockerd this module starts (as
root) once per test process. Only a run without root and without an engine skips, and says so."""
import base64
import io
import json
import os
import shutil
import tarfile
import traceback
import uuid

import pytest
import requests

from dockerd import DockerEngine, EngineUnavailable
from registry import tmpdir
from tenants import Tenancy
from v2util import mint_token

BUSYBOX = "/bin/busybox"  # Debian's busybox-static: one static binary, a whole userland
DENIED = "denied: requested access to the resource is denied"


@pytest.fixture(scope="session")
def engine():
    """The Docker engine, once per test process: a failure to have one fails every test here."""
    eng = DockerEngine()
    skip = failure = None
    try:
        eng.start()
    except EngineUnavailable as e:
        skip = f"NOT TESTED (the Docker engine): {e}; run the tests as root"
    except Exception:  # noqa: BLE001 - whatever it was, the tests here fail with it
        failure = "the Docker engine could not be had:\n" + traceback.format_exc()
        eng.stop()  # whatever of a private engine had started
    if skip:
        pytest.skip(skip)
    if failure:
        pytest.fail(failure, pytrace=False)
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def tenant(registry):
    """A group with a project; a developer of the group with a password and a personal access
    token; a deploy token of the project. Each credential kind maps to (username, secret)."""
    t = Tenancy(registry)
    tag = uuid.uuid4().hex[:6]
    user = t.user(f"d{tag}dev")
    gid = t.group(f"dg{tag}")
    t.add_group_member(gid, user["id"], "developer")
    pid, path = t.project(gid, "app")
    pat = t.pat(user["id"], ["read_registry", "write_registry"])
    r = registry.api("POST", f"/projects/{pid}/deploy_tokens",
                     json={"name": "ci", "scopes": ["read_registry", "write_registry"]})
    assert r.status_code == 201, r.text
    deploy = r.json()
    return {"group": f"dg{tag}", "pid": pid, "path": path, "tag": tag, "creds": {
        "password": (user["username"], user["password"]),
        "personal access token": (user["username"], pat["token"]),
        "deploy token": (deploy["username"], deploy["token"]),
    }}


@pytest.fixture(scope="module")
def rootfs():
    """Writes a tarred root file system: busybox, a few of its names, and a file that makes its
    layer this test's own (so that a pull cannot find it already on the engine)."""
    if not os.path.exists(BUSYBOX):
        pytest.fail(f"{BUSYBOX} is missing: deploy/install-deps --test installs busybox-static",
                    pytrace=False)

    def write(path):
        with tarfile.open(path, "w") as tar:
            tar.add(BUSYBOX, "bin/busybox")
            for name in ("sh", "cat", "echo", "ls"):
                link = tarfile.TarInfo(f"bin/{name}")
                link.type = tarfile.SYMTYPE
                link.linkname = "busybox"
                tar.addfile(link)
            marker = tarfile.TarInfo("etc/regtest-id")
            data = uuid.uuid4().hex.encode()
            marker.size = len(data)
            tar.addfile(marker, io.BytesIO(data))
        return path
    return write


@pytest.fixture
def client(engine):
    """A docker client configuration folder of the test's own (DOCKER_CONFIG), and its images
    removed at the end."""
    config = tmpdir("docker-config-")
    made = []

    def docker(*args, **kw):
        if args[0] in ("build", "import", "tag", "pull"):
            made.append(args[-1] if args[0] != "build" else args[args.index("-t") + 1])
        return engine.docker(config, *args, **kw)

    docker.config = config
    yield docker
    if made:
        engine.docker(config, "rmi", "-f", *made, check=False)
    shutil.rmtree(config, ignore_errors=True)


def login(docker, host, creds):
    return docker("login", "-u", creds[0], "--password-stdin", host, input=creds[1] + "\n",
                  check=False)


def build(docker, rootfs, name, text):
    """Imports a base, builds NAME on it with a file holding TEXT and a CMD that prints it;
    returns the base's name."""
    base = f"regtest-base-{uuid.uuid4().hex[:8]}"
    ctx = tmpdir("docker-build-")
    try:
        docker("import", rootfs(os.path.join(ctx, "rootfs.tar")), base)
        os.unlink(os.path.join(ctx, "rootfs.tar"))
        with open(os.path.join(ctx, "message.txt"), "w") as f:
            f.write(text)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(f"FROM {base}\nCOPY message.txt /srv/message.txt\n"
                    'CMD ["/bin/cat", "/srv/message.txt"]\n')
        docker("build", "-q", "-t", name, ctx)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return base


def repositories(registry, tenant):
    """The project's repositories as the REST API lists them: {path: [tag names]}."""
    r = registry.api("GET", f"/projects/{tenant['pid']}/registry/repositories?tags=true")
    assert r.status_code == 200, r.text
    return {repo["path"]: [t["name"] for t in repo["tags"]] for repo in r.json()}


@pytest.mark.parametrize("kind", ["password", "personal access token", "deploy token"])
def test_docker_login(registry, tenant, client, kind):
    user, secret = tenant["creds"][kind]
    res = login(client, registry.host, (user, secret))
    assert res.returncode == 0 and "Login Succeeded" in res.stdout, res.stderr
    with open(os.path.join(client.config, "config.json")) as f:
        saved = json.load(f)["auths"][registry.host]
    # in the file itself unless the machine has a credential helper the client picks by default
    if "auth" in saved:
        assert base64.b64decode(saved["auth"]).decode() == f"{user}:{secret}"


def test_docker_login_refuses_a_wrong_secret(registry, tenant, client):
    user, _ = tenant["creds"]["password"]
    res = login(client, registry.host, (user, "not-the-password"))
    assert res.returncode != 0
    assert "unauthorized: HTTP Basic: Access denied" in res.stderr, res.stderr
    assert not os.path.exists(os.path.join(client.config, "config.json")) or \
        registry.host not in open(os.path.join(client.config, "config.json")).read()


@pytest.mark.parametrize("kind,sub", [("password", ""), ("personal access token", "/a"),
                                      ("deploy token", "/a/b")])
def test_docker_build_push_pull_run(registry, tenant, client, rootfs, kind, sub):
    assert login(client, registry.host, tenant["creds"][kind]).returncode == 0
    text = f"hello from {kind} {uuid.uuid4().hex}\n"
    image = f"{registry.host}/{tenant['path']}{sub}:v1"
    base = build(client, rootfs, image, text)
    pushed = client("push", image).stdout
    assert "v1: digest: sha256:" in pushed, pushed
    assert "v1" in repositories(registry, tenant)[tenant["path"] + sub]
    # Nothing of the image stays on the engine: the pull fetches every layer.
    client("rmi", image, base)
    assert client("image", "inspect", image, check=False).returncode != 0
    pulled = client("pull", image).stdout
    assert "Downloaded newer image" in pulled and "Already exists" not in pulled, pulled
    cmd = json.loads(client("image", "inspect", image).stdout)[0]["Config"]["Cmd"]
    assert cmd == ["/bin/cat", "/srv/message.txt"]
    assert client("run", "--rm", "--network", "host", image).stdout == text


@pytest.mark.parametrize("where", ["{p}/a/b/c", "{g}/img"])
def test_docker_push_refused_deeper_or_outside_a_project(registry, tenant, client, rootfs, where):
    assert login(client, registry.host, tenant["creds"]["password"]).returncode == 0
    name = where.format(p=tenant["path"], g=tenant["group"])
    image = f"{registry.host}/{name}:v1"
    ctx = tmpdir("docker-rootfs-")
    try:
        client("import", rootfs(os.path.join(ctx, "rootfs.tar")), image)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    res = client("push", image, check=False)
    assert res.returncode != 0
    assert DENIED in res.stdout + res.stderr, res.stdout + res.stderr
    # nothing was made there
    token = mint_token(registry, [(name, "pull")], admin=True)
    r = requests.get(f"{registry.url}/v2/{name}/tags/list",
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 404, r.text

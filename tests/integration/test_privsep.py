"""Privilege separation for real: deploy/registry-local run by root puts each daemon under its own
Unix user and authd and metad under their own PostgreSQL roles. Each boundary is tried from the
other side: the gateway's user cannot read the signing key, a blob or the database; metad's role
cannot read a credential; a process of another user that forges identity headers on a backend's
socket is refused; blobd refuses what the granted actions do not cover. And the clients still
work through it all."""
import json
import os
import re
import subprocess
from urllib.parse import quote

import pytest
import requests

from images import Layout
from registry import BIN_DIR, TOP, free_port, skopeo, tmpdir, wait_for
from v2util import V2, grant_binding, mint_token

SCRIPT = os.path.join(TOP, "deploy", "registry-local")
DAEMONS = ("gateway", "authd", "metad", "blobd")
FORGED_ADMIN = ["-H", "X-Registry-User-Id: 1", "-H", "X-Registry-Username: root",
                "-H", "X-Registry-Admin: 1", "-H", "X-Registry-Auth-Kind: personal_access_token",
                "-H", "X-Registry-Scopes: api"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating users needs root")


def local(*args, data):
    env = dict(os.environ, REGISTRY_BIN_DIR=BIN_DIR, REGISTRY_NO_INSTALL="1")
    res = subprocess.run([SCRIPT, *args, "--data", data], capture_output=True, text=True,
                         timeout=300, env=env)
    assert res.returncode == 0, f"registry-local {args[0]}:\n{res.stdout}\n{res.stderr}"
    return res


def run_as(user, *cmd):
    """Runs cmd as user (root when user is None); the finished process."""
    prefix = [] if user is None else ["runuser", "-u", user, "--"]
    return subprocess.run(prefix + list(cmd), capture_output=True, text=True, errors="replace",
                          timeout=60)


def curl_unix(user, sock, method, path, *headers):
    """(HTTP status, body) of a request on a Unix socket made by user; status 0 when curl could
    not even connect."""
    verb = ["-I"] if method == "HEAD" else ["-X", method]
    res = run_as(user, "curl", "-s", *verb, "--unix-socket", sock, "-w", "\n%{http_code}",
                 *headers, f"http://localhost{path}")
    body, _, code = res.stdout.rpartition("\n")
    return (int(code) if res.returncode == 0 else 0), body


def uid_of(user):
    return int(subprocess.run(["id", "-u", user], capture_output=True, text=True,
                              check=True).stdout)


@pytest.fixture(scope="module")
def inst():
    """A privilege-separated instance with a pushed image acme/app:1 (one layer)."""
    data = tmpdir("privsep-")
    host = f"127.0.0.1:{free_port()}"
    try:
        local("up", "--listen", host, data=data)
        env = {}
        for line in open(os.path.join(data, "instance.env")):
            m = re.match(r"^([A-Z_]+)='(.*)'$", line.strip())
            if m:
                env[m.group(1)] = m.group(2)
        url, token, password = env["REGISTRY_URL"], env["ROOT_TOKEN"], env["ROOT_PASSWORD"]
        api = requests.Session()
        api.headers["PRIVATE-TOKEN"] = token
        group = api.post(f"{url}/api/v4/groups", data={"name": "acme", "path": "acme"}, timeout=30)
        assert group.status_code == 201, group.text
        project = api.post(f"{url}/api/v4/projects",
                           data={"name": "app", "namespace_id": group.json()["id"]}, timeout=30)
        assert project.status_code == 201, project.text
        lay = Layout(os.path.join(data, "src"))
        lay.tag(lay.image([{"bin/app": os.urandom(100_000)}]), "1")
        manifest = json.load(open(os.path.join(lay.path, "index.json")))["manifests"][0]
        layer = json.load(open(os.path.join(lay.path, "blobs", "sha256",
                                            manifest["digest"][7:])))["layers"][0]["digest"]
        # a push through the token service with the admin's password
        skopeo("copy", "--dest-creds", f"root:{password}", "--dest-tls-verify=false",
               f"oci:{lay.path}:1", f"docker://{host}/acme/app:1")
        yield {"data": data, "host": host, "url": url, "api": api, "password": password,
               "layer": layer, "run": os.path.join(data, "run"), "pg": os.path.join(data, "pg"),
               "project_id": project.json()["id"]}
    finally:
        subprocess.run([SCRIPT, "down", "--data", data], capture_output=True, timeout=300)
        subprocess.run(["rm", "-rf", data])


def daemon_uids(inst, daemon):
    """The real and effective uids of a daemon's master and of each of its workers."""
    master = int(open(os.path.join(inst["run"], f"{daemon}.pid")).read())
    workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                             text=True).stdout.split()
    uids = set()
    for pid in [master] + [int(w) for w in workers]:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("Uid:"):
                uids |= {int(x) for x in line.split()[1:]}
    return uids, len(workers)


def test_each_daemon_runs_as_its_own_user(inst):
    for d in DAEMONS:
        uids, workers = daemon_uids(inst, d)
        assert uids == {uid_of(f"registry-{d}")}, d
        assert workers == 2


def test_the_gateway_holds_the_public_key_and_nothing_else(inst):
    data, gw = inst["data"], "registry-gateway"
    assert run_as(gw, "cat", f"{data}/keys/token.pub").returncode == 0
    key = run_as(gw, "cat", f"{data}/keys/token.key")
    assert key.returncode != 0 and "Permission denied" in key.stderr
    blob = f"{data}/storage/blobs/sha256/{inst['layer'][7:9]}/{inst['layer'][7:]}"
    assert os.path.getsize(blob) > 0  # root sees the file...
    for user in (gw, "registry-authd", "registry-metad"):  # ...no other daemon does
        res = run_as(user, "cat", blob)
        assert res.returncode != 0 and "Permission denied" in res.stderr, user
    assert run_as(gw, "cat", f"{data}/authd/bootstrap.env").returncode != 0
    # no database: not in its configuration or environment, and PostgreSQL's socket is out of
    # its reach, whichever role it tries; blobd reaches the socket but is no one there
    assert "database" not in run_as(None, BIN_DIR + "/registry-gateway", "-c",
                                    f"{data}/registry.conf", "-n").stdout.split("[gateway]")[1]
    master = open(os.path.join(inst["run"], "gateway.pid")).read().strip()
    assert b"DATABASE" not in open(f"/proc/{master}/environ", "rb").read()
    for user in (gw, "registry-blobd"):
        for role in ("registry_authd", "registry_metad", "postgres"):
            res = run_as(user, "psql", "-X", "-h", inst["pg"], "-U", role, "-d", "registry",
                         "-c", "SELECT 1")
            assert res.returncode != 0, (user, role)
            assert ("Permission denied" in res.stderr or "authentication failed" in res.stderr), \
                res.stderr
    # authd's and metad's users do reach their own roles, and only those
    assert run_as("registry-metad", "psql", "-X", "-h", inst["pg"], "-U", "registry_metad",
                  "-d", "registry", "-c", "SELECT 1").returncode == 0
    assert run_as("registry-metad", "psql", "-X", "-h", inst["pg"], "-U", "registry_authd",
                  "-d", "registry", "-c", "SELECT 1").returncode != 0


def grant_of(inst):
    """The X-Registry-Grant of a token's grant on acme/app: its project and path generation."""
    return psql_as("registry-metad", "registry_metad",
                   "SELECT id || ':' || path_generation FROM projects"
                   f" WHERE id = {int(inst['project_id'])}", inst["pg"]).stdout.strip()


def psql_as(user, role, sql, pg):
    return run_as(user, "psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", pg, "-U", role,
                  "-d", "registry", "-c", sql)


def test_metads_role_reads_no_credential(inst):
    pg, metad = inst["pg"], "registry-metad"
    for sql in ("SELECT password_hash FROM users",
                "SELECT token_hash FROM personal_access_tokens",
                "SELECT token_lookup FROM personal_access_tokens",
                "SELECT * FROM personal_access_tokens",
                "SELECT token_hash FROM deploy_tokens",
                "SELECT token_hash, refresh_hash FROM oauth_access_tokens",
                "SELECT * FROM auth_failures",
                "SELECT * FROM users",
                "UPDATE users SET is_admin = true",
                "DELETE FROM schema_migrations"):
        res = psql_as(metad, "registry_metad", sql, pg)
        assert res.returncode != 0 and "permission denied" in res.stderr, sql
    # what the metadata needs it has: the users' other columns, the registry's tables
    assert psql_as(metad, "registry_metad", "SELECT username FROM users WHERE id = 1",
                   pg).stdout.strip() == "root"
    assert psql_as(metad, "registry_metad", "SELECT count(*) FROM tags", pg).stdout.strip() == "1"
    # no secret column anywhere is open to it: every *_hash and *_lookup column
    closed = psql_as("registry-authd", "registry_authd",
                     "SELECT count(*), count(*) FILTER (WHERE has_column_privilege("
                     "'registry_metad', attrelid, attname, 'SELECT')) FROM pg_attribute "
                     "WHERE attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = "
                     "'public'::regnamespace AND relkind = 'r') AND NOT attisdropped "
                     "AND (attname LIKE '%\\_hash' OR attname LIKE '%\\_lookup')", pg)
    secret_columns, open_to_metad = map(int, closed.stdout.strip().split("|"))
    assert secret_columns >= 9 and open_to_metad == 0, closed
    # the credentials are authd's
    assert psql_as("registry-authd", "registry_authd",
                   "SELECT password_hash LIKE '$argon2id$%' FROM users WHERE id = 1",
                   pg).stdout.strip() == "t"


def v2_target(name, rest):
    """The /v2 target as the gateway forwards it: the name and a digest percent-encoded."""
    return f"/v2/{quote(name, safe='')}/" + "/".join(quote(p, safe="") for p in rest.split("/"))


def test_backends_serve_only_their_peers_users(inst):
    run, layer = inst["run"], inst["layer"]
    metad, blobd, authd = (os.path.join(run, f"{d}.sock") for d in ("metad", "blobd", "authd"))
    blob_get = ("GET", v2_target("acme/app", f"blobs/{layer}"), "-H", "X-Registry-Actions: pull",
                "-H", f"X-Registry-Grant: {grant_of(inst)}")
    # the gateway's user is believed (the control that makes the refusals below mean something)
    assert curl_unix("registry-gateway", metad, "GET", "/api/v4/projects",
                     *FORGED_ADMIN)[0] == 200
    assert curl_unix("registry-gateway", blobd, *blob_get)[0] == 200
    # root passes any file mode, but is no peer: the kernel's uid is what counts
    for sock, req in ((metad, ("GET", "/api/v4/projects")), (blobd, blob_get),
                      (authd, ("GET", "/api/v4/users"))):
        status, body = curl_unix(None, sock, *req, *FORGED_ADMIN)
        assert status == 403, (sock, status, body)
    status, body = curl_unix(None, metad, "GET", "/api/v4/projects", *FORGED_ADMIN)
    assert "may not use this socket" in body
    # blobd's user is metad's peer for the internal endpoints only
    digest_path = f"/internal/blobs/{layer}?repository=acme/app"
    assert curl_unix("registry-blobd", metad, "GET", digest_path,
                     "-H", f"X-Registry-Grant: {grant_of(inst)}")[0] == 200
    for req in (("GET", "/api/v4/projects"), ("GET", "/v2/acme/app/manifests/1"),
                ("DELETE", f"/api/v4/projects/{inst['project_id']}")):
        status, body = curl_unix("registry-blobd", metad, *req, *FORGED_ADMIN,
                                 "-H", "X-Registry-Actions: pull,push,delete")
        assert status == 403 and "internal endpoints only" in body, (req, status, body)
    # authd's user reaches no other backend's socket, nor does anyone else's
    for user in ("registry-authd", "registry-metad", "nobody"):
        assert curl_unix(user, blobd, *blob_get)[0] == 0, user
    assert curl_unix("nobody", metad, "GET", "/api/v4/projects")[0] == 0
    assert curl_unix("registry-blobd", authd, "GET", "/api/v4/users")[0] == 0
    # and the project is still there
    assert inst["api"].get(f"{inst['url']}/api/v4/projects/{inst['project_id']}",
                           timeout=30).status_code == 200


def test_blobd_checks_the_granted_action(inst):
    blobd, layer, gw = os.path.join(inst["run"], "blobd.sock"), inst["layer"], "registry-gateway"
    path, uploads = v2_target("acme/app", f"blobs/{layer}"), v2_target("acme/app", "blobs/uploads/")
    for method, path, granted in (("GET", path, "push"), ("HEAD", path, "push,delete"),
                                  ("DELETE", path, "pull,push"),
                                  ("POST", uploads, "pull,delete")):
        status, body = curl_unix(gw, blobd, method, path, "-H", f"X-Registry-Actions: {granted}")
        assert status == 403, (method, granted, status, body)
        if method != "HEAD":
            assert json.loads(body)["errors"][0]["code"] == "DENIED"
    assert curl_unix(gw, blobd, "POST", uploads, "-H", "X-Registry-Actions: push",
                     "-H", f"X-Registry-Grant: {grant_of(inst)}")[0] == 202


def test_clients_work_through_it(inst):
    host, url, api = inst["host"], inst["url"], inst["api"]
    # pull what the fixture pushed, with the password and with a deploy token
    back = tmpdir("privsep-back-")
    try:
        skopeo("copy", "--src-creds", f"root:{inst['password']}", "--src-tls-verify=false",
               f"docker://{host}/acme/app:1", f"oci:{back}:1")
        dt = api.post(f"{url}/api/v4/projects/{inst['project_id']}/deploy_tokens",
                      json={"name": "ci", "scopes": ["read_registry"]}, timeout=30)
        assert dt.status_code == 201, dt.text
        skopeo("copy", "--src-creds", f"{dt.json()['username']}:{dt.json()['token']}",
               "--src-tls-verify=false", f"docker://{host}/acme/app:1", f"oci:{back}:dt")
    finally:
        subprocess.run(["rm", "-rf", back])
    r = requests.get(f"{url}/jwt/auth", params={"service": "container_registry",
                                                "scope": "repository:acme/app:pull"},
                     auth=("root", inst["password"]), timeout=30)
    assert r.status_code == 200 and r.json()["token"]
    # the REST API of both backends: users (authd), the registry's repositories and tags (metad)
    assert api.get(f"{url}/api/v4/users?username=root", timeout=30).json()[0]["is_admin"]
    repos = api.get(f"{url}/api/v4/projects/{inst['project_id']}/registry/repositories",
                    params={"tags": "true"}, timeout=30)
    assert repos.status_code == 200 and repos.json()[0]["tags"][0]["name"] == "1", repos.text
    # metad's writes: a tag deleted over the API
    rid = repos.json()[0]["id"]
    r = api.delete(f"{url}/api/v4/projects/{inst['project_id']}/registry/repositories/{rid}"
                   "/tags/1", timeout=30)
    assert r.status_code == 200, r.text


# ---- the same boundaries on the test harness's instances (one Unix user, postgres) -------------

def test_blobd_refuses_what_the_granted_actions_do_not_cover(registry, proj):
    name = f"{proj}/granted"
    digest = V2(registry, mint_token(registry, [(name, "pull,push")])).push_blob(name, b"x" * 999)
    blobd = os.path.join(registry.sock_dir, "blobd.sock")
    path = v2_target(name, f"blobs/{digest}")
    for method, target, granted in (("GET", path, "push"), ("GET", path, ""),
                                    ("HEAD", path, "push,delete"), ("DELETE", path, "pull,push"),
                                    ("POST", v2_target(name, "blobs/uploads/"), "pull,delete"),
                                    ("PATCH", v2_target(name, f"blobs/uploads/{'0' * 32}"), "pull")):
        status, body = curl_unix(None, blobd, method, target, "-H",
                                 f"X-Registry-Actions: {granted}")
        assert status == 403, (method, granted, status, body)
        if method != "HEAD":
            assert json.loads(body)["errors"][0]["code"] == "DENIED"
    status, body = curl_unix(None, blobd, "GET", path, "-H", "X-Registry-Actions: pull",
                             "-H", "X-Registry-Grant: %d:%d" % grant_binding(registry, name))
    assert status == 200 and body == "x" * 999
    # nothing was deleted
    assert V2(registry, mint_token(registry, [(name, "pull")])).get_blob(
        name, digest).status_code == 200


@pytest.fixture
def open_sockets(registry):
    """The backends' sockets made connectable by anyone for a moment, so that only the peer
    check stands between another user and them."""
    socks = [os.path.join(registry.sock_dir, f"{d}.sock") for d in ("authd", "metad", "blobd")]
    modes = [os.stat(s).st_mode & 0o777 for s in socks]
    dirmode = os.stat(registry.sock_dir).st_mode & 0o777
    parents = []
    d = registry.sock_dir
    while d != "/":
        parents.append((d, os.stat(d).st_mode & 0o777))
        d = os.path.dirname(d)
    for p, m in parents:
        os.chmod(p, m | 0o001)
    for s in socks:
        os.chmod(s, 0o666)
    yield dict(zip(("authd", "metad", "blobd"), socks))
    for s, m in zip(socks, modes):
        os.chmod(s, m)
    for p, m in parents:
        os.chmod(p, m)
    assert os.stat(registry.sock_dir).st_mode & 0o777 == dirmode


def test_backends_refuse_another_users_forged_identity(registry, open_sockets, proj):
    # the daemons' own user (the gateway's) is believed...
    assert curl_unix(None, open_sockets["metad"], "GET", "/api/v4/projects",
                     *FORGED_ADMIN)[0] == 200
    # ...another one is refused on every socket, whatever it claims
    name = f"{proj}/forged"
    for sock, req in ((open_sockets["metad"], ("GET", "/api/v4/projects")),
                      (open_sockets["metad"], ("GET", f"/v2/{name}/tags/list")),
                      (open_sockets["blobd"], ("POST", f"/v2/{name}/blobs/uploads/")),
                      (open_sockets["authd"], ("GET", "/api/v4/users"))):
        status, body = curl_unix("nobody", sock, *req, *FORGED_ADMIN,
                                 "-H", "X-Registry-Actions: pull,push,delete")
        assert status == 403 and "may not use this socket" in body, (sock, req, status, body)
    log = registry.log("metad")
    assert f"refusing a connection from uid {uid_of('nobody')}" in log


def test_metads_own_role_reads_no_credential(make_registry, uniq):
    reg = make_registry(db_roles=True).start()
    # the whole path works: a project made over the API (metad), a blob pushed and pulled
    token = reg.root_token
    r = reg.api("POST", "/projects", data={"name": uniq, "path": uniq}, token=token)
    assert r.status_code == 201, r.text
    name = f"root/{uniq}"
    v2 = V2(reg, mint_token(reg, [(name, "pull,push")], user_id=1, username="root", admin=True))
    digest = v2.push_blob(name, b"y" * 4096)
    assert v2.get_blob(name, digest).content == b"y" * 4096

    def as_metad(sql):
        return subprocess.run(["psql", "-X", "-qAt", "-h", reg.pg.sock_dir, "-U", reg.metad_role,
                               "-d", reg.name, "-c", sql], capture_output=True, text=True)
    for sql in ("SELECT password_hash FROM users", "SELECT token_hash FROM personal_access_tokens",
                "SELECT token_hash FROM deploy_tokens", "SELECT * FROM oauth_access_tokens"):
        res = as_metad(sql)
        assert res.returncode != 0 and "permission denied" in res.stderr, sql
    assert as_metad("SELECT username FROM users WHERE id = 1").stdout.strip() == "root"
    assert "granted metad's privileges to role" in reg.log("authd")


def test_metad_waits_for_the_schemas_owner(make_registry):
    reg = make_registry(db_roles=True)
    reg.start(["metad"], wait=False)
    wait_for(lambda: "waiting for the schema's owner" in reg.log("metad"), what="metad waiting")
    assert not os.path.exists(os.path.join(reg.sock_dir, "metad.sock"))
    reg.start(["authd", "blobd", "gateway"])
    assert "applied migration" not in reg.log("metad")
    assert "applied migration" in reg.log("authd")


@pytest.mark.parametrize("users, message", [
    ({"gateway": "nobody"}, "user are set together, or none of them"),
    ({"gateway": "nobody", "authd": "nobody", "metad": "nobody", "blobd": "no-such-user-x"},
     "no such user \"no-such-user-x\""),
])
def test_users_are_set_together_and_must_exist(tmp_path, users, message):
    conf = tmp_path / "r.conf"
    conf.write_text(f"[global]\nsocket_dir = {tmp_path}\nkey_dir = {tmp_path}/keys\n" + "".join(
        f"[{d}]\nuser = {u}\n" for d, u in users.items()))
    res = subprocess.run([BIN_DIR + "/registry-blobd", "-c", str(conf)], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode != 0 and message in res.stderr + res.stdout


def test_a_daemon_started_as_another_user_is_refused():
    d = tmpdir("privsep-conf-")
    try:
        os.chmod(d, 0o755)
        conf = os.path.join(d, "r.conf")
        with open(conf, "w") as f:
            f.write(f"[global]\nsocket_dir = {d}\n" + "".join(
                f"[{x}]\nuser = daemon\n" for x in DAEMONS))
        os.chmod(conf, 0o644)
        res = run_as("nobody", BIN_DIR + "/registry-blobd", "-c", conf)
        assert res.returncode != 0
        assert "[blobd] user is daemon" in res.stderr, res.stderr
        assert "start it as root or as daemon" in res.stderr
        assert not os.path.exists(os.path.join(d, "blobd.sock"))
    finally:
        subprocess.run(["rm", "-rf", d])


def test_metad_role_with_the_owners_privileges_is_refused(make_registry):
    reg = make_registry(db_roles=True)
    reg.sections["authd"]["metad_role"] = reg.authd_role
    reg.write_config()
    reg.start_daemon("authd")
    assert reg.procs["authd"].wait(timeout=60) != 0
    assert "has the privileges of the schema's owner" in reg.log("authd")

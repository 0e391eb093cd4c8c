"""Identical nodes behind a load balancer (docs/SCALING.md): two registry nodes (the four daemons
each, their own port, sockets, key folder and logs) sharing the tests' PostgreSQL database and
one storage_root (or, with S3, a bucket, and a PostgreSQL primary with a streaming replica for
reads), behind Debian's nginx running deploy/nginx/registry-nodes.conf. Clients go
through nginx, or to each node directly when a test needs to say which node serves what."""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import urllib.parse

import pytest
import requests
import urllib3

import jwtutil
from images import Layout, read_layout_blob
from nginx_lb import NGINX, NodesProxy
from registry import BIN_DIR, PgCluster, PgStandby, Registry, free_port, skopeo, tmpdir, wait_for
from test_token_rotation import public_kid, refused_for_its_key, reload
from v2util import V2, make_project, sha256

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="Debian's nginx is not installed")

SERVICE = "container_registry"
PASSWORD = "Root-Passw0rd-for-tests"


def copy_keys(src, dst, names=("token.key", "token.pub")):
    """What an operator does for a new node: the cluster's signing key into its key_dir."""
    os.makedirs(dst, mode=0o750, exist_ok=True)
    for n in names:
        shutil.copy2(os.path.join(src, n), os.path.join(dst, n))


class Cluster:
    """Node a (the first: it creates the signing key and the schema) and node b, made with the
    key copied from a and [authd] create_token_key = false, behind nginx. They share one
    storage_root, or with s3 (a CephRgw) one bucket prefix and no filesystem; blobd: settings of
    both nodes' [blobd]. replica: the nodes' database is a primary of their own with a streaming
    replica, which both read from ([global] database_read)."""

    def __init__(self, make_registry, workdir, s3=None, blobd=None, replica=False):
        self.lb = NodesProxy(workdir)
        common = {"global": {"external_url": self.lb.url},
                  "gateway": {"trusted_proxies": "127.0.0.1"}, "blobd": dict(blobd or {})}
        self.primary = self.standby = None
        self.made = []
        if replica:
            make_registry = self._replicated(common)
        self.a = make_registry(workers=1, s3=s3, extra_config=common).start()
        self.b = make_registry(workers=1, node_of=self.a, s3=s3, extra_config=dict(
            common, authd={"create_token_key": "false"}))
        self.nodes = (self.a, self.b)

    def _replicated(self, common):
        """A primary and its standby for the nodes; the maker of nodes on them."""
        self.base = tmpdir("regtest-nodes-")
        os.chmod(self.base, 0o755)
        self.primary = PgCluster(self.base)
        name = "reg_nodes"
        self.primary.create_db(name)
        self.standby = PgStandby(self.primary, self.base)
        # a read waits for the replica to replay the primary's last write rather than go to
        # the primary (a loaded machine's replica is a moment behind)
        common["global"].update(database_read=self.standby.conninfo(name),
                                database_read_wait="2000")

        def make(**kw):
            reg = Registry(self.primary, self.base, name if not self.made else name + "_b",
                           create_db=False, db_roles=False, **kw)
            self.made.append(reg)
            return reg
        return make

    def replica_reads(self, node):
        """Reads node's metad had the replica serve."""
        text = requests.get(node.url + "/metrics", timeout=10).text
        m = re.search(r'^registry_db_reads_total\{daemon="metad",served_by="replica"\} (\S+)$',
                      text, re.M)
        return float(m.group(1)) if m else 0

    def start(self):
        copy_keys(self.a.key_dir, self.b.key_dir)
        self.b.start()
        self.lb.start(self.nodes)
        return self

    def stop(self):
        self.lb.stop()
        for reg in self.made:
            reg.stop()
        if self.primary is not None:
            self.standby.stop()
            self.primary.stop()
            if not os.environ.get("KEEP_TEST_DIRS"):
                shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def cluster(make_registry, workdir):
    c = Cluster(make_registry, workdir)
    yield c
    c.stop()


# S3's smallest part: chunks of 1 and 7 MiB make both full parts and tails (docs/S3.md)
S3_PART = 5 << 20


@pytest.fixture(params=["filesystem", "s3"])
def any_cluster(request, make_registry, workdir):
    """Two nodes sharing a filesystem, then two nodes sharing only an S3 bucket and a PostgreSQL
    primary with a streaming replica for reads, whose upload sessions live in the database: a
    test using it runs against both."""
    s3 = request.getfixturevalue("ceph_rgw") if request.param == "s3" else None
    c = Cluster(make_registry, workdir, s3=s3, replica=s3 is not None,
                blobd={"s3_part_size": str(S3_PART)} if s3 is not None else None)
    yield c
    c.stop()


def token(url, name, actions="pull,push"):
    """A registry token from the /jwt/auth of the node (or balancer) at url."""
    r = requests.get(f"{url}/jwt/auth", timeout=30, verify=False,
                     params={"service": SERVICE, "scope": f"repository:{name}:{actions}"},
                     auth=("root", PASSWORD))
    assert r.status_code == 200, r.text
    return r.json()["token"]


def path_of(url):
    """The path and query of an absolute URL (to send it to one node rather than the balancer)."""
    u = urllib.parse.urlsplit(url)
    return u.path + (f"?{u.query}" if u.query else "")


def kid_of(tok):
    return jwtutil.decode(tok)[0]["kid"]


def test_a_node_without_the_shared_key_refuses_to_start(make_registry, workdir):
    lb_url = f"https://127.0.0.1:{free_port()}"
    a = make_registry(workers=1, extra_config={"global": {"external_url": lb_url}}).start()
    b = make_registry(workers=1, node_of=a, extra_config={
        "global": {"external_url": lb_url}, "authd": {"create_token_key": "false"}})
    b.start_daemon("authd")
    assert b.procs["authd"].wait(timeout=30) != 0
    assert (f"{b.key_dir}/token.key is missing and [authd] create_token_key is false: copy the "
            "signing key the other nodes use") in b.log("authd")
    assert not os.path.exists(os.path.join(b.key_dir, "token.key"))

    # with a's key copied, b starts, and each node accepts the other's tokens
    copy_keys(a.key_dir, b.key_dir)
    b.start()
    name = "keys/app"
    make_project(a, name)
    from_a, from_b = token(a.url, name), token(b.url, name)
    assert kid_of(from_a) == kid_of(from_b) == public_kid(os.path.join(a.key_dir, "token.pub"))
    digest, _ = V2(b, from_a).push_image(name, "v1")
    assert V2(a, from_b).get_manifest(name, "v1").headers["Docker-Content-Digest"] == digest
    assert V2(b, from_b).get_manifest(name, "v1").status_code == 200


def test_push_and_pull_through_nginx(any_cluster, tmp_path):
    c = any_cluster.start()
    name = "lb/app"
    make_project(c.a, name)
    # the challenge names the balancer's URL, whichever node answers it
    for _ in range(4):
        r = requests.get(c.lb.url + "/v2/", verify=False, timeout=30)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith(f'Bearer realm="{c.lb.url}/jwt/auth"')

    layout = Layout(str(tmp_path / "src"))
    layers = [{f"f{i}": os.urandom(256 * 1024) for i in range(3)} for _ in range(4)]
    image = layout.image(layers)
    layout.tag(image, "v1")
    manifest = json.loads(read_layout_blob(layout.path, image["digest"]))
    blobs = [manifest["config"]["digest"]] + [d["digest"] for d in manifest["layers"]]
    creds = f"root:{PASSWORD}"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds,
           f"oci:{layout.path}:v1", f"docker://{c.lb.host}/{name}:v1")
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds,
           f"docker://{c.lb.host}/{name}:v1", f"oci:{tmp_path}/dst:v1")
    for d in blobs + [image["digest"]]:
        assert read_layout_blob(f"{tmp_path}/dst", d) == read_layout_blob(layout.path, d)

    # nginx sent the registry's requests to both nodes, and each node serves what the other
    # stored (one database, one store)
    served = {up for line, up in c.lb.upstreams() if " /v2/" in line}
    assert served == {c.a.host, c.b.host}, c.lb.upstreams()
    tok = token(c.lb.url, name, "pull")
    for node in c.nodes:
        v2 = V2(node, tok)
        r = v2.get_manifest(name, "v1")
        assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == image["digest"]
        for d in blobs:
            r = v2.get_blob(name, d)
            assert r.status_code == 200 and sha256(r.content) == d


def test_a_chunked_upload_moves_between_nodes(any_cluster):
    c = any_cluster.start()
    name = "moves/app"
    make_project(c.a, name)
    a, b = V2(c.a, token(c.b.url, name)), V2(c.b, token(c.a.url, name))  # each the other's token
    data = os.urandom(3 * 1024 * 1024 + 17)
    parts = [data[:1 << 20], data[1 << 20:2 << 20], data[2 << 20:]]

    r = a.start_upload(name)  # started on a
    assert r.status_code == 202, r.text
    # the balancer's URL, never a node's: the client comes back through nginx, to any node
    assert r.headers["Location"].startswith(f"{c.lb.url}/v2/{name}/blobs/uploads/")
    loc = path_of(r.headers["Location"])
    r = b.req("PATCH", loc, data=parts[0], headers={  # continued on b
        "Content-Type": "application/octet-stream", "Content-Range": f"0-{len(parts[0]) - 1}"})
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(parts[0]) - 1}"
    loc = path_of(r.headers["Location"])
    r = a.req("GET", loc)  # a sees what b wrote
    assert r.status_code == 204 and r.headers["Range"] == f"0-{len(parts[0]) - 1}"
    end = len(parts[0]) + len(parts[1])
    r = a.req("PATCH", loc, data=parts[1], headers={  # on a again
        "Content-Type": "application/octet-stream", "Content-Range": f"{len(parts[0])}-{end - 1}"})
    assert r.status_code == 202 and r.headers["Range"] == f"0-{end - 1}", r.text
    # a chunk out of order is refused by b as a would: the session's offset is shared
    r = b.req("PATCH", path_of(r.headers["Location"]), data=b"x", headers={
        "Content-Type": "application/octet-stream", "Content-Range": "0-0"})
    assert r.status_code == 416, r.text
    r = b.req("PUT", loc, params={"digest": sha256(data)}, data=parts[2])  # finished on b
    assert r.status_code == 201, r.text
    for v2 in (a, b):
        got = v2.get_blob(name, sha256(data))
        assert got.status_code == 200 and got.content == data


def test_signing_key_rotation_across_nodes(cluster, tmp_path):
    """README.md's procedure for a cluster: the next key's public half on every node first,
    then the next key on every node, a reload of each authd; later the retirement on each node.
    At every step a token issued by either node is accepted by both."""
    c = cluster.start()
    name = "rotate/app"
    make_project(c.a, name)
    old = token(c.a.url, name)
    V2(c.a, old).push_image(name, "v1")
    old_kid = kid_of(old)
    issued = [old]

    def all_accepted(tokens):
        for node in c.nodes:
            for tok in tokens:
                r = V2(node, tok).get_manifest(name, "v1")
                assert r.status_code == 200, (node.name, kid_of(tok), r.status_code, r.text)

    # the operator makes the next key once, on any machine, and its public half with authd
    key = tmp_path / "token.next.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
    os.close(fd)
    out = subprocess.run([os.path.join(BIN_DIR, "registry-authd"), "--public-key", str(key)],
                         check=True, capture_output=True, text=True).stdout
    (tmp_path / "token.next.pub").write_text(out)
    next_kid = public_kid(tmp_path / "token.next.pub")
    assert next_kid != old_kid

    # 1. the public half on every node, then the key on every node (nothing signs with it yet)
    for node in c.nodes:
        copy_keys(tmp_path, node.key_dir, ("token.next.pub",))
    for node in c.nodes:
        copy_keys(tmp_path, node.key_dir, ("token.next.key",))
    # 2. each authd reloads in turn; between the two reloads the nodes sign with different keys
    reload(c.a, "authd")
    from_a, from_b = token(c.a.url, name), token(c.b.url, name)
    assert (kid_of(from_a), kid_of(from_b)) == (next_kid, old_kid)
    issued += [from_a, from_b]
    all_accepted(issued)  # b's gateway, never reloaded, reads the published key on demand
    reload(c.b, "authd")
    from_b = token(c.b.url, name)
    assert kid_of(from_b) == next_kid
    issued.append(from_b)
    all_accepted(issued)
    # 3. after token_lifetime, the retirement, node by node: tokens of the next key stay good
    # everywhere all along, and those of the old key end
    for node in c.nodes:
        os.rename(os.path.join(node.key_dir, "token.next.key"),
                  os.path.join(node.key_dir, "token.key"))
        os.rename(os.path.join(node.key_dir, "token.next.pub"),
                  os.path.join(node.key_dir, "token.pub"))
        reload(node, "authd")
        reload(node, "gateway")
        refused_for_its_key(node, old, name)
        current = [t for t in issued if kid_of(t) == next_kid]
        current += [token(n.url, name) for n in c.nodes]
        all_accepted(current)
    for node in c.nodes:
        refused_for_its_key(node, old, name)
        assert kid_of(token(node.url, name)) == next_kid


def inbound_bytes(port):
    """Bytes received so far on the established connections to a local port (ss -ti)."""
    out = subprocess.run(["ss", "-Htin", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return sum(int(n) for n in re.findall(r"bytes_received:(\d+)", out))


def kill_node(node):
    """Every process of the node's four daemons, at once (SIGKILL): a host lost."""
    for d, p in node.procs.items():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_a_node_killed_mid_push_and_the_retry_finishes_on_the_other(any_cluster):
    c = any_cluster.start()
    name = "killed/app"
    make_project(c.a, name)
    lb = V2(c.a, token(c.lb.url, name), base=c.lb.url, verify=False)
    first = os.urandom(4 << 20)
    rest = os.urandom(24 << 20)
    data = first + rest

    r = lb.start_upload(name)
    assert r.status_code == 202, r.text
    r = lb.req("PATCH", r.headers["Location"], data=first, headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"0-{len(first) - 1}"})
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]

    # the second chunk streams through nginx to some node; the test finds which one by the
    # bytes its listener received, and kills that node while the body is half sent
    go_on = threading.Event()
    sent = []

    def body():
        for i in range(0, len(rest), 1 << 20):
            if i == 8 << 20:
                go_on.wait(60)
            sent.append(i)
            yield rest[i:i + (1 << 20)]

    outcome = {}

    def patch():
        try:
            outcome["r"] = lb.req("PATCH", loc, data=body(), timeout=60, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{len(first)}-{len(data) - 1}"})
        except requests.RequestException as e:
            outcome["error"] = e

    before = {node.name: inbound_bytes(node.port) for node in c.nodes}
    t = threading.Thread(target=patch)
    t.start()

    def receiving():
        for node in c.nodes:
            if inbound_bytes(node.port) - before[node.name] >= 6 << 20:
                return node
        return None
    try:
        victim = wait_for(receiving, timeout=30, what="a node receiving the chunk")
    except TimeoutError:
        go_on.set()
        t.join(90)
        raise
    survivor = c.b if victim is c.a else c.a
    kill_node(victim)
    go_on.set()
    t.join(90)
    assert not t.is_alive()
    # the client was told the chunk failed (nginx's 502, or the connection cut)
    assert "error" in outcome or outcome["r"].status_code >= 500, outcome["r"].text

    # the client's retry, through nginx: where does the upload stand, then the rest
    r = lb.req("GET", loc)
    assert r.status_code == 204, r.text
    assert r.headers["Range"] == f"0-{len(first) - 1}"  # what was acknowledged, nothing more
    r = lb.req("PATCH", r.headers["Location"], data=rest, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{len(first)}-{len(data) - 1}"})
    assert r.status_code == 202, r.text
    r = lb.req("PUT", r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    got = lb.get_blob(name, sha256(data))
    assert got.status_code == 200 and got.content == data
    # every request after the kill went to the survivor
    after = c.lb.upstreams()[-4:]
    assert all(up.split(", ")[-1] == survivor.host for _, up in after), after
    if c.standby is not None:  # and the replica serves its reads
        before = c.replica_reads(survivor)

        def read_on_replica():
            r = requests.get(c.lb.url + "/api/v4/projects", verify=False, timeout=30,
                             headers={"PRIVATE-TOKEN": c.a.root_token})
            assert r.status_code == 200, r.text
            return c.replica_reads(survivor) > before
        wait_for(read_on_replica, timeout=30, interval=1, what="a read served by the replica")


def sign_in(lb, source, login, password):
    """GET /jwt/auth through the balancer from a loopback address of the client's choosing;
    the status."""
    conn = http.client.HTTPSConnection("127.0.0.1", lb.port, source_address=(source, 0),
                                       context=ssl._create_unverified_context(), timeout=30)
    basic = base64.b64encode(f"{login}:{password}".encode()).decode()
    try:
        conn.request("GET", f"/jwt/auth?service={SERVICE}",
                     headers={"Authorization": "Basic " + basic})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def test_failed_sign_ins_count_per_client_across_nodes(cluster):
    """The nodes believe nginx's X-Forwarded-For ([gateway] trusted_proxies), and count failed
    sign-ins in the shared database: a client's failures slow it down whichever node takes its
    next attempt, and another client behind the same balancer is not slowed down."""
    c = cluster.start()
    login = "nobody-here"
    statuses = []
    while 429 not in statuses:
        assert len(statuses) < 12, statuses
        statuses.append(sign_in(c.lb, "127.0.0.5", login, "wrong"))
    assert statuses[:5] == [401] * 5, statuses
    tried = {up.split(", ")[-1] for line, up in c.lb.upstreams() if "/jwt/auth" in line}
    assert tried == {c.a.host, c.b.host}  # the attempts went to both nodes
    assert sign_in(c.lb, "127.0.0.6", login, "wrong") == 401  # another client: not slowed down
    assert sign_in(c.lb, "127.0.0.5", login, "wrong") == 429


def test_an_oauth_token_revoked_on_one_node_is_refused_by_the_other(cluster):
    """POST /oauth/revoke marks the pair revoked in the shared database: the other node refuses
    the token at once, on /api/v4 and on /jwt/auth."""
    c = cluster.start()
    r = requests.post(f"{c.a.url}/oauth/token", timeout=30, data={
        "grant_type": "password", "username": "root", "password": PASSWORD})
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]

    def user(node):
        return requests.get(f"{node.url}/api/v4/user", timeout=30,
                            headers={"Authorization": f"Bearer {access}"}).status_code

    assert user(c.a) == 200 and user(c.b) == 200
    r = requests.post(f"{c.b.url}/oauth/revoke", data={"token": access}, timeout=30)
    assert r.status_code == 200 and r.json() == {}, r.text
    assert user(c.a) == 401 and user(c.b) == 401
    r = requests.get(f"{c.a.url}/jwt/auth", params={"service": SERVICE}, auth=("oauth2", access),
                     timeout=30)
    assert r.status_code == 401, r.text

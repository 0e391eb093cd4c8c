"""deploy/registry-local: one command brings up a whole registry in a folder, one takes it down."""
import os
import re
import stat
import subprocess

import pytest
import requests

from registry import TOP, free_port, tmpdir

SCRIPT = os.path.join(TOP, "deploy", "registry-local")


def local(*args, data, check=True, timeout=180):
    env = dict(os.environ)
    res = subprocess.run([SCRIPT, *args, "--data", data], capture_output=True, text=True,
                         timeout=timeout, env=env)
    if check and res.returncode != 0:
        raise AssertionError(f"registry-local {' '.join(args)} failed ({res.returncode}):\n"
                             f"{res.stdout}\n{res.stderr}")
    return res


def read_env(path):
    values = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Z_]+)='(.*)'$", line.strip())
            if m:
                values[m.group(1)] = m.group(2)
    return values


def pids_of(data, node=None):
    """Every pid the instance started: daemon masters and their workers, and PostgreSQL (with
    node, that node's daemons only: data/node<N>)."""
    pids = []
    if node is None:
        for d in os.listdir(data) if os.path.isdir(data) else ():
            if re.fullmatch(r"node\d+", d):
                pids += pids_of(data, int(d[4:]))
    else:
        data = os.path.join(data, f"node{node}")
    run = os.path.join(data, "run")
    for d in ("authd", "metad", "blobd", "gateway"):
        p = os.path.join(run, f"{d}.pid")
        if os.path.exists(p):
            master = int(open(p).read())
            pids.append(master)
            out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
            pids += [int(x) for x in out.stdout.split()]
    if node is not None:
        return pids
    pm = os.path.join(data, "pg", "data", "postmaster.pid")
    if os.path.exists(pm):
        postmaster = int(open(pm).readline())
        pids.append(postmaster)
        out = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True)
        pids += [int(x) for x in out.stdout.split()]
    return pids


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.fixture
def data():
    d = tmpdir("registry-local-")
    yield d
    if any(running(p) for p in pids_of(d)):
        local("down", data=d, check=False)
    subprocess.run(["rm", "-rf", d])


def test_up_serves_then_down_leaves_nothing(data):
    port = free_port()
    host = f"127.0.0.1:{port}"
    res = local("up", "--listen", host, data=data)
    url = f"http://{host}"
    assert f"registry ready: {url}" in res.stdout
    # the credentials are printed once, on the first start
    assert "admin password:" in res.stdout

    # what `curl -i http://HOST/v2/` shows: the token challenge
    out = subprocess.run(["curl", "-si", f"{url}/v2/"], capture_output=True, text=True,
                         timeout=30).stdout
    assert out.startswith("HTTP/1.1 401 Unauthorized")
    assert f'WWW-Authenticate: Bearer realm="{url}/jwt/auth",service="container_registry"' in out
    assert requests.get(f"{url}/-/readiness", timeout=10).status_code == 200

    env_file = os.path.join(data, "instance.env")
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    values = read_env(env_file)
    assert values["REGISTRY_URL"] == url
    assert values["REGISTRY_HOST"] == host
    assert values["ROOT_PASSWORD"] and values["ROOT_TOKEN"]
    assert values["ROOT_PASSWORD"] in res.stdout and values["ROOT_TOKEN"] in res.stdout
    # the credentials are the admin's: the token on the API, the password at the token service
    r = requests.get(f"{url}/api/v4/user", headers={"PRIVATE-TOKEN": values["ROOT_TOKEN"]},
                     timeout=10)
    assert r.status_code == 200 and r.json()["username"] == "root" and r.json()["is_admin"]
    r = requests.get(f"{url}/jwt/auth", params={"service": "container_registry"},
                     auth=("root", values["ROOT_PASSWORD"]), timeout=30)
    assert r.status_code == 200 and r.json()["token"]
    # scripts can source it
    sourced = subprocess.run(["bash", "-c", f". {env_file} && echo $REGISTRY_URL"],
                             capture_output=True, text=True).stdout.strip()
    assert sourced == url

    # PostgreSQL listens on its folder's socket, not on TCP
    pg_conf = open(os.path.join(data, "pg", "data", "postgresql.auto.conf")).read()
    assert "listen_addresses = ''" in pg_conf
    assert os.path.exists(os.path.join(data, "pg", ".s.PGSQL.5432"))
    # and logs no statement with its values, nor an error's DETAIL (secrets and their hashes)
    shown = subprocess.run(
        ["psql", "-X", "-qAt", "-h", os.path.join(data, "pg"), "-U", "postgres", "-d", "registry",
         "-c", "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings "
               "WHERE name IN ('log_statement', 'log_min_duration_statement', "
               "'log_parameter_max_length', 'log_parameter_max_length_on_error', "
               "'log_error_verbosity')"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert shown == ("log_error_verbosity=terse log_min_duration_statement=-1 "
                     "log_parameter_max_length=0 log_parameter_max_length_on_error=0 "
                     "log_statement=none"), shown
    for d in ("authd", "metad", "blobd", "gateway"):
        assert os.path.getsize(os.path.join(data, "log", f"{d}.log")) > 0

    st = local("status", data=data)
    for d in ("postgresql", "registry-authd", "registry-metad", "registry-blobd",
              "registry-gateway"):
        assert re.search(rf"^{d}\s+running\s+pid \d+", st.stdout, re.M), st.stdout
    assert re.search(r"^registry-gateway\s+running\s+pid \d+\s+workers 2$", st.stdout, re.M)
    assert "readiness" in st.stdout and ": 200 " in st.stdout

    again = local("up", data=data)
    assert "already running" in again.stdout and url in again.stdout
    assert "admin password" not in again.stdout

    pids = pids_of(data)
    assert len(pids) >= 4 + 8 + 1
    down = local("down", data=data)
    assert "stopped registry-gateway" in down.stdout and "stopped PostgreSQL" in down.stdout
    left = [p for p in pids if running(p)]
    assert left == [], f"processes left behind: {left}"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/-/health", timeout=5)
    st = local("status", data=data, check=False)
    assert st.returncode != 0 and "stopped" in st.stdout

    # a second start reuses the cluster and the credentials, and says nothing of them
    res = local("up", data=data)
    assert f"registry ready: {url}" in res.stdout
    assert "admin password" not in res.stdout
    assert read_env(env_file) == values
    assert requests.get(f"{url}/-/readiness", timeout=10).status_code == 200
    local("down", data=data)


def test_bad_arguments_are_refused(data):
    res = local("up", "--listen", "nowhere", data=data, check=False)
    assert res.returncode != 0 and "HOST:PORT" in res.stderr
    res = subprocess.run([SCRIPT, "sideways"], capture_output=True, text=True)
    assert res.returncode == 2 and "up" in res.stderr


def test_a_second_node_shares_the_database_the_storage_and_the_key(data):
    """docs/SCALING.md on one machine: node 2 in data/node2, its own daemons and port, the first
    node's database, storage folder and signing key."""
    res = local("up", "--node", "2", data=data, check=False)
    assert res.returncode != 0 and "start the first node first" in res.stderr
    url1 = f"http://127.0.0.1:{free_port()}"
    local("up", "--listen", url1[7:], data=data)
    host2 = f"127.0.0.1:{free_port()}"
    url2 = f"http://{host2}"
    res = local("up", "--node", "2", "--listen", host2, data=data)
    assert f"registry ready: {url2}" in res.stdout
    assert "admin password" not in res.stdout  # the admin is the first node's
    node2 = os.path.join(data, "node2")
    values = read_env(os.path.join(node2, "instance.env"))
    assert values["REGISTRY_URL"] == url2
    assert values["ROOT_TOKEN"] == read_env(os.path.join(data, "instance.env"))["ROOT_TOKEN"]
    conf = open(os.path.join(node2, "registry.conf")).read()
    assert re.search(r"^create_token_key = false$", conf, re.M)
    assert f"storage_root = {data}/storage" in conf
    for f in ("token.key", "token.pub"):
        assert open(os.path.join(node2, "keys", f)).read() == \
            open(os.path.join(data, "keys", f)).read()

    # a project made on node 1, a blob pushed there with node 1's token, read on node 2 with it
    r = requests.post(f"{url1}/api/v4/projects", json={"name": "shared"}, timeout=30,
                      headers={"PRIVATE-TOKEN": values["ROOT_TOKEN"]})
    assert r.status_code == 201, r.text
    tok = requests.get(f"{url1}/jwt/auth", timeout=30, auth=("root", values["ROOT_PASSWORD"]),
                       params={"service": "container_registry",
                               "scope": "repository:root/shared:pull,push"}).json()["token"]
    blob = os.urandom(4096)
    digest = "sha256:" + __import__("hashlib").sha256(blob).hexdigest()
    auth = {"Authorization": f"Bearer {tok}"}
    r = requests.post(f"{url1}/v2/root/shared/blobs/uploads/", params={"digest": digest},
                      data=blob, headers=auth, timeout=30)
    assert r.status_code == 201, r.text
    r = requests.get(f"{url2}/v2/root/shared/blobs/{digest}", headers=auth, timeout=30)
    assert r.status_code == 200 and r.content == blob

    st = local("status", "--node", "2", data=data)
    assert re.search(r"^registry-gateway\s+running", st.stdout, re.M) and ": 200 " in st.stdout
    # down --node 2 stops that node only
    pids2 = pids_of(data, 2)
    local("down", "--node", "2", data=data)
    assert [p for p in pids2 if running(p)] == []
    assert requests.get(f"{url1}/-/readiness", timeout=10).status_code == 200
    # down stops every node, then PostgreSQL
    local("up", "--node", "2", data=data)
    assert requests.get(f"{url2}/-/readiness", timeout=10).status_code == 200
    pids = pids_of(data)
    local("down", data=data)
    assert [p for p in pids if running(p)] == []

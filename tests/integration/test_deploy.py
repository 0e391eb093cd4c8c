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


def pids_of(data):
    """Every pid the instance started: daemon masters and their workers, and PostgreSQL."""
    pids = []
    run = os.path.join(data, "run")
    for d in ("authd", "metad", "blobd", "gateway"):
        p = os.path.join(run, f"{d}.pid")
        if os.path.exists(p):
            master = int(open(p).read())
            pids.append(master)
            out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
            pids += [int(x) for x in out.stdout.split()]
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

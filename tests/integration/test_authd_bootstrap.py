"""The first start creates root exactly once, even with two authd instances starting together on
one database, and later starts leave it (and its bootstrap file) alone."""
import os
import signal
import subprocess

import requests

from registry import wait_for


def read_env(path):
    values = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                values[k] = v.strip("'")
    return values


def test_two_instances_bootstrap_once_then_never_again(make_registry):
    reg = make_registry()
    # A second authd on the same database and keys, with its own socket and bootstrap file.
    second_sock = os.path.join(reg.dir, "sock2")
    second_file = os.path.join(reg.dir, "bootstrap2.env")
    second_conf = os.path.join(reg.dir, "second.conf")
    with open(second_conf, "w") as f:
        for section, values in reg.sections.items():
            f.write(f"[{section}]\n")
            for k, v in values.items():
                if (section, k) == ("global", "socket_dir"):
                    v = second_sock
                elif (section, k) == ("authd", "bootstrap_file"):
                    v = second_file
                f.write(f"{k} = {v}\n")
    procs = []
    logs = []
    for conf, name in ((reg.config_path, "first"), (second_conf, "second")):
        log = open(os.path.join(reg.dir, f"authd-{name}.log"), "wb")
        logs.append(log)
        procs.append(subprocess.Popen([reg.binary("authd"), "-c", conf], stdout=log,
                                      stderr=subprocess.STDOUT, env=reg.env,
                                      start_new_session=True))
    try:
        for sock in (reg.sock_dir, second_sock):
            wait_for(lambda s=sock: os.path.exists(os.path.join(s, "authd.sock")),
                     what="authd socket")
        assert reg.pg.psql(reg.name, "SELECT count(*) FROM users WHERE username = 'root'") == "1"
        assert reg.pg.psql(reg.name, "SELECT count(*) FROM namespaces WHERE path = 'root'") == "1"
        written = [p for p in (reg.bootstrap_file, second_file) if os.path.exists(p)]
        assert len(written) == 1
        assert not any(os.path.exists(p + ".tmp") for p in (reg.bootstrap_file, second_file))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
        for log in logs:
            log.close()
    first = read_env(written[0])
    assert first["ROOT_PASSWORD"] == reg.ROOT_PASSWORD
    before = open(written[0]).read()

    # A later start (with another password in the environment) changes nothing.
    reg.env["REGISTRY_ROOT_PASSWORD"] = "Another-Passw0rd"
    reg.start()
    assert open(written[0]).read() == before
    r = requests.get(f"{reg.url}/api/v4/user", headers={"PRIVATE-TOKEN": first["ROOT_TOKEN"]})
    assert r.status_code == 200 and r.json()["username"] == "root"
    r = requests.get(f"{reg.url}/jwt/auth", params={"service": "container_registry"},
                     auth=("root", reg.ROOT_PASSWORD))
    assert r.status_code == 200
    # the one token is the one in the file
    r = requests.get(f"{reg.url}/api/v4/personal_access_tokens",
                     headers={"PRIVATE-TOKEN": first["ROOT_TOKEN"]})
    assert r.status_code == 200 and len(r.json()) == 1, r.text


def test_generated_password_without_env(make_registry):
    reg = make_registry()
    del reg.env["REGISTRY_ROOT_PASSWORD"]
    reg.start()
    creds = read_env(reg.bootstrap_file)
    assert len(creds["ROOT_PASSWORD"]) >= 20 and creds["ROOT_PASSWORD"] != reg.ROOT_PASSWORD
    r = requests.post(f"{reg.url}/oauth/token", data={
        "grant_type": "password", "username": "root", "password": creds["ROOT_PASSWORD"]})
    assert r.status_code == 200


def test_bootstrap_without_a_file_logs_no_secret(make_registry):
    reg = make_registry(extra_config={"authd": {"bootstrap_file": ""}})
    reg.start()
    assert not os.path.exists(reg.bootstrap_file)
    log = reg.log("authd")
    assert "created the admin root with the password of REGISTRY_ROOT_PASSWORD" in log
    assert reg.ROOT_PASSWORD not in log and "glpat-" not in log
    # the operator's password works; there is no token nobody could read
    r = requests.post(f"{reg.url}/oauth/token", data={
        "grant_type": "password", "username": "root", "password": reg.ROOT_PASSWORD})
    assert r.status_code == 200
    me = requests.get(f"{reg.url}/api/v4/user",
                      headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
    assert me["username"] == "root"
    r = requests.get(f"{reg.url}/api/v4/personal_access_tokens",
                     headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert r.status_code == 200 and r.json() == [], r.text


def test_bootstrap_without_a_file_nor_a_password_is_refused(make_registry):
    reg = make_registry(extra_config={"authd": {"bootstrap_file": ""}})
    reg.env.pop("REGISTRY_ROOT_PASSWORD")
    reg.start_daemon("authd")
    assert reg.procs["authd"].wait(timeout=30) != 0
    log = reg.log("authd")
    assert "set [authd] bootstrap_file" in log and "REGISTRY_ROOT_PASSWORD" in log
    assert "glpat-" not in log
    assert reg.pg.psql(reg.name, "SELECT count(*) FROM users") == "0"

"""The configuration from the command line: `-n` prints what a daemon would run with."""
import os
import subprocess

import pytest

from registry import BIN_DIR, DAEMONS, TOP


def run_check(path, *extra, env=None):
    cmd = [os.path.join(BIN_DIR, "registry-gateway"), "-c", path, "-n", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **(env or {})))


def write(tmp_path, text):
    p = tmp_path / "registry.conf"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("daemon", DAEMONS)
def test_check_prints_effective_configuration(tmp_path, daemon):
    path = write(tmp_path, "[global]\ndatabase = host=/db user=u password=s3cret dbname=r\n"
                           "socket_dir = /tmp/x\n[gateway]\nlisten = 127.0.0.1:5999\n"
                           f"[{daemon}]\nworkers = 3\n")
    res = subprocess.run([os.path.join(BIN_DIR, f"registry-{daemon}"), "-c", path, "-n"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.rstrip().endswith("configuration OK")
    assert "[global]\n" in out and f"[{daemon}]\n" in out
    assert "socket_dir = /tmp/x\n" in out
    assert "workers = 3\n" in out
    # every parameter is shown with its help line, secrets masked
    assert "shutdown_timeout = 30\n" in out
    assert "; seconds a draining worker may take" in out
    assert "s3cret" not in out and "database = ********\n" in out
    # only the daemon's own section besides [global]
    others = [d for d in DAEMONS if d != daemon]
    assert not any(f"[{d}]" in out for d in others)


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, "[gateway]\nworkers = 3\nlisten = 127.0.0.1:5999\n")
    res = run_check(path, env={"REGISTRY_GATEWAY_WORKERS": "7",
                               "REGISTRY_GATEWAY_HEADER_TIMEOUT": "9"})
    assert res.returncode == 0, res.stderr
    assert "workers = 7\n" in res.stdout
    assert "header_timeout = 9\n" in res.stdout


@pytest.mark.parametrize("text, message", [
    ("[gateway]\nworkers = 0\n", "[gateway] workers must be an integer in 1..256, not \"0\""),
    ("[gateway]\nworkerz = 2\n", "unknown parameter \"workerz\" in [gateway]"),
    ("[gatewy]\nworkers = 2\n", "unknown section [gatewy]"),
    ("[global]\nlog_level = chatty\n", "log_level must be debug, info, warn or error"),
    ("[global]\nlog_format = xml\n", "[global] log_format must be text or json, not \"xml\""),
    ("[blobd]\nfsync = perhaps\n", "fsync must be true or false"),
    ("[blobd]\nstorage = tape\n", "[blobd] storage must be filesystem or s3, not \"tape\""),
    ("[blobd]\ns3_path_style = sometimes\n", "s3_path_style must be true or false"),
    ("[gateway]\ntrusted_proxies = 127.0.0.1\n",
     "trusted_proxies is set: set [global] external_url, or [gateway] forwarded_hosts"),
    ("[gateway]\ntrusted_proxies = 127.0.0.1\nforwarded_hosts = ok.example, bad\"host\n",
     "forwarded_hosts: \"bad\"host\" is not a host[:port]"),
])
def test_bad_configuration_is_refused_with_its_reason(tmp_path, text, message):
    res = run_check(write(tmp_path, text))
    assert res.returncode == 1
    assert message in res.stderr
    assert "configuration OK" not in res.stdout


def test_missing_file_and_bad_environment(tmp_path):
    res = run_check(str(tmp_path / "nope.conf"))
    assert res.returncode == 1 and "cannot open" in res.stderr
    res = run_check(write(tmp_path, ""), env={"REGISTRY_GATEWAY_WORKERS": "x"})
    assert res.returncode == 1 and "REGISTRY_GATEWAY_WORKERS" in res.stderr


def test_unknown_option_prints_usage():
    res = subprocess.run([os.path.join(BIN_DIR, "registry-authd"), "-x"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 2
    assert "usage:" in res.stderr and "-n" in res.stderr


@pytest.mark.parametrize("daemon", DAEMONS)
def test_production_example_is_valid(daemon):
    example = os.path.join(TOP, "deploy", "registry.conf.example")
    res = subprocess.run([os.path.join(BIN_DIR, f"registry-{daemon}"), "-c", example, "-n"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert "external_url = https://registry.example.com" in res.stdout

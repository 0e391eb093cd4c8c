"""README.md's "A tenant's whole path", run as written: its shell blocks in bash, and its
.gitlab-ci.yml job's script with the CI variables a runner would set (several pipelines), against
a fresh instance behind nginx with TLS (as in production; the test's CA is given to curl and the
container tools through their environment), its URLs in data/instance.env as the Quick start
writes them."""
import json
import os
import re
import subprocess

import yaml

from regapi import wait_until
from registry import TOP
from test_v2_large import tls_registry  # noqa: F401 (the fixture)

SECTION = "### A tenant's whole path"


def readme_blocks():
    """The fenced blocks of the section, in order: [(language, text)]."""
    with open(os.path.join(TOP, "README.md")) as f:
        text = f.read()
    start = text.index(SECTION)
    end = text.find("\n## ", start)
    section = text[start:end if end > 0 else len(text)]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def test_readme_tenant_path(tls_registry, tmp_path):
    reg = tls_registry
    blocks = readme_blocks()
    assert [lang for lang, _ in blocks] == ["sh", "sh", "yaml", "sh"]
    (setup, ci_vars, ci_yaml, api) = (b for _, b in blocks)
    job = yaml.safe_load(ci_yaml)["build-image"]

    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "instance.env").write_text(
        f"REGISTRY_URL='{reg.tls_url}'\nREGISTRY_HOST='{reg.tls_host}'\n"
        f"ROOT_PASSWORD='{reg.ROOT_PASSWORD}'\nROOT_TOKEN='{reg.root_token}'\n")
    (work / "Containerfile").write_text("FROM scratch\nCOPY build.txt /build.txt\n")
    # what a runner provides: container storage of its own, and trust in the registry's CA
    (tmp_path / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/storage"\n'
        f'runroot = "{tmp_path}/run"\n')
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(tmp_path / "storage.conf"),
               REGISTRY_AUTH_FILE=str(tmp_path / "auth.json"), SSL_CERT_FILE=reg.ca,
               CURL_CA_BUNDLE=reg.ca)
    env.update({k: str(v) for k, v in job["variables"].items()})

    # seven pipelines, each building another commit
    shas = [f"{i:07x}a" for i in range(0x1a2b3c, 0x1a2b3c + 7)]
    pipelines = []
    for sha in shas:
        pipelines.append(f"echo {sha} > build.txt")
        pipelines.append(f"export CI_COMMIT_SHORT_SHA={sha}")
        pipelines += job["script"]
    # what the API block prints is checked below; what comes before goes to stderr
    script = "\n".join(["set -euo pipefail", "{", setup, ci_vars,
                        "export CI_REGISTRY CI_REGISTRY_IMAGE CI_REGISTRY_USER CI_REGISTRY_PASSWORD",
                        *pipelines, "} >&2", api])
    res = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    out = res.stdout.splitlines()

    # the listing printed every tag, and the API's digest of latest is skopeo's
    assert sorted(shas + ["latest"]) == out[:8]
    assert out[8].strip('"') == out[9] and out[9].startswith("sha256:")
    assert out[10:12] == ["200", "202"]
    policy = json.loads("\n".join(out[12:]))
    assert policy["enabled"] is True and policy["keep_n"] == 5 and policy["cadence"] == "7d"
    # the deploy token pushed as CI_REGISTRY_USER; the first tag went, then the bulk deletion
    # kept the five newest builds and latest
    deploy = json.loads((work / "deploy-token.json").read_text())
    assert deploy["username"].startswith("gitlab+deploy-token-")
    pid = reg.api("GET", "/projects/acme%2Fweb").json()["id"]
    rid = reg.api("GET", f"/projects/{pid}/registry/repositories").json()[0]["id"]

    def tags():
        return sorted(t["name"] for t in reg.api(
            "GET", f"/projects/{pid}/registry/repositories/{rid}/tags").json())
    wait_until(lambda: tags() == sorted(shas[2:] + ["latest"]), "the README's bulk deletion")

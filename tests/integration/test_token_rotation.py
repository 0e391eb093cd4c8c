"""Rotation of the token signing key, as README.md describes it: the next key is put beside the
current one, authd signs with it after a reload and publishes its public key, the gateway accepts
tokens of either key (chosen by the kid of each token's header), and once the old key is retired
its tokens are refused with a 401 that names the reason; a kid no key has is refused the same."""
import base64
import os
import signal

import nacl.signing
import requests

import jwtutil
from registry import wait_for
from v2util import V2, make_project, mint_token

SERVICE = "container_registry"


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def reload(reg, daemon):
    """SIGHUP, then waits until the old workers are gone and the new ones serve."""
    old = set(reg.worker_pids(daemon))
    reg.signal(daemon, signal.SIGHUP)
    wait_for(lambda: (lambda pids: pids and not pids & old)(
        {p for p in reg.worker_pids(daemon) if alive(p)}), timeout=30,
        what=f"{daemon}'s new workers")
    wait_for(lambda: requests.get(reg.url + "/-/readiness", timeout=5).status_code == 200,
             what="readiness")


def token(reg, name):
    r = requests.get(f"{reg.url}/jwt/auth", timeout=30,
                     params={"service": SERVICE, "scope": f"repository:{name}:pull,push"},
                     auth=("root", reg.ROOT_PASSWORD))
    assert r.status_code == 200, r.text
    return r.json()["token"]


def public_kid(path):
    with open(path) as f:
        return jwtutil.kid(base64.b64decode(f.read().strip()))


def refused_for_its_key(reg, tok, name):
    r = V2(reg, tok).req("GET", f"/v2/{name}/tags/list")
    assert r.status_code == 401, r.text
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    value = r.headers["WWW-Authenticate"]
    assert 'error="invalid_token"' in value
    assert 'error_description="token signed by an unknown key"' in value
    assert f'scope="repository:{name}:pull"' in value


def test_rotation_overlap_then_retirement(make_registry):
    reg = make_registry(workers=2).start()
    keys = os.path.join(reg.dir, "keys")
    name = "rot/app"
    make_project(reg, name)
    old = token(reg, name)
    old_kid = jwtutil.decode(old)[0]["kid"]
    assert old_kid == public_kid(os.path.join(keys, "token.pub"))
    V2(reg, old).push_image(name, "v1")

    # 1. the next key, as an operator makes it (openssl rand -base64 32), then authd reloads
    seed = os.urandom(32)
    fd = os.open(os.path.join(keys, "token.next.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                 0o600)
    os.write(fd, base64.b64encode(seed) + b"\n")
    os.close(fd)
    reload(reg, "authd")
    next_kid = jwtutil.kid(bytes(nacl.signing.SigningKey(seed).verify_key))
    assert public_kid(os.path.join(keys, "token.next.pub")) == next_kid
    new = token(reg, name)
    assert jwtutil.decode(new)[0]["kid"] == next_kid
    jwtutil.verify(new, nacl.signing.SigningKey(seed).verify_key)
    # the gateway was not reloaded: it reads the published key when a token first names it
    assert V2(reg, new).get_manifest(name, "v1").status_code == 200
    # the overlap: tokens of either key verify, after the gateway's reload too
    assert V2(reg, old).get_manifest(name, "v1").status_code == 200
    reload(reg, "gateway")
    for tok in (old, new):
        assert V2(reg, tok).get_manifest(name, "v1").status_code == 200
        assert V2(reg, tok).req("GET", f"/v2/{name}/tags/list").json()["tags"] == ["v1"]

    # 2. the old key retired: the next key becomes the key
    os.rename(os.path.join(keys, "token.next.key"), os.path.join(keys, "token.key"))
    os.rename(os.path.join(keys, "token.next.pub"), os.path.join(keys, "token.pub"))
    reload(reg, "authd")
    reload(reg, "gateway")
    refused_for_its_key(reg, old, name)
    assert V2(reg, new).get_manifest(name, "v1").status_code == 200
    latest = token(reg, name)
    assert jwtutil.decode(latest)[0]["kid"] == next_kid
    assert V2(reg, latest).get_manifest(name, "v1").status_code == 200


def test_a_token_of_an_unknown_key_is_refused(registry):
    name = "unknownkid/app"
    make_project(registry, name)
    good = mint_token(registry, [(name, "pull,push")])
    V2(registry, good).push_image(name, "v1")
    header, claims = jwtutil.decode(good)
    stranger = nacl.signing.SigningKey.generate()
    # signed by a key the registry does not have, under that key's own kid
    forged = jwtutil.sign(dict(header, kid=jwtutil.kid(bytes(stranger.verify_key))), claims,
                          stranger)
    refused_for_its_key(registry, forged, name)
    # signed by the stranger under the registry's own kid: the signature gives it away
    forged = jwtutil.sign(header, claims, stranger)
    r = V2(registry, forged).req("GET", f"/v2/{name}/tags/list")
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert "invalid token signature" in r.headers["WWW-Authenticate"]
    # no kid at all
    forged = jwtutil.sign({k: v for k, v in header.items() if k != "kid"}, claims,
                          jwtutil.registry_keys(registry))
    refused_for_its_key(registry, forged, name)
    assert V2(registry, good).get_manifest(name, "v1").status_code == 200

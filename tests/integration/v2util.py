"""Helpers for the /v2 tests: registry tokens signed with the instance's key, projects and
users made with SQL, and a small distribution-API client built on requests.

Tokens are real registry JWTs (Ed25519, the claims common/token.c writes) signed with
<instance>/keys/token.key, so the gateway verifies them exactly as it verifies the token
service's.
"""
import base64
import hashlib
import json
import os
import time
import uuid

import nacl.signing
import requests

SERVICE = "container_registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signing_key(reg):
    with open(os.path.join(reg.dir, "keys", "token.key")) as f:
        return nacl.signing.SigningKey(base64.b64decode(f.read().strip()))


def _kid(verify_key):
    # common/token.c token_kid(): base32 of the first 240 bits of SHA-256(pk), groups of four
    b32 = base64.b32encode(hashlib.sha256(bytes(verify_key)).digest()[:30]).decode()
    return ":".join(b32[i:i + 4] for i in range(0, 48, 4))


def grant_binding(reg, name):
    """What authd binds a grant on repository path name to: the project the path belongs to now
    and its path generation; a project id no project has for a path no project holds (a grant
    there reaches no project, and any project that takes the path later refuses it)."""
    row = reg.pg.psql(reg.name, (
        "SELECT p.id || ' ' || p.path_generation FROM registry_resolve("
        f"{sql_quote(name)}) x JOIN projects p ON p.id = x.project_id"))
    if not row:
        return 2 ** 62, 1
    project_id, generation = row.split()
    return int(project_id), int(generation)


def mint_token(reg, access, user_id=0, username="tester", admin=False, kind="password",
               deploy_token_id=0, lifetime=600):
    """A registry token for access [(name, "pull,push"), ("registry:catalog", "*"), ...]."""
    key = _signing_key(reg)
    now = int(time.time())
    entries = []
    for name, actions in access:
        if name == "registry:catalog":
            entries.append({"type": "registry", "name": "catalog", "actions": ["*"]})
        else:
            project_id, generation = grant_binding(reg, name)
            entries.append({"type": "repository", "name": name,
                            "actions": [a for a in actions.split(",") if a],
                            "project_id": project_id, "generation": generation})
    claims = {"iss": "registry-token-issuer", "sub": username, "aud": SERVICE,
              "exp": now + lifetime, "nbf": now - 5, "iat": now, "jti": uuid.uuid4().hex,
              "access": entries, "knd": kind}
    if user_id:
        claims["uid"] = user_id
    if deploy_token_id:
        claims["dtid"] = deploy_token_id
    if admin:
        claims["adm"] = True
    header = {"alg": "EdDSA", "typ": "JWT", "kid": _kid(key.verify_key)}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = key.sign(signing_input.encode()).signature
    return signing_input + "." + b64url(sig)


def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


def make_project(reg, path, visibility="private", registry_access="enabled"):
    """Creates the groups of path (nested) and the project at its end; returns the project id."""
    parts = path.split("/")
    parent = "NULL"
    for i in range(1, len(parts)):
        full = "/".join(parts[:i])
        row = reg.pg.psql(reg.name, f"SELECT id FROM namespaces WHERE full_path = {sql_quote(full)}")
        if row:
            parent = row
            continue
        parent = reg.pg.psql(reg.name, (
            "INSERT INTO namespaces (kind, name, path, full_path, full_name, parent_id,"
            " traversal_ids, visibility) VALUES ('group', "
            f"{sql_quote(parts[i - 1])}, {sql_quote(parts[i - 1])}, {sql_quote(full)}, "
            f"{sql_quote(full)}, {parent}, '{{}}', {sql_quote(visibility)}) RETURNING id"
        )).split()[0]
        reg.pg.psql(reg.name, (
            f"UPDATE namespaces SET traversal_ids = coalesce((SELECT traversal_ids FROM namespaces p"
            f" WHERE p.id = namespaces.parent_id), '{{}}') || id WHERE id = {parent}"))
    return int(reg.pg.psql(reg.name, (
        "INSERT INTO projects (namespace_id, name, path, full_path, visibility,"
        f" container_registry_access_level) VALUES ({parent}, {sql_quote(parts[-1])},"
        f" {sql_quote(parts[-1])}, {sql_quote(path)}, {sql_quote(visibility)},"
        f" {sql_quote(registry_access)}) RETURNING id")).split()[0])


def make_user(reg, username):
    return int(reg.pg.psql(reg.name, (
        "INSERT INTO users (username, name, email) VALUES "
        f"({sql_quote(username)}, {sql_quote(username)}, {sql_quote(username + '@example.com')})"
        " RETURNING id")).split()[0])


def add_member(reg, project_id, user_id, level=30):
    reg.pg.psql(reg.name, "INSERT INTO project_members (project_id, user_id, access_level) "
                          f"VALUES ({project_id}, {user_id}, {level})")


def blob_files(reg):
    """Every stored blob: {digest: its file's path under the storage root, or its object's key
    in S3 (storage = s3)}."""
    out = {}
    if getattr(reg, "s3", None) is not None:
        pages = reg.s3.client().get_paginator("list_objects_v2").paginate(
            Bucket=reg.s3.bucket, Prefix=reg.s3_prefix + "/blobs/")
        for page in pages:
            for o in page.get("Contents", []):
                algo, _, hexa = o["Key"][len(reg.s3_prefix) + len("/blobs/"):].split("/")
                out[f"{algo}:{hexa}"] = o["Key"]
        return out
    root = os.path.join(reg.storage, "blobs")
    for algo in ("sha256", "sha512"):
        base = os.path.join(root, algo)
        if not os.path.isdir(base):
            continue
        for fan in os.listdir(base):
            for name in os.listdir(os.path.join(base, fan)):
                out[f"{algo}:{name}"] = os.path.join(base, fan, name)
    return out


def remove_blob_file(reg, digest):
    """Removes a blob's file (or object) behind the registry's back, as a deletion does."""
    if getattr(reg, "s3", None) is not None:
        reg.s3.client().delete_object(Bucket=reg.s3.bucket, Key=reg.s3_blob_key(digest))
    else:
        algo, hexa = digest.split(":", 1)
        os.unlink(os.path.join(reg.storage, "blobs", algo, hexa[:2], hexa))


def upload_dirs(reg):
    return [d for d in os.listdir(os.path.join(reg.storage, "uploads")) if not d.startswith(".")]


class V2:
    """A distribution-API client for one token."""

    def __init__(self, reg, token=None, base=None, verify=True):
        self.reg = reg
        self.base = base or reg.url
        self.s = requests.Session()
        self.verify = verify
        if token:
            self.s.headers["Authorization"] = "Bearer " + token

    def url(self, path):
        return path if path.startswith("http") else self.base + path

    def req(self, method, path, **kw):
        kw.setdefault("timeout", 120)
        kw.setdefault("allow_redirects", False)
        kw.setdefault("verify", self.verify)  # per request: the environment's CA bundle would win
        return self.s.request(method, self.url(path), **kw)

    # -- blobs -------------------------------------------------------------------------------

    def start_upload(self, name, **params):
        r = self.req("POST", f"/v2/{name}/blobs/uploads/", params=params)
        return r

    def push_blob(self, name, data, how="monolithic", chunk=None):
        """Uploads data; returns its digest. how: monolithic (POST ?digest=), put (POST then PUT
        with the body), stream (one PATCH then PUT), chunked (PATCHes with Content-Range)."""
        digest = sha256(data)
        if how == "monolithic":
            r = self.req("POST", f"/v2/{name}/blobs/uploads/", params={"digest": digest},
                         data=data, headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 201, r.text
            return digest
        r = self.start_upload(name)
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
        if how == "put":
            r = self.req("PUT", loc, params={"digest": digest}, data=data)
            assert r.status_code == 201, r.text
            return digest
        if how == "stream":
            r = self.req("PATCH", loc, data=data,
                         headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 202, r.text
            loc = r.headers["Location"]
        elif how == "chunked":
            chunk = chunk or max(1, len(data) // 3)
            for start in range(0, len(data), chunk):
                part = data[start:start + chunk]
                r = self.req("PATCH", loc, data=part, headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(part) - 1}"})
                assert r.status_code == 202, r.text
                assert r.headers["Range"] == f"0-{start + len(part) - 1}"
                loc = r.headers["Location"]
        r = self.req("PUT", loc, params={"digest": digest})
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == digest
        return digest

    def get_blob(self, name, digest, **kw):
        return self.req("GET", f"/v2/{name}/blobs/{digest}", **kw)

    # -- manifests ---------------------------------------------------------------------------

    def put_manifest(self, name, ref, manifest, media_type=None):
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        if media_type is None and isinstance(manifest, dict):
            media_type = manifest.get("mediaType", OCI_MANIFEST)
        headers = {"Content-Type": media_type} if media_type else {}
        return self.req("PUT", f"/v2/{name}/manifests/{ref}", data=body, headers=headers)

    def get_manifest(self, name, ref, accept=ACCEPT_ALL, method="GET"):
        return self.req(method, f"/v2/{name}/manifests/{ref}", headers={"Accept": accept})

    def push_image(self, name, tag, layers=(b"layer one", b"layer two"), config=None,
                   media_type=OCI_MANIFEST, extra=None):
        """Pushes config + layers + an image manifest; returns (manifest digest, manifest)."""
        docker = media_type == DOCKER_MANIFEST
        config = config or json.dumps({"architecture": "amd64", "os": "linux",
                                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        cdig = self.push_blob(name, config)
        descs = []
        for layer in layers:
            descs.append({"mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                          "digest": self.push_blob(name, layer), "size": len(layer)})
        m = {"schemaVersion": 2, "mediaType": media_type,
             "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG, "digest": cdig,
                        "size": len(config)},
             "layers": descs}
        m.update(extra or {})
        body = json.dumps(m, indent=2).encode()
        r = self.put_manifest(name, tag, body, media_type)
        assert r.status_code == 201, r.text
        return sha256(body), m

    def error_code(self, r):
        return r.json()["errors"][0]["code"]


def client(reg, *access, **kw):
    """A V2 client with a token for access: (name, "pull,push") pairs; kw as mint_token's."""
    return V2(reg, mint_token(reg, list(access), **kw))

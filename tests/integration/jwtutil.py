"""Reading, checking and forging registry JWTs in tests (PyNaCl for Ed25519)."""
import base64
import json
import os

import nacl.signing


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(token):
    """(header, claims) of a compact JWT, without checking anything."""
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def kid(verify_key_bytes):
    """The libtrust-style key id authd derives from a public key (see common/token.c)."""
    import hashlib
    digest = hashlib.sha256(verify_key_bytes).digest()[:30]
    b32 = base64.b32encode(digest).decode().rstrip("=")[:48]
    return ":".join(b32[i:i + 4] for i in range(0, 48, 4))


def registry_keys(registry):
    """authd's signing key (from key_dir/token.key, as an operator could read it)."""
    key_dir = registry.sections["global"]["key_dir"]
    with open(os.path.join(key_dir, "token.key")) as f:
        seed = base64.b64decode(f.read().strip())
    return nacl.signing.SigningKey(seed)


def sign(header, claims, signing_key):
    """A compact JWT over header and claims signed with signing_key."""
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = signing_key.sign(signing_input.encode()).signature
    return signing_input + "." + b64url(sig)


def verify(token, verify_key):
    """Checks the Ed25519 signature of a compact JWT (raises when it is wrong)."""
    signing_input, _, sig = token.rpartition(".")
    verify_key.verify(signing_input.encode(), b64url_decode(sig))


def access_of(token):
    """{(type, name): set(actions)} granted by a token."""
    _, claims = decode(token)
    return {(a["type"], a["name"]): set(a["actions"]) for a in claims.get("access") or []}

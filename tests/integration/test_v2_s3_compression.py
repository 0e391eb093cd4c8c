"""Compression at rest on S3 (storage = s3, compression = zstd; blobd/compress.c, store_s3.c):
a blob that compresses well gets a second object, blobs-zst/<algo>/<2 hex>/<hex>, in zstd's
seekable format, and its plain object goes; every read (HEAD, whole, ranges across frames) gives
the original bytes from whichever object is there; metad keeps the stored size; garbage
collection deletes both forms; compressed content and noise stay plain."""
import gzip
import json
import os
import subprocess

import pytest

from gcutil import delete_tag, gc_registry, settle, sql
from images import OCI_CONFIG, OCI_MANIFEST
from registry import wait_for
from test_v2_compression import check_reads, outcomes, system_tar
from v2util import V2, make_project, mint_token

MiB = 1024 * 1024
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
HEADER_MAGIC = bytes.fromhex("5b2a4d18")  # blobd's header frame (skippable, 0x184D2A5B)


def keys(reg, digest):
    """(plain key, compressed key) of digest's objects."""
    algo, hexa = digest.split(":", 1)
    return (f"{reg.s3_prefix}/blobs/{algo}/{hexa[:2]}/{hexa}",
            f"{reg.s3_prefix}/blobs-zst/{algo}/{hexa[:2]}/{hexa}")


def objects(reg, digest):
    """{"plain": bytes or None, "zstd": bytes or None}: what S3 holds of digest."""
    s3 = reg.s3.client()
    out = {}
    for form, key in zip(("plain", "zstd"), keys(reg, digest)):
        try:
            out[form] = s3.get_object(Bucket=reg.s3.bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            out[form] = None
    return out


def compressed_only(reg, digest):
    o = objects(reg, digest)
    return o if o["plain"] is None and o["zstd"] is not None else None


@pytest.fixture
def zreg(pg, workdir, ceph_rgw, uniq):
    """An instance on S3 with compression = zstd that collects garbage quickly."""
    reg = gc_registry(pg, workdir, f"s3z_{uniq}", s3=ceph_rgw,
                      extra_config={"blobd": {"workers": "1"}})
    reg.sections["blobd"]["compression"] = "zstd"
    reg.write_config()
    reg.start()
    yield reg
    reg.stop()


def push_image(c, name, tag, *layers):
    """An image of the layers (tagged, so that garbage collection keeps them); returns the
    layers' digests."""
    digests = [c.push_blob(name, layer, how="chunked", chunk=5 * MiB) for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": digests}}).encode()
    cdigest = c.push_blob(name, config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": cdigest, "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER_TAR, "digest": d, "size": len(layer)}
                           for d, layer in zip(digests, layers)]}
    assert c.put_manifest(name, tag, manifest).status_code == 201
    return digests


def test_a_tar_layer_is_compressed_in_s3_read_back_exactly_and_collected(zreg):
    """A 6 MiB uncompressed tar layer ends up as a compressed object under a quarter of its size
    (the zstd command reads it), its plain object gone; HEAD, GET and ranges give its bytes;
    metad has the stored size; deleting the tag deletes the compressed object."""
    make_project(zreg, "g/p")
    c = V2(zreg, mint_token(zreg, [("g/p", "pull,push,delete")]))
    layer = system_tar(6 * MiB)
    ldigest, = push_image(c, "g/p", "t", layer)
    o = wait_for(lambda: compressed_only(zreg, ldigest), timeout=60, what="the layer compressed")
    assert o["zstd"][:4] == HEADER_MAGIC and len(o["zstd"]) < len(layer) / 4
    out = subprocess.run(["zstd", "-d", "-c"], input=o["zstd"], capture_output=True,
                         check=True).stdout
    assert out == layer
    check_reads(c, "g/p", ldigest, layer)
    wait_for(lambda: sql(zreg, f"SELECT stored_size FROM blobs WHERE digest = '{ldigest}'")
             == str(len(o["zstd"])), timeout=30, what="metad told the stored size")
    assert outcomes(zreg)["compressed"] >= 1

    delete_tag(zreg, "g/p", "", "t")
    settle(zreg)
    assert objects(zreg, ldigest) == {"plain": None, "zstd": None}


def test_a_blob_in_both_forms_keeps_the_compressed_one_and_reads_fall_back(zreg):
    """A compressed blob pushed again (its plain object back, as after a compression cut short)
    is read from either object, and its next compression keeps the compressed object only; with
    the compressed object alone, a GET whose plain object is missing reads it."""
    make_project(zreg, "g/q")
    c = V2(zreg, mint_token(zreg, [("g/q", "pull,push")]))
    layer = system_tar(2 * MiB + 123)
    ldigest, = push_image(c, "g/q", "t", layer)
    o = wait_for(lambda: compressed_only(zreg, ldigest), timeout=60, what="compressed")
    # the plain object again, written behind the registry's back
    s3 = zreg.s3.client()
    s3.put_object(Bucket=zreg.s3.bucket, Key=keys(zreg, ldigest)[0], Body=layer)
    check_reads(c, "g/q", ldigest, layer)
    # a push of the same bytes finds them stored (either form) and asks for a compression,
    # which keeps the compressed object
    assert c.push_blob("g/q", layer) == ldigest
    wait_for(lambda: compressed_only(zreg, ldigest), timeout=60, what="the plain object gone")
    assert compressed_only(zreg, ldigest)["zstd"] == o["zstd"]
    check_reads(c, "g/q", ldigest, layer)


def test_compressed_content_and_noise_stay_plain_in_s3(zreg):
    """A gzip blob (magic bytes) and random bytes (the first frame does not shrink) stay plain
    objects, byte for byte, and no compressed object is made for them."""
    make_project(zreg, "g/r")
    c = V2(zreg, mint_token(zreg, [("g/r", "pull,push")]))
    gz = gzip.compress(system_tar(2 * MiB), compresslevel=1, mtime=0)
    noise = os.urandom(3 * MiB + 17)
    digests = dict(zip(("gz", "noise"), push_image(c, "g/r", "t", gz, noise)))
    wait_for(lambda: outcomes(zreg).get("precompressed", 0) >= 1
             and outcomes(zreg).get("incompressible", 0) >= 1, timeout=60, what="two outcomes")
    for name, data in (("gz", gz), ("noise", noise)):
        assert objects(zreg, digests[name]) == {"plain": data, "zstd": None}, name
        check_reads(c, "g/r", digests[name], data)

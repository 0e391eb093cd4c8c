"""Compression at rest on S3 (storage = s3, compression = zstd; blobd/compress.c, store_s3.c):
a blob that compresses well gets a second object, blobs-zst/<algo>/<2 hex>/<hex>, in zstd's
seekable format, and its plain object goes; every read (HEAD, whole, ranges across frames) gives
the original bytes from whichever object is there; metad keeps the stored size; garbage
collection deletes both forms; compressed content and noise stay plain."""
import gzip
import json
import os
import subprocess
import threading
import time

import pytest

from gcutil import delete_tag, gc_registry, settle, sql
from images import OCI_CONFIG, OCI_MANIFEST
from registry import wait_for
from test_v2_compression import check_reads, metrics, outcomes, system_tar
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


GAUGES = ("registry_blob_files", "registry_blob_stored_bytes", "registry_blob_original_bytes")


def bucket_gauges(reg):
    """The storage gauges as the bucket makes them, listed with boto3: every object under
    blobs/ (plain: its size both stored and original) and blobs-zst/ (zstd: its size stored, the
    original size from blobd's header frame, bytes 16..24). {(name, form): value}."""
    s3 = reg.s3.client()
    out = {(n, f): 0 for n in GAUGES for f in ("plain", "zstd")}
    for top, form in (("blobs/", "plain"), ("blobs-zst/", "zstd")):
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=reg.s3.bucket, Prefix=f"{reg.s3_prefix}/{top}")
        for page in pages:
            for obj in page.get("Contents", []):
                original = obj["Size"]
                if form == "zstd":
                    head = s3.get_object(Bucket=reg.s3.bucket, Key=obj["Key"],
                                         Range="bytes=0-23")["Body"].read()
                    assert head[:4] == HEADER_MAGIC, obj["Key"]
                    original = int.from_bytes(head[16:24], "little")
                out[("registry_blob_files", form)] += 1
                out[("registry_blob_stored_bytes", form)] += obj["Size"]
                out[("registry_blob_original_bytes", form)] += original
    return out


def gauges(reg):
    """blobd's storage gauges from the gateway's /metrics, once complete; else None."""
    m = metrics(reg)
    if m.get(("registry_blob_count_complete", None)) != 1:
        return None
    return {k: m.get(k) for k in ((n, f) for n in GAUGES for f in ("plain", "zstd"))}


def gauges_match_bucket(reg):
    """The gauges when they equal what the bucket holds (both read twice, so that a change
    between the two reads is not taken for a match); else None."""
    g = gauges(reg)
    return g if g is not None and g == bucket_gauges(reg) == gauges(reg) else None


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


def test_the_storage_gauges_are_what_the_bucket_holds(zreg):
    """With storage = s3 the gauges are the database's blob rows by form (metad's blob_tally):
    after pushes of compressible, compressed and random layers, their compression, and a garbage
    collection that deletes one image, they equal the bucket's objects as boto3 lists them, form
    by form, bytes stored and as pushed; a scrape reads a few rows, never the bucket."""
    make_project(zreg, "g/s")
    c = V2(zreg, mint_token(zreg, [("g/s", "pull,push")]))
    empty = gauges(zreg)
    assert empty == {(n, f): 0 for n in GAUGES for f in ("plain", "zstd")}
    tar_a, tar_b = system_tar(3 * MiB), system_tar(2 * MiB + 4321)
    assert tar_a != tar_b  # two blobs, both compressible
    gz = gzip.compress(os.urandom(1 * MiB), compresslevel=1, mtime=0)
    noise = os.urandom(1 * MiB + 5)
    a_tar, a_noise = push_image(c, "g/s", "a", tar_a, noise)
    b_tar, b_gz = push_image(c, "g/s", "b", tar_b, gz)
    for d in (a_tar, b_tar):
        wait_for(lambda: compressed_only(zreg, d), timeout=60, what=f"{d} compressed")
    g = wait_for(lambda: gauges_match_bucket(zreg), timeout=30, what="gauges = bucket")
    assert g[("registry_blob_files", "zstd")] >= 2
    assert g[("registry_blob_original_bytes", "zstd")] >= len(tar_a) + len(tar_b)
    assert g[("registry_blob_stored_bytes", "zstd")] < (len(tar_a) + len(tar_b)) / 2
    assert g[("registry_blob_original_bytes", "plain")] >= len(noise) + len(gz)

    delete_tag(zreg, "g/s", "", "b")
    settle(zreg)
    assert objects(zreg, b_tar) == {"plain": None, "zstd": None}
    assert objects(zreg, b_gz) == {"plain": None, "zstd": None}
    after = wait_for(lambda: gauges_match_bucket(zreg), timeout=30, what="gauges = bucket")
    # image b's three blobs went: its tar layer (zstd), its gzip layer and its config
    files = [sum(x[("registry_blob_files", f)] for f in ("plain", "zstd")) for x in (g, after)]
    assert files[1] == files[0] - 3
    assert after[("registry_blob_original_bytes", "zstd")] == \
        g[("registry_blob_original_bytes", "zstd")] - len(tar_b)
    check_reads(c, "g/s", a_tar, tar_a)


class Trickle:
    """A chunked upload that trickles 16 KiB every 0.1 s for seconds, in a thread: while it
    streams, compression at rest waits before each frame (blobd/compress.c, yield_to_uploads: at
    most 10 s a frame), which holds a compression at a known point, its plain bytes fetched and
    nothing written yet."""

    def __init__(self, c, name, seconds):
        self.loc = c.start_upload(name).headers["Location"]
        self.streaming = threading.Event()
        self.result = {}

        def body():
            for _ in range(int(seconds * 10)):
                self.streaming.set()
                yield os.urandom(16 * 1024)
                time.sleep(0.1)

        def patch():
            self.result["r"] = c.req("PATCH", self.loc, data=body(),
                                     headers={"Content-Type": "application/octet-stream"})
        self.thread = threading.Thread(target=patch)
        self.thread.start()
        assert self.streaming.wait(10)

    def join(self):
        self.thread.join(60)
        assert self.result["r"].status_code == 202, self.result["r"].text


def held_compression(reg, digest, size):
    """Whether a compression of digest is under way with its plain bytes fetched: its two
    scratch files under storage_root/tmp, the first of them size bytes long."""
    hexa = digest.split(":", 1)[1]
    tmp = os.path.join(reg.storage, "tmp")
    try:
        sizes = [os.path.getsize(os.path.join(tmp, n)) for n in os.listdir(tmp)
                 if n.startswith(hexa + ".")]
    except FileNotFoundError:
        return False
    return len(sizes) == 2 and size in sizes


def collected(reg, digest):
    """Whether neither object of digest is in the bucket and no row names it (nor a file to
    delete)."""
    return (objects(reg, digest) == {"plain": None, "zstd": None}
            and sql(reg, f"SELECT count(*) FROM blobs WHERE digest = '{digest}'") == "0"
            and sql(reg, f"SELECT count(*) FROM gc_blob_files WHERE digest = '{digest}'") == "0")


def test_a_compression_racing_garbage_collection_leaves_no_object_behind(zreg):
    """The race of docs/S3.md: a compression that fetched a blob's plain object is held (an
    upload trickles) while the blob's tag is deleted and garbage collection deletes its row and
    its object; the compression then puts the compressed object, which no row names. The
    placement journal entry the compressor wrote before its PUT makes it an orphan: in the end
    neither key of the blob is in the bucket and no row names it."""
    make_project(zreg, "g/race")
    c = V2(zreg, mint_token(zreg, [("g/race", "pull,push,delete")]))
    layer = system_tar(3 * MiB + 99)  # three frames: each may wait up to 10 s
    trickle = Trickle(c, "g/race", 20)
    ldigest, = push_image(c, "g/race", "t", layer)
    wait_for(lambda: held_compression(zreg, ldigest, len(layer)), timeout=20, interval=0.05,
             what="the compression holding the plain bytes")
    compressed_before = outcomes(zreg).get("compressed", 0)

    delete_tag(zreg, "g/race", "", "t")
    wait_for(lambda: collected(zreg, ldigest), timeout=15, interval=0.1,
             what="the row and the plain object collected")
    # the race is on: the compression is still under way, nothing compressed written yet
    assert held_compression(zreg, ldigest, len(layer))
    assert outcomes(zreg).get("compressed", 0) == compressed_before

    trickle.join()
    wait_for(lambda: outcomes(zreg).get("compressed", 0) > compressed_before, timeout=60,
             what="the compression to put its object")
    # the compressed object it put names a blob no row has: swept as an orphan
    wait_for(lambda: collected(zreg, ldigest), timeout=30, interval=0.2,
             what="the compressed orphan deleted")
    settle(zreg)
    assert collected(zreg, ldigest)
    wait_for(lambda: gauges_match_bucket(zreg), timeout=30, what="gauges = bucket")


def test_a_blob_pushed_again_during_the_race_reads_back_exactly(zreg):
    """The same race, with the blob pushed again (and tagged again) after garbage collection
    deleted it and before the held compression writes: the compression then puts its compressed
    object and deletes the plain one the push stored; every read gives the pushed bytes,
    before and after, metad has the compressed size, and nothing is collected."""
    make_project(zreg, "g/again")
    c = V2(zreg, mint_token(zreg, [("g/again", "pull,push,delete")]))
    layer = system_tar(3 * MiB + 77)
    trickle = Trickle(c, "g/again", 20)
    ldigest, = push_image(c, "g/again", "t", layer)
    wait_for(lambda: held_compression(zreg, ldigest, len(layer)), timeout=20, interval=0.05,
             what="the compression holding the plain bytes")

    delete_tag(zreg, "g/again", "", "t")
    wait_for(lambda: collected(zreg, ldigest), timeout=15, interval=0.1,
             what="the row and the plain object collected")
    assert held_compression(zreg, ldigest, len(layer))
    assert push_image(c, "g/again", "t2", layer) == [ldigest]
    assert objects(zreg, ldigest) == {"plain": layer, "zstd": None}
    check_reads(c, "g/again", ldigest, layer)

    trickle.join()
    o = wait_for(lambda: compressed_only(zreg, ldigest), timeout=60, what="compressed")
    check_reads(c, "g/again", ldigest, layer)
    wait_for(lambda: sql(zreg, f"SELECT stored_size FROM blobs WHERE digest = '{ldigest}'")
             == str(len(o["zstd"])), timeout=30, what="metad told the stored size")
    time.sleep(4)  # past [gc] orphan_grace: the compressor's journal entry is looked at
    settle(zreg)
    assert compressed_only(zreg, ldigest)["zstd"] == o["zstd"]
    check_reads(c, "g/again", ldigest, layer)
    wait_for(lambda: gauges_match_bucket(zreg), timeout=30, what="gauges = bucket")

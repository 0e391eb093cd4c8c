"""Compression at rest (blobd/compress.c, zst.c, zstream.c, tally.c): blobs that compress well
are stored compressed in the background after their 201, in zstd's seekable format, and every
read gives the original bytes: whole, HEAD, and Range reads across frame boundaries. Content
that is compressed already, or does not shrink, stays as it was sent. The storage gauges agree
with what is on disk."""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import threading
import time

import pytest
import requests

from images import OCI_CONFIG, OCI_MANIFEST, digest_of
from registry import skopeo, tmpdir, wait_for
from v2util import V2, blob_files, client, make_project, mint_token, sha256

MiB = 1024 * 1024
FRAME = MiB  # [blobd] compression_frame_size's default
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
HEADER_MAGIC = bytes.fromhex("5b2a4d18")  # blobd's header frame (skippable, 0x184D2A5B)


def system_tar(size):
    """An uncompressed tar of system files (C headers, Perl and Python modules), as a layer
    that copies them into an image would be, cut at about size bytes."""
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    for top in ("/usr/include", "/usr/share/perl", "/usr/lib/python3"):
        for dirpath, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                tar.add(path, arcname=path.lstrip("/"), recursive=False)
                if buf.tell() >= size:
                    tar.close()
                    return buf.getvalue()
    raise AssertionError(f"fewer than {size} bytes of system files to tar")


@pytest.fixture(scope="module")
def layer():
    """A 16 MiB uncompressed tar layer."""
    data = system_tar(16 * MiB)
    assert 16 * MiB <= len(data) < 17 * MiB
    return data


def stored(reg, digest):
    """(form, bytes on disk) of digest's file: "zstd" when it is blobd's compressed form."""
    path = blob_files(reg)[digest]
    with open(path, "rb") as f:
        head = f.read(256)
    zstd = head[:4] == HEADER_MAGIC and digest.encode() in head
    return ("zstd" if zstd else "plain"), os.path.getsize(path)


def wait_compressed(reg, digest, timeout=60):
    wait_for(lambda: stored(reg, digest)[0] == "zstd", timeout=timeout,
             what=f"{digest} compressed")
    return stored(reg, digest)[1]


def metrics(reg):
    """blobd's samples from the gateway's /metrics: {(name, labels-without-daemon): value}."""
    out = {}
    for line in requests.get(reg.url + "/metrics", timeout=10).text.splitlines():
        m = re.match(r'(registry_blob_\w+)\{daemon="blobd"(?:,(\w+)="(\w+)")?\} (\d+)$', line)
        if m:
            out[(m.group(1), m.group(3))] = int(m.group(4))
    return out


def outcomes(reg):
    return {k[1]: v for k, v in metrics(reg).items() if k[0] == "registry_blob_compressions_total"}


def recount(reg):
    """The storage gauges as the files on disk make them: {(name, form): value}."""
    out = {(n, f): 0 for n in ("registry_blob_files", "registry_blob_stored_bytes",
                               "registry_blob_original_bytes") for f in ("plain", "zstd")}
    for digest, path in blob_files(reg).items():
        form, size = stored(reg, digest)
        original = size
        if form == "zstd":
            with open(path, "rb") as f:
                original = int.from_bytes(f.read(24)[16:24], "little")
        out[("registry_blob_files", form)] += 1
        out[("registry_blob_stored_bytes", form)] += size
        out[("registry_blob_original_bytes", form)] += original
    return out


def gauges_agree(reg):
    m = metrics(reg)
    if m.get(("registry_blob_count_complete", None)) != 1:
        return False
    return {k: m.get(k) for k in recount(reg)} == recount(reg)


RANGES = [
    "bytes=0-0", "bytes=0-99", f"bytes=0-{FRAME - 1}",
    f"bytes={FRAME - 1}-{FRAME}",  # the last byte of a frame and the first of the next
    "bytes=1000000-3200000",  # three frames
    f"bytes={5 * FRAME - 10}-{7 * FRAME + 9}", f"bytes={8 * FRAME}-",
    "bytes=-1", "bytes=-12345", "bytes=-999999999",  # suffixes, the last longer than any blob
]


def expected_range(header, n):
    """(start, length) a single byte range of an n-byte blob names (RFC 9110), or None."""
    first, last = header[len("bytes="):].split("-")
    if first == "":
        length = min(int(last), n)
        return n - length, length
    start = int(first)
    if start >= n:
        return None
    end = n - 1 if last == "" else min(int(last), n - 1)
    return start, end - start + 1


def check_reads(c, name, digest, data):
    """HEAD, a whole GET and Range GETs of a blob give exactly data."""
    r = c.req("HEAD", f"/v2/{name}/blobs/{digest}")
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(data))
    r = c.get_blob(name, digest)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(data))
    assert r.content == data and r.headers["Docker-Content-Digest"] == digest
    n = len(data)
    for header in RANGES + [f"bytes={n - 1}-{n - 1}", f"bytes={n - 100}-",
                            f"bytes={n - 5}-{n + 100}"]:
        if expected_range(header, n) is None:
            continue
        start, length = expected_range(header, n)
        r = c.get_blob(name, digest, headers={"Range": header})
        assert r.status_code == 206, (header, r.status_code)
        assert r.headers["Content-Range"] == f"bytes {start}-{start + length - 1}/{len(data)}"
        assert r.headers["Content-Length"] == str(length)
        assert r.content == data[start:start + length], header
    r = c.get_blob(name, digest, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"


def test_an_uncompressed_tar_layer_takes_under_a_quarter_and_reads_back_exactly(
        registry, proj, layer):
    """An image whose 16 MiB layer is an uncompressed tar (as BuildKit pushes with
    compression=uncompressed; skopeo and docker would gzip it) is stored in under a quarter of
    its size, zstd itself decompresses the file, every read is byte-exact, and skopeo pulls the
    image back unchanged."""
    token = mint_token(registry, [(proj, "pull,push")])
    c = V2(registry, token)
    ldigest = c.push_blob(proj, layer, how="chunked", chunk=5 * MiB)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [ldigest]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": c.push_blob(proj, config),
                           "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER_TAR, "digest": ldigest, "size": len(layer)}]}
    assert c.put_manifest(proj, "tar", manifest).status_code == 201
    on_disk = wait_compressed(registry, ldigest)
    assert on_disk < len(layer) / 4, (on_disk, len(layer))
    # the file is zstd's seekable format: the zstd command reads it as it is
    out = subprocess.run(["zstd", "-d", "-c", blob_files(registry)[ldigest]],
                         capture_output=True, check=True).stdout
    assert digest_of(out) == ldigest
    check_reads(c, proj, ldigest, layer)
    back = tmpdir("tar-back-")
    try:
        skopeo("copy", "--src-registry-token", token, "--src-tls-verify=false",
               f"docker://{registry.host}/{proj}:tar", f"dir:{back}")
        with open(os.path.join(back, ldigest[7:]), "rb") as f:
            assert f.read() == layer
    finally:
        shutil.rmtree(back, ignore_errors=True)


def test_compressed_content_and_noise_stay_plain(make_registry):
    """A gzip layer (found by its magic bytes), random bytes (the first frame does not shrink)
    stay as sent, byte for byte, on the gateway's sendfile() path; a JSON config is compressed.
    The gauges then equal a recount of the files."""
    reg = make_registry(workers=1).start()
    make_project(reg, "g/p")
    c = client(reg, ("g/p", "pull,push"))
    text = system_tar(3 * MiB)
    gz = gzip.compress(text, compresslevel=1, mtime=0)
    noise = os.urandom(3 * MiB + 17)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": [f"VAR{i}=value {i}" for i in range(300)]},
                         "rootfs": {"type": "layers", "diff_ids": [sha256(text)] * 20}},
                        indent=2).encode()
    digests = {name: c.push_blob("g/p", data, how=how) for name, data, how in (
        ("gz", gz, "monolithic"), ("noise", noise, "chunked"), ("config", config, "put"))}
    wait_for(lambda: sum(outcomes(reg).values()) == 3, timeout=60, what="three outcomes")
    assert outcomes(reg) == {"compressed": 1, "precompressed": 1, "incompressible": 1,
                             "failed": 0}
    for name, data in (("gz", gz), ("noise", noise)):
        with open(blob_files(reg)[digests[name]], "rb") as f:
            assert f.read() == data, name
        check_reads(c, "g/p", digests[name], data)
    assert stored(reg, digests["config"])[0] == "zstd"
    r = c.get_blob("g/p", digests["config"])
    assert r.content == config
    wait_for(lambda: gauges_agree(reg), timeout=20, what="gauges equal to a recount")
    m = metrics(reg)
    assert m[("registry_blob_files", "zstd")] == 1
    assert m[("registry_blob_original_bytes", "plain")] == len(gz) + len(noise)


def test_a_compressed_blob_survives_a_restart_and_is_counted_again(make_registry):
    reg = make_registry(workers=2).start()
    make_project(reg, "g/p")
    c = client(reg, ("g/p", "pull,push"))
    data = system_tar(10 * MiB)
    digest = c.push_blob("g/p", data, how="stream")
    on_disk = wait_compressed(reg, digest)
    wait_for(lambda: gauges_agree(reg), timeout=20, what="gauges equal to a recount")
    reg.stop()
    reg.start()
    assert stored(reg, digest) == ("zstd", on_disk)
    check_reads(c, "g/p", digest, data)
    # the new master counted the storage afresh
    wait_for(lambda: gauges_agree(reg), timeout=20, what="gauges equal to a recount")
    m = metrics(reg)
    assert m[("registry_blob_files", "zstd")] == 1
    assert m[("registry_blob_stored_bytes", "zstd")] == on_disk
    assert m[("registry_blob_original_bytes", "zstd")] == len(data)


def test_a_compressed_blob_mounts_into_another_repository(registry, uniq):
    src, dst = f"{uniq}/src", f"{uniq}/dst"
    make_project(registry, src)
    make_project(registry, dst)
    c = client(registry, (src, "pull,push"), (dst, "pull,push"))
    data = system_tar(4 * MiB)
    digest = c.push_blob(src, data)
    wait_compressed(registry, digest)
    r = c.req("POST", f"/v2/{dst}/blobs/uploads/", params={"mount": digest, "from": src})
    assert r.status_code == 201, r.text
    check_reads(c, dst, digest, data)


def test_compression_none_then_zstd_after_a_reload(make_registry):
    """With compression = none every blob stays as sent; after a reload to zstd, a blob pushed
    again is compressed (as blobs stored before compression was on are, when pushed again)."""
    reg = make_registry(workers=1, extra_config={"blobd": {"compression": "none"}}).start()
    make_project(reg, "g/p")
    c = client(reg, ("g/p", "pull,push"))
    data = system_tar(2 * MiB)
    digest = c.push_blob("g/p", data)
    time.sleep(2)  # a compression would take milliseconds
    assert stored(reg, digest) == ("plain", len(data))
    assert sum(outcomes(reg).values()) == 0
    assert c.get_blob("g/p", digest).content == data
    old = set(reg.worker_pids("blobd"))
    reg.sections["blobd"]["compression"] = "zstd"
    reg.write_config()
    reg.signal("blobd", signal.SIGHUP)
    wait_for(lambda: set(reg.worker_pids("blobd")) and not set(reg.worker_pids("blobd")) & old,
             timeout=30, what="the new generation of blobd")
    assert c.push_blob("g/p", data, how="stream") == digest
    wait_compressed(reg, digest)
    check_reads(c, "g/p", digest, data)


def test_a_worker_killed_while_compressing_leaves_the_blob_plain_and_no_scratch(make_registry):
    reg = make_registry(workers=1, extra_config={"blobd": {"compression_level": "19"}}).start()
    make_project(reg, "g/p")
    c = client(reg, ("g/p", "pull,push"))
    data = system_tar(24 * MiB)  # level 19 takes seconds over it
    scratch = os.path.join(reg.storage, "tmp")

    def scratch_files():
        return [n for n in os.listdir(scratch) if not n.startswith(".")]  # .count.lock stays
    digest = c.push_blob("g/p", data)
    wait_for(scratch_files, timeout=20, interval=0.01, what="a scratch file")
    (name,) = scratch_files()
    worker = reg.worker_pids("blobd")
    for pid in worker:  # stopped first, so that it writes no more to the scratch file
        os.kill(pid, signal.SIGSTOP)
    past = time.time() - 3600
    os.utime(os.path.join(scratch, name), (past, past))
    for pid in worker:
        os.kill(pid, signal.SIGKILL)
    # the new worker sweeps what the dead one left; the blob is as it was stored
    wait_for(lambda: set(reg.worker_pids("blobd")) - set(worker), what="a new worker")
    wait_for(lambda: not scratch_files(), timeout=20, what="the scratch file swept")
    assert stored(reg, digest) == ("plain", len(data))
    check_reads(c, "g/p", digest, data)
    wait_for(lambda: gauges_agree(reg), timeout=20, what="gauges equal to a recount")


def test_compression_waits_while_uploads_stream(make_registry):
    """A blob pushed while another upload trickles in is compressed only once the upload
    stops: the compressor takes no CPU from pushes, at whichever worker they land."""
    reg = make_registry(workers=2).start()
    make_project(reg, "g/p")
    c = client(reg, ("g/p", "pull,push"))
    loc = c.start_upload("g/p").headers["Location"]
    streaming = threading.Event()
    result = {}

    def trickle():
        for _ in range(40):  # 4 s
            streaming.set()
            yield os.urandom(16 * 1024)
            time.sleep(0.1)

    def patch():
        result["r"] = c.req("PATCH", loc, data=trickle(),
                            headers={"Content-Type": "application/octet-stream"})
    t = threading.Thread(target=patch)
    t.start()
    assert streaming.wait(10)
    data = system_tar(8 * MiB)
    digest = c.push_blob("g/p", data)
    time.sleep(2.5)
    assert stored(reg, digest)[0] == "plain"  # 8 MiB take milliseconds when nothing streams
    t.join(30)
    assert result["r"].status_code == 202
    wait_compressed(reg, digest, timeout=30)
    check_reads(c, "g/p", digest, data)


def read_bytes(reg):
    """Bytes blobd's processes have read so far (read, pread, recv: /proc/<pid>/io rchar)."""
    total = 0
    for pid in [reg.master_pid("blobd")] + reg.worker_pids("blobd"):
        with open(f"/proc/{pid}/io") as f:
            total += int(next(line for line in f if line.startswith("rchar:")).split()[1])
    return total


def test_a_range_reads_only_the_frames_it_lies_in(make_registry):
    """A 1 MiB range of a 64 MiB compressed blob reads about two frames of the file, not the
    file; a whole GET reads all of it."""
    reg = make_registry(workers=1).start()
    make_project(reg, "g/p")
    c = client(reg, ("g/p", "pull,push"))
    data = system_tar(64 * MiB)
    digest = c.push_blob("g/p", data)
    on_disk = wait_compressed(reg, digest)
    start = 40 * MiB + 12345
    before = read_bytes(reg)
    r = c.get_blob("g/p", digest, headers={"Range": f"bytes={start}-{start + MiB - 1}"})
    assert r.status_code == 206 and r.content == data[start:start + MiB]
    ranged = read_bytes(reg) - before
    assert ranged < on_disk / 10, (ranged, on_disk)
    before = read_bytes(reg)
    assert c.get_blob("g/p", digest).content == data
    assert read_bytes(reg) - before >= on_disk

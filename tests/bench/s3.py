#!/usr/bin/python3
"""The S3 storage driver against the filesystem one: upload and download rates.

Starts a private Ceph cluster with a RADOS Gateway (tests/integration/ceph.py: one monitor, one
OSD on MemStore, radosgw on loopback, plain HTTP) and three registries as tests/bench/run starts
ours (private PostgreSQL, the four daemons, tokens, every blob fsync'd, compression = none so that
both drivers store the same bytes):

- filesystem: storage = filesystem;
- s3: storage = s3 on the gateway, reads streamed through blobd;
- s3-redirect: the same with redirect = true (a blob GET is a 307 to a pre-signed URL; curl
  follows it to the store).

Each round pushes a fresh file of random bytes to each (curl PUT, monolithic: MB/s at the client,
which waits for the 201, so the S3 driver's PutObject or multipart upload is inside the time),
then pushes another in PATCHes of 16 MiB and a PUT (an upload session: on S3 each PATCH sends its
parts to the store and saves the session's row through metad before its 202), then downloads
the first three times (curl to /dev/null, the median). Rounds are interleaved (A B C,
C B A, ...). Prints a table (tests/bench/run adds it to RESULTS.md after its comparison with
Distribution); a benchmark: it never fails on a figure.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench import (MiB, Ours, chunked_upload, machine_desc, put_file, random_file,  # noqa: E402
                   source_commit)
from ceph import CephRgw  # noqa: E402


def download(target, repo, digest):
    """Seconds curl takes to GET the blob (following a redirect) to /dev/null."""
    hdrs = []
    for k, v in target.headers(repo, "pull").items():
        hdrs += ["-H", f"{k}: {v}"]
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-sS", "-L", "-f", "-o", "/dev/null", "-w", "%{size_download}"]
                         + hdrs + [f"{target.url}/v2/{repo}/blobs/{digest}"],
                         capture_output=True, text=True)
    took = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{target.name}: GET blob failed: {out.stderr}")
    return took, int(out.stdout)


def measure(rounds, size_mib):
    """Runs the rounds; returns a markdown section: the table of medians and every round."""
    workdir = tempfile.mkdtemp(prefix="bench-s3-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(workdir, 0o755)
    rgw = CephRgw(memstore_bytes=(3 * rounds * size_mib + 1024) << 20).start()
    targets = []
    try:
        for name, blobd, s3 in (("filesystem", {"compression": "none"}, None),
                                ("s3", {}, rgw),
                                ("s3-redirect", {"redirect": "true"}, rgw)):
            folder = os.path.join(workdir, name)  # a PostgreSQL cluster of its own
            os.makedirs(folder)
            os.chmod(folder, 0o755)
            t = Ours(folder, name=name.replace("-", "_"), blobd=blobd, s3=s3)
            t.name = name
            targets.append(t)
        up = {t.name: [] for t in targets}
        chunked = {t.name: [] for t in targets}
        down = {t.name: [] for t in targets}
        size = size_mib * MiB
        for rnd in range(rounds):
            order = targets if rnd % 2 == 0 else list(reversed(targets))
            for t in order:
                print(f"S3 round {rnd + 1}/{rounds}: {t.name}", file=sys.stderr, flush=True)
                path = os.path.join(workdir, "blob")
                digest = random_file(path, size)
                repo = t.repo(f"s3bench{rnd}")
                t0 = time.monotonic()
                put_file(t, repo, path, digest)
                up[t.name].append(size / MiB / (time.monotonic() - t0))
                os.unlink(path)
                digest2 = random_file(path, size)
                t0 = time.monotonic()
                chunked_upload(t, repo, path, digest2)
                chunked[t.name].append(size / MiB / (time.monotonic() - t0))
                os.unlink(path)
                speeds = []
                for _ in range(3):
                    took, n = download(t, repo, digest)
                    assert n == size, (t.name, n)
                    speeds.append(size / MiB / took)
                down[t.name].append(statistics.median(speeds))
        lines = [f"S3 storage driver (a Ceph RADOS Gateway on this machine, MemStore OSD, plain "
                 f"HTTP on loopback) beside the filesystem driver: {size_mib} MiB of random bytes "
                 f"pushed with one monolithic curl PUT (MiB/s at the client, until the 201), "
                 f"another pushed in PATCHes of 16 MiB and a PUT (chunked), and the first "
                 f"downloaded by curl three times (median; `s3-redirect` follows the 307 to the "
                 f"store), {rounds} interleaved rounds, medians; token auth; load "
                 f"{os.getloadavg()[0]:.1f}.", "",
                 "| driver | upload MiB/s | chunked upload MiB/s | download MiB/s |",
                 "|---|---:|---:|---:|"]
        for t in targets:
            lines.append(f"| {t.name} | {statistics.median(up[t.name]):.0f} "
                         f"| {statistics.median(chunked[t.name]):.0f} "
                         f"| {statistics.median(down[t.name]):.0f} |")
        lines += ["", "Every round: upload " + str({k: [round(x) for x in v] for k, v in up.items()})
                  + ", chunked " + str({k: [round(x) for x in v] for k, v in chunked.items()})
                  + ", download " + str({k: [round(x) for x in v] for k, v in down.items()})]
        return "\n".join(lines) + "\n"
    finally:
        for t in targets:
            t.stop()
        rgw.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    args = ap.parse_args()
    print(f"{machine_desc()}; commit {source_commit()}")
    print(measure(args.rounds, args.size_mib))


if __name__ == "__main__":
    main()

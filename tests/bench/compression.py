#!/usr/bin/python3
"""Compression at rest: what it costs pushes and pulls, and what it saves on disk.

Starts two registries as tests/bench/run starts ours (private PostgreSQL, the four daemons,
tokens, every blob fsync'd), one with [blobd] compression = none and one with the default
(zstd, level 3, 1 MiB frames), and runs the same workload against both, interleaved (A B, B A,
...) for several rounds:

- monolithic uploads (curl PUT) of a compressible blob (an uncompressed tar of system files) and
  of an incompressible one (random bytes), fresh bytes every round: MB/s at the client, which
  waits for the 201;
- eight compressible 32 MiB blobs pushed one after the other, the earlier ones waiting to be
  compressed in the background: MB/s for the eight, and the CPU every process of the registry
  spent meanwhile;
- then, with zstd, how long the background compression takes after the last 201, and the CPU
  blobd spends on it;
- downloads of the compressible blob (curl, the median of five): MB/s; and 1 MiB ranges from the
  middle of it: median latency of 20.

Then it pushes real content once into the zstd registry and reads what it stores: an uncompressed
Debian rootfs (every file of the packages of priority required or important and the essential
ones, tar'ed: what debootstrap's minbase installs, as this machine has them), an image config, and
an SBOM (SPDX 2.3 JSON of every installed package). Prints a table and, unless --no-write,
writes it at the top of RESULTS.md. A benchmark: it never fails on a figure.
"""
import argparse
import contextlib
import datetime
import gzip
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import requests  # noqa: E402

from bench import (MiB, Ours, machine_desc, source_commit, put_file, random_file,  # noqa: E402
                   start_upload, with_digest)
from registry import wait_for  # noqa: E402


def system_tar(path, size, trailer=b""):
    """An uncompressed tar of system files (/usr/share, /usr/include, /usr/lib/python3), cut at
    about size bytes, then trailer (which makes its digest new); returns the digest."""
    h = hashlib.sha256()
    with open(path, "wb") as out:
        tar = tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT)
        done = False
        for top in ("/usr/share", "/usr/include", "/usr/lib/python3"):
            for dirpath, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(files):
                    p = os.path.join(dirpath, name)
                    if os.path.islink(p) or not os.path.isfile(p):
                        continue
                    with contextlib.suppress(OSError):
                        tar.add(p, arcname=p.lstrip("/"), recursive=False)
                    if out.tell() >= size:
                        done = True
                        break
                if done:
                    break
            if done:
                break
        tar.close()
        out.write(trailer)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 * MiB), b""):
            h.update(chunk)
    os.sync()
    return "sha256:" + h.hexdigest()


def debian_rootfs(path):
    """The files of the required, important and essential packages, tar'ed; the file's size."""
    pkgs = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Priority} ${Essential}\n"],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    base = [p.split()[0] for p in pkgs
            if len(p.split()) >= 2 and (p.split()[1] in ("required", "important")
                                        or p.split()[-1] == "yes")]
    files = set()
    for p in base:
        out = subprocess.run(["dpkg", "-L", p], capture_output=True, text=True).stdout
        files.update(line for line in out.splitlines() if line.startswith("/"))
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(files):
            if os.path.isfile(f) and not os.path.islink(f):
                with contextlib.suppress(OSError):
                    tar.add(f, arcname=f.lstrip("/"), recursive=False)
    return os.path.getsize(path), len(base)


def image_config(diff_ids):
    """An image config as docker build writes one: environment, labels, history per step."""
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-12-01T10:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           "LANG=C.UTF-8", "APP_HOME=/srv/app", "PYTHONUNBUFFERED=1"],
                   "Cmd": ["/srv/app/bin/server", "--config", "/etc/app/config.yaml"],
                   "WorkingDir": "/srv/app", "ExposedPorts": {"8080/tcp": {}},
                   "Labels": {"org.opencontainers.image.source": "https://example.com/app",
                              "org.opencontainers.image.revision": "0" * 40,
                              "org.opencontainers.image.version": "1.4.2"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-12-01T10:00:00Z",
                     "created_by": f"/bin/sh -c #(nop) step {i}: RUN apt-get install -y pkg{i}",
                     "empty_layer": i % 3 == 0} for i in range(len(diff_ids) + 6)],
    }, indent=2).encode()


def sbom():
    """An SPDX 2.3 JSON document of every package dpkg knows here."""
    fmt = "${Package}\t${Version}\t${Architecture}\t${Maintainer}\t${Homepage}\t${binary:Summary}\n"
    rows = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True,
                          check=True).stdout.splitlines()
    packages = []
    for row in rows:
        name, version, arch, maint, home, summary = (row.split("\t") + [""] * 6)[:6]
        packages.append({
            "SPDXID": f"SPDXRef-Package-deb-{name}-{hashlib.sha1(row.encode()).hexdigest()[:16]}",
            "name": name, "versionInfo": version, "supplier": f"Person: {maint}",
            "downloadLocation": "NOASSERTION", "homepage": home or "NOASSERTION",
            "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION", "summary": summary, "filesAnalyzed": False,
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": f"pkg:deb/debian/{name}@{version}?arch={arch}"}],
        })
    doc = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
           "name": "image", "documentNamespace": "https://example.com/spdx/image",
           "creationInfo": {"created": "2026-12-01T10:00:00Z", "creators": ["Tool: bench"]},
           "packages": packages,
           "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT",
                              "relationshipType": "DESCRIBES",
                              "relatedSpdxElement": p["SPDXID"]} for p in packages]}
    return json.dumps(doc, indent=2).encode()


def blobd_cpu(target):
    """CPU seconds of blobd's master and workers so far."""
    from bench import descendants
    total = 0
    for pid in descendants(target.reg.master_pid("blobd")):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def outcomes(target):
    """blobd's compressions_total by outcome."""
    out = {}
    for line in requests.get(target.url + "/metrics", timeout=10).text.splitlines():
        m = re.match(r'registry_blob_compressions_total\{daemon="blobd",outcome="(\w+)"\} (\d+)',
                     line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def stored_size(target, digest):
    hexd = digest[7:]
    return os.path.getsize(os.path.join(target.reg.storage, "blobs", "sha256", hexd[:2], hexd))


def curl_get(target, repo, digest, rng=None):
    """(seconds, bytes) of a GET through the gateway."""
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{size_download}"]
    for k, v in target.headers(repo, "pull").items():
        args += ["-H", f"{k}: {v}"]
    if rng:
        args += ["-H", f"Range: {rng}"]
    out = subprocess.run(args + [f"{target.url}/v2/{repo}/blobs/{digest}"], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def timed_put(target, repo, path, digest):
    t0 = time.monotonic()
    put_file(target, repo, path, digest)
    return time.monotonic() - t0


class Run:
    def __init__(self, workdir, size):
        self.workdir = workdir
        self.size = size
        self.results = {}  # (figure, target) -> [values]

    def add(self, figure, target, value):
        self.results.setdefault((figure, target.label), []).append(value)

    def round(self, target, rnd):
        repo = target.repo(f"r{rnd}")
        base = blobd_cpu(target)
        done_before = sum(outcomes(target).values())
        comp = os.path.join(self.workdir, "comp.tar")
        d = system_tar(comp, self.size, f"round {rnd} {target.label}".encode())
        cpu0 = target.cpu_seconds()
        secs = timed_put(target, repo, comp, d)
        self.add("upload, compressible (MB/s)", target, self.size / MiB / secs)
        self.add("registry CPU per GiB uploaded, compressible (s)", target,
                 (target.cpu_seconds() - cpu0) * 1024 * MiB / self.size)
        noise = os.path.join(self.workdir, "noise.bin")
        dn = random_file(noise, self.size)
        cpu0 = target.cpu_seconds()
        secs = timed_put(target, repo, noise, dn)
        self.add("upload, incompressible (MB/s)", target, self.size / MiB / secs)
        self.add("registry CPU per GiB uploaded, incompressible (s)", target,
                 (target.cpu_seconds() - cpu0) * 1024 * MiB / self.size)
        os.unlink(noise)
        # eight in a row, while the earlier ones are compressed
        small = []
        for i in range(8):
            p = os.path.join(self.workdir, f"small{i}.tar")
            small.append((p, system_tar(p, 32 * MiB, f"{rnd} {i} {target.label}".encode())))
        cpu0 = target.cpu_seconds()
        t0 = time.monotonic()
        for p, dg in small:
            put_file(target, repo, p, dg)
        last_201 = time.monotonic()
        self.add("8 uploads in a row, compressible (MB/s)", target,
                 8 * 32 * MiB / MiB / (last_201 - t0))
        self.add("registry CPU during the 8 uploads (s)", target, target.cpu_seconds() - cpu0)
        for p, _ in small:
            os.unlink(p)
        if target.compress:
            # 10 new blobs: the two big ones and the eight
            wait_for(lambda: sum(outcomes(target).values()) - done_before >= 10, timeout=600,
                     interval=0.05, what="the background compressions")
            self.add("compression done after the last 201 (s)", target,
                     time.monotonic() - last_201)
            self.add("on disk, compressible blob (% of its size)", target,
                     100 * stored_size(target, d) / os.path.getsize(comp))
        self.add("blobd CPU for the round (s)", target, blobd_cpu(target) - base)
        speeds = []
        for _ in range(5):
            s, n = curl_get(target, repo, d)
            assert n == os.path.getsize(comp)
            speeds.append(n / MiB / s)
        self.add("download, compressible (MB/s)", target, statistics.median(speeds))
        mid = os.path.getsize(comp) // 2 + 12345
        lat = [curl_get(target, repo, d, f"bytes={mid}-{mid + MiB - 1}")[0] * 1000
               for _ in range(20)]
        self.add("1 MiB range from the middle, median (ms)", target, statistics.median(lat))
        os.unlink(comp)


def zstd_speeds(path):
    """One core's zstd on path in 1 MiB blocks (the zstd command's own benchmark): rows of
    level, ratio, compression and decompression MB/s."""
    rows = []
    for level in (1, 3):
        res = subprocess.run(["zstd", f"-b{level}", "-B1M", "-i3", path], capture_output=True,
                             text=True)
        out = res.stdout + res.stderr  # the progress lines go to standard error
        found = re.findall(r"\(x([\d.]+)\),\s+([\d.]+) MB/s,\s+([\d.]+) MB/s", out)
        if found:
            ratio, c, d = found[-1]
            rows.append(f"| {level} | {100 / float(ratio):.1f}% | {float(c):,.0f} | {float(d):,.0f} |")
    return "\n".join(rows)


def push_bytes(target, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = start_upload(target, repo)
    r = requests.put(with_digest(loc, digest), data=data,
                     headers=dict(target.headers(repo), **{"Content-Type": "application/octet-stream"}))
    r.raise_for_status()
    return digest


def real_layers(target, workdir):
    """What the zstd registry stores for a Debian rootfs tar, a config and an SBOM."""
    rows = []
    rootfs = os.path.join(workdir, "rootfs.tar")
    size, npkgs = debian_rootfs(rootfs)
    speeds = zstd_speeds(rootfs)
    with open(rootfs, "rb") as f:
        tar = f.read()
    config = image_config(["sha256:" + hashlib.sha256(tar).hexdigest()] * 4)
    doc = sbom()
    repo = target.repo("real")
    before = sum(outcomes(target).values())
    items = [(f"Debian rootfs, uncompressed tar ({npkgs} packages)", tar),
             ("image config (JSON)", config), ("SBOM, SPDX 2.3 JSON", doc)]
    digests = [push_bytes(target, repo, data) for _, data in items]
    wait_for(lambda: sum(outcomes(target).values()) - before >= len(items), timeout=600,
             what="compressions")
    for (label, data), dg in zip(items, digests):
        on_disk = stored_size(target, dg)
        gz = len(gzip.compress(data, 6))
        rows.append(f"| {label} | {len(data):,} | {on_disk:,} | {100 * on_disk / len(data):.1f}% "
                    f"| {100 * gz / len(data):.1f}% |")
    os.unlink(rootfs)
    return "\n".join(rows), speeds


def report(run, layers, speeds, machine, commit, elapsed, rounds, size):
    figures = []
    for fig, _ in run.results:
        if fig not in figures:
            figures.append(fig)

    def cell(values):
        if not values:
            return "-"
        med = statistics.median(values)
        if len(values) < 2:
            return f"{med:,.1f}"
        return f"{med:,.1f} <sub>({min(values):,.1f}–{max(values):,.1f})</sub>"
    lines = ["| figure | compression = none | compression = zstd | zstd / none, by round |",
             "|---|---:|---:|---:|"]
    for fig in figures:
        a, b = run.results.get((fig, "none"), []), run.results.get((fig, "zstd"), [])
        # each round measures both, one right after the other: the ratio within a round is
        # less disturbed by the machine's other work than the medians are
        paired = [y / x for x, y in zip(a, b) if x]
        ratio = f"{statistics.median(paired):.2f}" if paired else "-"
        lines.append(f"| {fig} | {cell(a)} | {cell(b)} | {ratio} |")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return f"""## Compression at rest, {when}

`/usr/bin/python3 tests/bench/compression.py` (see README.md).
Machine: {machine}, load average {load} at the end. Commit: `{commit}`. Two registries in one run, `[blobd] compression = none`
and `zstd` (level 3, 1 MiB frames), {rounds} rounds interleaved, medians with the smallest and
largest round, and the median over the rounds of zstd's figure divided by none's in the same
round. Blobs of {size // MiB} MiB; wall time {elapsed:.0f} s.

{chr(10).join(lines)}

Real content pushed once into the zstd registry, what its file takes on disk (gzip -6 of the
same bytes for comparison, as a gzip layer would be):

| content | bytes | on disk | ratio | gzip -6 |
|---|---:|---:|---:|---:|
{layers}

One core's zstd on the rootfs tar in 1 MiB blocks (`zstd -b<level> -B1M`), in the same run: what
compressing in the upload's path would cap a push at.

| level | size | compression (MB/s) | decompression (MB/s) |
|---:|---:|---:|---:|
{speeds}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="bench-zstd-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(workdir, 0o755)
    commit = source_commit()
    targets = []
    try:
        for label, cfg in (("none", {"compression": "none"}), ("zstd", {})):
            d = os.path.join(workdir, label)
            os.makedirs(d)
            os.chmod(d, 0o755)
            t = Ours(d, name=f"bench_{label}", blobd=cfg)
            t.label, t.compress = label, label == "zstd"
            targets.append(t)
        run = Run(workdir, args.size_mib * MiB)
        for rnd in range(args.rounds):
            for t in (targets if rnd % 2 == 0 else list(reversed(targets))):
                print(f"round {rnd + 1}/{args.rounds}: {t.label}", file=sys.stderr, flush=True)
                run.round(t, rnd)
        layers, speeds = real_layers(targets[1], workdir)
        text = report(run, layers, speeds, machine_desc(), commit, time.monotonic() - start,
                      args.rounds, args.size_mib * MiB)
        print(text)
        if not args.no_write:
            with open(args.results) as f:
                old = f.read()
            head, sep, rest = old.partition("\n## ")
            with open(args.results, "w") as f:
                f.write(head + "\n" + text + sep + rest)
    finally:
        for t in targets:
            with contextlib.suppress(Exception):
                t.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

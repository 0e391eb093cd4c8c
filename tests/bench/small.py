#!/usr/bin/python3
"""Small requests side by side: tags/list and manifest PUT, ours against Distribution.

Both registries run at once; every round measures both, interleaved (A B, B A, ...), and the
table shows medians over the rounds with the ratio of the medians. Ours runs with token
authentication; Distribution without (and, with --dist-token, a second Distribution with token
authentication). wrk keeps its connections alive.

  tags/list, 1,001 tags     wrk -t2 -c32, 5 s, the first page (no n)
  manifest PUT, 1 client    wrk -t1 -c1, 5 s, PUTs of one manifest cycling over 1,000 tags
  manifest PUT, 8 clients   wrk -t2 -c8, 5 s, the same
  tags/list n=100 pages     of a 100,000-tag repository (ours only): latency of walks through the
                            pages with n and last (-c1), p50 and p99

With --before DIR, a second instance of ours runs the binaries built in DIR (another commit's
tree), in the same rounds: the before-and-after figures of a change.

Usage: tests/bench/small.py [--rounds N] [--hold] [--dist-token] [--before DIR]
"""
import argparse
import os
import signal
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench  # noqa: E402

FIGURES = [
    "tags/list of 1,001 tags (req/s)",
    "tags/list of 1,001 tags, p99 (ms)",
    "manifest PUT, 1 client (req/s)",
    "manifest PUT, 8 clients (req/s)",
    "tags/list n=100 page of 100,000 tags, p50 (ms)",
    "tags/list n=100 page of 100,000 tags, p99 (ms)",
]

BIG = 100000


def fill_big(target):
    """A repository of 100,000 tags written straight into the database (through the registry it
    would take minutes; the triggers are left out and its tags_version moved once)."""
    repo = target.repo("big")
    bench.push_manifest(target, repo, "v000000")
    target.pg.psql("bench", f"""
        SET session_replication_role = replica;
        INSERT INTO tags (repository_id, name, manifest_id)
        SELECT t.repository_id, 'v' || lpad(g::text, 6, '0'), t.manifest_id
          FROM tags t JOIN repositories r ON r.id = t.repository_id,
               generate_series(1, {BIG}) g
         WHERE r.path = '{repo}' AND t.name = 'v000000';
        UPDATE repositories SET tags_version = tags_version + 1 WHERE path = '{repo}';""")
    target.pg.psql("bench", "VACUUM ANALYZE tags")
    return repo


def big_pages(b, target, repo):
    """Latency of n=100 pages at random places (wrk -t1 -c1, 5 s): the server's time per page."""
    _, p50, p99 = bench.wrk(target, f"/v2/{repo}/tags/list", target.headers(repo, "pull"), 5,
                            conns=1, threads=1,
                            script=(os.path.join(HERE, "tag_pages.lua"),
                                    f"/v2/{repo}/tags/list", str(BIG), "100"))
    b.record("tags/list n=100 page of 100,000 tags, p50 (ms)", target, p50)
    b.record("tags/list n=100 page of 100,000 tags, p99 (ms)", target, p99)


def fill_tags(target, trepo, mfile, workdir):
    """1,000 tags of one manifest (and "base"): the PUT figures, then the repository tags/list
    reads."""
    hdr = dict(target.headers(trepo),
               **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    script = os.path.join(HERE, "put_manifests.lua")
    one, _, _ = bench.wrk(target, f"/v2/{trepo}/manifests/", hdr, 5, conns=1, threads=1,
                          script=(script, f"/v2/{trepo}/manifests/", "1", mfile))
    eight, _, _ = bench.wrk(target, f"/v2/{trepo}/manifests/", hdr, 5, conns=8, threads=2,
                            script=(script, f"/v2/{trepo}/manifests/", "2", mfile))
    return one, eight


def run_round(b, target, rnd, workdir, big):
    trepo = target.repo(f"tags{rnd}")
    manifest, _ = bench.push_manifest(target, trepo, "base")
    mfile = os.path.join(workdir, f"manifest-{target.name}.json")
    with open(mfile, "wb") as f:
        f.write(manifest)
    one, eight = fill_tags(target, trepo, mfile, workdir)
    b.record("manifest PUT, 1 client (req/s)", target, one)
    b.record("manifest PUT, 8 clients (req/s)", target, eight)
    rps, _, p99 = bench.wrk(target, f"/v2/{trepo}/tags/list", target.headers(trepo, "pull"), 5)
    b.record("tags/list of 1,001 tags (req/s)", target, rps)
    b.record("tags/list of 1,001 tags, p99 (ms)", target, p99)
    if target in big:
        big_pages(b, target, big[target])


def table(b, names):
    head = "| figure | " + " | ".join(names) + " | " + " | ".join(
        f"ours vs {n}" for n in names[1:]) + " |"
    lines = [head, "|---|" + "---:|" * (2 * len(names) - 1)]
    for fig in FIGURES:
        meds, cells = [], []
        for n in names:
            vals = b.results.get((fig, n), [])
            if not vals:
                meds.append(None)
                cells.append("-")
                continue
            m = statistics.median(vals)
            meds.append(m)
            cells.append(f"{m:,.1f} <sub>({min(vals):,.1f}–{max(vals):,.1f})</sub>")
        ratios = []
        for m in meds[1:]:
            if meds[0] and m:
                r = m / meds[0] if "(ms)" in fig else meds[0] / m
                ratios.append(f"{r:.2f}x")
            else:
                ratios.append("-")
        lines.append(f"| {fig} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hold", action="store_true", help="keep the registries up after the run")
    ap.add_argument("--dist-token", action="store_true",
                    help="also a Distribution with token authentication")
    ap.add_argument("--before", help="the build folder of another commit, measured beside")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the registries on a kill too
    workdir = tempfile.mkdtemp(prefix="bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(workdir, 0o755)
    targets = []
    try:
        targets.append(bench.Ours(workdir))
        targets.append(bench.Distribution(workdir))
        if args.before:
            other = os.path.join(workdir, "before")
            os.makedirs(other)
            os.chmod(other, 0o755)
            targets.append(bench.Ours(other, bin_dir=os.path.abspath(args.before),
                                      label="before"))
        if args.dist_token:
            targets.append(bench.DistributionToken(workdir))
        b = bench.Bench(workdir, args.rounds, 1)
        big = {t: fill_big(t) for t in targets if isinstance(t, bench.Ours)}
        for rnd in range(args.rounds):
            order = targets if rnd % 2 == 0 else list(reversed(targets))
            for t in order:
                print(f"round {rnd + 1}/{args.rounds}: {t.name}", file=sys.stderr, flush=True)
                run_round(b, t, rnd, workdir, big)
        print(table(b, [t.name for t in targets]))
        if args.hold:
            print(f"holding: ours {targets[0].url} distribution {targets[1].url}; workdir "
                  f"{workdir}; ctrl-c to stop", flush=True)
            while True:
                time.sleep(3600)
    finally:
        for t in targets:
            try:
                t.stop()
            except Exception:
                pass
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""What garbage collection costs: the time to clear 1,000 garbage blobs out of a store of
10,000 and of 100,000 (by default), which must not grow with the store.

For each size, starts a private registry (PostgreSQL and the four daemons, as the integration
tests do) collecting with a review delay of one second and a run every second, fills it with SQL
with the rows pushes leave (blobs, links, manifests referencing five blobs each, a tag each, in
200 repositories) and a real file per blob, and empties the review queues (everything was
reviewed long ago). Then it deletes the tags of 200 manifests at once (their 1,000 blobs become
garbage) and waits until their 1,000 files have left storage. It prints, per size: the wall time
from the tags' deletion to the last file gone (the review delay, the wait for the next run and
for blobd's next round included), the time metad's runs took (from their log lines), the time
blobd's rounds took to delete the files, the number of runs, and the shared buffers the
database's statements touched meanwhile (the work, whatever the cache). PostgreSQL gets 256 MB
of shared buffers, as a production database would. A benchmark: it never fails on a figure,
only on a wrong result (a kept blob gone, a garbage one left).
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from registry import PG_BIN, PgCluster, Registry  # noqa: E402

REPOSITORIES = 200
BLOBS_PER_MANIFEST = 5


def content(i):
    return f"bench blob {i}\n".encode()


def fill(reg, blobs):
    """blobs blob rows and files, blobs / 5 manifests (five blobs each, tagged) in 200
    repositories of 200 projects, as pushes leave them; the queues emptied."""
    manifests = blobs // BLOBS_PER_MANIFEST
    fan = os.path.join(reg.storage, "blobs", "sha256")
    for i in range(1, blobs + 1):
        hexd = hashlib.sha256(content(i)).hexdigest()
        os.makedirs(os.path.join(fan, hexd[:2]), exist_ok=True)
        with open(os.path.join(fan, hexd[:2], hexd), "wb") as f:
            f.write(content(i))
    sql = f"""
BEGIN;
INSERT INTO namespaces (kind, name, path, full_path, full_name, traversal_ids)
VALUES ('group', 'bench', 'bench', 'bench', 'bench', '{{}}');
UPDATE namespaces SET traversal_ids = ARRAY[id] WHERE path = 'bench';
INSERT INTO projects (namespace_id, name, path, full_path)
SELECT n.id, p, p, 'bench/' || p
  FROM namespaces n, (SELECT format('p%s', lpad(i::text, 3, '0')) AS p
                        FROM generate_series(0, {REPOSITORIES - 1}) i) x
 WHERE n.path = 'bench';
INSERT INTO repositories (project_id, name) SELECT id, '' FROM projects WHERE full_path LIKE 'bench/%';
CREATE TEMP TABLE r AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM repositories;
INSERT INTO blobs (digest, size)
SELECT 'sha256:' || encode(sha256(convert_to('bench blob ' || i || E'\\n', 'UTF8')), 'hex'),
       length('bench blob ' || i) + 1
  FROM generate_series(1, {blobs}) i;
-- manifest m (its total_size, here) references blobs 5m-4 .. 5m and is tagged t<m>
INSERT INTO manifests (repository_id, digest, media_type, payload, total_size)
SELECT r.id, 'sha256:' || encode(sha256(convert_to('bench manifest ' || m, 'UTF8')), 'hex'),
       'application/vnd.oci.image.manifest.v1+json', convert_to('manifest ' || m, 'UTF8'), m
  FROM generate_series(1, {manifests}) m JOIN r ON r.k = (m - 1) % {REPOSITORIES};
INSERT INTO manifest_blobs (manifest_id, blob_digest)
SELECT x.id, 'sha256:' || encode(sha256(convert_to('bench blob ' || b || E'\\n', 'UTF8')), 'hex')
  FROM manifests x,
       generate_series(({BLOBS_PER_MANIFEST} * (x.total_size - 1) + 1)::int,
                       ({BLOBS_PER_MANIFEST} * x.total_size)::int) b;
INSERT INTO repository_blobs (repository_id, blob_digest)
SELECT DISTINCT x.repository_id, mb.blob_digest
  FROM manifests x JOIN manifest_blobs mb ON mb.manifest_id = x.id;
INSERT INTO tags (repository_id, name, manifest_id)
SELECT repository_id, 't' || total_size, id FROM manifests;
COMMIT;
"""
    reg.pg.psql(reg.name, sql)
    reg.pg.psql(reg.name, "TRUNCATE gc_manifest_queue, gc_blob_queue, gc_blob_files")
    reg.pg.psql(reg.name, "VACUUM ANALYZE")
    assert int(reg.pg.psql(reg.name, "SELECT count(*) FROM blobs")) == blobs


def garbage(blobs, count):
    """The manifests (by number) whose tags go, and the digests of the blobs only they hold."""
    manifests = blobs // BLOBS_PER_MANIFEST
    n = count // BLOBS_PER_MANIFEST
    step = manifests // n
    chosen = [step * j for j in range(1, n + 1)]
    digests = {"sha256:" + hashlib.sha256(content(b)).hexdigest()
               for m in chosen for b in range(BLOBS_PER_MANIFEST * (m - 1) + 1,
                                              BLOBS_PER_MANIFEST * m + 1)}
    return chosen, digests


def file_of(reg, digest):
    return os.path.join(reg.storage, "blobs", "sha256", digest[7:9], digest[7:])


def log_seconds(text, pattern):
    """The sum of the seconds of the lines matching pattern (its group 1), and their count."""
    found = [float(m.group(1)) for m in re.finditer(pattern, text)]
    return sum(found), len(found)


def buffers(reg):
    """Shared buffers the database's statements touched so far (hit or read)."""
    return int(reg.pg.psql(reg.name, "SELECT blks_hit + blks_read FROM pg_stat_database"
                                     " WHERE datname = current_database()"))


def measure(workdir, pg, blobs, count):
    reg = Registry(pg, workdir, f"gc{blobs}", workers=2,
                   extra_config={"gc": {"interval": "1"}},
                   env={"REGISTRY_GC_REVIEW_DELAY": "1"}).start()
    try:
        t0 = time.monotonic()
        fill(reg, blobs)
        print(f"filled {blobs:,} blobs and their files in {time.monotonic() - t0:.1f} s",
              file=sys.stderr)
        chosen, doomed = garbage(blobs, count)
        kept_sample = ["sha256:" + hashlib.sha256(content(i)).hexdigest()
                       for i in range(1, blobs + 1, max(1, blobs // 500))]
        kept_sample = [d for d in kept_sample if d not in doomed]
        metad_before = len(reg.log("metad"))
        blobd_before = len(reg.log("blobd"))
        buffers_before = buffers(reg)
        t0 = time.monotonic()
        reg.pg.psql(reg.name, "DELETE FROM tags WHERE manifest_id IN (SELECT id FROM manifests"
                              f" WHERE total_size IN ({','.join(map(str, chosen))}))")
        left = set(doomed)
        while left:
            left = {d for d in left if os.path.exists(file_of(reg, d))}
            if time.monotonic() - t0 > 600:
                raise AssertionError(f"{len(left)} garbage files left after 10 minutes")
            time.sleep(0.05)
        wall = time.monotonic() - t0
        assert all(os.path.exists(file_of(reg, d)) for d in kept_sample), "a kept blob went"
        assert int(reg.pg.psql(reg.name, "SELECT count(*) FROM blobs")) == blobs - len(doomed)
        time.sleep(1.5)  # the runs' log lines, the statistics
        touched = buffers(reg) - buffers_before
        metad_log = reg.log("metad")[metad_before:]
        blobd_log = reg.log("blobd")[blobd_before:]
        metad_s, runs = log_seconds(metad_log, r"gc: reviewed .* in ([0-9.]+) s")
        blobd_s, rounds = log_seconds(blobd_log, r"gc: deleted \d+ blob files? .* in ([0-9.]+) s")
        return wall, metad_s, runs, blobd_s, rounds, touched
    finally:
        reg.stop()
        shutil.rmtree(reg.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--totals", default="10000,100000",
                    help="store sizes in blobs, comma-separated")
    ap.add_argument("--garbage", type=int, default=1000, help="blobs that become garbage")
    args = ap.parse_args()
    totals = [int(x) for x in args.totals.split(",")]
    workdir = tempfile.mkdtemp(prefix="bench-gc-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(workdir, 0o755)
    commit = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    pg = None
    rows = []
    try:
        pg = PgCluster(workdir)
        # a cache a production database would have (the tests' clusters keep 64 MB): what is
        # measured is the work, not the disk reads of a store larger than the cache
        pg.psql("postgres", "ALTER SYSTEM SET shared_buffers = '256MB'")
        pg._run([f"{PG_BIN}/pg_ctl", "-D", pg.dir + "/data", "-l", pg.log_path, "-w",
                 "restart"])
        for blobs in totals:
            rows.append((blobs,) + measure(workdir, pg, blobs, args.garbage))
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"Garbage collection of {args.garbage:,} blobs ({args.garbage // BLOBS_PER_MANIFEST}"
          f" manifests untagged at once); commit {commit};"
          f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores.")
    print("Review delay 1 s, a run every second; wall: from the tags' deletion to the last"
          " garbage file gone; buffers: shared buffers the database's statements touched"
          " meanwhile (hit or read).")
    print()
    print("| blobs in store | manifests | wall (s) | metad runs (s) | runs | blobd deleting (s) |"
          " rounds | buffers |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for blobs, wall, metad_s, runs, blobd_s, rounds, touched in rows:
        print(f"| {blobs:,} | {blobs // BLOBS_PER_MANIFEST:,} | {wall:.2f} | {metad_s:.3f} |"
              f" {runs} | {blobd_s:.3f} | {rounds} | {touched:,} |")


if __name__ == "__main__":
    main()

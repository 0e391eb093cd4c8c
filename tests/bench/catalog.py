#!/usr/bin/python3
"""The catalog on a large instance: what a first and a last page cost.

Starts a private registry (PostgreSQL and the four daemons, as the integration tests do), fills
it with SQL with 20,000 repositories in 200 private projects (the rows pushes create: the
repository, its linked blobs, a manifest and its tag), then times GET /v2/_catalog?n=100 at the
HTTP client against the gateway, with registry tokens from /jwt/auth (registry:catalog:*), for
an admin and for a user who is a Reporter of one project (150 repositories: a first page with a
Link and a last one). Prints the median and p99 of each, and the shared buffers the catalog
statement touches for each page (EXPLAIN (ANALYZE, BUFFERS)). A benchmark: it never fails on a
figure, only on a wrong answer.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import requests  # noqa: E402

from registry import PgCluster, Registry  # noqa: E402

USER, PASSWORD = "catalog-reader", "Catalog-Passw0rd-1234"
MEMBER_PROJECT = "bench-g10/app-05"  # the user's project, in the middle of the order
MEMBER_REPOS = 150


def fill(reg, repos, projects, groups):
    """Groups, private projects and their repositories as pushes leave them, with SQL."""
    per_group = projects // groups
    other = (repos - MEMBER_REPOS) // (projects - 1)
    extra = (repos - MEMBER_REPOS) % (projects - 1)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    sql = f"""
BEGIN;
INSERT INTO namespaces (kind, name, path, full_path, full_name, traversal_ids)
SELECT 'group', g, g, g, g, '{{}}'
  FROM (SELECT format('bench-g%s', lpad(i::text, 2, '0')) AS g
          FROM generate_series(0, {groups - 1}) i) x;
UPDATE namespaces SET traversal_ids = ARRAY[id] WHERE path LIKE 'bench-g%';
INSERT INTO projects (namespace_id, name, path, full_path)
SELECT n.id, a, a, n.full_path || '/' || a
  FROM namespaces n,
       (SELECT format('app-%s', lpad(j::text, 2, '0')) AS a
          FROM generate_series(0, {per_group - 1}) j) x
 WHERE n.path LIKE 'bench-g%';
-- every project gets {other} repositories (the first {extra} one more), the user's {MEMBER_REPOS}:
-- the project's own image, then names of one and two segments
INSERT INTO repositories (project_id, name)
SELECT p.id, CASE WHEN k = 0 THEN '' WHEN k % 3 = 0 THEN format('svc-%s/api', lpad(k::text, 4, '0'))
                  ELSE format('svc-%s', lpad(k::text, 4, '0')) END
  FROM (SELECT p.*, row_number() OVER (ORDER BY p.full_path = '{MEMBER_PROJECT}', p.full_path)
                    AS rank
          FROM projects p WHERE p.full_path LIKE 'bench-g%') p,
       generate_series(0, CASE WHEN p.full_path = '{MEMBER_PROJECT}' THEN {MEMBER_REPOS}
                               WHEN p.rank <= {extra} THEN {other + 1}
                               ELSE {other} END - 1) k;
INSERT INTO blobs (digest, size) VALUES
    ('sha256:' || encode(sha256('{config.decode()}'::bytea), 'hex'), {len(config)}),
    ('sha256:' || repeat('ab', 32), 2048);
INSERT INTO repository_blobs (repository_id, blob_digest)
SELECT r.id, b.digest FROM repositories r, blobs b;
INSERT INTO manifests (repository_id, digest, media_type, config_digest, config_media_type,
                       payload, total_size)
SELECT r.id, 'sha256:' || encode(sha256(m.payload), 'hex'),
       'application/vnd.oci.image.manifest.v1+json', m.config,
       'application/vnd.oci.image.config.v1+json', m.payload,
       length(m.payload) + 2048 + {len(config)}
  FROM repositories r,
       (SELECT convert_to(json_build_object(
                   'schemaVersion', 2, 'mediaType', 'application/vnd.oci.image.manifest.v1+json',
                   'config', json_build_object(
                       'mediaType', 'application/vnd.oci.image.config.v1+json',
                       'digest', c.digest, 'size', c.size),
                   'layers', json_build_array(json_build_object(
                       'mediaType', 'application/vnd.oci.image.layer.v1.tar',
                       'digest', l.digest, 'size', l.size)))::text, 'UTF8') AS payload,
               c.digest AS config
          FROM blobs c, blobs l WHERE c.size = {len(config)} AND l.size = 2048) m;
INSERT INTO manifest_blobs (manifest_id, blob_digest)
SELECT m.id, b.digest FROM manifests m, blobs b;
INSERT INTO tags (repository_id, name, manifest_id)
SELECT m.repository_id, 'latest', m.id FROM manifests m;
COMMIT;
"""
    reg.pg.psql(reg.name, sql)
    reg.pg.psql(reg.name, "VACUUM ANALYZE")
    count = int(reg.pg.psql(reg.name, "SELECT count(*) FROM repositories"))
    assert count == repos, count


def member(reg):
    """A user with a password, Reporter of MEMBER_PROJECT and of nothing else."""
    r = reg.api("POST", "/users", json={"username": USER, "name": "Catalog", "password": PASSWORD,
                                        "email": "catalog@example.com", "skip_confirmation": True})
    r.raise_for_status()
    pid = int(reg.pg.psql(reg.name,
                          f"SELECT id FROM projects WHERE full_path = '{MEMBER_PROJECT}'"))
    r = reg.api("POST", f"/projects/{pid}/members", json={"user_id": r.json()["id"],
                                                          "access_level": 20})
    r.raise_for_status()


def sorted_paths(reg, where="true"):
    out = reg.pg.psql(reg.name, "SELECT lower(p.full_path) || CASE WHEN r.name = '' THEN ''"
                                " ELSE '/' || r.name END COLLATE \"C\" AS x"
                                " FROM repositories r JOIN projects p ON p.id = r.project_id"
                                f" WHERE {where} ORDER BY x")
    return out.split("\n")


def timed(session, url, token, rounds, warmup):
    """Milliseconds of each GET, measured at the client (keep-alive connection)."""
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    for i in range(warmup + rounds):
        t0 = time.perf_counter()
        r = session.get(url, headers=headers, timeout=30)
        dt = (time.perf_counter() - t0) * 1000
        r.raise_for_status()
        if i >= warmup:
            times.append(dt)
    return times


def buffers(reg, last, uid, admin, n):
    """Shared buffers the catalog statement touches for this page (hit + read), from its second
    run in one session (the first also reads the system catalogs to plan)."""
    if reg.pg.psql(reg.name, "SELECT to_regproc('registry_catalog') IS NULL") == "t":
        return None
    lit = "NULL" if last is None else "'" + last.replace("'", "''") + "'"
    explain = ("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT path FROM"
               f" registry_catalog({lit}, {uid}, {admin}, 0, {n + 1});")
    out, plans, at = reg.pg.psql(reg.name, explain + explain), [], 0
    while at < len(out):
        plan, at = json.JSONDecoder().raw_decode(out, at)
        plans.append(plan)
        while at < len(out) and out[at].isspace():
            at += 1
    top = plans[-1][0]["Plan"]
    return top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repositories", type=int, default=20000)
    ap.add_argument("--projects", type=int, default=200)
    ap.add_argument("--groups", type=int, default=20)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--requests", type=int, default=300, help="timed requests per page")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-catalog-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(workdir, 0o755)
    commit = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    pg = reg = None
    try:
        pg = PgCluster(workdir)
        reg = Registry(pg, workdir, "catalog", workers=2,
                       extra_config={"global": {"log_level": "warn"}}).start()
        t0 = time.monotonic()
        fill(reg, args.repositories, args.projects, args.groups)
        print(f"filled {args.repositories:,} repositories in {args.projects} projects in"
              f" {time.monotonic() - t0:.1f} s", file=sys.stderr)
        member(reg)
        uid = int(reg.pg.psql(reg.name, f"SELECT id FROM users WHERE username = '{USER}'"))
        root_id = int(reg.pg.psql(reg.name, "SELECT id FROM users WHERE username = 'root'"))
        tokens = {"admin": reg.registry_token(["registry:catalog:*"], "root", reg.ROOT_PASSWORD),
                  "user": reg.registry_token(["registry:catalog:*"], USER, PASSWORD)}
        everything = sorted_paths(reg)
        mine = sorted_paths(reg, f"p.full_path = '{MEMBER_PROJECT}'")
        n = args.n
        base = f"{reg.url}/v2/_catalog"
        # (who, page, last, the repositories the page must hold, whether it links a next page)
        pages = [("admin", "first", None, everything[:n], True),
                 ("admin", "last", everything[-n - 1], everything[-n:], False),
                 ("user", "first", None, mine[:n], True),
                 ("user", "last", mine[n - 1], mine[n:], False)]
        session = requests.Session()
        rows = []
        for who, page, last, want, linked in pages:
            url = base + "?" + urllib.parse.urlencode({"n": n, **({"last": last} if last else {})})
            r = session.get(url, headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=30)
            r.raise_for_status()
            got = r.json()["repositories"]
            assert got == want, (who, page, got[:3], want[:3])
            assert ("Link" in r.headers) == linked, (who, page, r.headers.get("Link"))
            times = timed(session, url, tokens[who], args.requests, warmup=20)
            p99 = statistics.quantiles(times, n=100)[98]
            buf = buffers(reg, last, uid if who == "user" else root_id,
                          "true" if who == "admin" else "false", n)
            rows.append((who, page, len(got), statistics.median(times), p99, buf))
        print(f"Catalog, {args.repositories:,} repositories in {args.projects} private projects,"
              f" n={n}; commit {commit}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
        print(f"Times: GET /v2/_catalog at the HTTP client against the gateway (keep-alive,"
              f" Bearer token from /jwt/auth), {args.requests} requests after 20 unmeasured;"
              " buffers: EXPLAIN (ANALYZE, BUFFERS) of the catalog statement.")
        print()
        print("| caller | page | rows | median (ms) | p99 (ms) | shared buffers |")
        print("|---|---|---:|---:|---:|---:|")
        for who, page, count, med, p99, buf in rows:
            caller = ("admin" if who == "admin"
                      else f"user, Reporter of one project ({len(mine)} repositories)")
            print(f"| {caller} | {page} | {count} | {med:.2f} | {p99:.2f} |"
                  f" {'n/a' if buf is None else buf} |")
    finally:
        if reg is not None:
            reg.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The rules of rights on a large instance: what each check costs, per object and as lists.

Starts a private registry, writes a large varied world with SQL (tests/integration/
rights_world.py: by default 600 users, 300 nested groups, 5,000 projects, memberships, shares,
deploy tokens, repositories) and measures:

- the cost of one call of each per-object function (project_access_level, group_access_level,
  project_visible, group_visible, registry_can_pull, registry_resolve), the median of five
  timed loops over 2,000 (user, object) pairs, in PostgreSQL (EXPLAIN ANALYZE, so no client
  round trip), divided by the calls;
- statements that check many objects at once: a page of GET /projects, a group's registry
  repositories, a blob mount without `from` (in a transaction rolled back);
- /jwt/auth tokens per second (a personal access token, one repository scope; concurrent
  keep-alive clients) and a manifest GET by tag per second, each with the CPU the server
  (every daemon and PostgreSQL) spends per request.

A benchmark: it never fails on a figure, only on a wrong answer. REGISTRY_BIN_DIR points it at
other binaries (an older build, to compare back to back).
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import requests  # noqa: E402

import rights_world  # noqa: E402
from registry import PgCluster, Registry  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pids):
    """CPU seconds (user + system) the processes have used."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICK


def server_pids(reg, pg):
    """Every process of the registry (masters, workers) and of its PostgreSQL cluster."""
    pids = []
    for daemon in reg.procs:
        pids.append(reg.master_pid(daemon))
        pids += reg.worker_pids(daemon)
    with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    out = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True)
    return pids + [postmaster] + [int(x) for x in out.stdout.split()]


def run_sql(reg, sql):
    """psql with the statements on its standard input (they may be longer than a command line)."""
    out = subprocess.run(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", reg.pg.sock_dir,
                          "-U", "postgres", "-d", reg.name], input=sql,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def per_call_us(reg, expr, pairs, rounds=5):
    """Microseconds one evaluation of expr (over columns a, b of pairs) costs, in PostgreSQL."""
    sql = (f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM ({pairs}) x(a, b)"
           f" WHERE ({expr}) IS NOT NULL;")
    out = run_sql(reg, sql * (rounds + 1))
    dec, at, times = json.JSONDecoder(), 0, []
    while at < len(out):
        plan, at = dec.raw_decode(out, at)
        times.append(plan[0]["Execution Time"])
        while at < len(out) and out[at].isspace():
            at += 1
    n = int(run_sql(reg, f"SELECT count(*) FROM ({pairs}) x"))
    return statistics.median(times[1:]) * 1000 / n


def statement_ms(reg, sql, rounds=7):
    """Milliseconds of a statement (EXPLAIN ANALYZE), the median of rounds after one unmeasured."""
    out = run_sql(reg, f"EXPLAIN (ANALYZE, FORMAT JSON) {sql};" * (rounds + 1))
    dec, at, times = json.JSONDecoder(), 0, []
    while at < len(out):
        plan, at = dec.raw_decode(out, at)
        times.append(plan[0]["Execution Time"])
        while at < len(out) and out[at].isspace():
            at += 1
    return statistics.median(times[1:])


def http_ms(url, headers, rounds=50):
    s = requests.Session()
    times = []
    for i in range(rounds + 5):
        t0 = time.perf_counter()
        r = s.get(url, headers=headers, timeout=30)
        r.raise_for_status()
        if i >= 5:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def load(reg, pg, port, path, headers, seconds, clients):
    """Requests per second of GET path over clients keep-alive connections for seconds, and the
    server's CPU milliseconds per request."""
    counts = [0] * clients
    stop = time.monotonic() + seconds
    errors = []

    def run(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
                return
            counts[i] += 1

    pids = server_pids(reg, pg)
    cpu0, t0 = cpu_of(pids), time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.monotonic() - t0, cpu_of(pids) - cpu0
    assert not errors, errors[:3]
    n = sum(counts)
    return n / elapsed, cpu * 1000 / n


def add_manifest(reg, path):
    """A manifest tagged latest in the repository at path (its project, with SQL)."""
    config = '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    run_sql(reg, f"""
        INSERT INTO blobs (digest, size) VALUES
            ('sha256:' || encode(sha256('{config}'::bytea), 'hex'), {len(config)})
            ON CONFLICT DO NOTHING;
        WITH r AS (SELECT repository_id AS id FROM registry_push_repository('{path}', true)),
        m AS (INSERT INTO manifests (repository_id, digest, media_type, config_digest,
                                     config_media_type, payload, total_size)
              SELECT r.id, 'sha256:' || encode(sha256(x.payload), 'hex'),
                     'application/vnd.oci.image.manifest.v1+json',
                     'sha256:' || encode(sha256('{config}'::bytea), 'hex'),
                     'application/vnd.oci.image.config.v1+json', x.payload, length(x.payload)
                FROM r, (SELECT convert_to(json_build_object('schemaVersion', 2,
                     'mediaType', 'application/vnd.oci.image.manifest.v1+json',
                     'config', json_build_object('mediaType',
                         'application/vnd.oci.image.config.v1+json',
                         'digest', 'sha256:' || encode(sha256('{config}'::bytea), 'hex'),
                         'size', {len(config)}), 'layers', json_build_array())::text,
                     'UTF8') AS payload) x
              RETURNING id, repository_id)
        INSERT INTO tags (repository_id, name, manifest_id) SELECT repository_id, 'latest', id FROM m
        """)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=600)
    ap.add_argument("--groups", type=int, default=300)
    ap.add_argument("--projects", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-rights-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    os.chmod(workdir, 0o755)
    pg = reg = None
    try:
        pg = PgCluster(workdir)
        reg = Registry(pg, workdir, "rights", workers=2,
                       extra_config={"global": {"log_level": "warn"}}).start()

        def psql(sql):
            return run_sql(reg, sql)

        t0 = time.monotonic()
        w = rights_world.build(psql, "b", seed=7, users=args.users, top_groups=args.groups // 8,
                               groups=args.groups, projects=args.projects,
                               group_members=args.users * 3, project_members=args.users * 5,
                               group_links=args.groups // 2, project_links=args.projects // 10,
                               deploy_tokens=300)
        print(f"world: {args.users} users, {args.groups} groups, {args.projects} projects,"
              f" {len(w.repositories)} repositories, written in {time.monotonic() - t0:.0f} s",
              file=sys.stderr)
        users = "ARRAY[" + ", ".join(map(str, w.users)) + "]::bigint[]"
        projects = "ARRAY[" + ", ".join(map(str, w.projects)) + "]::bigint[]"
        groups = "ARRAY[" + ", ".join(map(str, w.groups)) + "]::bigint[]"
        paths = "ARRAY[" + ", ".join(f"'{p}'" for p in w.repositories[:2000]) + "]"
        # 2,000 pairs: every user against projects (groups) spread over the instance
        up = (f"SELECT u, p FROM (SELECT u, row_number() OVER () AS i FROM unnest({users}) u) a"
              f" JOIN (SELECT p, row_number() OVER () AS i FROM unnest({projects}) p) b"
              f" ON b.i % {len(w.users)} = a.i % {len(w.users)} LIMIT 2000")
        ug = (f"SELECT u, g FROM unnest({users}) u, unnest({groups}) g"
              f" ORDER BY (u * 7919 + g) % 1009 LIMIT 2000")
        rows = [
            ("project_access_level(user, project)", per_call_us(reg, "project_access_level(a, b)", up)),
            ("group_access_level(user, group)", per_call_us(reg, "group_access_level(a, b)", ug)),
            ("project_visible(user, false, project)", per_call_us(reg, "project_visible(a, false, b)", up)),
            ("group_visible(user, false, group)", per_call_us(reg, "group_visible(a, false, b)", ug)),
            ("registry_can_pull(user, false, 0, project)",
             per_call_us(reg, "registry_can_pull(a, false, 0, b)", up)),
            ("registry_resolve(path)",
             per_call_us(reg, "registry_resolve(b)", f"SELECT 0, p FROM unnest({paths}) p")),
        ]
        # the user with the most projects through roles, and one with a few
        busy = int(psql(f"SELECT u FROM unnest({users}) u ORDER BY (SELECT count(*) FROM"
                        " user_project_levels(u)) DESC LIMIT 1"))
        few = int(psql(f"SELECT u FROM unnest({users}) u ORDER BY abs((SELECT count(*) FROM"
                       " user_project_levels(u)) - 10) LIMIT 1"))
        nbusy = psql(f"SELECT count(*) FROM user_project_levels({busy})")
        nfew = psql(f"SELECT count(*) FROM user_project_levels({few})")

        def biggest_group(uid):
            """The group uid may see with the most projects below it."""
            return int(psql(f"SELECT g FROM unnest({groups}) g"
                            f" WHERE group_visible({uid}, false, g) ORDER BY (SELECT count(*)"
                            " FROM namespaces d JOIN projects p ON p.namespace_id = d.id"
                            " WHERE d.traversal_ids @> ARRAY[g]) DESC LIMIT 1"))
        # a blob linked in every repository of the world, mounted without from by the user
        # with few roles into a project it may push to
        digest = "sha256:" + "cd" * 32
        psql(f"INSERT INTO blobs VALUES ('{digest}', 10) ON CONFLICT DO NOTHING;"
             "INSERT INTO repository_blobs (repository_id, blob_digest)"
             f" SELECT id, '{digest}' FROM repositories ON CONFLICT DO NOTHING")
        target = psql(f"SELECT lower(p.full_path) FROM user_project_levels({few}) l"
                      " JOIN projects p ON p.id = l.project_id WHERE l.access_level >= 30"
                      " AND p.container_registry_access_level <> 'disabled' LIMIT 1")
        lists = []
        root = {"PRIVATE-TOKEN": reg.root_token}
        for uid, label in ((busy, f"{nbusy} projects"), (few, f"{nfew} projects")):
            r = reg.api("POST", f"/users/{uid}/personal_access_tokens",
                        json={"name": "bench", "scopes": ["api"]})
            r.raise_for_status()
            tok = {"PRIVATE-TOKEN": r.json()["token"]}
            lists.append((f"GET /projects?per_page=20, a user with roles on {label} (ms, HTTP)",
                          http_ms(f"{reg.url}/api/v4/projects?per_page=20", tok)))
            lists.append((f"GET /groups/:id/registry/repositories, the largest group it sees,"
                          " same user (ms, HTTP)",
                          http_ms(f"{reg.url}/api/v4/groups/{biggest_group(uid)}"
                                  "/registry/repositories"
                                  "?per_page=20", tok)))
        lists.append(("GET /projects?per_page=20, admin (ms, HTTP)",
                      http_ms(f"{reg.url}/api/v4/projects?per_page=20", root)))
        if target:
            lists.append(("blob mount without from, a blob in every repository, nothing"
                          " pullable found first (ms, SQL)",
                          statement_ms(reg, f"SELECT * FROM registry_mount_blob('{target}/m',"
                                       f" '{digest}', NULL, false, {few}, false, 0)")))
            psql(f"DELETE FROM repository_blobs WHERE blob_digest = '{digest}' AND repository_id"
                 f" = (SELECT repository_id FROM registry_push_repository('{target}/m', false))")

        # /jwt/auth and a manifest GET under load
        manifest_repo = target + "/app" if target else w.repositories[0]
        add_manifest(reg, manifest_repo)
        user = psql(f"SELECT username FROM users WHERE id = {few}")
        r = reg.api("POST", f"/users/{few}/personal_access_tokens",
                    json={"name": "bench-jwt", "scopes": ["api"]})
        r.raise_for_status()
        pat = r.json()["token"]
        q = urllib.parse.urlencode({"service": "container_registry",
                                    "scope": f"repository:{manifest_repo}:pull,push"})
        import base64
        basic = {"Authorization": "Basic " + base64.b64encode(f"{user}:{pat}".encode()).decode()}
        token = reg.registry_token([f"repository:{manifest_repo}:pull"], user, pat)
        port = urllib.parse.urlsplit(reg.url).port
        load(reg, pg, port, f"/jwt/auth?{q}", basic, 2, args.clients)  # warm up
        jwt_rate, jwt_cpu = load(reg, pg, port, f"/jwt/auth?{q}", basic, args.seconds,
                                 args.clients)
        bearer = {"Authorization": f"Bearer {token}",
                  "Accept": "application/vnd.oci.image.manifest.v1+json"}
        mpath = f"/v2/{manifest_repo}/manifests/latest"
        load(reg, pg, port, mpath, bearer, 2, args.clients)
        m_rate, m_cpu = load(reg, pg, port, mpath, bearer, args.seconds, args.clients)

        commit = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        print(f"Rights on {args.users} users, {args.groups} groups, {args.projects} projects;"
              f" binaries {os.environ.get('REGISTRY_BIN_DIR', TOP)} (tree {commit});"
              f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print()
        print("| per call (us, PostgreSQL) | value |")
        print("|---|---:|")
        for name, v in rows:
            print(f"| {name} | {v:.1f} |")
        print()
        print("| statement | value |")
        print("|---|---:|")
        for name, v in lists:
            print(f"| {name} | {v:.2f} |")
        print()
        print(f"| under load ({args.clients} keep-alive clients, {args.seconds:.0f} s) |"
              " requests/s | server CPU per request (ms) |")
        print("|---|---:|---:|")
        print(f"| GET /jwt/auth, personal access token, one scope | {jwt_rate:.0f} |"
              f" {jwt_cpu:.3f} |")
        print(f"| GET /v2/<repo>/manifests/latest | {m_rate:.0f} | {m_cpu:.3f} |")
    finally:
        if reg is not None:
            reg.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

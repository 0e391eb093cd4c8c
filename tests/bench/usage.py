#!/usr/bin/python3
"""What exact usage costs a push: manifest PUTs with the usage bookkeeping, and without it.

Starts a private registry (PostgreSQL and the four daemons, as the integration tests do;
REGISTRY_BIN_DIR points it at other binaries, e.g. a build of the commit before usage, to
compare) and times manifest PUTs over the gateway with wrk (2 threads, 8 connections,
keep-alive, a push token), 5 s each:

- one manifest under 1,000 tags in turn (tests/bench/bench.py's figure): a new tag adds a
  reference to a manifest already counted; a tag pushed again changes nothing;
- distinct manifests, each once under a tag of its own, in one project: each one makes its own
  layer count in the project and the namespace (and shares a base layer and a config);
- the same spread over four projects of one group, which share the namespace's counts;
- the same with a storage limit on the group (the quota check of every tag), when the build
  has limits;
- and, without HTTP, what the database spends: 2,000 calls of registry_put_manifest() in one
  session, one after the other (a new tag of one manifest; then 2,000 distinct manifests), and
  the CPU time of that PostgreSQL backend per call (from /proc: less at the mercy of other work
  on the machine than a rate is);
- with --instructions, the same calls counted in instructions by valgrind (callgrind) in a
  single-user PostgreSQL backend on the instance's database: the one figure other work on a
  shared machine cannot move (run as root; valgrind; a few minutes).

The blobs the manifests name are linked with SQL (a manifest PUT checks the links, not the
files). Prints requests/s, p50 and p99 (ms) of each, the medians of --rounds. A benchmark: it
fails only on a failed request.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from registry import PG_BIN, PgCluster, Registry  # noqa: E402
from v2util import make_project, mint_token  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def wrk(url, token, script, args, seconds=5):
    """(requests/s, p50 ms, p99 ms, requests) of a wrk run with a Lua script."""
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency",
                          "-H", f"Authorization: Bearer {token}",
                          "-H", f"Content-Type: {OCI_MANIFEST}", "-s", script, url, "--"]
                         + args, capture_output=True, text=True).stdout
    if "status " in out or "Non-2xx" in out:
        raise RuntimeError("failed requests:\n" + out[-800:])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = []
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out)
        v = float(m.group(1))
        lat.append(v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v)
    return rps, lat[0], lat[1], total


def link_blobs(reg, repos, digests_sizes):
    """Blob rows and their links into the repositories, as pushes leave them."""
    values = ",".join(f"('{d}',{s})" for d, s in digests_sizes)
    subprocess.run(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", reg.pg.sock_dir,
                    "-U", "postgres", "-d", reg.name], check=True, text=True, input=f"""
        INSERT INTO blobs (digest, size) VALUES {values} ON CONFLICT DO NOTHING;
        INSERT INTO repository_blobs (repository_id, blob_digest)
        SELECT r.id, b.digest FROM repositories r, (VALUES {values}) AS b(digest, size)
         WHERE r.id IN ({",".join(map(str, repos))}) ON CONFLICT DO NOTHING;""")


def grant_sql(path):
    """The grant a token on path holds now, as registry_put_manifest() takes it: the path's
    project and that project's path generation."""
    return (f"(SELECT x.project_id FROM registry_resolve('{path}') x),"
            f" (SELECT p.path_generation FROM projects p"
            f" JOIN registry_resolve('{path}') x ON p.id = x.project_id)")


def serial_cpu(reg, path, bodies, blobs):
    """Backend CPU ms per registry_put_manifest() call, one session, calls one after another."""
    cpu = ("SELECT 'cpu ' || split_part(s, ' ', 14) || ' ' || split_part(s, ' ', 15)"
           " FROM pg_read_file('/proc/' || pg_backend_pid() || '/stat') AS s;")
    out = {}
    config, base = blobs[0], blobs[1]
    n = 2000
    for name, calls in (
            ("database CPU per PUT, a new tag (ms)",
             [(bodies[-1], blobs[-1], f"s{i}") for i in range(n)]),
            ("database CPU per PUT, a new manifest (ms)",
             [(bodies[-2 - i], blobs[-2 - i], f"n{i}") for i in range(n)])):
        lines = [cpu]
        for body, layer, tag in calls:
            digest = sha(body.encode())
            lines.append(
                f"SELECT status FROM registry_put_manifest('{path}', {grant_sql(path)},"
                f" '{digest}', '{OCI_MANIFEST}',"
                f" NULL, '{config[0]}', 'application/vnd.oci.image.config.v1+json', NULL, NULL,"
                f" '\\x{body.encode().hex()}'::bytea, ARRAY['{config[0]}', '{base[0]}',"
                f" '{layer[0]}'], ARRAY[{config[1]}, {base[1]}, {layer[1]}]::bigint[],"
                f" '{{}}'::text[], '{tag}', 0, false, NULL);")
        lines.append(cpu)
        res = subprocess.run(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h",
                              reg.pg.sock_dir, "-U", "postgres", "-d", reg.name],
                             input="\n".join(lines), capture_output=True, text=True, check=True)
        rows = res.stdout.split("\n")
        ticks = [sum(int(x) for x in r.split()[1:]) for r in rows if r.startswith("cpu ")]
        if any(r not in ("ok", "") and not r.startswith("cpu ") for r in rows):
            raise RuntimeError(f"{name}: {res.stdout[-300:]}")
        ms = (ticks[1] - ticks[0]) * 1000.0 / os.sysconf("SC_CLK_TCK") / n
        out[name] = (float("nan"), ms, float("nan"), n)
    return out


def instructions(reg, workdir, path, bodies, blobs, n=100):
    """Million instructions per registry_put_manifest() call in a single-user backend (valgrind):
    a run of 20 calls and one of 20 + n, the difference divided by n, after a run that warms
    the files."""
    data = os.path.join(reg.pg.dir, "data")
    reg.stop()
    reg.pg._run([f"{PG_BIN}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
    config, base = blobs[0], blobs[1]
    out = {}

    def calls(items):
        return "".join(
            f"SELECT status FROM registry_put_manifest('{path}', {grant_sql(path)},"
            f" '{sha(b.encode())}', '{OCI_MANIFEST}', NULL, '{config[0]}', 'x', NULL, NULL,"
            f" '\\x{b.encode().hex()}'::bytea, ARRAY['{config[0]}', '{base[0]}', '{l[0]}'],"
            f" ARRAY[{config[1]}, {base[1]}, {l[1]}]::bigint[], '{{}}'::text[], '{t}',"
            f" 0, false, NULL)\n"
            for b, l, t in items)

    def count(script):
        res = subprocess.run(["runuser", "-u", "postgres", "--", "valgrind", "--tool=callgrind",
                              "--callgrind-out-file=/dev/null", f"{PG_BIN}/postgres", "--single",
                              "-D", data, "-c", "jit=off", reg.name],
                             input=script, capture_output=True, text=True)
        statuses = re.findall(r'status = "([a-z_]+)"', res.stdout)
        if statuses != ["ok"] * script.count("\n"):
            raise RuntimeError("single-user calls failed: " + res.stdout[-500:])
        return int(re.search(r"Collected : (\d+)", res.stderr).group(1))

    spare = list(zip(bodies[-4001:-2001], blobs[-4001:-2001]))  # never PUT before
    one = spare[0]
    for name, warm, more in (
            ("instructions per PUT, a new tag (millions)",
             lambda k: [(one[0], one[1], f"{k}{i}") for i in range(20)],
             [(one[0], one[1], f"t{i}") for i in range(n)]),
            ("instructions per PUT, a new manifest (millions)",
             lambda k: [(b, l, f"{k}{i}") for i, (b, l) in
                        enumerate(spare[{"u": 1, "v": 21, "w": 41}[k]:][:20])],
             [(b, l, f"m{i}") for i, (b, l) in enumerate(spare[61:61 + n])])):
        count(calls(warm("u")))
        a = count(calls(warm("v")))
        b = count(calls(warm("w") + more))
        out[name] = (float("nan"), (b - a) / n / 1e6, float("nan"), n)
    return out


def run(workdir, manifests, with_instructions=False):
    pg = PgCluster(workdir)
    reg = Registry(pg, workdir, "usagebench", workers=2).start()
    try:
        paths = [f"bench/app{i}" for i in range(4)]
        for p in paths:
            make_project(reg, p)
        repos = []
        for p in paths:
            pid = reg.pg.psql(reg.name, f"SELECT id FROM projects WHERE full_path = '{p}'")
            repos.append(int(reg.pg.psql(reg.name, "INSERT INTO repositories (project_id, name)"
                                                   f" VALUES ({pid}, '') RETURNING id").split()[0]))
        token = mint_token(reg, [(p, "pull,push") for p in paths], lifetime=3600)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        base = b"base layer " * 100
        blobs = [(sha(config), len(config)), (sha(base), len(base))]
        bodies = []
        for i in range(manifests):
            layer = f"layer {i} ".encode() * 50
            blobs.append((sha(layer), len(layer)))
            bodies.append(json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": sha(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": sha(base), "size": len(base)},
                           {"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": sha(layer), "size": len(layer)}]},
                separators=(",", ":")))
        for k in range(0, len(blobs), 5000):
            link_blobs(reg, repos, blobs[k:k + 5000])
        spread = bodies[:-4001]  # the last ones are the serial calls and --instructions' calls
        half = len(spread) // 2
        files = {}
        for name, part in (("one", spread[:half // 2]), ("four", spread[half // 2:half]),
                           ("limited", spread[half:])):
            files[name] = os.path.join(workdir, f"{name}.txt")
            with open(files[name], "w") as f:
                f.write("\n".join(part) + "\n")
        single = os.path.join(workdir, "single.json")
        with open(single, "w") as f:
            f.write(spread[0])
        prefixes = [f"/v2/{p}/manifests/" for p in paths]
        figures = {}
        figures["one manifest, 1,000 tags"] = wrk(
            reg.url, token, os.path.join(HERE, "put_manifests.lua"),
            [prefixes[0], "2", single])
        figures["distinct manifests, one project"] = wrk(
            reg.url, token, os.path.join(HERE, "put_many.lua"), [files["one"], "2", prefixes[0]])
        figures["distinct manifests, four projects of a group"] = wrk(
            reg.url, token, os.path.join(HERE, "put_many.lua"), [files["four"], "2"] + prefixes)
        figures.update(serial_cpu(reg, paths[0], bodies, blobs))
        has_limits = reg.pg.psql(reg.name, "SELECT count(*) FROM information_schema.columns"
                                           " WHERE table_name = 'namespaces'"
                                           " AND column_name = 'container_registry_storage_limit'")
        if has_limits == "1":
            reg.pg.psql(reg.name, "UPDATE namespaces SET container_registry_storage_limit = 1e12"
                                  " WHERE path = 'bench'")
            figures["the same, under a storage limit"] = wrk(
                reg.url, token, os.path.join(HERE, "put_many.lua"),
                [files["limited"], "2"] + prefixes)
            diff = reg.pg.psql(reg.name, "SELECT count(*) FROM usage_check()")
            if diff != "0":
                raise RuntimeError(f"usage differs from a recount in {diff} counts")
        if with_instructions:  # as the serial figures: without a limit
            if has_limits == "1":
                reg.pg.psql(reg.name, "UPDATE namespaces SET container_registry_storage_limit = 0")
            figures.update(instructions(reg, workdir, paths[0], bodies, blobs))
        for name, (rps, p50, p99, total) in figures.items():
            if "distinct" in name or "limit" in name:
                if total > half // 2:
                    print(f"warning: {name}: {total} requests for {half // 2} manifests "
                          "(some PUT again): raise --manifests", file=sys.stderr)
        return figures
    finally:
        reg.stop()
        pg.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifests", type=int, default=60000,
                    help="distinct manifests made for the three distinct-PUT figures")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--instructions", action="store_true",
                    help="also count a PUT's instructions with valgrind (root, a few minutes)")
    args = ap.parse_args()
    rounds = []
    for _ in range(args.rounds):
        workdir = tempfile.mkdtemp(prefix="usagebench-")
        os.chmod(workdir, 0o755)
        try:
            rounds.append(run(workdir, args.manifests, args.instructions))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"binaries: {os.environ.get('REGISTRY_BIN_DIR', TOP)}")
    print(f"{'figure':<48} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name in rounds[0]:
        vals = [r[name] for r in rounds if name in r]
        if "CPU" in name or "instructions" in name:
            print(f"{name:<48} {statistics.median(v[1] for v in vals):>9.3f}")
            continue
        print(f"{name:<48} {statistics.median(v[0] for v in vals):>9.1f}"
              f" {statistics.median(v[1] for v in vals):>8.2f}"
              f" {statistics.median(v[2] for v in vals):>8.2f}")


if __name__ == "__main__":
    main()

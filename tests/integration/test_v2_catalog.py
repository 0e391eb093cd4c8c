"""The catalog (GET /v2/_catalog): for every kind of caller the same repositories, order, pages and
Link headers as the pull right per project says (registry_can_pull over every repository), paths
that follow renames and transfers, and the work one page costs on a large instance: about the
page and what the caller may see, never the whole instance."""
import os
import subprocess
import time
import urllib.parse

import pytest

from tenants import Tenancy
from v2util import client, sql_quote

# Project paths (below the world's group) that interleave in bytewise order with the paths of
# the repositories below "app": '-' and '.' sort before '/', '0' after it.
LAYOUT = [
    # (path, visibility, registry access, repository names)
    ("app", "private", "enabled", ["", "a", "a/b", "z"]),
    ("app-x", "private", "enabled", ["", "m"]),
    ("app.y", "internal", "enabled", ["", "k/l"]),
    ("app0", "public", "enabled", ["", "p"]),
    ("members-only", "public", "private", ["", "q"]),
    ("off", "public", "disabled", [""] + [f"r{i}" for i in range(9)]),
    ("sub/deep", "private", "enabled", ["", "s", "s/t"]),
    ("sub/lapsed", "private", "enabled", ["", "u"]),
]
# projects on both sides of the world, for long walks: private ones, and a few internal and
# public ones (more than a small page, so that a walk is how the catalog finds them)
FILLERS = 12
FILLER_REPOS = 8
FILLER_VISIBILITY = ["private", "internal", "private", "public", "private", "private"]


def psql(reg, sql):
    return reg.pg.psql(reg.name, sql)


def push_repositories(reg, paths):
    """The repositories first pushes into paths create (the function a push calls)."""
    out = psql(reg, "SELECT x.path, r.status FROM unnest(ARRAY[" + ", ".join(map(sql_quote, paths))
               + "]::text[]) x(path), registry_push_repository(x.path, true) r"
               " WHERE r.status <> 'ok'")
    assert out == "", out


def deploy_token(reg, tag, project_id=None, namespace_id=None, scopes="{read_registry}",
                 revoked=False, expires="NULL"):
    owner = f"{project_id}, NULL" if project_id else f"NULL, {namespace_id}"
    return int(psql(reg, (
        "INSERT INTO deploy_tokens (project_id, namespace_id, name, username, scopes, revoked,"
        f" expires_at, token_lookup, token_hash) VALUES ({owner}, 'ci',"
        f" 'gitlab+deploy-token-{tag}', '{scopes}', {str(revoked).lower()}, {expires}, '{tag}',"
        " 'x') RETURNING id")).split()[0])


@pytest.fixture(scope="module")
def world(pg, workdir):
    """A private instance: the LAYOUT below one public group (sub an internal subgroup),
    filler projects that sort before and after it, a project in a user's personal namespace,
    users with every kind of role, deploy tokens of every state."""
    from conftest import _new_registry
    reg = _new_registry(pg, workdir, workers=1).start()
    t = Tenancy(reg)
    tag = os.urandom(3).hex()
    group = f"m{tag}"
    gid = t.group(group, visibility="public")
    sub = t.group("sub", visibility="internal", parent_id=gid)
    pids, paths = {}, []
    for path, visibility, access, names in LAYOUT:
        ns = sub if path.startswith("sub/") else gid
        pid, full = t.project(ns, path.split("/")[-1], visibility=visibility)
        pids[path] = pid
        paths += [(full + "/" + name).rstrip("/") for name in names]
    for side in ("a", "z"):
        fid = t.group(f"{side}{tag}fill", visibility="public")
        for i in range(FILLERS // 2):
            _, full = t.project(fid, f"p{i:02d}", visibility=FILLER_VISIBILITY[i])
            paths += [f"{full}/img{j}" if j else full for j in range(FILLER_REPOS)]
    push_repositories(reg, paths)
    # registry settings change after the images were pushed (a disabled registry refuses pushes)
    for path, _, access, _ in LAYOUT:
        r = reg.api("PUT", f"/projects/{pids[path]}",
                    json={"container_registry_access_level": access})
        assert r.status_code == 200, r.text
    users = {role: t.user(f"{role}{tag}") for role in
             ("reporter", "guest", "developer", "owner", "outsider")}
    t.add_project_member(pids["app"], users["reporter"]["id"], "reporter")
    t.add_project_member(pids["members-only"], users["reporter"]["id"], "reporter")
    t.add_project_member(pids["sub/lapsed"], users["reporter"]["id"], "reporter")
    psql(reg, "UPDATE project_members SET expires_at = current_date - 1"
              f" WHERE project_id = {pids['sub/lapsed']}")
    t.add_project_member(pids["app-x"], users["guest"]["id"], "guest")
    t.add_group_member(sub, users["developer"]["id"], "developer")
    own_ns = t.namespace_of_user(users["owner"]["id"])
    _, own = t.project(own_ns, "own")
    push_repositories(reg, [own, own + "/img"])
    # a repository being deleted is left out; one whose deletion failed is still listed
    psql(reg, "UPDATE repositories SET status = 'delete_scheduled'"
              f" WHERE project_id = {pids['app']} AND name = 'a/b'")
    psql(reg, "UPDATE repositories SET status = 'delete_failed'"
              f" WHERE project_id = {pids['app']} AND name = 'z'")
    tokens = {
        "project": deploy_token(reg, tag + "p", project_id=pids["app"]),
        "group": deploy_token(reg, tag + "g", namespace_id=sub),
        "revoked": deploy_token(reg, tag + "r", project_id=pids["app"], revoked=True),
        "expired": deploy_token(reg, tag + "e", namespace_id=gid,
                                expires="now() - interval '1 day'"),
        "no_scope": deploy_token(reg, tag + "s", namespace_id=gid, scopes="{write_registry}"),
    }
    callers = {"admin": dict(admin=True, user_id=1), "anonymous": {}}
    callers.update({role: dict(user_id=u["id"], username=u["username"])
                    for role, u in users.items()})
    callers.update({f"deploy token ({k})": dict(kind="deploy_token", deploy_token_id=v,
                                                username=f"gitlab+deploy-token-{k}")
                    for k, v in tokens.items()})
    yield {"reg": reg, "group": group, "callers": callers}
    reg.stop()


def expected(reg, caller):
    """Every repository path the caller may pull, in bytewise order: the pull right asked of
    each repository's project, as the catalog answered before it had a page walk."""
    who = (f"{caller.get('user_id', 0)}, {str(caller.get('admin', False)).lower()},"
           f" {caller.get('deploy_token_id', 0)}")
    out = psql(reg, (
        "SELECT lower(p.full_path) || CASE WHEN r.name = '' THEN '' ELSE '/' || r.name END"
        "       COLLATE \"C\" AS path"
        "  FROM repositories r JOIN projects p ON p.id = r.project_id"
        " WHERE (r.status IS NULL OR r.status = 'delete_failed')"
        f"  AND registry_can_pull({who}, p.id)"
        " ORDER BY path"))
    return out.split("\n") if out else []


def catalog(c, n=None, last=None):
    params = {}
    if n is not None:
        params["n"] = n
    if last is not None:
        params["last"] = last
    r = c.req("GET", "/v2/_catalog", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()["repositories"], r.headers.get("Link")


def link_of(n, last):
    return f'</v2/_catalog?n={n}&last={urllib.parse.quote(last, safe="")}>; rel="next"'


def test_every_caller_sees_what_it_may_pull_page_by_page(world):
    reg = world["reg"]
    g = world["group"]
    seen = {}
    for name, caller in world["callers"].items():
        c = client(reg, ("registry:catalog", "*"), **caller)
        want = expected(reg, caller)
        seen[name] = want
        got, link = catalog(c, n=1000)
        assert got == want, name
        assert link is None
        for n in (1, 2, 3, 7):
            pages, last = [], None
            while True:
                got, link = catalog(c, n=n, last=last)
                assert len(got) <= n
                pages += got
                if link is None:
                    break
                assert got and link == link_of(n, got[-1]), (name, n, link)
                last = got[-1]
            assert pages == want, (name, n)
    # the rights the layout was made to show
    ours = {k: [p[len(g) + 1:] for p in v if p.startswith(g + "/")] for k, v in seen.items()}
    public = ["app0", "app0/p"]
    assert ours["anonymous"] == public
    assert set(public) <= set(ours["outsider"])
    assert "app.y" in ours["outsider"] and "app" not in ours["outsider"]
    assert {"app", "app/a", "app/z", "members-only", "members-only/q"} <= set(ours["reporter"])
    assert "app/a/b" not in ours["admin"]          # being deleted
    assert "sub/lapsed" not in ours["reporter"]    # an expired membership
    assert "app-x" not in ours["guest"]            # Guest may not pull
    assert {"sub/deep", "sub/deep/s/t", "sub/lapsed/u"} <= set(ours["developer"])
    assert "off" not in ours["admin"]              # a disabled registry, even for admins
    assert any(p.endswith("/own/img") for p in seen["owner"])
    assert {"app", "app/a"} <= set(ours["deploy token (project)"])
    assert {"sub/deep", "sub/lapsed/u"} <= set(ours["deploy token (group)"])
    for k in ("revoked", "expired", "no_scope"):
        assert ours[f"deploy token ({k})"] == ours["anonymous"], k
    assert len(ours["admin"]) > len(ours["developer"]) > len(ours["anonymous"])


def test_last_anywhere_in_the_order(world):
    """last need not be a listed path: any string, between, before or after them; exclusive."""
    reg = world["reg"]
    g = world["group"]
    lasts = ["", "a", g, f"{g}/app", f"{g}/app-", f"{g}/app-x", f"{g}/app.", f"{g}/app/",
             f"{g}/app/a", f"{g}/app/a/b", f"{g}/app0", f"{g}/apq", f"{g}/sub", f"{g}/sub/deep/s",
             f"{g}/zzz", "zzzz", "~"]
    for name, caller in world["callers"].items():
        c = client(reg, ("registry:catalog", "*"), **caller)
        want = expected(reg, caller)
        for last in lasts + want[::3]:
            after = [p for p in want if p > last] if last else want
            got, link = catalog(c, n=3, last=last)
            assert got == after[:3], (name, last)
            assert link == (link_of(3, got[-1]) if len(after) > 3 else None), (name, last)


def test_default_and_largest_page(world):
    reg = world["reg"]
    c = client(reg, ("registry:catalog", "*"), admin=True, user_id=1)
    want = expected(reg, {"admin": True, "user_id": 1})
    assert len(want) > 100
    got, link = catalog(c)
    assert got == want[:100] and link == link_of(100, want[99])
    got, link = catalog(c, n=100000)    # at most 1000 a page
    assert got == want[:1000] and link is None
    got, link = catalog(c, n=0)
    assert got == [] and link is None


def test_paths_follow_renames_and_transfers(world):
    """A repository's place in the catalog moves with its project and every group above it."""
    reg = world["reg"]
    t = Tenancy(reg)
    tag = os.urandom(3).hex()
    gid = t.group(f"r{tag}")
    pid, full = t.project(gid, "proj")
    names = ["", "one", "two/deep"]
    push_repositories(reg, [(full + "/" + name).rstrip("/") for name in names])
    admin = client(reg, ("registry:catalog", "*"), admin=True, user_id=1)

    def listed(prefix):
        got, _ = catalog(admin, n=1000)
        assert got == sorted(got)
        assert got == expected(reg, {"admin": True, "user_id": 1})
        return [p for p in got if p.startswith(prefix)]

    def paths(project):
        return [(project + "/" + n).rstrip("/") for n in names]

    assert listed(f"r{tag}/") == paths(f"r{tag}/proj")
    r = reg.api("PUT", f"/projects/{pid}", json={"path": "Renamed", "name": "Renamed"})
    assert r.status_code == 200, r.text
    assert listed(f"r{tag}/") == paths(f"r{tag}/renamed")
    r = reg.api("PUT", f"/groups/{gid}", json={"path": f"s{tag}"})
    assert r.status_code == 200, r.text
    assert listed(f"r{tag}") == [] and listed(f"s{tag}/") == paths(f"s{tag}/renamed")
    other = t.group(f"a{tag}")
    r = reg.api("PUT", f"/projects/{pid}/transfer", json={"namespace": other})
    assert r.status_code == 200, r.text
    assert listed(f"s{tag}") == [] and listed(f"a{tag}/") == paths(f"a{tag}/renamed")
    top = t.group(f"t{tag}")
    r = reg.api("POST", f"/groups/{other}/transfer", json={"group_id": top})
    assert r.status_code in (200, 201), r.text
    assert listed(f"a{tag}") == [] and listed(f"t{tag}/") == paths(f"t{tag}/a{tag}/renamed")
    # a pull by the new path finds the repository, and the API names it by that path
    path = f"t{tag}/a{tag}/renamed/one"
    assert psql(reg, f"SELECT registry_repository_id({sql_quote(path)}) IS NOT NULL") == "t"
    r = reg.api("GET", f"/projects/{pid}/registry/repositories")
    assert r.status_code == 200, r.text
    assert sorted(x["path"] for x in r.json()) == paths(f"t{tag}/a{tag}/renamed")
    assert all(x["location"].endswith("/" + x["path"]) for x in r.json())


def test_a_first_push_that_races_a_rename_takes_the_new_path(world):
    """A rename that has not committed when the first push into a project creates a repository:
    the push waits for it and the repository is listed under the new path, not lost under the
    old one."""
    reg = world["reg"]
    t = Tenancy(reg)
    tag = os.urandom(3).hex()
    gid = t.group(f"race{tag}")
    pid, old = t.project(gid, "before")
    new = f"race{tag}/after"
    cmd = ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", reg.pg.sock_dir, "-U", "postgres",
           "-d", reg.name]
    rename = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    rename.stdin.write("BEGIN; UPDATE projects SET path = 'after', full_path ="
                       f" {sql_quote(new)} WHERE id = {pid};\n"
                       "SELECT 'renamed';\n")
    rename.stdin.flush()
    assert rename.stdout.readline().strip() == "renamed"
    push = subprocess.Popen(cmd + ["-c", "SELECT status FROM registry_push_repository("
                                         f"{sql_quote(old + '/img')}, true)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the push has done what it can before the rename commits: finished, or waits for it
    deadline = time.monotonic() + 15
    while push.poll() is None and psql(reg, (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%registry_push_repository%'")) != "1":
        assert time.monotonic() < deadline, "the push neither ends nor waits"
        time.sleep(0.05)
    rename.stdin.write("COMMIT;\n")
    rename.stdin.close()
    assert rename.wait(15) == 0, rename.stderr.read()
    out, err = push.communicate(timeout=15)
    assert push.returncode == 0 and out.strip() == "ok", err
    admin = client(reg, ("registry:catalog", "*"), admin=True, user_id=1)
    got, _ = catalog(admin, n=1000)
    assert [p for p in got if p.startswith(f"race{tag}/")] == [new + "/img"]


# ---- the work of one page -------------------------------------------------------------------

RIGHTS_FUNCTIONS = ("registry_can_pull", "project_access_level", "group_access_level",
                    "deploy_token_covers", "project_visible")


def server_counters(reg):
    """Rows of repositories the registry's database sessions read (sequential scans, and index
    entries of index scans), and calls of the per-project rights functions, once every session
    reported them: the sessions are ended (a session reports its counters as it exits, otherwise
    up to seconds later), and metad opens new ones."""
    pids = psql(reg, "SELECT pid FROM (SELECT pid FROM pg_stat_activity"
                     "  WHERE datname = current_database() AND backend_type = 'client backend'"
                     "    AND pid <> pg_backend_pid() OFFSET 0) others"
                     " WHERE pg_terminate_backend(pid)").split()
    for pid in pids:
        for _ in range(200):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}"), f"session {pid} did not end"
    rows, calls = psql(reg, (
        "SELECT (SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'repositories')"
        "     + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes"
        "         WHERE relname = 'repositories'),"
        "       (SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions"
        f"        WHERE funcname IN ({', '.join(map(sql_quote, RIGHTS_FUNCTIONS))}))")).split("|")
    return int(rows), int(calls)


def test_a_page_costs_the_page_not_the_instance(make_registry):
    """2,000 repositories in 40 private projects: a page of ten reads a few dozen repository
    rows and asks no per-project rights function, for an admin (first and last page), a Reporter
    of one project and a user who may pull nothing. Counted by PostgreSQL's statistics of the
    registry's own sessions, not timed."""
    reg = make_registry(workers=1, extra_config={"metad": {"jobs_interval": "3600"}}).start()
    psql(reg, """
        INSERT INTO namespaces (kind, name, path, full_path, full_name, traversal_ids)
        SELECT 'group', 'g' || i, 'g' || i, 'g' || i, 'g' || i, '{}'
          FROM generate_series(10, 49) i;
        UPDATE namespaces SET traversal_ids = ARRAY[id] WHERE kind = 'group';
        INSERT INTO projects (namespace_id, name, path, full_path)
        SELECT id, 'p', 'p', full_path || '/p' FROM namespaces WHERE kind = 'group';
        INSERT INTO repositories (project_id, name)
        SELECT p.id, 'img' || lpad(i::text, 2, '0') FROM projects p, generate_series(1, 50) i;
        INSERT INTO users (username, name, email) VALUES
            ('reader', 'reader', 'reader@example.com'), ('nobody', 'nobody', 'nobody@example.com');
        INSERT INTO project_members (project_id, user_id, access_level)
        SELECT p.id, u.id, 20 FROM projects p, users u
         WHERE p.full_path = 'g30/p' AND u.username = 'reader';
        ANALYZE;
    """)
    psql(reg, f'ALTER DATABASE "{reg.name}" SET track_functions = \'all\'')
    reader = int(psql(reg, "SELECT id FROM users WHERE username = 'reader'"))
    nobody = int(psql(reg, "SELECT id FROM users WHERE username = 'nobody'"))
    n = 10
    cases = [
        ("admin, first page", dict(admin=True, user_id=1), None,
         [f"g10/p/img{i:02d}" for i in range(1, 11)]),
        ("admin, last page", dict(admin=True, user_id=1), "g49/p/img40",
         [f"g49/p/img{i:02d}" for i in range(41, 51)]),
        ("reporter of one project", dict(user_id=reader), None,
         [f"g30/p/img{i:02d}" for i in range(1, 11)]),
        ("reporter of one project, later", dict(user_id=reader), "g30/p/img45",
         [f"g30/p/img{i:02d}" for i in range(46, 51)]),
        ("user who may pull nothing", dict(user_id=nobody), None, []),
    ]
    clients = {name: client(reg, ("registry:catalog", "*"), **caller)
               for name, caller, _, _ in cases}
    for name, _, last, want in cases:  # the first request of a session plans its statements
        assert catalog(clients[name], n=n, last=last)[0] == want, name
    for name, caller, last, want in cases:
        rows0, calls0 = server_counters(reg)
        assert catalog(clients[name], n=n, last=last)[0] == want, name
        rows1, calls1 = server_counters(reg)
        rows, calls = rows1 - rows0, calls1 - calls0
        # a walk of a few pages' worth of candidates, and the repositories of the projects the
        # caller holds a role on (50 for the Reporter)
        bound = 5 * (n + 1) + (50 if caller.get("user_id") == reader else 0)
        # (a page with rows read some: the counters were all reported)
        assert (rows > 0 or not want) and rows <= bound and calls == 0, \
            f"{name}: a page of {n} read {rows} of the 2,000 repository rows (at most {bound})" \
            f" and called per-project rights functions {calls} times"

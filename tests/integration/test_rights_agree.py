"""Each rule of rights has one home, but is asked in two forms: per object (may this caller see or
pull this project: single checks, /jwt/auth) and as sets (what may this caller see or pull:
lists, the catalog, mounts). Over a varied world (rights_world.py: nested groups of every
visibility, personal namespaces, shares, expired memberships and links, deploy tokens, disabled
and private registries) both forms must say the same for every caller and object, and the token
service must grant exactly what the rules say on every kind of path."""
import os

import pytest
import requests

import jwtutil
import rights_world
from tenancy import Caller

GUEST, REPORTER, DEVELOPER, MAINTAINER = 10, 20, 30, 40


@pytest.fixture(scope="module")
def world(registry):
    tag = f"r{os.getpid()}"

    def psql(sql):
        return registry.pg.psql(registry.name, sql)

    w = rights_world.build(psql, tag, seed=14)
    w.psql = psql
    w.users_sql = "ARRAY[" + ", ".join(map(str, w.users)) + "]::bigint[]"
    w.projects_sql = "ARRAY[" + ", ".join(map(str, w.projects)) + "]::bigint[]"
    w.groups_sql = "ARRAY[" + ", ".join(map(str, w.groups)) + "]::bigint[]"
    w.tokens_sql = "ARRAY[" + ", ".join(map(str, w.deploy_tokens)) + "]::bigint[]"
    return w


def mismatches(w, sql):
    """The rows (at most five) of a query that lists disagreements."""
    out = w.psql(f"SELECT * FROM ({sql}) x LIMIT 5")
    return out.splitlines()


def callers_sql(w):
    """(uid, admin) of every kind of caller: each user, each user as an admin, anonymous."""
    return (f"(SELECT u, false AS adm FROM unnest({w.users_sql}) u"
            f" UNION ALL SELECT u, true FROM unnest({w.users_sql}) u"
            " UNION ALL SELECT 0, false) c(uid, adm)")


def test_the_world_is_varied(world):
    """The world holds what the comparisons need, or they prove little."""
    w = world
    counts = w.psql(f"""SELECT
        (SELECT count(*) FROM group_members WHERE user_id = ANY ({w.users_sql})
            AND expires_at <= current_date),
        (SELECT count(*) FROM project_group_links WHERE project_id = ANY ({w.projects_sql})),
        (SELECT count(*) FROM group_group_links WHERE shared_group_id = ANY ({w.groups_sql})),
        (SELECT count(DISTINCT visibility) FROM projects WHERE id = ANY ({w.projects_sql})),
        (SELECT count(DISTINCT container_registry_access_level) FROM projects
          WHERE id = ANY ({w.projects_sql})),
        (SELECT max(array_length(traversal_ids, 1)) FROM namespaces
          WHERE id = ANY ({w.groups_sql})),
        (SELECT count(*) FROM unnest({w.users_sql}) u, unnest({w.projects_sql}) p
          WHERE project_access_level(u, p) > 0)""").split("|")
    expired, plinks, glinks, vis, reg, depth, roles = map(int, counts)
    assert expired > 0 and plinks > 20 and glinks > 10
    assert vis == 3 and reg == 3 and depth >= 3
    assert roles > 300


def test_project_levels_agree(world):
    """project_access_level (one project) and user_project_levels (a user's set)."""
    w = world
    assert mismatches(w, f"""
        SELECT u, p, project_access_level(u, p) AS one, l.access_level AS set
          FROM unnest({w.users_sql}) u CROSS JOIN unnest({w.projects_sql}) p
          LEFT JOIN LATERAL (SELECT access_level FROM user_project_levels(u)
                              WHERE project_id = p) l ON true
         WHERE project_access_level(u, p) <> coalesce(l.access_level, 0)""") == []


def test_group_levels_agree(world):
    """group_access_level (one group) and user_group_levels (a user's set)."""
    w = world
    assert mismatches(w, f"""
        SELECT u, g FROM unnest({w.users_sql}) u CROSS JOIN unnest({w.groups_sql}) g
         WHERE group_access_level(u, g) <> coalesce((SELECT access_level
               FROM user_group_levels(u) WHERE namespace_id = g), 0)""") == []


def test_group_visibility_agrees(world):
    """group_visible (one group) and the set lists use: admins all, the visibilities open to the
    caller, and the groups it sees through membership (user_member_groups)."""
    w = world
    assert mismatches(w, f"""
        SELECT c.uid, c.adm, g FROM {callers_sql(w)}
         CROSS JOIN unnest({w.groups_sql}) g JOIN namespaces n ON n.id = g
         WHERE group_visible(c.uid, c.adm, g)
               <> (c.adm OR n.visibility = 'public' OR (n.visibility = 'internal' AND c.uid > 0)
                   OR g IN (SELECT namespace_id FROM user_member_groups(c.uid)))""") == []


def test_pull_scope_agrees_with_the_pull_right(world):
    """registry_can_pull (one project) and registry_pull_scope (the catalog's sets), for users,
    admins, anonymous callers and every deploy token."""
    w = world
    callers = (f"(SELECT uid, adm, 0::bigint AS dt FROM {callers_sql(w)}"
               f" UNION ALL SELECT 0, false, t FROM unnest({w.tokens_sql}) t) c")
    assert mismatches(w, f"""
        SELECT c.uid, c.adm, c.dt, p.id FROM {callers}
         CROSS JOIN LATERAL registry_pull_scope(c.uid, c.adm, c.dt) s
         CROSS JOIN projects p
         WHERE p.id = ANY ({w.projects_sql})
           AND registry_can_pull(c.uid, c.adm, c.dt, p.id)
               <> ((s.all_projects AND p.container_registry_access_level <> 'disabled')
                   OR (p.container_registry_access_level = 'enabled'
                       AND p.visibility = ANY (s.visibilities))
                   OR p.id = ANY (s.project_ids))""") == []
    # and the deploy tokens did pull something beyond public projects
    assert int(w.psql(f"""SELECT count(*) FROM unnest({w.tokens_sql}) t, unnest({w.projects_sql}) p
        WHERE registry_can_pull(0, false, t, p) AND NOT registry_can_pull(0, false, 0, p)""")) > 0


@pytest.fixture(scope="module")
def pats(registry, world):
    """Personal access tokens (api) of six users of the world, the first an admin."""
    out = {}
    for i, uid in enumerate(world.users[:6]):
        if i == 0:
            requests.put(f"{registry.url}/api/v4/users/{uid}", json={"admin": True},
                         headers={"PRIVATE-TOKEN": registry.root_token},
                         timeout=30).raise_for_status()
        r = registry.api("POST", f"/users/{uid}/personal_access_tokens",
                         json={"name": "agree", "scopes": ["api"]})
        assert r.status_code == 201, r.text
        out[uid] = (i == 0, r.json()["token"])
    return out


def test_project_lists_agree_with_project_visible(registry, world, pats):
    """GET /projects lists exactly the projects project_visible lets the caller see."""
    w = world
    for uid, (admin, token) in list(pats.items()) + [(0, (False, None))]:
        caller = Caller(registry, uid, "", admin, token)
        seen, page = set(), 1
        while True:
            r = caller.request("GET", "/projects", params={"per_page": 100, "page": page,
                                                           "simple": "true"})
            assert r.status_code == 200, r.text
            seen |= {p["id"] for p in r.json()}
            if not r.headers.get("X-Next-Page"):
                break
            page += 1
        want = {int(x) for x in w.psql(
            f"SELECT p FROM unnest({w.projects_sql}) p"
            f" WHERE project_visible({uid}, {str(admin).lower()}, p)").split()}
        assert seen & set(w.projects) == want, uid


def test_group_lists_agree_with_group_visible(registry, world, pats):
    """GET /groups?all_available=true lists exactly the groups group_visible lets one see."""
    w = world
    for uid, (admin, token) in list(pats.items()) + [(0, (False, None))]:
        caller = Caller(registry, uid, "", admin, token)
        seen, page = set(), 1
        while True:
            r = caller.request("GET", "/groups", params={"per_page": 100, "page": page,
                                                         "all_available": "true"})
            assert r.status_code == 200, r.text
            seen |= {g["id"] for g in r.json()}
            if not r.headers.get("X-Next-Page"):
                break
            page += 1
        want = {int(x) for x in w.psql(
            f"SELECT g FROM unnest({w.groups_sql}) g"
            f" WHERE group_visible({uid}, {str(admin).lower()}, g)").split()}
        assert seen & set(w.groups) == want, uid


def paths_sql(paths):
    return "ARRAY[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]::text[]"


def expected_actions(w, paths, uid=0, admin=False, token=0, token_scopes=()):
    """What the rules, asked per object, give a caller on each repository path: the project of
    the path's longest prefix, at most two segments below it, its registry not disabled; pull
    by registry_can_pull; for users push from Developer and delete from Maintainer (admins
    both); for a deploy token push on the projects it covers with write_registry."""
    out = {p: set() for p in paths}
    rows = w.psql(f"""SELECT x.path, r.name, p.container_registry_access_level,
            registry_can_pull({uid}, {str(admin).lower()}, {token}, p.id),
            CASE WHEN {uid} > 0 THEN project_access_level({uid}, p.id) ELSE 0 END,
            CASE WHEN {token} > 0 THEN deploy_token_covers({token}, p.id) ELSE false END
          FROM unnest({paths_sql(paths)}) x(path), registry_resolve(x.path) r
          JOIN projects p ON p.id = r.project_id""")
    for row in rows.splitlines():
        path, name, registry, pull, level, covers = row.split("|")
        if registry == "disabled" or (name and name.count("/") >= 2):
            continue
        if pull == "t":
            out[path].add("pull")
        if uid > 0 and (admin or int(level) >= DEVELOPER):
            out[path].add("push")
        if uid > 0 and (admin or int(level) >= MAINTAINER):
            out[path].add("delete")
        if covers == "t" and "write_registry" in token_scopes:
            out[path].add("push")
    return out


def paths_to_ask(w):
    """Every repository, each project itself, paths one, two and three segments below
    projects, paths with no project, and names that are not repository names."""
    paths = set(w.repositories)
    for full, _, _ in list(w.projects.values())[:120]:
        low = full.lower()
        paths |= {low, low + "/x", low + "/x/y", low + "/x/y/z", low + "/x/y/z/w"}
    some_group = next(iter(w.groups.values()))[0].lower()
    paths |= {some_group, some_group + "/nothing-here", "nowhere/at/all", "single"}
    return sorted(paths)


def granted(registry, paths, user=None, password=None):
    """Actions /jwt/auth grants on each path, asked for pull, push and delete (32 a request)."""
    out = {}
    for i in range(0, len(paths), 32):
        chunk = paths[i:i + 32]
        params = [("service", "container_registry")] + [
            ("scope", f"repository:{p}:pull,push,delete") for p in chunk]
        r = requests.get(f"{registry.url}/jwt/auth", params=params,
                         auth=(user, password) if user else None, timeout=30)
        if r.status_code == 403 and user is None:  # anonymous and granted nothing
            access = {}
        else:
            assert r.status_code == 200, r.text
            access = jwtutil.access_of(r.json()["token"])
        for p in chunk:
            out[p] = set(access.get(("repository", p), set()))
    return out


def test_token_service_grants_what_the_rules_say(registry, world, pats):
    """/jwt/auth on every kind of path, for an admin, users and anonymous callers, against the
    rules asked per object."""
    w = world
    paths = paths_to_ask(w)
    usernames = {int(line.split("|")[0]): line.split("|")[1] for line in w.psql(
        f"SELECT id, username FROM users WHERE id = ANY ({w.users_sql})").splitlines()}
    callers = [(uid, admin, usernames[uid], token) for uid, (admin, token) in pats.items()]
    callers.append((0, False, None, None))
    wrong = []
    for uid, admin, username, token in callers:
        got = granted(registry, paths, username, token)
        want = expected_actions(w, paths, uid, admin)
        wrong += [(uid, p, sorted(got[p]), sorted(want[p])) for p in paths if got[p] != want[p]]
    assert wrong == [], wrong[:10]


def test_names_that_are_not_repository_names_get_nothing(registry, world, pats):
    """A name the registry refuses (upper case, a host and port, an empty segment) is granted
    nothing even when a project matches it case-insensitively."""
    w = world
    uid = next(iter(pats))
    admin_name = w.psql(f"SELECT username FROM users WHERE id = {uid}")
    full = next(f for f, _, reg in w.projects.values() if reg != "disabled")
    names = [full.upper(), "localhost:5000/" + full.lower(), full.lower().replace("/", "//"),
             full.lower() + "/"]
    got = granted(registry, names, admin_name, pats[uid][1])
    assert all(v == set() for v in got.values()), got
    assert granted(registry, [full.lower()], admin_name, pats[uid][1])[full.lower()] == {
        "pull", "push", "delete"}


def test_deploy_tokens_get_what_the_rules_say(registry, world):
    """Deploy tokens made through the API on a project and on a group of the world: pull where
    registry_can_pull says, push where they cover a project with an enabled registry and hold
    write_registry, never delete."""
    w = world
    group = int(w.psql(f"""SELECT n.traversal_ids[1] FROM projects p
        JOIN namespaces n ON n.id = p.namespace_id
        WHERE p.id = ANY ({w.projects_sql}) AND n.kind = 'group'
          AND p.container_registry_access_level <> 'disabled'
        GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"""))
    project = next(pid for pid, (_, _, reg) in w.projects.items() if reg == "private")
    made = []
    for kind, oid, scopes in (("groups", group, ["read_registry", "write_registry"]),
                              ("projects", project, ["read_registry"]),
                              ("projects", project, ["write_registry"])):
        r = registry.api("POST", f"/{kind}/{oid}/deploy_tokens",
                         json={"name": "agree", "scopes": scopes})
        assert r.status_code == 201, r.text
        made.append((r.json()["id"], r.json()["username"], r.json()["token"], scopes))
    paths = paths_to_ask(w)
    wrong = []
    for tid, username, token, scopes in made:
        got = granted(registry, paths, username, token)
        want = expected_actions(w, paths, token=tid, token_scopes=scopes)
        wrong += [(tid, p, sorted(got[p]), sorted(want[p])) for p in paths if got[p] != want[p]]
    assert wrong == [], wrong[:10]
    # what the world's random rows prove is proved here too: a token pulls beyond public
    assert any("pull" in v for v in granted(registry, [w.projects[project][0].lower()],
                                            made[1][1], made[1][2]).values())


def test_lists_test_rows_by_columns_not_by_a_rights_function(make_registry):
    """A group's registry repositories and a blob mount without `from` take the caller's pull
    rights once, as sets (registry_pull_scope), and test each repository by its columns: 300
    repositories in 60 private projects of an internal group, a user who is Reporter of one of
    them. A page of five repositories, and a mount that finds nothing the user may pull among
    the 300 repositories holding the blob, call per-project rights functions a handful of times
    (the page's rows), never once per repository. Counted by PostgreSQL's statistics of the
    registry's own sessions, not timed."""
    from test_v2_catalog import server_counters
    reg = make_registry(workers=1, extra_config={"metad": {"jobs_interval": "3600"}}).start()
    digest = "sha256:" + "ef" * 32
    reg.pg.psql(reg.name, f"""
        INSERT INTO namespaces (kind, name, path, full_path, full_name, traversal_ids, visibility)
        VALUES ('group', 'big', 'big', 'big', 'big', '{{}}', 'internal');
        UPDATE namespaces SET traversal_ids = ARRAY[id] WHERE path = 'big';
        INSERT INTO projects (namespace_id, name, path, full_path)
        SELECT n.id, 'p' || i, 'p' || i, 'big/p' || i FROM namespaces n, generate_series(10, 69) i
         WHERE n.path = 'big';
        INSERT INTO repositories (project_id, name)
        SELECT p.id, 'img' || i FROM projects p, generate_series(1, 5) i;
        INSERT INTO blobs (digest, size) VALUES ('{digest}', 10);
        INSERT INTO repository_blobs (repository_id, blob_digest)
        SELECT id, '{digest}' FROM repositories;
        ANALYZE;""")
    r = reg.api("POST", "/users", json={"username": "lister", "name": "Lister",
                                        "email": "lister@example.com", "password": "Lister-Pw-1234!",
                                        "skip_confirmation": True})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    own = int(reg.pg.psql(reg.name, "SELECT id FROM projects WHERE full_path = 'big/p40'"))
    assert reg.api("POST", f"/projects/{own}/members",
                   json={"user_id": uid, "access_level": 20}).status_code == 201
    token = reg.api("POST", f"/users/{uid}/personal_access_tokens",
                    json={"name": "t", "scopes": ["api"]}).json()["token"]
    group = int(reg.pg.psql(reg.name, "SELECT id FROM namespaces WHERE path = 'big'"))
    reg.pg.psql(reg.name, f'ALTER DATABASE "{reg.name}" SET track_functions = \'all\'')

    def page():
        r = requests.get(f"{reg.url}/api/v4/groups/{group}/registry/repositories",
                         params={"per_page": 5}, headers={"PRIVATE-TOKEN": token}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["X-Total"] == "5"  # the five of the project it may pull
        return [x["path"] for x in r.json()]

    assert page() == [f"big/p40/img{i}" for i in range(1, 6)]  # plans the session's statements
    _, calls0 = server_counters(reg)
    page()
    _, calls1 = server_counters(reg)
    assert calls1 - calls0 <= 5 * 4, f"a page of 5 called rights functions {calls1 - calls0} times"

    mount = (f"BEGIN; SELECT size IS NULL, status = 'ok' FROM registry_mount_blob('big/p40/new',"
             f" '{digest}', NULL, false, {uid}, false, 0); ROLLBACK;")
    reg.pg.psql(reg.name, "DELETE FROM repository_blobs WHERE repository_id IN (SELECT r.id"
                          " FROM repositories r JOIN projects p ON p.id = r.project_id"
                          " WHERE p.full_path = 'big/p40')")
    _, calls0 = server_counters(reg)
    assert reg.pg.psql(reg.name, mount).split() == ["t|t"]  # nothing it may pull, no error
    _, calls1 = server_counters(reg)
    assert calls1 - calls0 <= 5, f"a mount called rights functions {calls1 - calls0} times"

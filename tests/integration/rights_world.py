"""A varied instance for the rules of rights, written with SQL from a seeded random generator:
users (some owning a personal namespace and projects in it), a forest of nested groups of every
visibility (never more visible than the parent), projects in groups and personal namespaces
with every visibility and registry setting, memberships of groups and projects at every role
(some expired, some expiring later), groups shared with groups and projects shared with groups
(some expired), deploy tokens of projects and groups (live, revoked, expired, with each mix of
registry scopes) and repositories of one, two and three path segments.

The integration tests compare the per-object and set forms of each rule over it; the rights
benchmark (tests/bench/rights.py) builds a large one to measure them. Everything it names starts
with "w<tag>", so several worlds can live in one database.
"""
import datetime
import random

VISIBILITIES = ("private", "internal", "public")
REGISTRY = ("enabled", "enabled", "enabled", "private", "disabled")
LEVELS = (10, 20, 30, 40, 50)


def _q(s):
    return "'" + s.replace("'", "''") + "'"


def _expiry(rnd, today):
    """NULL mostly; an expired date (yesterday or earlier), today (expired too: a date counts
    until the day before it) or a later one."""
    x = rnd.random()
    if x < 0.12:
        return _q((today - datetime.timedelta(days=rnd.randint(1, 30))).isoformat())
    if x < 0.16:
        return _q(today.isoformat())
    if x < 0.26:
        return _q((today + datetime.timedelta(days=rnd.randint(1, 30))).isoformat())
    return "NULL"


class World:
    """Ids of what build() wrote: users, groups, projects, deploy tokens (id -> facts)."""

    def __init__(self):
        self.users = []          # user ids
        self.groups = {}         # id -> (full_path, visibility, traversal_ids)
        self.user_ns = {}        # user id -> namespace id
        self.projects = {}       # id -> (full_path, visibility, registry)
        self.deploy_tokens = []  # ids
        self.repositories = []   # paths


def build(psql, tag, seed=1, users=40, top_groups=8, groups=40, projects=300,
          group_members=120, project_members=200, group_links=25, project_links=60,
          deploy_tokens=30, max_depth=4):
    """Writes a world with psql (a function running SQL, answering its output) and returns it."""
    rnd = random.Random(seed)
    today = datetime.date.fromisoformat(psql("SELECT current_date"))
    w = World()
    p = f"w{tag}"

    rows = ", ".join(f"({_q(f'{p}u{i}')}, {_q(f'{p} user {i}')}, {_q(f'{p}u{i}@example.com')})"
                     for i in range(users))
    out = psql(f"INSERT INTO users (username, name, email) VALUES {rows} RETURNING id")
    w.users = [int(x) for x in out.split()]

    # namespace ids reserved up front, so that each kind is one INSERT
    owners = [u for i, u in enumerate(w.users) if i % 3 != 2]
    ids = iter(int(x) for x in psql(
        "SELECT nextval(pg_get_serial_sequence('namespaces', 'id'))"
        f" FROM generate_series(1, {len(owners) + groups})").split())

    # personal namespaces for two users in three
    rows = []
    for u in owners:
        name = f"{p}u{w.users.index(u)}"
        w.user_ns[u] = next(ids)
        rows.append(f"({w.user_ns[u]}, 'user', {_q(name)}, {_q(name)}, {_q(name)}, {_q(name)},"
                    f" NULL, {u}, ARRAY[{w.user_ns[u]}]::bigint[], 'private')")

    # the group forest, parents first
    depth = {}
    for i in range(groups):
        parents = [g for g in w.groups if depth[g] < max_depth]
        parent = None if i < top_groups or not parents else rnd.choice(parents)
        name = f"{p}g{i}" if parent is None else f"s{i}"
        if parent is None:
            vis = rnd.choice(VISIBILITIES)
            full, trav = name, []
        else:
            pf, pv, pt = w.groups[parent]
            vis = rnd.choice(VISIBILITIES[:VISIBILITIES.index(pv) + 1])
            full, trav = f"{pf}/{name}", list(pt)
        gid = next(ids)
        w.groups[gid] = (full, vis, trav + [gid])
        depth[gid] = 1 if parent is None else depth[parent] + 1
        rows.append(f"({gid}, 'group', {_q(name)}, {_q(name)}, {_q(full)}, {_q(full)},"
                    f" {parent if parent else 'NULL'}, NULL,"
                    f" ARRAY[{', '.join(map(str, trav + [gid]))}]::bigint[], {_q(vis)})")
    psql("INSERT INTO namespaces (id, kind, name, path, full_path, full_name, parent_id, owner_id,"
         " traversal_ids, visibility) VALUES " + ", ".join(rows))

    # projects: most in groups, some in personal namespaces
    values = []
    facts = []
    for i in range(projects):
        if rnd.random() < 0.15:
            u = rnd.choice(owners)
            ns, nsfull, nsvis = w.user_ns[u], f"{p}u{w.users.index(u)}", "public"
        else:
            ns = rnd.choice(list(w.groups))
            nsfull, nsvis = w.groups[ns][0], w.groups[ns][1]
        vis = rnd.choice(VISIBILITIES[:VISIBILITIES.index(nsvis) + 1])
        reg = rnd.choice(REGISTRY)
        name = f"p{i}"
        values.append(f"({ns}, {_q(name)}, {_q(name)}, {_q(nsfull + '/' + name)}, {_q(vis)},"
                      f" {_q(reg)})")
        facts.append((nsfull + "/" + name, vis, reg))
    out = psql("INSERT INTO projects (namespace_id, name, path, full_path, visibility,"
               f" container_registry_access_level) VALUES {', '.join(values)} RETURNING id")
    for pid, f in zip((int(x) for x in out.split()), facts):
        w.projects[pid] = f

    def unique_pairs(n, left, right):
        seen = set()
        for _ in range(n * 3):
            if len(seen) == n:
                break
            pair = (rnd.choice(left), rnd.choice(right))
            if pair[0] != pair[1]:
                seen.add(pair)
        return sorted(seen)

    gids, pids = list(w.groups), list(w.projects)
    rows = [f"({g}, {u}, {rnd.choice(LEVELS)}, {_expiry(rnd, today)})"
            for g, u in unique_pairs(group_members, gids, w.users)]
    psql("INSERT INTO group_members (namespace_id, user_id, access_level, expires_at) VALUES "
         + ", ".join(rows))
    rows = [f"({q}, {u}, {rnd.choice(LEVELS)}, {_expiry(rnd, today)})"
            for q, u in unique_pairs(project_members, pids, w.users)]
    psql("INSERT INTO project_members (project_id, user_id, access_level, expires_at) VALUES "
         + ", ".join(rows))
    rows = [f"({a}, {b}, {rnd.choice(LEVELS)}, {_expiry(rnd, today)})"
            for a, b in unique_pairs(group_links, gids, gids)]
    psql("INSERT INTO group_group_links (shared_group_id, shared_with_group_id, group_access,"
         " expires_at) VALUES " + ", ".join(rows))
    rows = [f"({q}, {g}, {rnd.choice(LEVELS)}, {_expiry(rnd, today)})"
            for q, g in unique_pairs(project_links, pids, gids)]
    psql("INSERT INTO project_group_links (project_id, group_id, group_access, expires_at)"
         " VALUES " + ", ".join(rows))

    rows = []
    for i in range(deploy_tokens):
        owner = (f"{rnd.choice(pids)}, NULL" if rnd.random() < 0.5
                 else f"NULL, {rnd.choice(gids)}")
        scopes = rnd.choice(("{read_registry}", "{write_registry}",
                             "{read_registry,write_registry}", "{read_repository}"))
        x = rnd.random()
        revoked = "true" if x < 0.1 else "false"
        expires = ("now() - interval '1 hour'" if 0.1 <= x < 0.2
                   else "now() + interval '1 day'" if 0.2 <= x < 0.3 else "NULL")
        rows.append(f"({owner}, 'ci', {_q(f'{p}-dt-{i}')}, {_q(scopes)}, {revoked}, {expires},"
                    f" {_q(f'{p}-lookup-{i}')}, 'x')")
    out = psql("INSERT INTO deploy_tokens (project_id, namespace_id, name, username, scopes,"
               " revoked, expires_at, token_lookup, token_hash) VALUES " + ", ".join(rows)
               + " RETURNING id")
    w.deploy_tokens = [int(x) for x in out.split()]

    rows = []
    for pid in pids:
        for name in rnd.sample(("", "a", "a/b", "c"), rnd.randint(0, 3)):
            rows.append(f"({pid}, {_q(name)})")
            w.repositories.append(w.projects[pid][0].lower() + ("/" + name if name else ""))
    if rows:
        psql("INSERT INTO repositories (project_id, name) VALUES " + ", ".join(rows))
    psql("ANALYZE")
    return w

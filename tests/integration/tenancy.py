"""Groups, projects and members for tests of rights.

Users come from authd's own API. Groups, projects and memberships belong to metad's REST API,
which is built in parallel: until it is on main, this helper writes the same rows with SQL through
the harness (`registry.pg.psql`). Every test goes through these methods, so switching them to the
API (python-gitlab's groups.create / projects.create / members.create) changes nothing else.
"""
import re

ACCESS = {"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}

_SAFE = re.compile(r"^[A-Za-z0-9_.\-/]+$")


def _lit(value):
    """A SQL literal of a test-made name (checked, so quoting cannot be broken)."""
    value = str(value)
    assert _SAFE.match(value), value
    return f"'{value}'"


class Tenancy:
    def __init__(self, registry):
        self.reg = registry

    def sql(self, statement):
        return self.reg.pg.psql(self.reg.name, statement)

    # -- users (authd's API) -------------------------------------------------------------------

    def user(self, username, password=None, admin=False):
        """Creates a user through the API; returns its JSON (with "password")."""
        password = password or f"{username}-Passw0rd"
        r = self.reg.api("POST", "/users", json={
            "username": username, "name": username.title(), "email": f"{username}@example.com",
            "password": password, "admin": admin})
        assert r.status_code == 201, r.text
        user = r.json()
        user["password"] = password
        return user

    def pat(self, user_id, scopes, name="test", expires_at=None):
        body = {"name": name, "scopes": scopes}
        if expires_at:
            body["expires_at"] = expires_at
        r = self.reg.api("POST", f"/users/{user_id}/personal_access_tokens", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    # -- groups, projects, members (SQL until metad's API lands) -------------------------------

    def group(self, path, visibility="private", parent_id=None):
        """A group (a subgroup with parent_id); returns its id."""
        if parent_id is None:
            return int(self.sql(
                "WITH n AS (SELECT nextval(pg_get_serial_sequence('namespaces', 'id')) AS id) "
                "INSERT INTO namespaces (id, kind, name, path, full_path, full_name, traversal_ids, "
                f"visibility) SELECT n.id, 'group', {_lit(path)}, {_lit(path)}, {_lit(path)}, "
                f"{_lit(path)}, ARRAY[n.id], {_lit(visibility)} FROM n RETURNING id"
            ).splitlines()[0])
        return int(self.sql(
            "WITH n AS (SELECT nextval(pg_get_serial_sequence('namespaces', 'id')) AS id) "
            "INSERT INTO namespaces (id, kind, name, path, full_path, full_name, traversal_ids, "
            f"parent_id, visibility) SELECT n.id, 'group', {_lit(path)}, {_lit(path)}, "
            f"p.full_path || '/' || {_lit(path)}, p.full_name || ' / ' || {_lit(path)}, "
            f"p.traversal_ids || n.id, p.id, {_lit(visibility)} FROM n, namespaces p "
            f"WHERE p.id = {int(parent_id)} RETURNING id").splitlines()[0])

    def namespace_of_user(self, user_id):
        return int(self.sql(
            f"SELECT id FROM namespaces WHERE owner_id = {int(user_id)} AND kind = 'user'"))

    def project(self, namespace_id, path, visibility="private", registry="enabled"):
        """A project in a namespace; returns (id, full_path)."""
        out = self.sql(
            "INSERT INTO projects (namespace_id, name, path, full_path, visibility, "
            f"container_registry_access_level) SELECT n.id, {_lit(path)}, {_lit(path)}, "
            f"n.full_path || '/' || {_lit(path)}, {_lit(visibility)}, {_lit(registry)} "
            f"FROM namespaces n WHERE n.id = {int(namespace_id)} RETURNING id, full_path")
        pid, full_path = out.splitlines()[0].split("|")
        return int(pid), full_path

    def add_group_member(self, group_id, user_id, role):
        self.sql("INSERT INTO group_members (namespace_id, user_id, access_level) "
                 f"VALUES ({int(group_id)}, {int(user_id)}, {ACCESS[role]})")

    def add_project_member(self, project_id, user_id, role):
        self.sql("INSERT INTO project_members (project_id, user_id, access_level) "
                 f"VALUES ({int(project_id)}, {int(user_id)}, {ACCESS[role]})")

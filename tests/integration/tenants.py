"""Groups, projects and members for tests of rights.

Users and tokens come from authd's API; groups, projects and memberships from metad's, all as
root. `sql` remains for what no API offers (moving a token's expiry into the past).
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

    # -- groups, projects, members (metad's API, as root) ----------------------------------------

    def group(self, path, visibility="private", parent_id=None):
        """A group (a subgroup with parent_id); returns its id."""
        body = {"name": path, "path": path, "visibility": visibility}
        if parent_id is not None:
            body["parent_id"] = parent_id
        r = self.reg.api("POST", "/groups", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def namespace_of_user(self, user_id):
        r = self.reg.api("GET", f"/users/{int(user_id)}")
        assert r.status_code == 200, r.text
        r = self.reg.api("GET", f"/namespaces?search={r.json()['username']}")
        assert r.status_code == 200, r.text
        return next(n["id"] for n in r.json() if n["kind"] == "user")

    def project(self, namespace_id, path, visibility="private", registry="enabled"):
        """A project in a namespace; returns (id, full_path)."""
        r = self.reg.api("POST", "/projects", json={
            "name": path, "path": path, "namespace_id": namespace_id, "visibility": visibility,
            "container_registry_access_level": registry})
        assert r.status_code == 201, r.text
        return r.json()["id"], r.json()["path_with_namespace"]

    def add_group_member(self, group_id, user_id, role):
        r = self.reg.api("POST", f"/groups/{int(group_id)}/members",
                         json={"user_id": user_id, "access_level": ACCESS[role]})
        assert r.status_code == 201, r.text

    def add_project_member(self, project_id, user_id, role):
        r = self.reg.api("POST", f"/projects/{int(project_id)}/members",
                         json={"user_id": user_id, "access_level": ACCESS[role]})
        assert r.status_code == 201, r.text

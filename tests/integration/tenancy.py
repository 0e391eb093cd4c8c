"""Callers of the groups/projects/members API for tests.

Two ways in, the same tests:
- through the gateway with a personal access token (PRIVATE-TOKEN), once authd writes its
  bootstrap file (ROOT_TOKEN) and serves users and tokens: users are created with POST /users and
  get a token from POST /users/:id/personal_access_tokens, as root;
- before that, straight to metad's unix socket with the identity headers the gateway would add
  (the gateway strips client X-Registry-* headers, so this is the only way to speak as a user
  without authd): users are created with SQL.

REGISTRY_TENANCY_VIA=socket|gateway forces one; the default is the gateway when the bootstrap
file has a ROOT_TOKEN.
"""
import itertools
import os
import socket

import gitlab
import requests
import urllib3
from requests.adapters import HTTPAdapter

SOCKET_HOST = "metad.sock"
_ids = itertools.count(1)


def via_gateway(registry):
    forced = os.environ.get("REGISTRY_TENANCY_VIA")
    if forced:
        return forced == "gateway"
    try:
        return bool(registry.bootstrap().get("ROOT_TOKEN"))
    except OSError:
        return False


class _UnixConnection(urllib3.connection.HTTPConnection):
    def __init__(self, path, *args, **kw):
        super().__init__("localhost", *args, **kw)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout if isinstance(self.timeout, (int, float)) else 30)
        s.connect(self._path)
        self.sock = s


class _UnixPool(urllib3.HTTPConnectionPool):
    def __init__(self, path):
        super().__init__("localhost")
        self._path = path

    def _new_conn(self):
        return _UnixConnection(self._path, timeout=30)


class UnixAdapter(HTTPAdapter):
    """Sends a requests session's http://metad.sock/... requests to a unix socket."""

    def __init__(self, path):
        super().__init__()
        self._pool = _UnixPool(path)

    def get_connection(self, url, proxies=None):
        return self._pool

    def close(self):
        self._pool.close()
        super().close()


class Caller:
    """Someone calling /api/v4: a user (id, username, admin) or anonymous (id 0)."""

    def __init__(self, registry, user_id=0, username="", admin=False, token=None):
        self.registry = registry
        self.id = user_id
        self.username = username
        self.admin = admin
        self.token = token
        self.gateway = via_gateway(registry)
        self.session = requests.Session()
        if self.gateway:
            self.base = registry.url
            if token:
                self.session.headers["PRIVATE-TOKEN"] = token
        else:
            self.base = f"http://{SOCKET_HOST}"
            self.session.mount(self.base + "/",
                               UnixAdapter(os.path.join(registry.sock_dir, "metad.sock")))
            self.session.headers["X-Registry-External-Url"] = registry.url
            if user_id:
                self.session.headers.update({
                    "X-Registry-User-Id": str(user_id),
                    "X-Registry-Username": username,
                    "X-Registry-Auth-Kind": "personal_access_token",
                    "X-Registry-Scopes": "api",
                })
                if admin:
                    self.session.headers["X-Registry-Admin"] = "1"

    def __repr__(self):
        return f"<Caller {self.username or 'anonymous'}>"

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.session.request(method, self.base + "/api/v4" + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, method, path, status=None, **kw):
        """A call that must succeed; returns the JSON body (None when empty)."""
        r = self.request(method, path, **kw)
        expected = status or {"GET": 200, "POST": 201, "PUT": 200, "DELETE": 204}[method]
        assert r.status_code == expected, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def gitlab(self):
        """python-gitlab speaking as this caller."""
        gl = gitlab.Gitlab(self.base, private_token=self.token if self.gateway else None,
                           session=self.session, keep_base_url=True, per_page=100)
        return gl


def anonymous(registry):
    return Caller(registry)


def create_user(registry, username, admin=False, name=None):
    """A user with its personal namespace; returns a Caller speaking as it."""
    name = name or username.capitalize()
    if via_gateway(registry):
        root = Caller(registry, token=registry.root_token)
        u = root.ok("POST", "/users", json={
            "username": username, "name": name, "email": f"{username}@example.com",
            "password": f"Pw-{username}-{next(_ids)}-x9!", "admin": admin,
            "skip_confirmation": True})
        t = root.ok("POST", f"/users/{u['id']}/personal_access_tokens",
                    json={"name": "tests", "scopes": ["api"]})
        return Caller(registry, u["id"], username, admin, t["token"])
    out = registry.pg.psql(registry.name, f"""
        WITH u AS (INSERT INTO users (username, name, email, is_admin)
                   VALUES ('{username}', '{name}', '{username}@example.com', {str(admin).lower()})
                   RETURNING id),
             ns AS (SELECT nextval(pg_get_serial_sequence('namespaces', 'id')) AS id)
        INSERT INTO namespaces (id, kind, name, path, full_path, full_name, owner_id,
                                traversal_ids, visibility)
        SELECT ns.id, 'user', '{name}', '{username}', '{username}', '{name}', u.id,
               ARRAY[ns.id], 'public'
          FROM u, ns RETURNING owner_id""")
    return Caller(registry, int(out.splitlines()[0]), username, admin)

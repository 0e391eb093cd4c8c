"""The tenant-isolation matrix, generated from the route table: every row of common/routes.def
(a new row fails test_every_route_has_a_matrix_entry until it gets one) x every kind of caller
(anonymous, a user of another tenant, each role, an admin, deploy tokens, a revoked and an
expired token) x private, internal and public projects or groups, and a private one of a tenant
none of them belongs to. Each answer must be GitLab's
(404 for what the caller cannot see, 403 for a visible object it may not change, 401 for bad
credentials; on /v2 the token service's grants and Docker token auth's 401 challenge), and no
body may carry data the caller may not see: unique markers sit in each target's names,
descriptions, tags and layers, and in a hidden tenant's, and every body is searched for them.

The expected answers are rules per route kind and role (rule() and its forms in the API and V2
tables), not literal lines; the world is built once per module, on an instance of its own, and
the requests run concurrently."""
import concurrent.futures
import datetime
import itertools
import json
import os
import re
import uuid

import pytest
import requests

import jwtutil
from registry import Registry
from tenancy import create_user
from test_authd_jwt import expected as registry_right
from v2util import OCI_MANIFEST, V2 as V2Client, client, sha256

ROUTES_DEF = os.path.join(os.path.dirname(__file__), "..", "..", "common", "routes.def")
VISIBILITIES = ("private", "internal", "public")
# the targets: tenant A's of each visibility, and a private one of a tenant none of the callers
# but the admin has anything to do with (its deploy tokens are A's private group's)
TARGETS = VISIBILITIES + ("hidden",)
MEMBERS = {"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}
ROLES = ("anonymous", "other", *MEMBERS, "admin", "deploy_read", "deploy_write", "revoked",
         "expired")
BAD = ("revoked", "expired")
DEPLOY = ("deploy_read", "deploy_write")


def parse_routes(path=ROUTES_DEF):
    """[(kind, owner, method, pattern, need)] of every row (need: actions or scopes, or None)."""
    rows = []
    with open(path) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    for m in re.finditer(r"^(ROUTE_V2|ROUTE_API|ROUTE_OPEN)\((.*)\)\s*$", text, flags=re.M):
        args = [a.strip().strip('"') for a in m.group(2).split(",")]
        need = args[3] if m.group(1) != "ROUTE_OPEN" else None
        rows.append((m.group(1), args[0], args[1], args[2], need))
    return rows


# -- who the caller is to a target ----------------------------------------------------------------

class Who:
    """A caller (role) on a target of a visibility (None: a route without one)."""

    def __init__(self, role, target):
        self.role, self.target = role, target
        self.vis = "private" if target == "hidden" else target
        self.admin = role == "admin"
        self.anon = role == "anonymous"
        self.bad = role in BAD
        self.deploy = role in DEPLOY
        self.level = 60 if self.admin else 0 if target == "hidden" else MEMBERS.get(role, 0)
        self.user = not (self.anon or self.bad or self.deploy)

    @property
    def sees(self):
        """GitLab's visibility: members and admins all, signed-in users internal, all public."""
        return (self.level > 0 or self.vis == "public"
                or (self.vis == "internal" and self.user))

    @property
    def pulls(self):
        """The registry's read right (registry enabled on every target): Reporters, or anyone
        who sees an internal or public project."""
        return self.level >= 20 or (self.sees and self.vis != "private")


UNAUTHORIZED = (401, {"message": "401 Unauthorized"})
INVALID_TOKEN = {  # GitLab's answers to a token it knows but no longer takes
    "revoked": (401, {"error": "invalid_token",
                      "error_description": "Token was revoked. You have to re-authorize from "
                                           "the user."}),
    "expired": (401, {"error": "invalid_token", "error_description": "Token has expired."})}
FORBIDDEN = (403, {"message": "403 Forbidden"})
P404 = (404, {"message": "404 Project Not Found"})
G404 = (404, {"message": "404 Group Not Found"})
NOT_AUTHORIZED = (403, {"message": "403 Forbidden - Not authorized!"})


def rule(sees=None, need=0, ok=200, anon_read=True, admin_only=False, not_found=P404,
         refused=FORBIDDEN, need_pull=False):
    """The usual GitLab answer as a function of Who: bad credentials and deploy tokens 401;
    anonymous callers 401 on writes (anon_read False); admin-only routes 403 to others; what
    one cannot see 404; a level below need (or no pull right) `refused`; else ok."""
    def answer(w):
        if w.bad:
            return INVALID_TOKEN[w.role]
        if w.deploy or (w.anon and not anon_read):
            return UNAUTHORIZED
        if admin_only and not w.admin:
            return UNAUTHORIZED if w.anon else FORBIDDEN
        if sees is not None and not sees(w):
            return not_found
        if w.level < need or (need_pull and not w.pulls):
            return refused
        return ok
    return answer


def project(need=0, ok=200, write=True, **kw):
    """A project's route: 404 Project Not Found unseen; anonymous callers 401 on writes."""
    return rule(sees=lambda w: w.sees, need=need, ok=ok, anon_read=not write, **kw)


def group(need=0, ok=200, write=True, not_found=G404, **kw):
    """A group's route: 404 Group Not Found unseen; anonymous callers 401 on writes."""
    return rule(sees=lambda w: w.sees, need=need, ok=ok, anon_read=not write, not_found=not_found,
                **kw)


def anyone(ok=200, write=False, anon=None):
    """Every signed-in caller; anonymous ones too unless write (401) or anon (their answer)."""
    plain = rule(ok=ok, anon_read=not write)
    return lambda w: anon if anon and w.anon else plain(w)


def admins(ok=200):
    """An admin-only route: 401 anonymous, 403 to other users."""
    return rule(ok=ok, anon_read=False, admin_only=True)


READ, WRITE = dict(write=False), dict(write=True)


def others_event(answer, sees_all):
    """An audit event another user wrote: below sees_all (own events only) 404 Audit Event Not
    Found where answer would be 200."""
    def event(w):
        a = answer(w)
        if a == 200 and not w.admin and w.level < sees_all:
            return (404, {"message": "404 Audit Event Not Found"})
        return a
    return event
# a hook the matrix creates: no registry events, so nothing is ever sent
HOOK_BODY = {"url": "https://hooks.example.com/matrix"}


# -- the matrix: route -> (target kind, fill, rule) ----------------------------------------------
# target kind: "project" / "group" (x the targets), "none" (once per caller). fill(world, who)
# answers (path, json body or None, token override or None) with the pattern's parameters filled;
# destructive routes act on a fresh object (world.fresh_*) when the rules allow the call, so that
# it changes nothing the other calls look at, and on the target's own when they refuse it.

def P(w, vis):
    """The target of a case."""
    return w.targets[vis]


def people_not_bots():
    """A bot's own route (.../access_tokens/self/rotate): 405 to every person, before anything
    is looked up; 401 anonymous and to deploy tokens."""
    def answer(w):
        if w.bad:
            return INVALID_TOKEN[w.role]
        if w.deploy or w.anon:
            return UNAUTHORIZED
        return (405, {"message": "405 Method Not Allowed"})
    return answer


def access_token_body():
    """POST .../access_tokens's body: a registry token expiring in ten days."""
    expires = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=10)
    return {"name": "m", "scopes": ["read_registry"], "expires_at": expires.isoformat()}


API = {
    # users
    ("GET", "/api/v4/user"): ("none", lambda W, c: ("/user", None), anyone(write=True)),
    # the users API as GitLab with the public visibility level restricted: signed-in callers only
    ("GET", "/api/v4/users"): ("none", lambda W, c: ("/users", None), anyone(
        anon=(403, {"message": "403 Forbidden - Not authorized to access /api/v4/users"}))),
    ("POST", "/api/v4/users"): ("none", lambda W, c: ("/users", W.new_user_body()), admins(201)),
    ("GET", "/api/v4/users/:id"): ("none", lambda W, c: (f"/users/{W.subject.id}", None),
                                   anyone(anon=NOT_AUTHORIZED)),
    ("PUT", "/api/v4/users/:id"): ("none", lambda W, c: (f"/users/{W.subject.id}",
                                                         {"name": W.subject_name}), admins()),
    ("DELETE", "/api/v4/users/:id"): ("none", lambda W, c: (f"/users/{W.fresh_user(c)}", None),
                                      admins(204)),
    **{("POST", f"/api/v4/users/:id/{verb}"): (
        "none", lambda W, c, verb=verb: (f"/users/{W.fresh_user(c)}/{verb}", None), admins(201))
       for verb in ("block", "unblock", "unlock", "ban")},
    ("POST", "/api/v4/users/:id/unban"): (
        "none", lambda W, c: (f"/users/{W.fresh_user(c, banned=True)}/unban", None), admins(201)),
    ("POST", "/api/v4/users/:id/personal_access_tokens"): (
        "none", lambda W, c: (f"/users/{W.subject.id}/personal_access_tokens",
                              {"name": "m", "scopes": ["read_api"]}), admins(201)),
    ("GET", "/api/v4/personal_access_tokens"): (
        "none", lambda W, c: ("/personal_access_tokens", None), anyone(write=True)),
    ("GET", "/api/v4/personal_access_tokens/self"): (
        "none", lambda W, c: ("/personal_access_tokens/self", None), anyone(write=True)),
    ("DELETE", "/api/v4/personal_access_tokens/self"): (
        "none", lambda W, c: ("/personal_access_tokens/self", None, W.fresh_token_of(c)),
        anyone(204, write=True)),
    # GitLab tells only admins whether another user's token exists
    ("GET", "/api/v4/personal_access_tokens/:id"): (
        "none", lambda W, c: (f"/personal_access_tokens/{W.subject_pat}", None),
        lambda w: INVALID_TOKEN[w.role] if w.bad else 200 if w.admin else UNAUTHORIZED),
    ("DELETE", "/api/v4/personal_access_tokens/:id"): (
        "none", lambda W, c: (f"/personal_access_tokens/{W.fresh_pat(c)}", None),
        lambda w: (204 if w.admin else INVALID_TOKEN[w.role] if w.bad else UNAUTHORIZED
                   if not w.user
                   else (400, {"message": "400 Bad request"}))),
    ("GET", "/api/v4/users/:id/impersonation_tokens"): (
        "none", lambda W, c: (f"/users/{W.subject.id}/impersonation_tokens", None), admins()),
    ("POST", "/api/v4/users/:id/impersonation_tokens"): (
        "none", lambda W, c: (f"/users/{W.subject.id}/impersonation_tokens",
                              {"name": "m", "scopes": ["read_api"]}), admins(201)),
    ("GET", "/api/v4/users/:id/impersonation_tokens/:token_id"): (
        "none", lambda W, c: (f"/users/{W.subject.id}/impersonation_tokens/{W.subject_imp}",
                              None), admins()),
    ("DELETE", "/api/v4/users/:id/impersonation_tokens/:token_id"): (
        "none", lambda W, c: (f"/users/{W.subject.id}/impersonation_tokens/{W.fresh_imp(c)}",
                              None), admins(204)),
    ("GET", "/api/v4/users/:id/memberships"): (
        "none", lambda W, c: (f"/users/{W.subject.id}/memberships", None), admins()),
    ("GET", "/api/v4/user/status"): ("none", lambda W, c: ("/user/status", None),
                                     anyone(write=True)),
    ("PUT", "/api/v4/user/status"): ("none", lambda W, c: ("/user/status", {"message": "m"}),
                                     anyone(write=True)),
    ("PATCH", "/api/v4/user/status"): ("none", lambda W, c: ("/user/status", {"emoji": "dog"}),
                                       anyone(write=True)),
    ("GET", "/api/v4/users/:id/status"): (
        "none", lambda W, c: (f"/users/{W.subject.id}/status", None),
        anyone(anon=NOT_AUTHORIZED)),

    # deploy tokens: Maintainers of the project or group, admins; a group's are made and
    # deleted by its Owners (they reach every project below it)
    ("GET", "/api/v4/deploy_tokens"): ("none", lambda W, c: ("/deploy_tokens", None), admins()),
    ("GET", "/api/v4/projects/:id/deploy_tokens"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/deploy_tokens", None),
        project(need=40)),
    ("POST", "/api/v4/projects/:id/deploy_tokens"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/deploy_tokens",
                                 {"name": "m", "scopes": ["read_registry"]}), project(40, 201)),
    ("GET", "/api/v4/projects/:id/deploy_tokens/:token_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/deploy_tokens/"
                                 f"{P(W, c.target).project_token['id']}", None), project(need=40)),
    ("DELETE", "/api/v4/projects/:id/deploy_tokens/:token_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/deploy_tokens/"
                                 f"{W.fresh_deploy_token(c, 'projects', P(W, c.target).pid)}",
                                 None),
        project(40, 204)),
    ("GET", "/api/v4/groups/:id/deploy_tokens"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/deploy_tokens", None),
        group(need=40)),
    ("POST", "/api/v4/groups/:id/deploy_tokens"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/deploy_tokens",
                               {"name": "m", "scopes": ["read_registry"]}), group(50, 201)),
    ("GET", "/api/v4/groups/:id/deploy_tokens/:token_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/deploy_tokens/"
                               f"{P(W, c.target).group_token['id']}", None), group(need=40)),
    ("DELETE", "/api/v4/groups/:id/deploy_tokens/:token_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/deploy_tokens/"
                               f"{W.fresh_deploy_token(c, 'groups', P(W, c.target).gid)}", None),
        group(50, 204)),

    # project and group access tokens: a project's Maintainers and a group's Owners manage
    # them; GitLab answers others 401 on reads and rotations, 400 on creation and revocation
    ("GET", "/api/v4/projects/:id/access_tokens"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/access_tokens", None),
        project(need=40, refused=UNAUTHORIZED)),
    ("POST", "/api/v4/projects/:id/access_tokens"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/access_tokens",
                                 access_token_body()),
        project(40, 201, refused=(400, {"message": "400 Bad request - User does not have "
                                                   "permission to create project access token"}))),
    ("GET", "/api/v4/projects/:id/access_tokens/:token_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/access_tokens/"
                                 f"{P(W, c.target).project_access_token['id']}", None),
        project(need=40, refused=UNAUTHORIZED)),
    ("DELETE", "/api/v4/projects/:id/access_tokens/:token_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/access_tokens/"
                                 f"{W.fresh_access_token(c, 'projects')}", None),
        project(40, 204, refused=400)),
    ("POST", "/api/v4/projects/:id/access_tokens/:token_id/rotate"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/access_tokens/"
                                 f"{W.fresh_access_token(c, 'projects')}/rotate", None),
        project(40, 200, refused=UNAUTHORIZED)),
    ("POST", "/api/v4/projects/:id/access_tokens/self/rotate"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/access_tokens/self/rotate",
                                 None), people_not_bots()),
    ("GET", "/api/v4/groups/:id/access_tokens"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/access_tokens", None),
        group(need=50, refused=UNAUTHORIZED)),
    ("POST", "/api/v4/groups/:id/access_tokens"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/access_tokens",
                               access_token_body()),
        group(50, 201, refused=(400, {"message": "400 Bad request - User does not have "
                                                 "permission to create group access token"}))),
    ("GET", "/api/v4/groups/:id/access_tokens/:token_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/access_tokens/"
                               f"{P(W, c.target).group_access_token['id']}", None),
        group(need=50, refused=UNAUTHORIZED)),
    ("DELETE", "/api/v4/groups/:id/access_tokens/:token_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/access_tokens/"
                               f"{W.fresh_access_token(c, 'groups')}", None),
        group(50, 204, refused=400)),
    ("POST", "/api/v4/groups/:id/access_tokens/self/rotate"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/access_tokens/self/rotate", None),
        people_not_bots()),
    ("POST", "/api/v4/groups/:id/access_tokens/:token_id/rotate"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/access_tokens/"
                               f"{W.fresh_access_token(c, 'groups')}/rotate", None),
        group(50, 200, refused=UNAUTHORIZED)),

    # groups
    ("GET", "/api/v4/groups"): ("none", lambda W, c: ("/groups?all_available=true", None),
                                anyone()),
    ("POST", "/api/v4/groups"): ("none", lambda W, c: ("/groups", W.new_group_body()),
                                 anyone(201, write=True)),
    ("GET", "/api/v4/groups/:id"): ("group", lambda W, c: (f"/groups/{P(W, c.target).gid}", None),
                                    group(**READ)),
    ("PUT", "/api/v4/groups/:id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}",
                               {"description": P(W, c.target).description}), group(need=50)),
    ("DELETE", "/api/v4/groups/:id"): (
        "group", lambda W, c: (f"/groups/{W.fresh_subgroup(c, c.target)}", None), group(50, 202)),
    ("GET", "/api/v4/groups/:id/subgroups"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/subgroups", None), group(**READ)),
    ("GET", "/api/v4/groups/:id/descendant_groups"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/descendant_groups", None),
        group(**READ)),
    **{(m, "/api/v4/groups/:id/transfer"): (
        "group", lambda W, c: (f"/groups/{W.fresh_subgroup(c, c.target)}/transfer",
                               {"group_id": P(W, c.target).sub_gid}), group(50, ok))
       for m, ok in (("POST", 201), ("PUT", 200))},

    # projects
    ("GET", "/api/v4/projects"): ("none", lambda W, c: ("/projects", None), anyone()),
    ("POST", "/api/v4/projects"): ("none", lambda W, c: ("/projects", W.new_project_body()),
                                   anyone(201, write=True)),
    ("POST", "/api/v4/projects/user/:user_id"): (
        "none", lambda W, c: (f"/projects/user/{W.subject.id}", W.new_project_body()),
        admins(201)),
    ("GET", "/api/v4/projects/:id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}", None), project(**READ)),
    ("PUT", "/api/v4/projects/:id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}",
                                 {"description": P(W, c.target).description}), project(need=40)),
    ("DELETE", "/api/v4/projects/:id"): (
        "project", lambda W, c: (f"/projects/{W.fresh_project(c, c.target)}", None),
        project(50, 202)),
    ("PUT", "/api/v4/projects/:id/transfer"): (
        "project", lambda W, c: (f"/projects/{W.fresh_project(c, c.target)}/transfer",
                                 {"namespace": P(W, c.target).sub_gid}), project(need=50)),
    ("GET", "/api/v4/groups/:id/projects"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/projects", None), group(**READ)),
    ("POST", "/api/v4/groups/:id/projects/:project_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).sub_gid}/projects/"
                               f"{W.fresh_project(c, c.target)}", None), admins(201)),
    ("GET", "/api/v4/users/:user_id/projects"): (
        "none", lambda W, c: (f"/users/{W.subject.id}/projects", None), anyone()),

    # members: signed-in callers who see the object read them (GitLab's members API
    # authenticates first); Maintainers manage them
    **{(m, f"/api/v4/{kind}/:id/members{tail}"): (
        kind[:-1], lambda W, c, kind=kind, tail=tail: (
            f"/{kind}/{W.oid(kind, c.target)}/members{W.member_tail(kind, tail, c.target)}", None),
        (project if kind == "projects" else group)(**WRITE))
       for m, kind, tail in itertools.product(
           ("GET",), ("projects", "groups"), ("", "/all", "/all/:user_id", "/:user_id"))},
    **{("POST", f"/api/v4/{kind}/:id/members"): (
        kind[:-1], lambda W, c, kind=kind: (
            f"/{kind}/{W.oid(kind, c.target)}/members",
            {"user_id": W.fresh_user(c), "access_level": 10}),
        (project if kind == "projects" else group)(40, 201))
       for kind in ("projects", "groups")},
    **{("PUT", f"/api/v4/{kind}/:id/members/:user_id"): (
        kind[:-1], lambda W, c, kind=kind: (
            f"/{kind}/{W.oid(kind, c.target)}/members/{W.subject.id}", {"access_level": 20}),
        (project if kind == "projects" else group)(40))
       for kind in ("projects", "groups")},
    **{("DELETE", f"/api/v4/{kind}/:id/members/:user_id"): (
        kind[:-1], lambda W, c, kind=kind: (
            f"/{kind}/{W.oid(kind, c.target)}/members/{W.fresh_member(c, kind, c.target)}", None),
        (project if kind == "projects" else group)(40, 204))
       for kind in ("projects", "groups")},

    # namespaces
    ("GET", "/api/v4/namespaces"): ("none", lambda W, c: ("/namespaces", None),
                                    anyone(write=True)),
    ("GET", "/api/v4/namespaces/:id"): (
        "group", lambda W, c: (f"/namespaces/{P(W, c.target).gid}", None),
        group(write=True, not_found=(404, {"message": "404 Namespace Not Found"}))),
    ("PUT", "/api/v4/namespaces/:id"): (
        "group", lambda W, c: (f"/namespaces/{P(W, c.target).gid}",
                               {"container_registry_storage_limit": 0}), admins()),
    ("GET", "/api/v4/namespaces/:id/exists"): (
        "group", lambda W, c: (f"/namespaces/{P(W, c.target).group_path}/exists", None),
        anyone(write=True)),

    # shares
    ("POST", "/api/v4/projects/:id/share"): (
        "project", lambda W, c: (f"/projects/{W.fresh_project(c, c.target)}/share",
                                 {"group_id": P(W, c.target).sub_gid, "group_access": 10}),
        project(40, 201)),
    ("DELETE", "/api/v4/projects/:id/share/:group_id"): (
        "project", lambda W, c: (f"/projects/{W.fresh_project(c, c.target, shared=True)}/share/"
                                 f"{P(W, c.target).sub_gid}", None), project(40, 204)),
    ("GET", "/api/v4/projects/:id/groups"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/groups", None), project(**READ)),
    ("POST", "/api/v4/groups/:id/share"): (
        "group", lambda W, c: (f"/groups/{W.fresh_subgroup(c, c.target)}/share",
                               {"group_id": P(W, c.target).sub_gid, "group_access": 10}),
        group(50, 201, refused=(404, {"message": "Not Found"}))),
    ("DELETE", "/api/v4/groups/:id/share/:group_id"): (
        "group", lambda W, c: (f"/groups/{W.fresh_subgroup(c, c.target, shared=True)}/share/"
                               f"{P(W, c.target).sub_gid}", None),
        group(50, 204, refused=(404, {"message": "Not Found"}))),

    # the Container Registry API: read with the registry's pull right, delete tags from
    # Developer, repositories and tags in bulk from Maintainer
    ("GET", "/api/v4/projects/:id/registry/repositories"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/registry/repositories?tags=true",
                                 None), project(write=False, need_pull=True)),
    ("DELETE", "/api/v4/projects/:id/registry/repositories/:repository_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/registry/repositories/"
                                 f"{W.fresh_repo(c, c.target)[0]}", None),
        project(40, 202, need_pull=True)),
    ("GET", "/api/v4/projects/:id/registry/repositories/:repository_id/tags"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/registry/repositories/"
                                 f"{P(W, c.target).repo_id}/tags", None),
        project(write=False, need_pull=True)),
    ("DELETE", "/api/v4/projects/:id/registry/repositories/:repository_id/tags"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/registry/repositories/"
                                 f"{W.fresh_repo(c, c.target)[0]}/tags",
                                 {"name_regex_delete": "nothing"}),
        project(40, 202, need_pull=True)),
    ("GET", "/api/v4/projects/:id/registry/repositories/:repository_id/tags/:tag_name"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/registry/repositories/"
                                 f"{P(W, c.target).repo_id}/tags/{P(W, c.target).tag}", None),
        project(write=False, need_pull=True)),
    ("DELETE", "/api/v4/projects/:id/registry/repositories/:repository_id/tags/:tag_name"): (
        "project", lambda W, c: (lambda rid, tag: (
            f"/projects/{P(W, c.target).pid}/registry/repositories/{rid}/tags/{tag}", None))(
            *W.fresh_repo(c, c.target)), project(30, 200, need_pull=True)),
    # protection rules of the registry: Maintainers manage them (GitLab's admin_container_image)
    ("GET", "/api/v4/projects/:id/registry/protection/tag/rules"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/registry/protection/tag/rules",
                                 None), project(40, 200, need_pull=True)),
    ("POST", "/api/v4/projects/:id/registry/protection/tag/rules"): (
        "project", lambda W, c: (f"/projects/{W.fresh_project(c, c.target)}/registry/protection/"
                                 "tag/rules", {"tag_name_pattern": "^v.*",
                                               "minimum_access_level_for_push": "maintainer",
                                               "minimum_access_level_for_delete": "owner"}),
        project(40, 201, need_pull=True)),
    ("PATCH", "/api/v4/projects/:id/registry/protection/tag/rules/:protection_rule_id"): (
        "project", lambda W, c: (lambda pid, rid: (
            f"/projects/{pid}/registry/protection/tag/rules/{rid}",
            {"minimum_access_level_for_push": "owner"}))(*W.fresh_tag_rule(c, c.target)),
        project(40, 200, need_pull=True)),
    ("DELETE", "/api/v4/projects/:id/registry/protection/tag/rules/:protection_rule_id"): (
        "project", lambda W, c: (lambda pid, rid: (
            f"/projects/{pid}/registry/protection/tag/rules/{rid}", None))(
            *W.fresh_tag_rule(c, c.target)), project(40, 204, need_pull=True)),
    ("GET", "/api/v4/projects/:id/registry/protection/repository/rules"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/registry/protection/"
                                 "repository/rules", None), project(40, 200, need_pull=True)),
    ("POST", "/api/v4/projects/:id/registry/protection/repository/rules"): (
        "project", lambda W, c: (lambda pid: (
            f"/projects/{pid}/registry/protection/repository/rules",
            {"repository_path_pattern": f"{W.project_path(pid)}/img*",
             "minimum_access_level_for_delete": "owner"}))(W.fresh_project(c, c.target)),
        project(40, 201, need_pull=True)),
    ("PATCH", "/api/v4/projects/:id/registry/protection/repository/rules/:protection_rule_id"): (
        "project", lambda W, c: (lambda pid, rid: (
            f"/projects/{pid}/registry/protection/repository/rules/{rid}",
            {"minimum_access_level_for_push": "owner"}))(*W.fresh_repository_rule(c, c.target)),
        project(40, 200, need_pull=True)),
    ("DELETE", "/api/v4/projects/:id/registry/protection/repository/rules/:protection_rule_id"): (
        "project", lambda W, c: (lambda pid, rid: (
            f"/projects/{pid}/registry/protection/repository/rules/{rid}", None))(
            *W.fresh_repository_rule(c, c.target)), project(40, 204, need_pull=True)),
    ("GET", "/api/v4/groups/:id/registry/repositories"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/registry/repositories", None),
        group(**READ)),

    # webhooks: a project's need Maintainer, a group's Owner; the settings are admins'
    ("GET", "/api/v4/projects/:id/hooks"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/hooks", None), project(40)),
    ("POST", "/api/v4/projects/:id/hooks"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/hooks", HOOK_BODY),
        project(40, 201)),
    ("GET", "/api/v4/projects/:id/hooks/:hook_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/hooks/"
                                 f"{P(W, c.target).project_hook}", None), project(40)),
    ("PUT", "/api/v4/projects/:id/hooks/:hook_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/hooks/"
                                 f"{P(W, c.target).project_hook}", {"name": "m"}), project(40)),
    ("DELETE", "/api/v4/projects/:id/hooks/:hook_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/hooks/"
                                 f"{W.fresh_hook(c, 'projects')}", None), project(40, 204)),
    ("POST", "/api/v4/projects/:id/hooks/:hook_id/test/:trigger"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/hooks/"
                                 f"{P(W, c.target).project_hook}/test/container_registry_events",
                                 None), project(40, 201)),
    ("GET", "/api/v4/projects/:id/hooks/:hook_id/events"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/hooks/"
                                 f"{P(W, c.target).project_hook}/events", None), project(40)),
    ("POST", "/api/v4/projects/:id/hooks/:hook_id/events/:hook_event_id/resend"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/hooks/"
                                 f"{P(W, c.target).project_hook}/events/"
                                 f"{P(W, c.target).project_hook_log}/resend", None),
        project(40, 201)),
    ("GET", "/api/v4/groups/:id/hooks"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/hooks", None), group(50)),
    ("POST", "/api/v4/groups/:id/hooks"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/hooks", HOOK_BODY), group(50, 201)),
    ("GET", "/api/v4/groups/:id/hooks/:hook_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/hooks/"
                               f"{P(W, c.target).group_hook}", None), group(50)),
    ("PUT", "/api/v4/groups/:id/hooks/:hook_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/hooks/"
                               f"{P(W, c.target).group_hook}", {"name": "m"}), group(50)),
    ("DELETE", "/api/v4/groups/:id/hooks/:hook_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/hooks/"
                               f"{W.fresh_hook(c, 'groups')}", None), group(50, 204)),
    ("POST", "/api/v4/groups/:id/hooks/:hook_id/test/:trigger"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/hooks/"
                               f"{P(W, c.target).group_hook}/test/container_registry_events",
                               None), group(50, 201)),
    ("GET", "/api/v4/groups/:id/hooks/:hook_id/events"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/hooks/"
                               f"{P(W, c.target).group_hook}/events", None), group(50)),
    ("POST", "/api/v4/groups/:id/hooks/:hook_id/events/:hook_event_id/resend"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/hooks/"
                               f"{P(W, c.target).group_hook}/events/"
                               f"{P(W, c.target).group_hook_log}/resend", None),
        group(50, 201)),
    # audit events (signed-in callers only): a project's Developers (a group's Developers and
    # Maintainers) see only their own, Maintainers (Owners) all, the instance's are admins'
    ("GET", "/api/v4/audit_events"): ("none", lambda W, c: ("/audit_events", None), admins()),
    ("GET", "/api/v4/audit_events/:id"): (
        "project", lambda W, c: (f"/audit_events/{P(W, c.target).project_event}", None),
        admins()),
    ("GET", "/api/v4/projects/:id/audit_events"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/audit_events", None),
        project(30)),
    ("GET", "/api/v4/projects/:id/audit_events/:audit_event_id"): (
        "project", lambda W, c: (f"/projects/{P(W, c.target).pid}/audit_events/"
                                 f"{P(W, c.target).project_event}", None),
        others_event(project(30), 40)),
    ("GET", "/api/v4/groups/:id/audit_events"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/audit_events", None),
        group(30)),
    ("GET", "/api/v4/groups/:id/audit_events/:audit_event_id"): (
        "group", lambda W, c: (f"/groups/{P(W, c.target).gid}/audit_events/"
                               f"{P(W, c.target).group_event}", None),
        others_event(group(30), 50)),
    ("GET", "/api/v4/application/settings"): (
        "none", lambda W, c: ("/application/settings", None), admins()),
    ("PUT", "/api/v4/application/settings"): (
        "none", lambda W, c: ("/application/settings",
                              {"allow_local_requests_from_web_hooks_and_services": False}),
        admins()),
    ("GET", "/api/v4/registry/repositories/:id"): (
        "project", lambda W, c: (f"/registry/repositories/{P(W, c.target).repo_id}?tags=true",
                                 None),
        project(write=False, need_pull=True, not_found=(404, {"message": "404 Not found"}))),
}

# /v2: (target kind, fill(world, who, name) -> (method, path, requests kwargs), status when the
# token grants the row's action). Allowed calls that would change something name what does not
# exist (an unknown upload or digest, a manifest naming a missing blob) and get its refusal.
UNKNOWN = "sha256:" + "0" * 64

V2 = {
    ("*", "/v2/"): ("none", lambda W, c, n: ("GET", "/v2/", {}), 200),
    ("GET", "/v2/_catalog"): ("none", lambda W, c, n: ("GET", "/v2/_catalog?n=1000", {}), 200),
    ("POST", "/v2/:name/blobs/uploads/"): (
        "project", lambda W, c, n: ("POST", f"/v2/{n}/blobs/uploads/", {}), 202),
    **{(m, "/v2/:name/blobs/uploads/:uuid"): (
        "project", lambda W, c, n, m=m: (m, f"/v2/{n}/blobs/uploads/{uuid.uuid4()}",
                                         {"params": {"digest": UNKNOWN}} if m == "PUT" else {}),
        (404, "BLOB_UPLOAD_UNKNOWN")) for m in ("GET", "PATCH", "PUT", "DELETE")},
    ("GET", "/v2/:name/blobs/:digest"): (
        "project", lambda W, c, n: ("GET", f"/v2/{n}/blobs/{P(W, c.target).layer}", {}), 200),
    ("DELETE", "/v2/:name/blobs/:digest"): (
        "project", lambda W, c, n: ("DELETE", f"/v2/{n}/blobs/{UNKNOWN}", {}),
        (404, "BLOB_UNKNOWN")),
    ("GET", "/v2/:name/manifests/:reference"): (
        "project", lambda W, c, n: ("GET", f"/v2/{n}/manifests/{P(W, c.target).tag}",
                                    {"headers": {"Accept": OCI_MANIFEST}}), 200),
    ("PUT", "/v2/:name/manifests/:reference"): (
        "project", lambda W, c, n: ("PUT", f"/v2/{n}/manifests/m", {
            "data": json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                           "digest": UNKNOWN, "size": 2},
                                "layers": []}),
            "headers": {"Content-Type": OCI_MANIFEST}}), (400, "MANIFEST_BLOB_UNKNOWN")),
    ("DELETE", "/v2/:name/manifests/:reference"): (
        "project", lambda W, c, n: ("DELETE", f"/v2/{n}/manifests/{UNKNOWN}", {}),
        (404, "MANIFEST_UNKNOWN")),
    ("GET", "/v2/:name/tags/list"): (
        "project", lambda W, c, n: ("GET", f"/v2/{n}/tags/list", {}), 200),
    ("GET", "/v2/:name/referrers/:digest"): (
        "project", lambda W, c, n: ("GET", f"/v2/{n}/referrers/{P(W, c.target).manifest}", {}),
        200),
}

# the routes that take credentials themselves: the token service is asked by every /v2 case
# (test_v2_matrix checks its answer); /oauth/token refuses a caller's token as a password;
# /oauth/revoke revokes OAuth tokens only, whatever credentials come with it
OPEN = {
    ("GET", "/jwt/auth"): "asked for every /v2 case",
    ("POST", "/oauth/token"): "test_oauth_token_refuses_tokens_as_passwords",
    ("POST", "/oauth/revoke"): "test_oauth_revoke_leaves_other_credentials_alone",
}

ACTIONS = {"ACT_PULL": "pull", "ACT_PUSH": "push", "ACT_DELETE": "delete"}


def test_every_route_has_a_matrix_entry():
    """Each row of routes.def has its entry (how to fill its parameters, what each role gets),
    and each entry its row."""
    rows = {(m, p): k for k, _, m, p, _ in parse_routes()}
    entries = {**{k: "ROUTE_API" for k in API}, **{k: "ROUTE_V2" for k in V2},
               **{k: "ROUTE_OPEN" for k in OPEN}}
    assert {k: v for k, v in rows.items() if entries.get(k) != v} == {}, "rows without entry"
    assert {k: v for k, v in entries.items() if rows.get(k) != v} == {}, "entries without row"
    assert len(rows) > 100


# -- the world ------------------------------------------------------------------------------------

class Target:
    """A group of one visibility (the owner made it; every member role on it), its project
    (the same visibility) with an image, deploy tokens, and a subgroup."""


class World:
    """The instance, the callers, the targets, and what the fills ask of them."""

    def __init__(self, registry):
        import threading
        self.reg = registry
        self.tag = uuid.uuid4().hex[:6]
        self.lock = threading.Lock()
        self.count = itertools.count()
        self.targets = {}
        self.pool = []

    def sql(self, statement):
        """Runs SQL (only for what no API offers: many users at once, an expired token)."""
        return self.reg.pg.psql(self.reg.name, statement)

    def root(self, method, path, status, **kw):
        """A call as root that must answer status; its JSON."""
        r = self.reg.api(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def n(self):
        """A number for a unique name."""
        with self.lock:
            return next(self.count)

    # -- what the matrix's fills ask for
    def new_user_body(self):
        """POST /users's body for a new user."""
        i = self.n()
        return {"username": f"mx{self.tag}n{i}", "name": "N", "email": f"mx{self.tag}n{i}@e.org",
                "password": f"Pw-{self.tag}-{i}-long!"}

    def new_group_body(self):
        """POST /groups's body for a new top-level group."""
        i = self.n()
        return {"name": f"mx{self.tag}g{i}", "path": f"mx{self.tag}g{i}"}

    def new_project_body(self):
        """POST /projects's body for a new project."""
        return {"name": f"mx{self.tag}p{self.n()}"}

    # -- objects a destructive route acts on: a fresh one for a call the rules allow, the
    # target's own for one they refuse (refused, it must change nothing)

    def make_user_pools(self):
        """Users made with SQL in one statement (hashing passwords is slow): active and
        banned ones."""
        for attr, state, n in (("pool", "active", 250), ("banned_pool", "banned", 20)):
            out = self.sql("INSERT INTO users (username, name, email, state) SELECT "
                           f"'mx{self.tag}{state}' || i, 'F', 'mx{self.tag}{state}' || i ||"
                           f" '@e.org', '{state}' FROM generate_series(1, {n}) i RETURNING id")
            setattr(self, attr, [int(x) for x in out.split()])

    def fresh_user(self, c, banned=False):
        """A user of the pool, or the subject."""
        if not c.allowed:
            return self.subject.id
        with self.lock:
            return (self.banned_pool if banned else self.pool).pop()

    def fresh_pat(self, c):
        """A personal access token of the subject's."""
        if not c.allowed:
            return self.subject_pat
        return self.root("POST", f"/users/{self.subject.id}/personal_access_tokens", 201,
                         json={"name": "f", "scopes": ["read_api"]})["id"]

    def fresh_token_of(self, c):
        """A token of the caller's own (DELETE /personal_access_tokens/self revokes it)."""
        if not (c.allowed and c.user):
            return None
        return self.root("POST", f"/users/{self.callers[c.role].id}/personal_access_tokens",
                         201, json={"name": "f", "scopes": ["api"]})["token"]

    def fresh_imp(self, c):
        """An impersonation token of the subject's."""
        if not c.allowed:
            return self.subject_imp
        return self.root("POST", f"/users/{self.subject.id}/impersonation_tokens", 201,
                         json={"name": "f", "scopes": ["read_api"]})["id"]

    def fresh_deploy_token(self, c, kind, oid):
        """A deploy token of the target's project or group."""
        if not c.allowed:
            t = self.targets[c.target]
            return (t.project_token if kind == "projects" else t.group_token)["id"]
        return self.root("POST", f"/{kind}/{oid}/deploy_tokens", 201,
                         json={"name": "f", "scopes": ["read_registry"]})["id"]

    def fresh_access_token(self, c, kind):
        """An access token of the target's project or group."""
        t = self.targets[c.target]
        if not c.allowed:
            return (t.project_access_token if kind == "projects" else t.group_access_token)["id"]
        return self.root("POST", f"/{kind}/{t.pid if kind == 'projects' else t.gid}/access_tokens",
                         201, json=access_token_body())["id"]

    def fresh_subgroup(self, c, vis, shared=False):
        """A subgroup of the target's group (shared with its subgroup: always a fresh one)."""
        if not (c.allowed or shared):
            return self.targets[vis].gid
        i = self.n()
        g = self.root("POST", "/groups", 201, json={
            "name": f"f{i}", "path": f"f{i}", "parent_id": self.targets[vis].gid,
            "visibility": self.targets[vis].vis})["id"]
        if shared:
            self.root("POST", f"/groups/{g}/share", 201,
                      json={"group_id": self.targets[vis].sub_gid, "group_access": 10})
        return g

    def fresh_project(self, c, vis, shared=False):
        """A project in the target's group (shared with its subgroup: always a fresh one)."""
        if not (c.allowed or shared):
            return self.targets[vis].pid
        p = self.root("POST", "/projects", 201, json={
            "name": f"f{self.n()}", "namespace_id": self.targets[vis].gid,
            "visibility": self.targets[vis].vis})["id"]
        if shared:
            self.root("POST", f"/projects/{p}/share", 201,
                      json={"group_id": self.targets[vis].sub_gid, "group_access": 10})
        return p

    def fresh_member(self, c, kind, vis):
        """A direct member (Guest) of the target's project or group."""
        if not c.allowed:
            return self.subject.id
        uid = self.fresh_user(c)
        self.root("POST", f"/{kind}/{self.oid(kind, vis)}/members", 201,
                  json={"user_id": uid, "access_level": 10})
        return uid

    def fresh_hook(self, c, kind):
        """A hook of the target's project or group (its own when the call is refused)."""
        t = self.targets[c.target]
        if not c.allowed:
            return t.project_hook if kind == "projects" else t.group_hook
        oid = t.pid if kind == "projects" else t.gid
        return self.root("POST", f"/{kind}/{oid}/hooks", 201, json=HOOK_BODY)["id"]

    def fresh_tag_rule(self, c, vis):
        """A tag protection rule of a project of the target's group: (project id, rule id)."""
        if not c.allowed:
            return self.targets[vis].pid, self.targets[vis].rule_id
        p = self.fresh_project(c, vis)
        rule = self.root("POST", f"/projects/{p}/registry/protection/tag/rules", 201,
                         json={"tag_name_pattern": "^fresh$",
                               "minimum_access_level_for_push": "maintainer",
                               "minimum_access_level_for_delete": "maintainer"})
        return p, rule["id"]

    def fresh_repository_rule(self, c, vis):
        """A container repository protection rule of a project of the target's group:
        (project id, rule id)."""
        if not c.allowed:
            return self.targets[vis].pid, self.targets[vis].repo_rule_id
        p = self.fresh_project(c, vis)
        rule = self.root("POST", f"/projects/{p}/registry/protection/repository/rules", 201,
                         json={"repository_path_pattern": f"{self.project_path(p)}/fresh*",
                               "minimum_access_level_for_push": "maintainer"})
        return p, rule["id"]

    def project_path(self, pid):
        return self.root("GET", f"/projects/{pid}", 200)["path_with_namespace"]

    def fresh_repo(self, c, vis):
        """A repository of its own below the target's project with a tag: (id, tag)."""
        t = self.targets[vis]
        if not c.allowed:
            return t.repo_id, t.tag
        name = f"{t.path}/f{self.n()}"
        client(self.reg, (name, "pull,push")).push_image(name, "t", layers=())
        repos = self.root("GET", f"/projects/{t.pid}/registry/repositories?per_page=100", 200)
        return next(r["id"] for r in repos if r["path"] == name), "t"

    def oid(self, kind, vis):
        """The id of the target's project or group."""
        return self.targets[vis].pid if kind == "projects" else self.targets[vis].gid

    def member_tail(self, kind, tail, vis):
        """A members route's tail with the subject (a direct member) for :user_id."""
        return tail.replace(":user_id", str(self.subject.id))


def plant(w, owner, vis, marker, group_path, members=()):
    """A target: group, subgroup, project with an image whose tag and layer carry the marker."""
    t = Target()
    t.vis, t.group_path = vis, group_path
    t.description = f"about {marker}-name"
    t.names_marker, t.content_marker = f"{marker}-name", f"{marker}-content"
    t.gid = owner.ok("POST", "/groups", json={"name": group_path, "path": group_path,
                                              "visibility": vis,
                                              "description": t.description})["id"]
    t.sub_gid = owner.ok("POST", "/groups", json={"name": "sub", "path": "sub",
                                                  "parent_id": t.gid, "visibility": vis})["id"]
    p = owner.ok("POST", "/projects", json={"name": "app", "namespace_id": t.gid,
                                            "visibility": vis, "description": t.description})
    t.pid, t.path = p["id"], p["path_with_namespace"]
    for user, level in members:
        owner.ok("POST", f"/groups/{t.gid}/members", json={"user_id": user.id,
                                                           "access_level": level})
    c = client(w.reg, (t.path, "pull,push"))
    t.tag = f"{marker}-content"
    layer = f"layer of {marker}-content".encode()
    t.layer = sha256(layer)
    t.manifest, _ = c.push_image(t.path, t.tag, layers=(layer,))
    t.repo_id = owner.ok("GET", f"/projects/{t.pid}/registry/repositories")[0]["id"]
    t.rule_id = owner.ok("POST", f"/projects/{t.pid}/registry/protection/tag/rules",
                         json={"tag_name_pattern": f"^{marker}-rule$",
                               "minimum_access_level_for_push": "maintainer",
                               "minimum_access_level_for_delete": "maintainer"})["id"]
    t.repo_rule_id = owner.ok("POST", f"/projects/{t.pid}/registry/protection/repository/rules",
                              json={"repository_path_pattern": f"{t.path}/none-{marker}*",
                                    "minimum_access_level_for_push": "maintainer"})["id"]
    return t


@pytest.fixture(scope="module")
def registry(pg, workdir):
    """The module's own instance: hundreds of refused credentials would slow sign-ins down for
    the tests sharing the common one. It trusts the local proxy, and each case speaks from an
    address of its own (X-Forwarded-For), so the throttle of failed sign-ins per address
    (authd/ratelimit.c) leaves the matrix's answers alone."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    reg = Registry(pg, workdir, f"reg_{worker}_matrix", extra_config={"gateway": {
        "trusted_proxies": "127.0.0.1", "forwarded_hosts": "registry.example.com"}}).start()
    yield reg
    reg.stop()


_addresses = itertools.count(1)


def address():
    """A client address of its own for one case."""
    n = next(_addresses)
    return {"X-Forwarded-For": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}


def plant_target(w, people, vis, members):
    """Target vis: tenant A's (owner: the owner; every role a member of its group) or the
    hidden tenant's; the subject a direct member of its project, deploy tokens."""
    owner = people["hidden" if vis == "hidden" else "owner"]
    t = w.targets[vis] = plant(w, owner, "private" if vis == "hidden" else vis,
                               f"mk{w.tag}{vis[:3]}", f"mx{w.tag}{vis}g",
                               [(w.subject, 20)] if vis == "hidden" else members)
    owner.ok("POST", f"/projects/{t.pid}/members",
             json={"user_id": w.subject.id, "access_level": 20})
    t.group_token = w.root("POST", f"/groups/{t.gid}/deploy_tokens", 201,
                           json={"name": "r", "scopes": ["read_registry"]})
    t.group_write_token = w.root("POST", f"/groups/{t.gid}/deploy_tokens", 201,
                                 json={"name": "w", "scopes": ["write_registry"]})
    t.project_token = w.root("POST", f"/projects/{t.pid}/deploy_tokens", 201,
                             json={"name": "p", "scopes": ["read_registry"]})
    t.project_access_token = w.root("POST", f"/projects/{t.pid}/access_tokens", 201,
                                    json=access_token_body())
    t.group_access_token = w.root("POST", f"/groups/{t.gid}/access_tokens", 201,
                                  json=access_token_body())
    t.project_hook = w.root("POST", f"/projects/{t.pid}/hooks", 201, json=HOOK_BODY)["id"]
    t.group_hook = w.root("POST", f"/groups/{t.gid}/hooks", 201, json=HOOK_BODY)["id"]
    # a delivery log of each (a delivery to the matrix's hook url never succeeds)
    t.project_hook_log, t.group_hook_log = (int(w.sql(
        "INSERT INTO hook_logs (hook_id, trigger, url, request_headers, request_data,"
        f" response_status) VALUES ({h}, 'container_registry_hooks', '{HOOK_BODY['url']}',"
        " '{}', '{}', 'internal error') RETURNING id")) for h in (t.project_hook, t.group_hook))
    # events root's calls above recorded (root wrote them: a Developer does not see them)
    t.project_event = w.root("GET", f"/projects/{t.pid}/audit_events", 200)[0]["id"]
    t.group_event = w.root("GET", f"/groups/{t.gid}/audit_events", 200)[0]["id"]


@pytest.fixture(scope="module")
def world(registry):
    """The callers (users with a personal access token each), the four targets, a pool of users
    and the revoked and expired tokens; made concurrently."""
    w = World(registry)
    tag = w.tag
    roles = ("other", *MEMBERS, "admin", "subject", "hidden")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        people = dict(zip(roles, ex.map(lambda role: create_user(
            registry, f"mx{tag}{role}", admin=(role == "admin")), roles)))
    w.subject, w.subject_name = people["subject"], people["subject"].username.capitalize()
    members = [(people[r], lvl) for r, lvl in MEMBERS.items() if r != "owner"]
    members.append((w.subject, 20))
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda vis: plant_target(w, people, vis, members), TARGETS))
    w.hidden = w.targets["hidden"]
    w.make_user_pools()
    w.subject_pat = w.root("POST", f"/users/{w.subject.id}/personal_access_tokens", 201,
                           json={"name": "s", "scopes": ["read_api"]})["id"]
    w.subject_imp = w.root("POST", f"/users/{w.subject.id}/impersonation_tokens", 201,
                           json={"name": "s", "scopes": ["read_api"]})["id"]
    dev = people["developer"]
    revoked = w.root("POST", f"/users/{dev.id}/personal_access_tokens", 201,
                     json={"name": "revoked", "scopes": ["api"]})
    w.root("DELETE", f"/personal_access_tokens/{revoked['id']}", 204)
    expired = w.root("POST", f"/users/{dev.id}/personal_access_tokens", 201,
                     json={"name": "expired", "scopes": ["api"]})
    w.sql(f"UPDATE personal_access_tokens SET expires_at = current_date - 1"
          f" WHERE id = {expired['id']}")
    w.callers = people
    w.bad_tokens = {"revoked": (dev.username, revoked["token"]),
                    "expired": (dev.username, expired["token"])}
    w.secrets = [t[k]["token"] for t in (vars(x) for x in w.targets.values())
                 for k in ("group_token", "group_write_token", "project_token",
                           "project_access_token", "group_access_token") if k in t]
    w.secrets += [people["hidden"].token, w.subject.token]
    return w


def credentials(w, role, vis):
    """(username, secret) the role signs in with (None: anonymous) for a target's visibility."""
    if role == "anonymous":
        return None
    if role in BAD:
        return w.bad_tokens[role]
    if role in DEPLOY:
        t = w.targets["private" if vis in (None, "hidden") else vis]
        token = t.group_token if role == "deploy_read" else t.group_write_token
        return token["username"], token["token"]
    return w.callers[role].username, w.callers[role].token


# -- what a body may carry ------------------------------------------------------------------------

def leaks(w, role, body, pulls_of, seen):
    """Markers and secrets in body the role may not see: pulls_of(vis) says whether it may read
    a target's images, Who(role, vis).sees whether its names. Adds the markers found to seen
    (the tests check each marker was found somewhere: the search is not blind)."""
    out = []
    seen.update(m for t in w.targets.values() for m in (t.names_marker, t.content_marker)
                if m in body)
    for s in w.secrets:
        if s in body:
            out.append("a token secret")
    for t in w.targets.values():
        hidden = t is w.hidden
        if t.names_marker in body and not (role == "admin" or (not hidden and (
                Who(role, t.vis).sees or pulls_of(t.vis)))):
            out.append(t.names_marker)
        if t.content_marker in body and not (role == "admin" or (not hidden and pulls_of(t.vis))):
            out.append(t.content_marker)
    return out


def summary(prefix, table, cases):
    """Prints routes x callers x targets and the number of cases."""
    per = sum(1 for k in table if table[k][0] != "none")
    print(f"\n{prefix} isolation matrix: {len(table)} routes ({per} on {len(TARGETS)} targets:"
          f" {', '.join(TARGETS)}; {len(table) - per} without) x {len(ROLES)} callers ="
          f" {len(cases)} cases checked")


def run_all(cases, fn, workers=8):
    """fn over the cases, concurrently; the concatenated lists of what was wrong."""
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return [x for r in ex.map(fn, cases) for x in r]


def api_cases():
    """(method, pattern, role, target) of every /api/v4 case."""
    for (method, pattern), (kind, _, _) in sorted(API.items()):
        for role in ROLES:
            for vis in (TARGETS if kind != "none" else (None,)):
                yield method, pattern, role, vis


def test_api_matrix(world):
    """Every /api/v4 row x caller x visibility: GitLab's answer, nothing it may not see."""
    w = world

    def one(case):
        method, pattern, role, vis = case
        _, fill, answer = API[(method, pattern)]
        who = Who(role, vis)
        want = answer(who)
        who.allowed = (want if isinstance(want, int) else want[0]) < 300
        filled = fill(w, who)
        path, body = filled[0], filled[1]
        token = filled[2] if len(filled) > 2 and filled[2] else None
        if token is None:
            creds = credentials(w, role, vis)
            token = creds[1] if creds else None
        headers = dict(address(), **({"PRIVATE-TOKEN": token} if token else {}))
        r = requests.request(method, f"{w.reg.url}/api/v4{path}", json=body, headers=headers,
                             timeout=60)
        got = r.status_code
        wrong = []
        if isinstance(want, tuple):
            try:
                payload = r.json()
            except ValueError:
                payload = r.text
            if (got, payload) != want:
                wrong.append((method, pattern, role, vis, path, (got, payload), want))
        elif got != want:
            wrong.append((method, pattern, role, vis, path, got, r.text[:200], want))
        bad = leaks(w, role, r.text, lambda v: role != "anonymous" and role in MEMBERS
                    and MEMBERS[role] >= 20 or Who(role, v).pulls or role == "admin", seen)
        if bad:
            wrong.append((method, pattern, role, vis, path, "leaks", bad))
        return wrong

    seen = set()
    cases = list(api_cases())
    wrong = run_all(cases, one)
    summary("/api/v4", API, cases)
    assert wrong == [], "\n".join(map(repr, wrong[:60])) + f"\n({len(wrong)} wrong)"
    assert seen == {m for t in w.targets.values() for m in (t.names_marker, t.content_marker)}
    # the refused calls on destructive routes named the targets' own objects: all still there
    for t in w.targets.values():
        tags = w.root("GET", f"/projects/{t.pid}/registry/repositories/{t.repo_id}/tags", 200)
        assert [x["name"] for x in tags] == [t.tag]
        assert w.root("GET", f"/groups/{t.gid}", 200)["description"] == t.description
        members = w.root("GET", f"/projects/{t.pid}/members", 200)
        assert [m["access_level"] for m in members if m["id"] == w.subject.id] == [20]
        tokens = w.root("GET", f"/projects/{t.pid}/deploy_tokens", 200)
        assert t.project_token["id"] in [x["id"] for x in tokens if not x["revoked"]]
        tokens = w.root("GET", f"/groups/{t.gid}/deploy_tokens", 200)
        assert {t.group_token["id"], t.group_write_token["id"]} <= {
            x["id"] for x in tokens if not x["revoked"]}
    assert w.root("GET", f"/users/{w.subject.id}", 200)["state"] == "active"
    assert w.root("GET", f"/personal_access_tokens/{w.subject_pat}", 200)["active"] is True


def v2_right(role, target, action):
    """Whether the token service grants action on a target's repository: test_authd_jwt's
    rules (registry_right; the deploy tokens are the target's group's), the admin alone on the
    hidden tenant's."""
    if role in BAD:
        return False
    if target == "hidden":
        return role == "admin"
    return registry_right({"other": "none"}.get(role, role), action, target, "enabled")


def test_v2_matrix(world):
    """Every /v2 row x caller x visibility: the token service grants exactly what the rules
    give (refusing bad credentials with 401, anonymous callers it grants nothing with 403), the
    request with that token (or none) succeeds when granted and is challenged (401, Bearer,
    insufficient_scope) when not, and no body carries what the caller may not read."""
    w = world
    routes = {(m, p): need for kind, _, m, p, need in parse_routes() if kind == "ROUTE_V2"}

    def one(case):
        (method, pattern), role, vis = case
        kind, fill, ok = V2[(method, pattern)]
        who = Who(role, vis)
        need = routes[(method, pattern)]
        name = w.targets[vis].path if vis else None
        params = [("service", "container_registry")]
        if need == "ACT_STAR":
            params.append(("scope", "registry:catalog:*"))
            allowed = who.user
        elif need in ACTIONS:
            params.append(("scope", f"repository:{name}:{ACTIONS[need]}"))
            allowed = v2_right(role, vis, ACTIONS[need])
        else:
            allowed = not (who.anon or who.bad)
        wrong = []
        r = requests.get(f"{w.reg.url}/jwt/auth", params=params, headers=address(),
                         auth=credentials(w, role, vis), timeout=60)
        token = None
        if who.bad:
            if r.status_code != 401 or r.json()["errors"][0]["code"] != "UNAUTHORIZED":
                wrong.append(("jwt/auth", method, pattern, role, vis, r.status_code, r.text))
        elif who.anon and not allowed:
            if (r.status_code, r.json()) != (403, {"errors": [{"code": "DENIED",
                                                               "message": "access forbidden"}]}):
                wrong.append(("jwt/auth", method, pattern, role, vis, r.status_code, r.text))
        elif r.status_code != 200:
            wrong.append(("jwt/auth", method, pattern, role, vis, r.status_code, r.text))
        else:
            token = r.json()["token"]
            access = jwtutil.access_of(token)
            granted = access.get(("registry", "catalog") if need == "ACT_STAR"
                                 else ("repository", name), set())
            want = set() if not allowed else {"*"} if need == "ACT_STAR" else (
                {ACTIONS[need]} if need in ACTIONS else set())
            if granted != want or set(access) - {("registry", "catalog"), ("repository", name)}:
                wrong.append(("jwt/auth grants", method, pattern, role, vis, access, want))
        m, path, kw = fill(w, who, name)
        c = V2Client(w.reg, token)
        r = c.req(m, path, **kw)
        if allowed:
            status, code = ok if isinstance(ok, tuple) else (ok, None)
            if r.status_code != status or (code and c.error_code(r) != code):
                wrong.append((method, pattern, role, vis, r.status_code, r.text[:200], ok))
        else:
            challenge = r.headers.get("WWW-Authenticate", "")
            # the challenge names the scope to ask for (pushes ask pull too, as Distribution)
            scope = re.search(r'scope="([^"]*)"', challenge)
            scope = scope.group(1).rsplit(":", 1) if scope else None
            named = (scope is None if not need or need == "0"
                     else scope == ["registry:catalog", "*"] if need == "ACT_STAR"
                     else scope and scope[0] == f"repository:{name}"
                     and ACTIONS[need] in scope[1].split(","))
            good = (r.status_code == 401 and challenge.startswith('Bearer realm="')
                    and 'service="container_registry"' in challenge and named
                    and (token is None or 'error="insufficient_scope"' in challenge)
                    and c.error_code(r) == ("DENIED" if token else "UNAUTHORIZED"))
            if not good:
                wrong.append((method, pattern, role, vis, r.status_code, challenge, r.text[:200]))
        bad = leaks(w, role, r.text, lambda v: v2_right(role, v, "pull")
                    if v == vis or role not in DEPLOY else v == "public", seen)
        if bad:
            wrong.append((method, pattern, role, vis, "leaks", bad))
        return wrong

    cases = [(k, role, vis) for k, (kind, _, _) in sorted(V2.items()) for role in ROLES
             for vis in (TARGETS if kind != "none" else (None,))]
    seen = set()
    wrong = run_all(cases, one)
    summary("/v2", V2, cases)
    assert wrong == [], "\n".join(map(repr, wrong[:60])) + f"\n({len(wrong)} wrong)"
    assert seen == {t.content_marker for t in w.targets.values()}


def test_oauth_token_refuses_tokens_as_passwords(world):
    """POST /oauth/token with each caller's token as a password: GitLab's invalid_grant, and
    nothing of anybody's in the answer."""
    w = world

    def one(role):
        creds = credentials(w, role, "private")
        data = {"grant_type": "password", "username": creds[0] if creds else "nobody",
                "password": creds[1] if creds else "nothing"}
        r = requests.post(f"{w.reg.url}/oauth/token", data=data, headers=address(), timeout=60)
        wrong = []
        if r.status_code != 400 or r.json().get("error") != "invalid_grant":
            wrong.append((role, r.status_code, r.text))
        if leaks(w, role, r.text, lambda v: False, set()):
            wrong.append((role, "leaks"))
        return wrong

    assert run_all(ROLES, one) == []


def test_oauth_revoke_leaves_other_credentials_alone(world):
    """POST /oauth/revoke with each caller's own secret as the token and its credentials as
    Basic authentication: 200 {} as Doorkeeper answers, nothing of anybody's in the answer, and
    the secret (a personal access token, a deploy token, a revoked or expired one) signs in to
    the token service exactly as before: only OAuth tokens are revoked there."""
    w = world

    def token_service(creds):
        return requests.get(f"{w.reg.url}/jwt/auth", params={"service": "container_registry"},
                            auth=creds, headers=address(), timeout=60).status_code

    def one(role):
        creds = credentials(w, role, "private")
        if creds is None:
            return []
        before = token_service(creds)
        r = requests.post(f"{w.reg.url}/oauth/revoke", data={"token": creds[1]}, auth=creds,
                          headers=address(), timeout=60)
        wrong = []
        if r.status_code != 200 or r.json() != {}:
            wrong.append((role, r.status_code, r.text))
        if leaks(w, role, r.text, lambda v: False, set()):
            wrong.append((role, "leaks"))
        after = token_service(creds)
        if after != before:
            wrong.append((role, "token service", before, after))
        return wrong

    assert run_all(ROLES, one) == []


def test_an_admin_moves_a_project_into_a_group(world):
    """POST /groups/:id/projects/:project_id (admins): the group answers 201 and the project
    is in it (its query once named a column the transfer does not return: a 500 each time)."""
    w = world
    admin = w.callers["admin"]
    t = w.targets["private"]
    pid = w.root("POST", "/projects", 201, json={"name": f"m{w.n()}", "namespace_id": t.gid})["id"]
    moved = admin.ok("POST", f"/groups/{t.sub_gid}/projects/{pid}")
    assert moved["id"] == t.sub_gid
    assert w.root("GET", f"/projects/{pid}", 200)["namespace"]["id"] == t.sub_gid

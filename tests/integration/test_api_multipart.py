"""multipart/form-data on the writes of /api/v4, as python-gitlab sends it whenever a file (an
avatar) is part of a call, in authd (users, tokens) and metad (groups, projects) alike. Text parts
are parameters (name[] a list); file parts are read and dropped."""
import io
import uuid

import gitlab
import requests

from tenancy import create_user

# A 1x1 PNG, as an avatar.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


def multipart(fields, boundary=None, preamble=b"", epilogue=b"", quote=False):
    """A multipart/form-data body: fields is a list of (name, value) or (name, filename, bytes)."""
    boundary = boundary or uuid.uuid4().hex
    out = [preamble]
    for f in fields:
        out.append(b"--" + boundary.encode() + b"\r\n")
        if len(f) == 3:
            out.append(f'Content-Disposition: form-data; name="{f[0]}"; filename="{f[1]}"\r\n'
                       f'Content-Type: application/octet-stream\r\n\r\n'.encode() + f[2])
        else:
            value = f[1] if isinstance(f[1], bytes) else str(f[1]).encode()
            out.append(f'Content-Disposition: form-data; name="{f[0]}"\r\n\r\n'.encode() + value)
        out.append(b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\n" + epilogue)
    b = f'"{boundary}"' if quote else boundary
    return b"".join(out), f"multipart/form-data; boundary={b}"


def post(registry, path, fields, method="POST", token=None, **kw):
    body, ctype = multipart(fields, **kw)
    return registry.api(method, path, token=token, data=body, headers={"Content-Type": ctype})


def test_python_gitlab_sends_avatars(registry, uniq):
    gl = gitlab.Gitlab(registry.url, private_token=registry.root_token)
    user = gl.users.create({"email": f"mp{uniq}@example.com", "username": f"mp{uniq}",
                            "name": "Multi Part", "password": "E4596f8be406Bc3a14a4",
                            "avatar": io.BytesIO(PNG), "can_create_group": False,
                            "admin": False})
    assert user.username == f"mp{uniq}" and user.name == "Multi Part"
    assert user.can_create_group is False and user.is_admin is False
    assert user.avatar_url is None  # avatars are accepted and not stored
    assert gl.users.list(username=f"mp{uniq}")[0].email == f"mp{uniq}@example.com"
    user.bio = "sends files"
    user.avatar = io.BytesIO(PNG)
    user.save()
    assert gl.users.get(user.id).bio == "sends files"

    group = gl.groups.create({"name": f"Mp {uniq}", "path": f"mp-{uniq}",
                              "avatar": io.BytesIO(PNG)})
    assert group.full_path == f"mp-{uniq}"
    group.description = "with an avatar"
    group.avatar = io.BytesIO(PNG)
    group.save()
    assert gl.groups.get(group.id).description == "with an avatar"
    # requests_toolbelt encodes strings only: python-gitlab callers pass numbers as text
    project = gl.projects.create({"name": "web", "namespace_id": str(group.id),
                                  "avatar": io.BytesIO(PNG), "visibility": "private"})
    assert project.path_with_namespace == f"mp-{uniq}/web" and project.visibility == "private"
    project.description = "a project"
    project.avatar = io.BytesIO(PNG)
    project.save()
    assert gl.projects.get(project.id).description == "a project"


def test_lists_quotes_preamble_and_epilogue(registry, uniq):
    alice = create_user(registry, f"mpa{uniq}")
    r = post(registry, f"/users/{alice.id}/personal_access_tokens",
             [("name", "ci"), ("scopes[]", "read_registry"), ("scopes[]", "write_registry"),
              ("expires_at", "2099-01-01")],
             quote=True, preamble=b"ignored\r\n", epilogue=b"also ignored")
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == ["read_registry", "write_registry"]
    # metad: a file part among the fields, and a boundary that needs quotes
    r = post(registry, "/groups", [("name", f"Mq {uniq}"), ("avatar", "a.png", PNG * 100),
                                   ("path", f"mq-{uniq}"), ("visibility", "internal")],
             boundary="a b:c=d", quote=True)
    assert r.status_code == 201, r.text
    assert r.json()["full_path"] == f"mq-{uniq}" and r.json()["visibility"] == "internal"
    # the query gives what the body does not; the body wins
    body, ctype = multipart([("name", f"Mr {uniq}"), ("path", f"mr-{uniq}")])
    r = requests.post(f"{registry.url}/api/v4/groups?path=nope&description=from-query",
                      data=body, headers={"Content-Type": ctype,
                                          "PRIVATE-TOKEN": registry.root_token})
    assert r.status_code == 201, r.text
    assert r.json()["path"] == f"mr-{uniq}" and r.json()["description"] == "from-query"


def test_an_avatar_larger_than_other_bodies(registry, uniq):
    """A file part streams through: 200 KiB (GitLab's avatar limit) is fine, while the
    parameters stay bounded by the 64 KiB of every body."""
    r = post(registry, "/groups", [("name", f"Big {uniq}"), ("path", f"big-{uniq}"),
                                   ("avatar", "big.png", b"\x89" * (200 * 1024))])
    assert r.status_code == 201, r.text
    r = post(registry, "/groups", [("name", f"Big2 {uniq}"), ("path", f"big2-{uniq}"),
                                   ("description", "x" * (65 * 1024))])
    assert r.status_code == 413 and r.json() == {"message": "413 Request Entity Too Large"}
    r = post(registry, "/users", [("name", "x" * (65 * 1024))])
    assert r.status_code == 413 and r.json() == {"message": "413 Request Entity Too Large"}
    # the whole body is bounded too
    r = post(registry, "/groups", [("name", f"Big3 {uniq}"), ("path", f"big3-{uniq}"),
                                   ("avatar", "huge.png", b"\0" * (2 * 1024 * 1024))])
    assert r.status_code == 413 and r.json() == {"message": "413 Request Entity Too Large"}


def test_malformed_multipart_bodies(registry, uniq):
    workers = {d: sorted(registry.worker_pids(d)) for d in ("authd", "metad")}
    good, ctype = multipart([("name", f"Mm {uniq}"), ("path", f"mm-{uniq}")])
    cases = [
        (good, "multipart/form-data"),                               # no boundary
        (good, "multipart/form-data; boundary=" + "x" * 71),         # too long a boundary
        (good[:-12], ctype),                                         # no closing boundary
        (good.replace(b"form-data;", b"attachment;", 1), ctype),     # not form-data
        (good.replace(b'name="name"', b"nom=1", 1), ctype),          # a part without a name
        (b"--" + ctype.split("=")[1].encode() + b"X\r\n", ctype),    # garbage after a boundary
    ]
    for path in ("/groups", "/users"):
        for body, ct in cases:
            r = registry.api("POST", path, data=body, headers={"Content-Type": ct})
            assert r.status_code == 400, (path, ct, body[:80], r.status_code, r.text)
            assert r.json()["message"].startswith("400 Bad request - "), r.text
        # text that is not UTF-8
        body, ct = multipart([("name", b"\xff\xfe"), ("path", f"mu-{uniq}")])
        r = registry.api("POST", path, data=body, headers={"Content-Type": ct})
        assert r.status_code == 400 and r.json() == {"error": "name is invalid"}, r.text
        # too many parts
        body, ct = multipart([(f"p{i}", "v") for i in range(300)])
        r = registry.api("POST", path, data=body, headers={"Content-Type": ct})
        assert r.status_code == 413, r.text
        # another multipart type, and a type nobody takes
        for ct in ("multipart/mixed; boundary=x", "text/plain"):
            r = registry.api("POST", path, data=good, headers={"Content-Type": ct})
            assert r.status_code == 415 and r.json()["message"].startswith(
                "415 Unsupported Media Type"), r.text
    assert {d: sorted(registry.worker_pids(d)) for d in workers} == workers

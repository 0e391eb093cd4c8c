"""Every number a client sends (Content-Range, Content-Length, Range, n, page, per_page, keep_n)
is read strictly and never overflows: impossible values get the protocol's error, values past a
limit the limit, and the worker that read them lives on (tests/run --sanitizers shows UBSan
quiet)."""
import os

import pytest

import rawhttp
from tenants import Tenancy
from v2util import client, make_project, sha256

INT64_MAX = 2**63 - 1
HUGE = "99999999999999999999"


def oci_code(r):
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    return r.json()["errors"][0]["code"]


@pytest.mark.parametrize("content_range", [
    f"0-{INT64_MAX}",                 # end - start + 1 is 2^63
    f"bytes 0-{INT64_MAX}",
    f"0-{HUGE}", f"{HUGE}-{HUGE}", f"{INT64_MAX}-{INT64_MAX}",
    "-1-9", "0--9", "5-4", "+0-9", "0-+9", "0- 9", "0 -9", "0x0-9", "0-9/x",
    "0-9/-10", "a-b", "-", "", "0", "0-", "bytes=0", "bytes=-", "bytes 0-9/",
])
def test_impossible_content_range_is_416(registry, proj, content_range):
    c = client(registry, (proj, "pull,push"))
    workers = sorted(registry.worker_pids("blobd"))
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PATCH", loc, data=b"x" * 10, headers={"Content-Range": content_range})
    assert r.status_code == 416, (content_range, r.status_code, r.text)
    assert oci_code(r) == "RANGE_INVALID"
    assert r.headers["Range"] == "0-0" and r.headers["Location"].endswith(loc.rsplit("/", 1)[1])
    # the worker lives, the session is intact and takes the right chunk
    r = c.req("PATCH", loc, data=b"y" * 10, headers={"Content-Range": "0-9"})
    assert r.status_code == 202 and r.headers["Range"] == "0-9", r.text
    r = c.req("PUT", r.headers["Location"], params={"digest": sha256(b"y" * 10)})
    assert r.status_code == 201, r.text
    assert sorted(registry.worker_pids("blobd")) == workers


def test_content_range_at_the_edge_of_int64(registry, proj):
    """The largest range an int64 counts is a range; the body is not that long."""
    c = client(registry, (proj, "pull,push"))
    loc = c.start_upload(proj).headers["Location"]
    r = c.req("PATCH", loc, data=b"x" * 10, headers={"Content-Range": f"0-{INT64_MAX - 1}"})
    assert r.status_code == 400 and oci_code(r) == "SIZE_INVALID"
    r = c.req("PATCH", loc, data=iter([b"x" * 10]),   # chunked: no Content-Length to compare
              headers={"Content-Range": f"0-{INT64_MAX - 1}"})
    assert r.status_code == 400 and oci_code(r) == "SIZE_INVALID", r.text
    r = c.req("PATCH", loc, data=b"y" * 10, headers={"Content-Range": "0-9"})
    assert r.status_code == 202, r.text


def test_content_range_forms_clients_send(registry, proj):
    c = client(registry, (proj, "pull,push"))
    loc = c.start_upload(proj).headers["Location"]
    for cr, part in (("0-3", b"abcd"), ("bytes 4-5/*", b"ef"), ("bytes=6-7/8", b"gh")):
        r = c.req("PATCH", loc, data=part, headers={"Content-Range": cr})
        assert r.status_code == 202, (cr, r.text)
        loc = r.headers["Location"]
    r = c.req("PUT", loc, params={"digest": sha256(b"abcdefgh")})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("length", [HUGE, str(2**64), "-1", "+10", "1e3", "0x10", "10, 11"])
def test_impossible_content_length_is_400(registry, proj, length):
    c = client(registry, (proj, "pull,push"))
    loc = c.start_upload(proj).headers["Location"]
    path = loc if loc.startswith("/") else loc.split(str(registry.port), 1)[1]
    raw = (f"PATCH {path} HTTP/1.1\r\nHost: {registry.host}\r\n"
           f"Authorization: {c.s.headers['Authorization']}\r\n"
           f"Content-Length: {length}\r\n\r\n0123456789").encode()
    status, _, _ = rawhttp.parse(rawhttp.exchange(registry.port, raw))
    assert status == 400, (length, status)
    r = c.req("PATCH", loc, data=b"z" * 10, headers={"Content-Range": "0-9"})
    assert r.status_code == 202, r.text


def test_range_reads_at_the_limits(registry, proj):
    c = client(registry, (proj, "pull,push"))
    data = os.urandom(1000)
    digest = c.push_blob(proj, data)
    # past any end: the rest (RFC 9110 14.1.2), the whole for a long suffix
    for header, want in ((f"bytes=10-{HUGE}", data[10:]), (f"bytes=0-{INT64_MAX}", data),
                         (f"bytes=-{HUGE}", data)):
        r = c.get_blob(proj, digest, headers={"Range": header})
        assert r.status_code == 206 and r.content == want, header
        assert r.headers["Content-Range"] == f"bytes {1000 - len(want)}-999/1000"
    # a start past the end cannot be satisfied
    for header in (f"bytes={HUGE}-", f"bytes={INT64_MAX}-{INT64_MAX}"):
        r = c.get_blob(proj, digest, headers={"Range": header})
        assert r.status_code == 416, header
    # not a number: the whole blob, as for any Range we do not serve
    for header in ("bytes=+1-2", "bytes=0x1-2", "bytes=1- 2"):
        r = c.get_blob(proj, digest, headers={"Range": header})
        assert r.status_code == 200 and r.content == data, header


def test_tags_list_and_catalog_n(registry, proj):
    c = client(registry, (proj, "pull,push"), ("registry:catalog", "*"), user_id=1, admin=True)
    for tag in ("a", "b", "c"):
        c.push_image(proj, tag)
    tags = f"/v2/{proj}/tags/list"
    # what Distribution answers: past int64, signed, spaced or not a number is invalid
    for n in (HUGE, str(2**63), "-1", "+2", " 2", "2 ", "0x2", "2.0", "two"):
        for path in (tags, "/v2/_catalog"):
            r = c.req("GET", path, params={"n": n})
            assert r.status_code == 400, (path, n, r.text)
            assert oci_code(r) == "PAGINATION_NUMBER_INVALID"
    # up to int64 is a number; past the page limit it is the limit
    r = c.req("GET", tags, params={"n": str(INT64_MAX)})
    assert r.status_code == 200 and r.json()["tags"] == ["a", "b", "c"]
    r = c.req("GET", "/v2/_catalog", params={"n": str(INT64_MAX)})
    assert r.status_code == 200 and 0 < len(r.json()["repositories"]) <= 1000
    r = c.req("GET", tags, params={"n": "2"})
    assert r.json()["tags"] == ["a", "b"] and "Link" in r.headers
    # an empty n is no n
    assert c.req("GET", tags, params={"n": ""}).json()["tags"] == ["a", "b", "c"]


def test_gitlab_pagination_numbers(registry, uniq):
    """page and per_page as GitLab's API reads them (lib/api/concerns/pagination_params.rb)."""
    t = Tenancy(registry)
    gid = t.group(f"num{uniq}")
    for i in range(3):
        t.project(gid, f"p{i}")

    def get(path, **params):
        return registry.api("GET", path, params=params)

    for path in (f"/groups/{gid}/projects", "/users"):   # metad, authd
        for name in ("page", "per_page"):
            for value in ("abc", "1e3", "0x10", "+1", " 1", "1 ", "1.5"):
                r = get(path, **{name: value})
                assert (r.status_code, r.json()) == (400, {"error": f"{name} is invalid"}), \
                    (path, name, value)
            for value in ("0", "-1", "-" + HUGE):
                r = get(path, **{name: value})
                assert (r.status_code, r.json()) == (
                    400, {"error": f"{name} does not have a valid value"}), (path, name, value)
        # per_page past 100 is 100, however large
        for value in ("101", "1000", str(INT64_MAX), HUGE):
            r = get(path, per_page=value)
            assert r.status_code == 200 and r.headers["X-Per-Page"] == "100", (path, value)
        # a page past the last is empty, however large
        for value in ("1000000", str(INT64_MAX), HUGE):
            r = get(path, page=value, per_page=2)
            assert r.status_code == 200 and r.json() == [], (path, value)
    r = get(f"/groups/{gid}/projects", per_page="2", page="2")
    assert len(r.json()) == 1 and r.headers["X-Total"] == "3"


def test_keep_n_numbers(registry, uniq):
    t = Tenancy(registry)
    gid = t.group(f"keep{uniq}")
    pid, path = t.project(gid, "app")
    c = client(registry, (path, "pull,push"))
    c.push_image(path, "v1")
    repo = registry.api("GET", f"/projects/{pid}/registry/repositories").json()[0]["id"]
    bulk = f"/projects/{pid}/registry/repositories/{repo}/tags"
    for value in ("two", "+1", " 1", "1.0", "0x1"):
        r = registry.api("DELETE", bulk, params={"name_regex_delete": ".*", "keep_n": value})
        assert (r.status_code, r.json()) == (400, {"error": "keep_n is invalid"}), value
    r = registry.api("DELETE", bulk, params={"name_regex_delete": ".*", "keep_n": "-" + HUGE})
    assert (r.status_code, r.json()) == (400, {"error": "keep_n does not have a valid value"})
    # an integer past int64 is still an integer to GitLab: keep them all
    r = registry.api("DELETE", bulk, params={"name_regex_delete": ".*", "keep_n": HUGE})
    assert r.status_code == 202, r.text
    # the expiration policy's keep_n: not one of the allowed values
    r = registry.api("PUT", f"/projects/{pid}",
                     json={"container_expiration_policy_attributes": {"keep_n": HUGE}})
    assert r.status_code == 400 and "keep_n" in r.text
    r = registry.api("PUT", f"/projects/{pid}",
                     json={"container_expiration_policy_attributes": {"keep_n": "+5"}})
    assert (r.status_code, r.json()) == (
        400, {"error": "container_expiration_policy_attributes[keep_n] is invalid"})
    r = registry.api("GET", f"/projects/{pid}")
    assert r.json()["container_expiration_policy"]["keep_n"] == 10

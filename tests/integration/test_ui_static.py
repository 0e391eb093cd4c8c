"""The gateway's static route for the web interface: the HTML shell on GitLab's page URLs, the
assets under /-/ui/<bundle>/, their types, ETags, caching, compression and security headers;
path traversal refused; the API paths answered as before."""
import gzip
import os
import re
import socket
import subprocess

import requests
from registry import TOP

UI_DIR = os.path.join(TOP, "ui")
PAGES = ["/", "/users/sign_in", "/grp/sub/proj/container_registry",
         "/grp/proj/container_registry/12", "/groups/grp/sub/-/container_registries",
         "/grp/sub/proj/-/settings/packages_and_registries", "/grp/proj/-/settings/repository",
         "/grp/proj/-/project_members", "/admin", "/admin/users", "/admin/users/new"]


def shell(registry, **headers):
    return requests.get(registry.url + "/users/sign_in", headers=headers, timeout=30)


def asset_base(registry):
    """/-/ui/<bundle>, as the shell names it."""
    m = re.search(r'src="(/-/ui/[0-9a-f]{16})/app\.js"', shell(registry).text)
    assert m, "the shell names no app.js under /-/ui/<bundle>/"
    return m.group(1)


def raw_get(registry, target):
    """A GET of target sent as is (requests would normalise "..")."""
    with socket.create_connection(("127.0.0.1", registry.port), timeout=30) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {registry.host}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), body


def test_pages_answer_the_shell_with_strict_headers(registry):
    for page in PAGES:
        r = requests.get(registry.url + page, headers={"Accept-Encoding": "identity"}, timeout=30)
        assert r.status_code == 200, page
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.headers["Cache-Control"] == "no-cache"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["ETag"])
        assert "%UI_BASE%" not in r.text and "<script>" not in r.text
        assert "Content-Encoding" not in r.headers
    r = requests.head(registry.url + "/", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")


def test_assets_types_etag_and_304(registry):
    base = asset_base(registry)
    for name, ctype in (("app.js", "text/javascript; charset=utf-8"),
                        ("style.css", "text/css; charset=utf-8"),
                        ("favicon.svg", "image/svg+xml")):
        r = requests.get(registry.url + f"{base}/{name}",
                         headers={"Accept-Encoding": "identity"}, timeout=30)
        assert r.status_code == 200, name
        assert r.headers["Content-Type"] == ctype
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        with open(os.path.join(UI_DIR, name), "rb") as f:
            assert r.content == f.read()
        etag = r.headers["ETag"]
        again = requests.get(registry.url + f"{base}/{name}", timeout=30,
                             headers={"Accept-Encoding": "identity", "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
        other = requests.get(registry.url + f"{base}/{name}", timeout=30,
                             headers={"Accept-Encoding": "identity",
                                      "If-None-Match": '"0123", W/"4567"'})
        assert other.status_code == 200
    # the shell revalidates too
    etag = shell(registry).headers["ETag"]
    assert shell(registry, **{"If-None-Match": etag}).status_code == 304
    # another bundle's name (a page from before an upgrade) gets today's file, not cached forever
    r = requests.get(registry.url + "/-/ui/0000000000000000/app.js", timeout=30)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-cache"


def test_compression_as_the_client_accepts(registry):
    base = asset_base(registry)
    url = registry.url + f"{base}/app.js"
    with open(os.path.join(UI_DIR, "app.js"), "rb") as f:
        plain = f.read()
    r = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30)
    assert r.headers["Content-Encoding"] == "gzip" and r.headers["Vary"] == "Accept-Encoding"
    body = r.raw.read(decode_content=False)
    assert gzip.decompress(body) == plain and len(body) < len(plain)
    gz_etag = r.headers["ETag"]
    assert gz_etag.endswith('-gzip"')
    r = requests.get(url, headers={"Accept-Encoding": "gzip;q=0, deflate"}, timeout=30)
    assert "Content-Encoding" not in r.headers and r.content == plain
    r = requests.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"}, stream=True,
                     timeout=30)
    assert r.headers["Content-Encoding"] == "zstd" and r.headers["ETag"].endswith('-zstd"')
    body = r.raw.read(decode_content=False)
    assert subprocess.run(["zstd", "-dc"], input=body, capture_output=True,
                          check=True).stdout == plain
    # each representation its own ETag: the gzip one does not validate the plain file
    r = requests.get(url, headers={"Accept-Encoding": "identity", "If-None-Match": gz_etag},
                     timeout=30)
    assert r.status_code == 200


def test_traversal_and_unknown_files_refused(registry):
    base = asset_base(registry)
    for target in (f"{base}/../../registry.conf", f"{base}/%2e%2e/%2e%2e/etc/passwd",
                   f"{base}/../index.html", "/-/ui/../../etc/passwd", f"{base}/.hidden",
                   f"{base}/local.mk", f"{base}/index.html", f"{base}//etc/passwd",
                   f"{base}/app.js%00.png", "/-/ui/app.js"):
        status, head, body = raw_get(registry, target)
        assert status == 404, (target, status, head)
        assert b"root:" not in body
    for page in ("/../../etc/passwd/container_registry", "/a/../b/container_registry",
                 "/groups/../-/container_registries", "/%2e%2e/x/container_registry",
                 "/x/container_registry/abc", "/solo/container_registry",
                 "/solo/-/project_members", "/a/../b/-/settings/repository",
                 "/grp/proj/-/settings/ci_cd"):
        status, head, _ = raw_get(registry, page)
        assert status == 404 and "text/html" not in head, page
    r = requests.post(registry.url + f"{base}/app.js", timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    r = requests.post(registry.url + "/users/sign_in", timeout=30)
    assert r.status_code == 405


def test_api_paths_unaffected(registry):
    r = requests.get(registry.url + "/v2/", timeout=30)
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    r = requests.get(registry.url + "/api/v4/projects/1/container_registry", timeout=30)
    assert r.status_code in (401, 404) and r.headers["Content-Type"].startswith("application/json")
    r = requests.get(registry.url + "/api/v4/version", timeout=30)
    assert r.headers["Content-Type"].startswith("application/json")
    r = requests.get(registry.url + "/v2/a/b/container_registry", timeout=30)
    assert "text/html" not in r.headers.get("Content-Type", "")
    r = requests.get(registry.url + "/jwt/auth", params={"service": "container_registry"},
                     timeout=30)
    assert r.status_code == 403 and r.headers["Content-Type"].startswith("application/json")
    r = requests.get(registry.url + "/-/health", timeout=30)
    assert r.json() == {"status": "ok"}
    r = requests.get(registry.url + "/nothing/here", timeout=30)
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}


def test_without_ui_pages_are_404(make_registry):
    reg = make_registry(extra_config={"gateway": {"ui": "false"}}).start()
    r = requests.get(reg.url + "/users/sign_in", timeout=30)
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}
    assert requests.get(reg.url + "/-/ui/x/app.js", timeout=30).status_code == 404

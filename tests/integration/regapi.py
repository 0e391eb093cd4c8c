"""Helpers for the Container Registry API tests: images built as OCI layouts and pushed with
skopeo as a tenant would (credentials through the token service), what skopeo reports about
them, and waiting for background jobs."""
import json
import os
import subprocess
import time

from images import Layout, read_layout_blob
from registry import skopeo, wait_for


def image_layout(path, label, layers=1):
    """An OCI layout with one image tagged "img" (distinct per label); returns (layout, desc)."""
    lay = Layout(path)
    desc = lay.image([{f"etc/{label}-{i}": f"{label} {i}\n".encode() * 40} for i in range(layers)],
                     label=label)
    lay.tag(desc, "img")
    return lay, desc


def image_sizes(lay, desc):
    """(config digest, total size: manifest + config + layers) of an image in a layout."""
    manifest = json.loads(read_layout_blob(lay.path, desc["digest"]))
    total = desc["size"] + manifest["config"]["size"] + sum(l["size"] for l in manifest["layers"])
    return manifest["config"]["digest"], total


def push(registry, creds, lay, ref):
    """skopeo copy of the layout's image to HOST/<ref> signing in with user:secret."""
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{lay.path}:img",
           f"docker://{registry.host}/{ref}")


def inspect_digest(registry, creds, ref):
    """The manifest digest skopeo inspect reports for HOST/<ref>."""
    out = skopeo("inspect", "--tls-verify=false", "--creds", creds,
                 f"docker://{registry.host}/{ref}").stdout
    return json.loads(out)["Digest"]


def creds_of(caller):
    """user:token for a tenancy Caller (a personal access token signs in to the registry)."""
    return f"{caller.username}:{caller.token}"


def wait_until(pred, what, timeout=30):
    return wait_for(pred, timeout=timeout, interval=0.1, what=what)


def timed(fn):
    """(result, seconds) of fn()."""
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def tmp_layout_dir(tmp_path, name):
    path = os.path.join(str(tmp_path), name)
    os.makedirs(path, exist_ok=True)
    return path


class SqlSession:
    """A psql session kept open, to hold row locks across API calls (a test's way of pausing a
    background job at a known point)."""

    def __init__(self, registry):
        self.p = subprocess.Popen(
            ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", registry.pg.sock_dir,
             "-U", "postgres", "-d", registry.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1)

    def run(self, sql):
        """Runs statements; returns the lines they printed."""
        self.p.stdin.write(sql + "\n\\echo __done__\n")
        self.p.stdin.flush()
        lines = []
        for line in self.p.stdout:
            if line.strip() == "__done__":
                return lines
            lines.append(line.rstrip("\n"))
        raise AssertionError("psql ended: " + self.p.stderr.read())

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.write("\\q\n")
            self.p.stdin.close()
            self.p.wait(timeout=30)

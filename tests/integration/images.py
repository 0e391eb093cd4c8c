"""Test images built by hand: tar layers, image configs, manifests and indexes, written as OCI
image layouts (https://github.com/opencontainers/image-spec/blob/main/image-layout.md) that
skopeo reads with oci:<dir>:<tag>."""
import gzip
import hashlib
import io
import json
import os
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(files):
    """A gzip'ed tar of {path: bytes}, reproducible (fixed mtimes); returns (blob, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1700000000
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as f:
        f.write(tar_bytes)
    return gz.getvalue(), digest_of(tar_bytes)


class Layout:
    """An OCI image layout folder being written."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.entries = []

    def add_blob(self, data):
        d = digest_of(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return d

    def image(self, layers, arch="amd64", os_name="linux", label="x"):
        """Stores an image of layers ([{path: bytes}]); returns its manifest descriptor."""
        descs, diff_ids = [], []
        for files in layers:
            blob, diff_id = make_layer(files)
            descs.append({"mediaType": OCI_LAYER_GZIP, "digest": self.add_blob(blob),
                          "size": len(blob)})
            diff_ids.append(diff_id)
        config = json.dumps({
            "architecture": arch, "os": os_name, "created": "2024-01-01T00:00:00Z",
            "config": {"Labels": {"test": label}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.add_blob(config),
                       "size": len(config)},
            "layers": descs}).encode()
        return {"mediaType": OCI_MANIFEST, "digest": self.add_blob(manifest),
                "size": len(manifest), "platform": {"architecture": arch, "os": os_name}}

    def index(self, manifests):
        """Stores an index of manifest descriptors; returns its descriptor."""
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": manifests}).encode()
        return {"mediaType": OCI_INDEX, "digest": self.add_blob(body), "size": len(body)}

    def tag(self, desc, name):
        entry = dict(desc)
        entry.pop("platform", None)
        entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.entries.append(entry)
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.entries}, f)

    def blobs(self):
        return sorted("sha256:" + n for n in os.listdir(os.path.join(self.path, "blobs", "sha256")))


def read_layout_blob(path, digest):
    with open(os.path.join(path, "blobs", digest.split(":")[0], digest.split(":")[1]), "rb") as f:
        return f.read()

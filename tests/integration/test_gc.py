"""Online garbage collection with real clients: shared layers between tenants, a multi-arch
index, referrers following their subject, the metrics, and what a pushed-again blob whose file is
being deleted does.

These run on an instance of their own that collects quickly (gcutil: a review delay of one
second, a run every second), so "within the review delay plus an interval" is a few seconds."""
import json
import os
import threading
import time

import pytest
import requests

from gcutil import (INTERVAL, REVIEW_DELAY, delete_tag, gc_registry, image_blobs, layout,
                    metric, pull_and_verify, push, settle, sql, stored)
from registry import wait_for
from v2util import (OCI_EMPTY, OCI_MANIFEST, V2, make_project, mint_token, remove_blob_file,
                    sha256)

# Time a step of the protocol may take beyond the review delay and one interval on a busy
# machine: blobd asks for files every second, and the suite runs in parallel on two cores.
SLACK = 6


@pytest.fixture(scope="module", params=["filesystem", "s3"])
def gcreg(pg, workdir, request):
    """An instance that collects quickly, with each storage driver in turn."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    s3 = request.getfixturevalue("ceph_rgw") if request.param == "s3" else None
    reg = gc_registry(pg, workdir, f"gc_{worker}_{request.param}", s3=s3).start()
    yield reg
    reg.stop()


def gone_within(reg, digests, seconds):
    """Waits until none of digests is stored; how long that took."""
    t0 = time.monotonic()
    wait_for(lambda: not (set(digests) & stored(reg)), timeout=seconds, interval=0.1,
             what=f"{sorted(set(digests) & stored(reg))} to leave storage")
    return time.monotonic() - t0


def test_tenant_tag_deleted_leaves_only_its_own_layers(gcreg, uniq, tmp_path):
    """Tenants A and B share a layer; A's tag deleted over REST: A's own layer and config leave
    storage within the review delay plus an interval, the shared layer stays, B pulls."""
    a, b = f"{uniq}-a/app", f"{uniq}-b/app"
    make_project(gcreg, a)
    make_project(gcreg, b)
    shared = {"usr/lib/shared.so": b"shared library " * 2000 + uniq.encode()}
    lay_a, lay_b = layout(tmp_path, "a"), layout(tmp_path, "b")
    img_a = lay_a.image([shared, {"app/a": f"tenant a {uniq}".encode() * 100}], label="a" + uniq)
    img_b = lay_b.image([shared, {"app/b": f"tenant b {uniq}".encode() * 100}], label="b" + uniq)
    lay_a.tag(img_a, "v1")
    lay_b.tag(img_b, "v1")
    push(gcreg, lay_a, "v1", a, "v1")
    push(gcreg, lay_b, "v1", b, "v1")
    blobs_a, blobs_b = image_blobs(lay_a, img_a), image_blobs(lay_b, img_b)
    common = blobs_a & blobs_b
    own_a = blobs_a - blobs_b
    assert len(common) == 1 and len(own_a) == 2
    # tagged, everything stays, reviewed or not
    settle(gcreg)
    assert blobs_a | blobs_b <= stored(gcreg)

    t0 = time.monotonic()
    delete_tag(gcreg, a, "", "v1")
    still_there = own_a <= stored(gcreg)
    if time.monotonic() - t0 < REVIEW_DELAY * 0.8:
        assert still_there, "deleted before the review delay"
    gone_within(gcreg, own_a, REVIEW_DELAY + INTERVAL + SLACK)
    assert time.monotonic() - t0 <= REVIEW_DELAY + INTERVAL + SLACK
    assert sql(gcreg, f"SELECT count(*) FROM manifests WHERE digest = '{img_a['digest']}'") == "0"
    assert not own_a & set(sql(gcreg, "SELECT digest FROM blobs").split())
    assert common | (blobs_b - blobs_a) <= stored(gcreg)
    pull_and_verify(gcreg, b, "v1", blobs_b)


def test_multi_arch_index_keeps_its_children_until_untagged(gcreg, uniq, tmp_path):
    """skopeo copy --all of an index, only the index tagged: every child and its blobs stay;
    the index untagged, all of it goes."""
    name = f"{uniq}/multi"
    make_project(gcreg, name)
    lay = layout(tmp_path, "src")
    base = {"etc/os-release": f"NAME={uniq}\n".encode() * 40}
    amd = lay.image([base, {"bin/app": f"amd64 {uniq}".encode() * 500}], "amd64", label=uniq)
    arm = lay.image([base, {"bin/app": f"arm64 {uniq}".encode() * 500}], "arm64", label=uniq)
    index = lay.index([amd, arm])
    lay.tag(index, "multi")
    push(gcreg, lay, "multi", name, "v1", all_=True)
    every = image_blobs(lay, index)
    manifests = {index["digest"], amd["digest"], arm["digest"]}
    in_db = lambda: set(sql(gcreg, "SELECT digest FROM manifests m JOIN repositories r ON "  # noqa: E731
                              f"r.id = m.repository_id WHERE r.path = '{name}'").split())
    assert in_db() == manifests
    # the children, pushed by digest, were reviewed after the delay and kept by the index
    settle(gcreg)
    assert in_db() == manifests
    assert every <= stored(gcreg)
    pull_and_verify(gcreg, name, "v1", every, all_=True)

    delete_tag(gcreg, name, "", "v1")
    wait_for(lambda: in_db() == set(), timeout=REVIEW_DELAY + INTERVAL + SLACK, interval=0.1,
             what="the index and its children to go")
    gone_within(gcreg, every, INTERVAL + SLACK)


def test_referrers_follow_their_subject(gcreg, uniq):
    """A signature (an artifact whose subject is an image) of a kept image stays; of an image
    whose tag is deleted, goes with it, its blob too."""
    name = f"{uniq}/signed"
    make_project(gcreg, name)
    c = V2(gcreg, mint_token(gcreg, [(name, "pull,push")]))
    empty = c.push_blob(name, b"{}")

    def image_and_signature(tag):
        subject, _ = c.push_image(name, tag, layers=(f"{uniq} {tag}".encode() * 50,))
        size = len(c.get_manifest(name, subject).content)
        sig = c.push_blob(name, f"signature of {tag} {uniq}".encode())
        art = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
               "config": {"mediaType": OCI_EMPTY, "digest": empty, "size": 2},
               "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                           "digest": sig, "size": len(f"signature of {tag} {uniq}".encode())}],
               "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size}}
        body = json.dumps(art).encode()
        r = c.put_manifest(name, sha256(body), body, OCI_MANIFEST)
        assert r.status_code == 201, r.text
        return subject, sha256(body), sig

    kept, kept_sig, kept_sig_blob = image_and_signature("kept")
    doomed, doomed_sig, doomed_sig_blob = image_and_signature("doomed")
    # both signatures are untagged: reviewed after the delay, kept by their subjects
    settle(gcreg)
    for digest in (kept, kept_sig, doomed, doomed_sig):
        assert c.get_manifest(name, digest).status_code == 200
    assert {kept_sig_blob, doomed_sig_blob} <= stored(gcreg)

    delete_tag(gcreg, name, "", "doomed")
    wait_for(lambda: c.get_manifest(name, doomed_sig).status_code == 404,
             timeout=REVIEW_DELAY + INTERVAL + SLACK, interval=0.1, what="the signature to go")
    assert c.get_manifest(name, doomed).status_code == 404
    gone_within(gcreg, {doomed_sig_blob}, INTERVAL + SLACK)
    settle(gcreg)
    assert c.get_manifest(name, kept_sig).status_code == 200
    r = c.req("GET", f"/v2/{name}/referrers/{kept}")
    assert [d["digest"] for d in r.json()["manifests"]] == [kept_sig]
    assert kept_sig_blob in stored(gcreg)
    # the empty config both signatures share stays with the kept one
    assert empty in stored(gcreg)


def test_untagged_and_unreferenced_uploads_go_after_the_delay(gcreg, uniq):
    """A manifest pushed by digest and never tagged, and a blob uploaded but never referenced,
    are garbage after the review delay (as in GitLab)."""
    name = f"{uniq}/loose"
    make_project(gcreg, name)
    c = V2(gcreg, mint_token(gcreg, [(name, "pull,push,delete")]))
    digest, m = c.push_image(name, "t", layers=(f"loose {uniq}".encode(),))
    layer = m["layers"][0]["digest"]
    r = c.req("DELETE", f"/v2/{name}/manifests/t")  # the tag only: the manifest stays
    assert r.status_code == 202
    orphan = c.push_blob(name, f"uploaded, never referenced {uniq}".encode())
    assert c.get_manifest(name, digest).status_code == 200
    gone_within(gcreg, {layer, orphan}, 2 * REVIEW_DELAY + 2 * INTERVAL + SLACK)
    assert c.get_manifest(name, digest).status_code == 404
    assert c.get_blob(name, orphan).status_code == 404


def test_a_link_waits_for_the_deletion_of_its_file_then_stores_it_again(gcreg, uniq):
    """A blob pushed again while its file is being deleted (claimed by a deleter that has not
    finished) is linked only once that deletion is over, and its file is stored again: the
    blob is readable, never a row without its file."""
    name = f"{uniq}/again"
    make_project(gcreg, name)
    c = V2(gcreg, mint_token(gcreg, [(name, "pull,push")]))
    data = f"pushed twice {uniq}".encode() * 100
    digest = sha256(data)
    c.push_blob(name, data)
    # what a deletion in flight looks like: the row gone, the file claimed by a deleter
    sql(gcreg, f"BEGIN; DELETE FROM gc_blob_queue WHERE digest = '{digest}';"
               f" DELETE FROM repository_blobs WHERE blob_digest = '{digest}';"
               f" DELETE FROM blobs WHERE digest = '{digest}';"
               f" UPDATE gc_blob_files SET claimed_by = 'elsewhere',"
               f"  claimed_until = now() + interval '1 hour' WHERE digest = '{digest}'; COMMIT")
    assert digest in stored(gcreg)
    done = {}

    def push_again():
        done["digest"] = c.push_blob(name, data)

    t = threading.Thread(target=push_again)
    t.start()
    time.sleep(1.0)
    assert t.is_alive(), "linked while the file was being deleted"
    # the deleter finishes: the file goes, then its row
    remove_blob_file(gcreg, digest)
    sql(gcreg, f"DELETE FROM gc_blob_files WHERE digest = '{digest}'")
    t.join(timeout=30)
    assert done.get("digest") == digest
    assert digest in stored(gcreg)
    r = c.get_blob(name, digest)
    assert r.status_code == 200 and r.content == data


def test_files_placed_without_a_link_are_swept_after_the_grace(gcreg, uniq):
    """An upload whose link is refused leaves its file placed: after [gc] orphan_grace the
    placement journal names it, metad finds no row, and it is deleted."""
    name = f"{uniq}/orphan"
    make_project(gcreg, name)
    c = V2(gcreg, mint_token(gcreg, [(name, "pull,push")]))
    c.push_blob(name, b"first push creates the repository " + uniq.encode())
    r = c.start_upload(name)
    assert r.status_code == 202, r.text
    # the repository is being deleted meanwhile: the link is refused, after the file is placed
    sql(gcreg, f"UPDATE repositories SET status = 'delete_scheduled' WHERE path = '{name}'")
    data = f"refused link {uniq}".encode() * 10
    r = c.req("PUT", r.headers["Location"], params={"digest": sha256(data)}, data=data)
    assert r.status_code == 403, r.text
    assert sha256(data) in stored(gcreg)
    assert os.path.exists(os.path.join(gcreg.storage, "placing", "sha256-" + sha256(data)[7:]))
    gone_within(gcreg, {sha256(data)}, 2 + INTERVAL + SLACK)
    assert not os.path.exists(os.path.join(gcreg.storage, "placing",
                                           "sha256-" + sha256(data)[7:]))
    sql(gcreg, f"UPDATE repositories SET status = NULL WHERE path = '{name}'")


def test_a_linked_upload_leaves_no_journal_entry(gcreg, uniq):
    name = f"{uniq}/journal"
    make_project(gcreg, name)
    c = V2(gcreg, mint_token(gcreg, [(name, "pull,push")]))
    d = c.push_blob(name, f"journal {uniq}".encode())
    assert not os.path.exists(os.path.join(gcreg.storage, "placing", "sha256-" + d[7:]))


def test_metrics(gcreg, uniq):
    """The gateway's /metrics shows what metad reviewed and deleted, what blobd deleted and
    freed, the queues' depths and their oldest due entry."""
    name = f"{uniq}/metrics"
    make_project(gcreg, name)
    c = V2(gcreg, mint_token(gcreg, [(name, "pull,push,delete")]))
    c.push_image(name, "t", layers=(f"metrics {uniq}".encode() * 100,))
    r = c.req("DELETE", f"/v2/{name}/manifests/t")
    assert r.status_code == 202
    settle(gcreg)
    text = requests.get(gcreg.url + "/metrics", timeout=10).text
    assert "# TYPE registry_gc_deleted_total counter" in text
    assert "# TYPE registry_gc_queue_depth gauge" in text
    assert metric(text, 'registry_gc_reviewed_total{daemon="metad",object="manifest"}') >= 1
    assert metric(text, 'registry_gc_deleted_total{daemon="metad",object="manifest"}') >= 1
    assert metric(text, 'registry_gc_deleted_total{daemon="metad",object="blob"}') >= 2
    assert metric(text, 'registry_gc_deleted_total{daemon="blobd",object="file"}') >= 2
    assert metric(text, 'registry_gc_freed_bytes_total{daemon="blobd"}') >= 100
    for queue in ("manifest", "blob", "file"):
        assert metric(text, f'registry_gc_queue_depth{{daemon="metad",queue="{queue}"}}') \
            is not None
        assert metric(text, f'registry_gc_oldest_due_seconds{{daemon="metad",queue="{queue}"}}') \
            is not None
    # one log line per run that did something
    assert "gc: reviewed " in gcreg.log("metad")
    assert "gc: deleted " in gcreg.log("blobd")


def test_configuration(gcreg):
    """[gc] is shown by metad and blobd, and REGISTRY_GC_REVIEW_DELAY reaches the triggers."""
    import subprocess
    for daemon in ("metad", "blobd"):
        out = subprocess.run([gcreg.binary(daemon), "-c", gcreg.config_path, "-n"],
                             capture_output=True, text=True, env=gcreg.env, timeout=30).stdout
        assert "[gc]\n" in out and f"review_delay = {REVIEW_DELAY}\n" in out
        assert f"interval = {INTERVAL}\n" in out and "enabled = true\n" in out
    out = subprocess.run([gcreg.binary("gateway"), "-c", gcreg.config_path, "-n"],
                         capture_output=True, text=True, env=gcreg.env, timeout=30).stdout
    assert "[gc]" not in out
    assert sql(gcreg, "SELECT review_delay FROM gc_settings") == str(REVIEW_DELAY)

"""Garbage collection under fire: pushers re-using shared layers while their tags are deleted
and garbage collection runs with a one second review delay (every surviving tag pulls and
verifies, storage holds exactly the blobs the database names), and workers killed mid-run
(nothing lost, the run resumes)."""
import hashlib
import json
import os
import random
import signal
import socket
import threading
import time

import pytest

from gcutil import (delete_tag, gc_registry, layout, pull_and_verify, push, settle, sql,
                    stored)
from regapi import SqlSession
from registry import wait_for
from v2util import V2, make_project, mint_token, sha256

pytestmark = pytest.mark.slow


@pytest.fixture
def own(pg, workdir, uniq):
    """An instance of the test's own, made by calling own(**kw)."""
    made = []

    def make(**kw):
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
        reg = gc_registry(pg, workdir, f"gcx_{worker}_{uniq}_{len(made)}", **kw)
        made.append(reg)
        return reg.start()

    yield make
    for reg in made:
        reg.stop()


def layer_bytes(label):
    """A layer's bytes, a few KiB, distinct per label."""
    return hashlib.sha256(label.encode()).digest() * 128 + label.encode()


class Pusher:
    """Pushes images as clients do: a blob the repository has is not sent again (HEAD), then
    the manifest; a push that fails is tried again. skopeo for one, this client for others."""

    def __init__(self, reg, name, k, tmp_path, shared, use_skopeo):
        self.reg, self.name, self.k = reg, name, k
        self.tmp_path, self.shared, self.use_skopeo = tmp_path, shared, use_skopeo
        self.c = V2(reg, mint_token(reg, [(name, "pull,push")]))
        self.pushed = {}  # tag -> (manifest digest, blob digests)
        self.retries = 0
        self.errors = []

    def image(self, i):
        rnd = random.Random(f"{self.name}-{self.k}-{i}")
        layers = [self.shared[j] for j in sorted(rnd.sample(range(len(self.shared)), 2))]
        layers.append(layer_bytes(f"{self.name} own {self.k} {i}"))
        return layers

    def push_python(self, tag, layers):
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}, "tag": tag}).encode()
        descs = []
        for data in [config] + layers:
            d = sha256(data)
            if self.c.req("HEAD", f"/v2/{self.name}/blobs/{d}").status_code != 200:
                self.c.push_blob(self.name, data)
            descs.append({"digest": d, "size": len(data)})
        m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": dict(descs[0], mediaType="application/vnd.oci.image.config.v1+json"),
             "layers": [dict(x, mediaType="application/vnd.oci.image.layer.v1.tar")
                        for x in descs[1:]]}
        body = json.dumps(m).encode()
        r = self.c.put_manifest(self.name, tag, body)
        assert r.status_code == 201, r.text
        return sha256(body), {x["digest"] for x in descs}

    def push_skopeo(self, tag, layers):
        lay = layout(self.tmp_path, f"{self.k}-{tag}")
        # one file per layer: the tar's bytes differ from the raw ones, the sharing stays
        desc = lay.image([{"data": data} for data in layers], label=tag)
        lay.tag(desc, tag)
        push(self.reg, lay, tag, self.name, tag)
        with open(os.path.join(lay.path, "blobs", "sha256", desc["digest"][7:]), "rb") as f:
            m = json.loads(f.read())
        return desc["digest"], {m["config"]["digest"]} | {x["digest"] for x in m["layers"]}

    def run(self, count):
        for i in range(count):
            time.sleep(0.2)  # as a pipeline would: the deleter and the reviews go on meanwhile
            tag = f"k{self.k}-{i}"
            layers = self.image(i)
            for attempt in range(8):
                try:
                    pushed = (self.push_skopeo if self.use_skopeo else self.push_python)(
                        tag, layers)
                    self.pushed[tag] = pushed
                    break
                except AssertionError as e:  # a blob or manifest gone under the push: again
                    self.retries += 1
                    self.errors.append(str(e)[-300:])
                    time.sleep(0.2)
            else:
                raise AssertionError(f"{tag} never pushed: {self.errors[-3:]}")


def test_pushes_reusing_layers_while_tags_go_and_gc_runs(own, uniq, tmp_path):
    reg = own()
    name = f"{uniq}/busy"
    make_project(reg, name)
    # layers shared between images, two of ten in each: as tags go, each loses its last
    # reference now and then, is collected, and is pushed again by a later image
    shared = [layer_bytes(f"{uniq} shared {j}") for j in range(10)]
    shared_digests = {sha256(x) for x in shared}
    pushers = [Pusher(reg, name, k, tmp_path, shared, use_skopeo=(k == 0)) for k in range(3)]
    count = 12
    keep = lambda tag: int(tag.split("-")[1]) in (0, count - 1)  # noqa: E731
    done = threading.Event()
    deleted = set()
    failures = []
    collected = set()  # shared layers whose row went at some point

    def deleter():
        try:
            while True:
                finished = done.is_set()
                for p in pushers:
                    for tag in list(p.pushed):
                        if not keep(tag) and tag not in deleted:
                            delete_tag(reg, name, "", tag)
                            deleted.add(tag)
                collected.update(shared_digests - set(
                    sql(reg, "SELECT digest FROM blobs").split()))
                if finished:
                    return
                time.sleep(0.2)
        except Exception as e:  # noqa: BLE001 - reported by the test
            failures.append(e)

    threads = [threading.Thread(target=p.run, args=(count,)) for p in pushers]
    d = threading.Thread(target=deleter)
    for t in threads + [d]:
        t.start()
    for t in threads:
        t.join(timeout=600)
    done.set()
    d.join(timeout=120)
    assert not failures, failures
    for p in pushers:
        assert len(p.pushed) == count, p.errors

    settle(reg, timeout=120)
    # storage holds exactly the blobs the database names (an orphan of a push that failed is
    # swept after its grace)
    wait_for(lambda: stored(reg) == set(sql(reg, "SELECT digest FROM blobs").split()),
             timeout=60, interval=0.2, what="storage to hold exactly the blob rows")
    survivors = {tag: v for p in pushers for tag, v in p.pushed.items() if keep(tag)}
    tags = set(V2(reg, mint_token(reg, [(name, "pull")])).req(
        "GET", f"/v2/{name}/tags/list").json()["tags"])
    assert tags == set(survivors)
    for tag, (digest, blobs) in survivors.items():
        pull_and_verify(reg, name, tag, blobs)
    # what only deleted images held is gone
    kept_blobs = set().union(*(b for _, b in survivors.values()))
    gone = set().union(*(b for p in pushers for t, (_, b) in p.pushed.items() if not keep(t)))
    assert not (gone - kept_blobs) & stored(reg)
    assert gone - kept_blobs, "the test deleted nothing only it held"
    assert "gc: reviewed" in reg.log("metad") and "gc: deleted" in reg.log("blobd")
    # and shared layers were collected while the pushes went on, then pushed again
    assert collected, "no shared layer was collected during the pushes"


def test_sigkill_of_the_worker_running_gc(own, uniq):
    """metad's worker is killed in the middle of a run (a batch committed, the next one in
    flight): the batch in flight is rolled back, nothing is lost, and the respawned worker's
    run finishes the work. blobd's worker killed holding a claim: its host's next deleter takes
    the claim up at once."""
    reg = own(extra_config={"metad": {"workers": "1"}})
    name = f"{uniq}/kill"
    make_project(reg, name)
    c = V2(reg, mint_token(reg, [(name, "pull,push")]))
    kept_digest, kept = c.push_image(name, "keep", layers=(b"kept " * 1000 + uniq.encode(),))
    kept_blobs = {kept["config"]["digest"]} | {x["digest"] for x in kept["layers"]}
    repo = sql(reg, f"SELECT id FROM repositories WHERE path = '{name}'")
    # garbage made with SQL, nothing due before the test says so: 150 manifests without blobs
    # (g1), then 50 with a blob each (g2), with their files
    sql(reg, "UPDATE gc_settings SET review_delay = 3600")
    wait_for(lambda: sql(reg, "SELECT count(*) FROM gc_manifest_queue WHERE review_after <= "
                              "now() + interval '10 minutes'") == "0", timeout=30,
             what="the kept image's reviews")
    g2 = {}
    for i in range(50):
        data = f"garbage {uniq} {i}".encode() * 20
        g2[sha256(data)] = data
        path = os.path.join(reg.storage, "blobs", "sha256", sha256(data)[7:9])
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, sha256(data)[7:]), "wb") as f:
            f.write(data)
    blob_values = ",".join(f"('{d}', {len(x)})" for d, x in g2.items())
    sql(reg, f"""
        INSERT INTO manifests (repository_id, digest, media_type, payload, total_size)
        SELECT {repo}, 'sha256:' || encode(sha256(('g1 {uniq} ' || i)::bytea), 'hex'),
               'application/vnd.oci.image.manifest.v1+json', 'x'::bytea, 1
          FROM generate_series(1, 150) i;
        INSERT INTO blobs (digest, size) VALUES {blob_values};
        INSERT INTO repository_blobs (repository_id, blob_digest)
        SELECT {repo}, digest FROM blobs WHERE digest IN ({",".join(f"'{d}'" for d in g2)});
        WITH m AS (
            INSERT INTO manifests (repository_id, digest, media_type, payload, total_size)
            SELECT {repo}, 'sha256:' || encode(sha256(('g2 ' || d)::bytea), 'hex'),
                   'application/vnd.oci.image.manifest.v1+json', 'x'::bytea, 2
              FROM unnest(ARRAY[{",".join(f"'{d}'" for d in g2)}]) d
            RETURNING id, digest)
        INSERT INTO manifest_blobs (manifest_id, blob_digest)
        SELECT m.id, d FROM m JOIN unnest(ARRAY[{",".join(f"'{d}'" for d in g2)}]) d
          ON m.digest = 'sha256:' || encode(sha256(('g2 ' || d)::bytea), 'hex');
        -- their links were made long ago, and reviewed then
        DELETE FROM gc_blob_queue;""")
    # g1's manifests have a total_size of 1, g2's of 2
    left = lambda size: int(sql(reg, "SELECT count(*) FROM manifests WHERE payload = 'x'"  # noqa: E731
                                     f" AND total_size = {size}"))
    g1_left, g2_left = (lambda: left(1)), (lambda: left(2))
    assert (g1_left(), g2_left()) == (150, 50)

    lock = SqlSession(reg)
    try:
        # deleting a g2 manifest queues its blob: that waits for this lock, mid-run
        lock.run("BEGIN; LOCK TABLE gc_blob_queue IN SHARE MODE;")
        # all due at once, g1 first
        sql(reg, "UPDATE gc_manifest_queue q SET review_after = now() - CASE m.total_size"
                 " WHEN 1 THEN interval '10 minutes' ELSE interval '5 minutes' END"
                 " FROM manifests m WHERE m.id = q.manifest_id AND m.payload = 'x'")
        backend = wait_for(lambda: sql(reg, "SELECT pid FROM pg_stat_activity WHERE"
                                            " wait_event_type = 'Lock' AND query LIKE"
                                            " '%gc_review_manifests%'"),
                           timeout=30, what="the run to wait mid-way")
        # the first batch (100 of g1) is committed, the second waits
        assert (g1_left(), g2_left()) == (50, 50)
        for pid in reg.worker_pids("metad"):
            os.kill(pid, signal.SIGKILL)
        # the worker's connection ends with it: its transaction is rolled back
        sql(reg, f"SELECT pg_terminate_backend({int(backend)})")
        wait_for(lambda: sql(reg, f"SELECT count(*) FROM pg_stat_activity WHERE pid = {int(backend)}")
                 == "0", timeout=30, what="the backend to end")
        assert (g1_left(), g2_left()) == (50, 50)
        sql(reg, "UPDATE gc_settings SET review_delay = 1")
    finally:
        lock.run("COMMIT;")
        lock.close()
    # the respawned worker's run takes up the rest: manifests, then their blobs and files
    wait_for(lambda: (g1_left(), g2_left()) == (0, 0), timeout=60, interval=0.2,
             what="the run to resume")
    wait_for(lambda: not set(g2) & stored(reg), timeout=60, interval=0.2,
             what="the garbage files to go")
    assert not set(g2) & set(sql(reg, "SELECT digest FROM blobs").split())
    assert reg.log("metad").count("gc: reviewed") >= 1

    # blobd: a claim its host made and never acknowledged (a worker killed between claiming
    # and deleting) is taken up by the next deleter of the host; another host's waits its lease
    ours, theirs = (f"claimed {uniq} {x}".encode() for x in ("ours", "theirs"))
    for data in (ours, theirs):
        path = os.path.join(reg.storage, "blobs", "sha256", sha256(data)[7:9])
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, sha256(data)[7:]), "wb") as f:
            f.write(data)
    for pid in reg.worker_pids("blobd"):
        os.kill(pid, signal.SIGKILL)
    sql(reg, "INSERT INTO gc_blob_files (digest, claimed_by, claimed_until) VALUES"
             f" ('{sha256(ours)}', '{socket.gethostname()}', now() + interval '1 hour'),"
             f" ('{sha256(theirs)}', 'another-host', now() + interval '1 hour')")
    wait_for(lambda: sha256(ours) not in stored(reg), timeout=30, interval=0.2,
             what="the host's own claim to be taken up")
    assert sha256(theirs) in stored(reg)
    sql(reg, f"UPDATE gc_blob_files SET claimed_until = now() WHERE digest = '{sha256(theirs)}'")
    wait_for(lambda: sha256(theirs) not in stored(reg), timeout=30, interval=0.2,
             what="an expired claim to be taken up")
    settle(reg)
    # nothing lost: the kept image pulls whole
    assert kept_blobs <= stored(reg)
    pull_and_verify(reg, name, "keep", kept_blobs)
    assert c.get_manifest(name, kept_digest).status_code == 200

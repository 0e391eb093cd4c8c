"""The bytes the registry's usage takes on disk (container_registry_stored_size, administrators'
only): blobd tells metad each blob's stored size after a compression (POST
/internal/blobs/stored), and metad keeps, per top-level namespace, the sum over the same distinct
blobs usage counts (schema/functions/usage.sql), summing a project's when it is read. The figure
must equal the sizes of the files under storage_root/blobs, while usage keeps the original sizes;
the kept counts must equal a recount (usage_check()); garbage collection takes both to 0."""
import os
import time

import pytest
import requests

from gcutil import GC_CONFIG, settle
from regapi import wait_until
from registry import Registry
from tenancy import UnixAdapter, create_user
from test_usage import Model, Pusher, assert_exact
from test_v2_compression import system_tar, wait_compressed
from v2util import blob_files, sha256

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def reg(pg, workdir):
    """An instance that compresses (the default) and collects garbage within seconds: a run
    every second, a review delay of 10 s (a blob uploaded stays that long without a manifest,
    which a 16 MiB push on a loaded machine may need)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    r = Registry(pg, workdir, f"regstored_{worker}", extra_config=GC_CONFIG,
                 env={"REGISTRY_GC_REVIEW_DELAY": "10"}).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def compressible():
    """A 16 MiB uncompressed tar layer."""
    return system_tar(16 * MiB)


def sql(reg, statement):
    return reg.pg.psql(reg.name, statement)


def on_disk(reg, digests):
    """The bytes the files of digests take under storage_root/blobs."""
    files = blob_files(reg)
    return sum(os.path.getsize(files[d]) for d in digests)


def admin_figures(reg, ns, pid):
    """(usage, stored) as an admin reads them from the namespace, the group and the project."""
    n = reg.api("GET", f"/namespaces/{ns}").json()
    g = reg.api("GET", f"/groups/{ns}").json()["root_storage_statistics"]
    p = reg.api("GET", f"/projects/{pid}", params={"statistics": "true"}).json()["statistics"]
    assert n["container_registry_size"] == g["container_registry_size"]
    assert n["container_registry_stored_size"] == g["container_registry_stored_size"]
    return (n["container_registry_size"], n["container_registry_stored_size"],
            p["container_registry_size"], p["container_registry_stored_size"])


def image(p, model, path, pid, tag, layers, label):
    """Pushes an image; the digests of its blobs (config first)."""
    desc = p.image(path, pid, tag, layers, label)
    blobs, _ = model.repos[path]["manifests"][desc["digest"]]
    return blobs


def settled_to(reg, ns, pid, digests, timeout=60):
    """Waits until every blob of digests is compressed or left plain for good and the admin's
    figures are the files' sizes; returns (usage, stored)."""
    def agree():
        want = on_disk(reg, digests)
        got = admin_figures(reg, ns, pid)
        return got[1] == want and got[3] == want
    wait_until(agree, timeout=timeout, what="the stored size to reach metad")
    got = admin_figures(reg, ns, pid)
    return got[0], got[1]


def test_admins_see_the_bytes_on_disk_exact_and_deduplicated(reg, uniq, compressible):
    alice = create_user(reg, f"{uniq}al")
    bob = create_user(reg, f"{uniq}bo")
    ga = alice.ok("POST", "/groups", json={"name": f"{uniq}a", "path": f"{uniq}a"})
    gb = bob.ok("POST", "/groups", json={"name": f"{uniq}b", "path": f"{uniq}b"})
    pa = alice.ok("POST", "/projects", json={"name": "one", "namespace_id": ga["id"]})
    pb = bob.ok("POST", "/projects", json={"name": "two", "namespace_id": gb["id"]})
    model = Model()
    model.roots.update({pa["id"]: ga["id"], pb["id"]: gb["id"]})
    p = Pusher(reg, model)
    noise = os.urandom(4 * MiB)
    a_blobs = image(p, model, pa["path_with_namespace"], pa["id"], "1", [compressible, noise],
                    f"{uniq}a")
    layer = sha256(compressible)
    size = wait_compressed(reg, layer)
    assert size < len(compressible) // 2

    usage, stored = settled_to(reg, ga["id"], pa["id"], a_blobs)
    assert usage == model.root_usage(ga["id"]) == sum(model.sizes[d] for d in a_blobs)
    assert stored == on_disk(reg, a_blobs) < usage - len(compressible) // 2
    assert os.path.getsize(blob_files(reg)[sha256(noise)]) == len(noise)  # stays plain
    assert int(sql(reg, f"SELECT stored_size FROM blobs WHERE digest = '{layer}'")) == size
    assert sql(reg, f"SELECT stored_size IS NULL FROM blobs WHERE digest = '{sha256(noise)}'"
               ) == "t"
    assert_exact(reg)

    # the group's Owner sees usage, never the stored size
    ns = alice.ok("GET", f"/namespaces/{ga['id']}")
    assert ns["container_registry_size"] == usage and "container_registry_stored_size" not in ns
    listed = {n["id"]: n for n in alice.ok("GET", "/namespaces")}
    assert "container_registry_stored_size" not in listed[ga["id"]]
    rs = alice.ok("GET", f"/groups/{ga['id']}")["root_storage_statistics"]
    assert rs["container_registry_size"] == usage and "container_registry_stored_size" not in rs
    st = alice.ok("GET", f"/projects/{pa['id']}", params={"statistics": "true"})["statistics"]
    assert st["container_registry_size"] == usage
    assert "container_registry_stored_size" not in st
    # an admin's list shows it too
    admin_list = {n["id"]: n for n in reg.api("GET", "/namespaces",
                                               params={"per_page": 100, "search": uniq}).json()}
    assert admin_list[ga["id"]]["container_registry_stored_size"] == stored

    # the same layer in another namespace counts there too (its file is compressed already)
    b_blobs = image(p, model, pb["path_with_namespace"], pb["id"], "1", [compressible],
                    f"{uniq}b")
    usage_b, stored_b = settled_to(reg, gb["id"], pb["id"], b_blobs)
    assert usage_b == model.root_usage(gb["id"])
    assert stored_b == on_disk(reg, b_blobs) == size + on_disk(reg, b_blobs[:1])
    assert admin_figures(reg, ga["id"], pa["id"])[:2] == (usage, stored)
    assert_exact(reg)

    # tags deleted, garbage collected: 0, and the shared layer stays while the other counts it
    p.untag(pa["path_with_namespace"], "1")
    settle(reg)
    assert admin_figures(reg, ga["id"], pa["id"]) == (0, 0, 0, 0)
    assert admin_figures(reg, gb["id"], pb["id"])[:2] == (usage_b, stored_b)
    assert layer in blob_files(reg) and sha256(noise) not in blob_files(reg)
    p.untag(pb["path_with_namespace"], "1")
    settle(reg)
    assert admin_figures(reg, gb["id"], pb["id"]) == (0, 0, 0, 0)
    assert layer not in blob_files(reg)
    assert_exact(reg)


def test_a_stored_size_lost_is_told_again_by_the_next_push(reg, uniq, compressible):
    """A blob row that says "as pushed" while its file is compressed (a report lost, or a row
    made again for a file garbage collection had not deleted yet) gets the file's size when the
    blob is pushed again."""
    alice = create_user(reg, f"{uniq}al")
    g = alice.ok("POST", "/groups", json={"name": f"{uniq}g", "path": f"{uniq}g"})
    pr = alice.ok("POST", "/projects", json={"name": "p", "namespace_id": g["id"]})
    model = Model()
    model.roots[pr["id"]] = g["id"]
    p = Pusher(reg, model)
    data = compressible + uniq.encode()  # a layer of its own
    blobs = image(p, model, pr["path_with_namespace"], pr["id"], "1", [data], uniq)
    wait_compressed(reg, sha256(data))
    usage, stored = settled_to(reg, g["id"], pr["id"], blobs)
    # lost: metad believes the file is as pushed
    assert sql(reg, f"SELECT status FROM usage_blob_stored_set('{sha256(data)}', NULL)") == "ok"
    assert admin_figures(reg, g["id"], pr["id"])[1] == stored - on_disk(reg, blobs[1:]) + len(data)
    assert_exact(reg)
    p.client(pr["path_with_namespace"]).push_blob(pr["path_with_namespace"], data)
    assert settled_to(reg, g["id"], pr["id"], blobs) == (usage, stored)
    assert_exact(reg)


def test_a_stored_size_lost_is_told_again_from_the_journal(reg, uniq, compressible):
    """A compression notes its blob in storage_root/stored/ before it puts the compressed form in
    place, and the entry goes once metad has the figure. An entry left (the report lost: metad
    down, the worker killed) is told again by a sweep; one whose file is gone just goes."""
    alice = create_user(reg, f"{uniq}al")
    g = alice.ok("POST", "/groups", json={"name": f"{uniq}g", "path": f"{uniq}g"})
    pr = alice.ok("POST", "/projects", json={"name": "p", "namespace_id": g["id"]})
    model = Model()
    model.roots[pr["id"]] = g["id"]
    p = Pusher(reg, model)
    data = compressible + b"journal" + uniq.encode()
    d = sha256(data)
    blobs = image(p, model, pr["path_with_namespace"], pr["id"], "1", [data], uniq)
    wait_compressed(reg, d)
    usage, stored = settled_to(reg, g["id"], pr["id"], blobs)
    entry = os.path.join(reg.storage, "stored", "sha256-" + d[7:])
    wait_until(lambda: not os.path.exists(entry), what="the journal entry to go")
    # the report lost: metad believes the file is as pushed, the entry is still there
    assert sql(reg, f"SELECT status FROM usage_blob_stored_set('{d}', NULL)") == "ok"
    assert admin_figures(reg, g["id"], pr["id"])[1] > stored
    gone = os.path.join(reg.storage, "stored", "sha256-" + "e" * 64)
    for path in (entry, gone):
        open(path, "w").close()
        os.utime(path, (time.time() - 60, time.time() - 60))
    assert settled_to(reg, g["id"], pr["id"], blobs, timeout=60) == (usage, stored)
    wait_until(lambda: not os.path.exists(entry) and not os.path.exists(gone),
               what="the swept entries to go")
    assert_exact(reg)


def test_stored_size_changes_move_every_namespace_counting_the_blob(reg, uniq):
    """usage_blob_stored_set() on its own: the namespaces counting a blob move by the difference,
    one that does not count it does not, NULL is the size as pushed, an unknown digest is
    not_found, and usage_repair() rewrites a figure that went wrong."""
    model = Model()
    p = Pusher(reg, model)
    roots, projects = [], []
    for i in range(3):
        g = reg.api("POST", "/groups", json={"name": f"{uniq}{i}", "path": f"{uniq}{i}"}).json()
        pr = reg.api("POST", "/projects", json={"name": "p", "namespace_id": g["id"]}).json()
        roots.append(g["id"])
        projects.append(pr)
        model.roots[pr["id"]] = g["id"]
    shared = os.urandom(5000)  # random: no compression changes a figure meanwhile
    d = sha256(shared)
    for pr in projects[:2]:
        p.image(pr["path_with_namespace"], pr["id"], "1", [shared], uniq)
    p.image(projects[2]["path_with_namespace"], projects[2]["id"], "1", [os.urandom(700)], uniq)

    def stored(i):
        return int(sql(reg, f"SELECT usage_stored_of_root({roots[i]})"))

    before = [stored(i) for i in range(3)]
    assert sql(reg, f"SELECT status FROM usage_blob_stored_set('{d}', 1234)") == "ok"
    assert [stored(i) for i in range(3)] == [before[0] - 5000 + 1234, before[1] - 5000 + 1234,
                                            before[2]]
    assert int(sql(reg, f"SELECT usage_stored_of_project({projects[0]['id']})")) == \
        before[0] - 5000 + 1234
    assert_exact(reg)
    assert sql(reg, f"SELECT status FROM usage_blob_stored_set('{d}', NULL)") == "ok"
    assert sql(reg, f"SELECT stored_size IS NULL FROM blobs WHERE digest = '{d}'") == "t"
    assert [stored(i) for i in range(3)] == before
    assert sql(reg, "SELECT status FROM usage_blob_stored_set('sha256:" + "0" * 64 + "', 1)"
               ) == "not_found"
    sql(reg, f"UPDATE registry_usage_roots SET stored_size = stored_size + 3"
             f" WHERE namespace_id = {roots[0]}")
    assert "root_stored" in sql(reg, "SELECT kind FROM usage_check()")
    assert int(sql(reg, "SELECT usage_repair()")) >= 1
    assert stored(0) == before[0]
    assert_exact(reg)


def test_the_internal_endpoint_checks_what_it_is_told(reg, uniq):
    """POST /internal/blobs/stored on metad's socket (blobd's peer): bad input is a clear OCI
    error and changes nothing; an unknown blob is BLOB_UNKNOWN; a known one 204."""
    s = requests.Session()
    s.mount("http://metad.sock/", UnixAdapter(os.path.join(reg.sock_dir, "metad.sock")))
    url = "http://metad.sock/internal/blobs/stored"
    data = os.urandom(3000)
    g = reg.api("POST", "/groups", json={"name": uniq, "path": uniq}).json()
    pr = reg.api("POST", "/projects", json={"name": "p", "namespace_id": g["id"]}).json()
    model = Model()
    model.roots[pr["id"]] = g["id"]
    blobs = image(Pusher(reg, model), model, pr["path_with_namespace"], pr["id"], "1", [data],
                  uniq)
    d = sha256(data)
    before = sql(reg, "SELECT digest, stored_size FROM blobs ORDER BY 1")
    for body, status, code in ((b"{", 400, "UNKNOWN"), (b"[]", 400, "UNKNOWN"),
                               (b'{"digest":"sha256:xyz","stored":1}', 400, "DIGEST_INVALID"),
                               (b'{"digest":"' + d.encode() + b'"}', 400, "SIZE_INVALID"),
                               (b'{"digest":"' + d.encode() + b'","stored":-1}', 400,
                                "SIZE_INVALID"),
                               (b'{"digest":"' + d.encode() + b'","stored":1.5}', 400,
                                "SIZE_INVALID"),
                               (b'{"digest":"' + d.encode() + b'","stored":"x"}', 400,
                                "SIZE_INVALID"),
                               (b'{"digest":"sha256:' + b"a" * 64 + b'","stored":1}', 404,
                                "BLOB_UNKNOWN")):
        r = s.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == status, (body, r.text)
        assert r.json()["errors"][0]["code"] == code, (body, r.text)
    assert sql(reg, "SELECT digest, stored_size FROM blobs ORDER BY 1") == before
    r = s.post(url, json={"digest": d, "stored": 1000}, timeout=30)
    assert r.status_code == 204, r.text
    assert admin_figures(reg, g["id"], pr["id"])[1] == on_disk(reg, blobs[:1]) + 1000
    assert_exact(reg)

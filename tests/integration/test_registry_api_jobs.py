"""The background work of the Container Registry API: bulk deletion rules, repository deletion
(pushes refused until it ends), cleanup policies run when due, jobs taken over from a worker
that died, jobs given up, and a 10,000-tag repository.

These run on an instance of their own that looks for work every second ([metad] jobs_interval).
Row locks held from a psql session pause a job at a known point; SQL moves timestamps (manifest
ages, a policy's next run, a dead worker's lease) where waiting for real time would take days."""
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from regapi import SqlSession, timed, wait_until
from registry import Registry
from v2util import V2, mint_token


@pytest.fixture(scope="module")
def fast(pg, workdir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    reg = Registry(pg, workdir, f"regjobs_{worker}",
                   extra_config={"metad": {"jobs_interval": "1"}}).start()
    yield reg
    reg.stop()


def sql(reg, statement):
    return reg.pg.psql(reg.name, statement)


def project(reg, name):
    """A project of root's; returns (id, full path)."""
    r = reg.api("POST", "/projects", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["path_with_namespace"]


def push_tags(reg, path, tags):
    """One distinct image per tag over /v2; returns {tag: manifest digest}."""
    c = V2(reg, mint_token(reg, [(path, "pull,push")]))
    out = {}
    for i, tag in enumerate(tags):
        digest, _ = c.push_image(path, tag, layers=(f"{path} {tag} {i}".encode(),))
        out[tag] = digest
    return out


def repo_of(reg, pid):
    r = reg.api("GET", f"/projects/{pid}/registry/repositories")
    assert r.status_code == 200, r.text
    return r.json()[0]


def tag_names(reg, pid, rid):
    r = reg.api("GET", f"/projects/{pid}/registry/repositories/{rid}/tags",
                params={"per_page": 100})
    assert r.status_code == 200, r.text
    return sorted(t["name"] for t in r.json())


def age_manifests(reg, rid, days_by_digest):
    for digest, days in days_by_digest.items():
        sql(reg, f"UPDATE manifests SET created_at = now() - interval '{float(days)} days'"
                 f" WHERE repository_id = {int(rid)} AND digest = '{digest}'")


def test_bulk_deletion_rules(fast):
    pid, path = project(fast, "rules")
    ages = {"v1": 10, "v2": 9, "v3": 8, "v4": 2, "v5": 1, "stable-1": 20, "stable-2": 0.5,
            "latest": 30}
    digests = push_tags(fast, path, list(ages))
    rid = repo_of(fast, pid)["id"]
    age_manifests(fast, rid, {digests[t]: d for t, d in ages.items()})
    # newest first: v5 kept by keep_n, v4 too young, stable-* kept by name, latest never
    r = fast.api("DELETE", f"/projects/{pid}/registry/repositories/{rid}/tags",
                 data={"name_regex_delete": ".*", "name_regex_keep": "stable-.*", "keep_n": "1",
                       "older_than": "3d"})
    assert r.status_code == 202, r.text
    want = ["latest", "stable-1", "stable-2", "v4", "v5"]
    wait_until(lambda: tag_names(fast, pid, rid) == want, "the bulk deletion")
    # the manifests stay, reachable by digest (unlinking tags is what was asked)
    c = V2(fast, mint_token(fast, [(path, "pull")]))
    assert c.get_manifest(path, digests["v1"]).status_code == 200
    assert c.get_manifest(path, "v1").status_code == 404
    assert sql(fast, f"SELECT count(*) FROM registry_jobs WHERE repository_id = {rid}") == "0"

    # name_regex (GitLab's older name) works the same; the hour is per repository
    pid2, path2 = project(fast, "rules2")
    push_tags(fast, path2, ["a1", "a2", "b1"])
    rid2 = repo_of(fast, pid2)["id"]
    r = fast.api("DELETE", f"/projects/{pid2}/registry/repositories/{rid2}/tags",
                 params={"name_regex": "a.*"})
    assert r.status_code == 202, r.text
    wait_until(lambda: tag_names(fast, pid2, rid2) == ["b1"], "the bulk deletion by name_regex")


def test_cleanup_skips_a_tag_pushed_again(fast):
    """A tag that moved to another manifest after the cleanup chose it is not deleted."""
    pid, path = project(fast, "moved")
    digests = push_tags(fast, path, ["t1", "t2"])
    rid = repo_of(fast, pid)["id"]
    tag_id = sql(fast, f"SELECT id FROM tags WHERE repository_id = {rid} AND name = 't1'")
    old_manifest = sql(fast, f"SELECT id FROM manifests WHERE digest = '{digests['t1']}'")
    new_manifest = sql(fast, f"SELECT id FROM manifests WHERE digest = '{digests['t2']}'")
    job = sql(fast, "INSERT INTO registry_jobs (kind, repository_id, locked_by, locked_until)"
                    f" VALUES ('cleanup_tags', {rid}, 'test', now() + interval '1 minute')"
                    " RETURNING id").split()[0]
    sql(fast, f"UPDATE tags SET manifest_id = {new_manifest} WHERE id = {tag_id}")
    deleted = sql(fast, f"SELECT registry_job_delete_tags({job}, 'test', 30, ARRAY[{tag_id}],"
                        f" ARRAY[{old_manifest}])")
    assert deleted == "0" and tag_names(fast, pid, rid) == ["t1", "t2"]
    # and a worker whose lease ran out changes nothing
    assert sql(fast, f"SELECT registry_job_delete_tags({job}, 'someone else', 30,"
                     f" ARRAY[{tag_id}], ARRAY[{new_manifest}])") == "-1"
    sql(fast, f"DELETE FROM registry_jobs WHERE id = {job}")


def test_repository_deletion_refuses_pushes_until_done(fast):
    pid, path = project(fast, "doomed")
    digests = push_tags(fast, path, [f"t{i}" for i in range(30)])
    rid = repo_of(fast, pid)["id"]
    c = V2(fast, mint_token(fast, [(path, "pull,push")]))
    lock = SqlSession(fast)
    try:
        # the job's first step waits on these rows
        lock.run(f"BEGIN; SELECT count(*) FROM (SELECT id FROM tags WHERE repository_id = {rid} FOR UPDATE) x;")
        r = fast.api("DELETE", f"/projects/{pid}/registry/repositories/{rid}")
        assert (r.status_code, r.json()) == (202, 202)
        wait_until(lambda: repo_of(fast, pid)["status"] == "delete_ongoing", "the job to start")
        assert fast.api("GET", f"/registry/repositories/{rid}").json()["status"] == "delete_ongoing"
        # asking again changes nothing
        assert fast.api("DELETE", f"/projects/{pid}/registry/repositories/{rid}").status_code == 202
        # pushes are refused meanwhile, blobs and manifests alike
        r = c.req("POST", f"/v2/{path}/blobs/uploads/")
        assert r.status_code == 403 and c.error_code(r) == "DENIED"
        r = c.put_manifest(path, "new", {"schemaVersion": 2,
                                         "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                         "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                                    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                                                    "size": 2},
                                         "layers": []})
        assert r.status_code == 403 and c.error_code(r) == "DENIED"
    finally:
        lock.run("COMMIT;")
        lock.close()
    wait_until(lambda: fast.api("GET", f"/projects/{pid}/registry/repositories").json() == [],
               "the repository to go")
    assert fast.api("GET", f"/registry/repositories/{rid}").status_code == 404
    # its manifests went with it, by tag and by digest
    for ref in ("t0", "t29", digests["t0"]):
        r = c.get_manifest(path, ref)
        assert r.status_code == 404, r.text
        assert c.error_code(r) in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"), r.text
    # the path takes pushes again: a new repository
    push_tags(fast, path, ["again"])
    assert repo_of(fast, pid)["id"] != rid


def test_cleanup_policy_runs_when_due(fast):
    pid, path = project(fast, "policy")
    ages = {"a": 30, "b": 20, "c": 0, "keep-me": 40, "latest": 50}
    digests = push_tags(fast, path, list(ages))
    rid = repo_of(fast, pid)["id"]
    age_manifests(fast, rid, {digests[t]: d for t, d in ages.items()})
    r = fast.api("PUT", f"/projects/{pid}", json={"container_expiration_policy_attributes": {
        "enabled": True, "cadence": "1d", "keep_n": 1, "older_than": "7d", "name_regex": ".*",
        "name_regex_keep": "keep-.*"}})
    assert r.status_code == 200, r.text
    lock = SqlSession(fast)
    try:
        lock.run(f"BEGIN; SELECT count(*) FROM (SELECT id FROM tags WHERE repository_id = {rid} FOR UPDATE) x;")
        # a day passes
        sql(fast, "UPDATE container_expiration_policies SET next_run_at = now() - interval '1s'"
                  f" WHERE project_id = {pid}")
        wait_until(lambda: repo_of(fast, pid)["cleanup_policy_started_at"] is not None,
                   "the policy to start")
    finally:
        lock.run("COMMIT;")
        lock.close()
    want = ["c", "keep-me", "latest"]
    wait_until(lambda: tag_names(fast, pid, rid) == want, "the policy's deletions")
    wait_until(lambda: repo_of(fast, pid)["cleanup_policy_started_at"] is None,
               "the policy run to end")
    policy = fast.api("GET", f"/projects/{pid}").json()["container_expiration_policy"]
    left = sql(fast, "SELECT extract(epoch FROM next_run_at - now())::bigint"
                     f" FROM container_expiration_policies WHERE project_id = {pid}")
    assert 86000 < int(left) <= 86400 and policy["next_run_at"] is not None


def test_disabled_cleanup_policy_does_not_run(fast):
    """Two projects with the same tags and the same rules, which delete "old": the enabled one
    shows the rules delete, and the disabled one, due even earlier, is left alone (the run that
    takes the enabled one would have taken it too)."""
    ages = {"old": 30, "new": 0, "latest": 50}
    rules = {"cadence": "1d", "keep_n": 1, "older_than": "7d", "name_regex": ".*"}
    made = {}
    for name, enabled in (("off", False), ("on", True)):
        pid, path = project(fast, f"policy-{name}")
        digests = push_tags(fast, path, list(ages))
        rid = repo_of(fast, pid)["id"]
        age_manifests(fast, rid, {digests[t]: d for t, d in ages.items()})
        r = fast.api("PUT", f"/projects/{pid}", json={
            "container_expiration_policy_attributes": dict(rules, enabled=enabled)})
        assert r.status_code == 200, r.text
        assert r.json()["container_expiration_policy"]["enabled"] is enabled
        made[name] = pid, rid
    (off, off_rid), (on, on_rid) = made["off"], made["on"]
    # the disabled policy is due first, then the enabled one
    for pid, ago in ((off, "1 minute"), (on, "1 second")):
        sql(fast, f"UPDATE container_expiration_policies SET next_run_at = now() - interval '{ago}'"
                  f" WHERE project_id = {pid}")
    before = fast.api("GET", f"/projects/{off}").json()["container_expiration_policy"]
    wait_until(lambda: tag_names(fast, on, on_rid) == ["latest", "new"],
               "the enabled policy's deletions")
    wait_until(lambda: repo_of(fast, on)["cleanup_policy_started_at"] is None,
               "the enabled policy's run to end")
    assert tag_names(fast, off, off_rid) == ["latest", "new", "old"]
    assert repo_of(fast, off)["cleanup_policy_started_at"] is None
    # its next run did not move either: it was never taken
    assert fast.api("GET", f"/projects/{off}").json()["container_expiration_policy"] == before


def test_a_dead_workers_job_is_taken_over(fast):
    pid, path = project(fast, "orphan")
    push_tags(fast, path, ["t1", "t2", "t3"])
    rid = repo_of(fast, pid)["id"]
    lock = SqlSession(fast)
    try:
        lock.run(f"BEGIN; SELECT count(*) FROM (SELECT id FROM tags WHERE repository_id = {rid} FOR UPDATE) x;")
        assert fast.api("DELETE", f"/projects/{pid}/registry/repositories/{rid}").status_code == 202
        wait_until(lambda: repo_of(fast, pid)["status"] == "delete_ongoing", "the job to start")
        holder = sql(fast, f"SELECT locked_by FROM registry_jobs WHERE repository_id = {rid}")
        pid_of_worker = int(holder.split(":")[1])
        assert pid_of_worker in fast.worker_pids("metad")
        os.kill(pid_of_worker, signal.SIGKILL)
        wait_until(lambda: pid_of_worker not in fast.worker_pids("metad"), "the worker to die")
    finally:
        lock.run("COMMIT;")
        lock.close()
    # its lease would run out in LEASE_SECONDS; let that time pass
    time.sleep(0.5)
    assert repo_of(fast, pid)["status"] == "delete_ongoing"
    sql(fast, f"UPDATE registry_jobs SET locked_until = now() - interval '1s'"
              f" WHERE repository_id = {rid}")
    wait_until(lambda: fast.api("GET", f"/projects/{pid}/registry/repositories").json() == [],
               "another worker to finish the job")
    assert "registry job" in fast.log("metad") and "(attempt 2)" in fast.log("metad")


def test_a_job_failing_every_time_is_given_up(fast):
    pid, path = project(fast, "failing")
    push_tags(fast, path, ["t1"])
    rid = repo_of(fast, pid)["id"]
    # five workers died holding it
    sql(fast, "UPDATE repositories SET status = 'delete_ongoing' WHERE id = " + str(rid))
    sql(fast, "INSERT INTO registry_jobs (kind, repository_id, attempts, locked_by, locked_until,"
              f" last_error) VALUES ('delete_repository', {rid}, 5, 'gone', now() - interval '1s',"
              " 'worker died')")
    wait_until(lambda: repo_of(fast, pid)["status"] == "delete_failed", "the job to be given up")
    # pushes are taken again, and asking again starts over
    push_tags(fast, path, ["t2"])
    assert fast.api("DELETE", f"/projects/{pid}/registry/repositories/{rid}").status_code == 202
    wait_until(lambda: fast.api("GET", f"/projects/{pid}/registry/repositories").json() == [],
               "the deletion asked again")


def test_ten_thousand_tags(fast):
    n = 10000
    pid, path = project(fast, "big")
    token = mint_token(fast, [(path, "pull,push")])
    c = V2(fast, token)
    _, manifest = c.push_image(path, "seed")
    import json as _json
    body = _json.dumps(manifest).encode()
    local = threading.local()

    def put(i):
        if not hasattr(local, "c"):
            local.c = V2(fast, token)  # one kept-alive session per thread
        r = local.c.put_manifest(path, f"build-{i:05d}", body, manifest["mediaType"])
        assert r.status_code == 201, r.text

    def create():
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(put, range(n)))
    _, secs = timed(create)
    print(f"\n{n} tags created over /v2 in {secs:.2f} s")
    rid = repo_of(fast, pid)["id"]
    base = f"/projects/{pid}/registry/repositories/{rid}/tags"

    r, secs = timed(lambda: fast.api("GET", base, params={"per_page": 100, "page": 60}))
    assert r.status_code == 200 and len(r.json()) == 100
    assert r.headers["X-Total"] == str(n + 1) and r.headers["X-Total-Pages"] == "101"
    print(f"offset page 60 of 101: {secs * 1000:.1f} ms")
    r, secs = timed(lambda: fast.api("GET", base, params={
        "pagination": "keyset", "per_page": 100, "last": "build-08000"}))
    assert [t["name"] for t in r.json()][:2] == ["build-08001", "build-08002"]
    print(f"keyset page after build-08000: {secs * 1000:.1f} ms")
    r, secs = timed(lambda: fast.api("GET", f"/projects/{pid}/registry/repositories",
                                     params={"tags_count": "true"}))
    assert r.json()[0]["tags_count"] == n + 1
    print(f"repository list with tags_count: {secs * 1000:.1f} ms")

    t0 = time.monotonic()
    r = fast.api("DELETE", base, params={"name_regex_delete": ".*", "keep_n": 5})
    assert r.status_code == 202, r.text
    wait_until(lambda: fast.api("GET", base).headers["X-Total"] == "5", "the bulk deletion",
               timeout=120)
    print(f"bulk deletion of {n - 4} tags (keep_n=5): {time.monotonic() - t0:.2f} s")
    left = fast.api("GET", base).json()
    assert len(left) == 5

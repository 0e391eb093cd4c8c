"""A worker gives its free heap back once it has finished no request for 10 s
(common/heap.c): the buffers eight concurrent uploads left free in blobd do not stay with it
until the next burst. Measured as the worker's anonymous memory (PSS) from /proc."""
import concurrent.futures
import hashlib
import os
import threading
import time

from v2util import V2, make_project, mint_token

MiB = 1024 * 1024
# ASan's allocator replaces glibc's heap and keeps freed memory in quarantine: there the uploads
# run (and the trim with them) but the memory says nothing
SANITIZED = bool(os.environ.get("REGISTRY_SANITIZERS"))


def anon_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss_Anon:"):
                return int(line.split()[1])
    raise AssertionError("no Pss_Anon in smaps_rollup")


def test_an_idle_worker_gives_its_free_heap_back(make_registry):
    # no compression at rest: its background work would allocate after the uploads
    reg = make_registry(workers=1, extra_config={"blobd": {"compression": "none"}}).start()
    make_project(reg, "heap/project")
    token = mint_token(reg, [("heap/project", "pull,push")])
    blobs = [os.urandom(16 * MiB) for _ in range(8)]
    (blobd,) = reg.worker_pids("blobd")
    at_rest = anon_kib(blobd)
    busiest = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            busiest[0] = max(busiest[0], anon_kib(blobd))
            time.sleep(0.02)

    def push(data):
        c = V2(reg, token)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        assert c.push_blob("heap/project", data, how="chunked", chunk=4 * MiB) == digest

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(push, blobs))
    finally:
        done.set()
        sampler.join()
    if SANITIZED:
        return
    # the uploads held several MiB of buffers at once; all of them are free now
    assert busiest[0] > at_rest + 6 * 1024, (at_rest, busiest[0])
    deadline = time.monotonic() + 20
    while anon_kib(blobd) > at_rest + 2 * 1024 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert anon_kib(blobd) <= at_rest + 2 * 1024, (at_rest, busiest[0], anon_kib(blobd))

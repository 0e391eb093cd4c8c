"""Fixtures: one PostgreSQL cluster per test process, a shared registry instance, and fresh
instances for tests that signal, reload or kill daemons."""
import itertools
import os
import shutil

import pytest

from ceph import CephRgw
from registry import PgCluster, Registry, tmpdir
from v2util import make_project

_counter = itertools.count()


@pytest.fixture(scope="session")
def workdir():
    d = tmpdir()
    os.chmod(d, 0o755)
    yield d
    if not os.environ.get("KEEP_TEST_DIRS"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(workdir):
    cluster = PgCluster(workdir)
    yield cluster
    cluster.stop()


def _new_registry(pg, workdir, **kw):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    name = f"reg_{worker}_{next(_counter)}"
    return Registry(pg, workdir, name, **kw)


@pytest.fixture(scope="session")
def registry(pg, workdir):
    """The instance most tests share; tests use unique names so they do not collide."""
    reg = _new_registry(pg, workdir).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def registry_s3(pg, workdir, ceph_rgw):
    """A shared instance that keeps its blobs in S3 (the Ceph RADOS Gateway of ceph_rgw)."""
    reg = _new_registry(pg, workdir, s3=ceph_rgw).start()
    yield reg
    reg.stop()


@pytest.fixture(params=["filesystem", "s3"])
def any_registry(request):
    """The shared instance of each storage driver in turn: a test using it runs against both."""
    if request.param == "s3":
        return request.getfixturevalue("registry_s3")
    return request.getfixturevalue("registry")


@pytest.fixture
def make_registry(pg, workdir):
    """Builds private instances (a test that signals or kills daemons gets its own)."""
    made = []

    def make(**kw):
        reg = _new_registry(pg, workdir, **kw)
        made.append(reg)
        return reg

    yield make
    for reg in made:
        reg.stop()


@pytest.fixture(scope="session")
def ceph_rgw():
    """A private Ceph cluster with a RADOS Gateway (S3) and one bucket, per test process; started
    only by the tests that use it."""
    rgw = CephRgw().start()
    yield rgw
    rgw.stop()


@pytest.fixture
def uniq():
    """A short unique lowercase name for the objects a test creates."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").replace("gw", "")
    return f"t{worker}x{next(_counter)}"


@pytest.fixture
def proj(registry, uniq):
    """A fresh project <uniq>/project (made with SQL) on the shared instance; returns its path."""
    path = f"{uniq}/project"
    make_project(registry, path)
    return path

"""What the browser tests share: the tools they need (node, npm, Debian's chromium), the npm
packages of tests/ui (playwright-core, axe-core), the screenshots' folder, and running one walk
script of tests/ui with a JSON plan and reading back what the browser saw."""
import fcntl
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from registry import TOP

UI_TESTS = os.path.join(TOP, "tests", "ui")
CHROMIUM = os.environ.get("REGISTRY_TEST_CHROMIUM", "/usr/bin/chromium")


def tools_or_skip():
    """node, npm and chromium; a developer machine without them skips, CI never does."""
    missing = [t for t in ("node", "npm") if shutil.which(t) is None]
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(CHROMIUM)
    if missing:
        reason = ("the browser tests need " + ", ".join(missing) +
                  " (deploy/install-deps --test installs nodejs, npm and chromium)")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def node_modules():
    """tests/ui/node_modules as package-lock.json pins it (npm ci from the npm registry), once
    for tests running side by side (a lock file)."""
    lock = os.path.join(UI_TESTS, "package-lock.json")
    stamp = os.path.join(UI_TESTS, "node_modules", ".package-lock.json")
    with open(os.path.join(UI_TESTS, ".npm-ci.lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(lock):
            return
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=UI_TESTS, check=True, timeout=600)


def artifacts_dir():
    base = os.environ.get("REGISTRY_TEST_ARTIFACTS")
    if base:
        path = os.path.join(base, "ui")
        os.makedirs(path, exist_ok=True)
        return path
    return tempfile.mkdtemp(prefix="registry-ui-shots-")


def walk(script, plan, tmp_path, record_property):
    """Runs tests/ui/<script> with plan (base, users...; chromium and shots are added) and
    answers what it printed; fails with the browser's error if the walk did not finish."""
    tools_or_skip()
    node_modules()
    shots = artifacts_dir()
    record_property("screenshots", shots)
    print("screenshots of the web interface:", shots)
    plan = dict(plan, chromium=CHROMIUM, shots=shots)
    plan_path = tmp_path / (script + ".plan.json")
    plan_path.write_text(json.dumps(plan))
    run = subprocess.run(["node", os.path.join(UI_TESTS, script), str(plan_path)],
                         capture_output=True, text=True, timeout=300, cwd=UI_TESTS)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    print("browser walk:", seen.get("seconds"), "s; steps (ms):", seen.get("steps"))
    assert "error" not in seen, seen["error"]
    seen["shots"] = shots
    return seen


def assert_clean(seen):
    """No serious or critical axe violation, nothing the CSP blocked, no console error."""
    assert all(v == [] for v in seen["axe"].values()), seen["axe"]
    assert seen["csp_violations"] == [], seen["csp_violations"]
    assert seen["console_errors"] == [], seen["console_errors"]

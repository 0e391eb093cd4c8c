"""The manual pages: each renders with groff and man(1) without a warning, registry.conf(5) lists
exactly the parameters of common/cfg.h (those the daemons print with -n) with their defaults,
reload rule and secrecy, the daemons' pages and registry-local(1) document the options the
programs take, and `make install` puts them under the man folders."""
import glob
import os
import re
import subprocess

import pytest

from registry import BIN_DIR, DAEMONS, TOP

MAN = os.path.join(BIN_DIR, "docs", "man")
PAGES = [f"registry-{d}.8" for d in DAEMONS] + ["registry-local.1", "registry.conf.5"]


def roff_plain(s):
    """What roff escapes in a generated line stand for."""
    return s.replace("\\-", "-").replace("\\e", "\\").replace("\\(lq", "").replace("\\(rq", "")


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_warnings(page):
    path = os.path.join(MAN, page)
    res = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    res = subprocess.run(["man", "--warnings=w", "-l", path], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, MANPAGER="cat", MANWIDTH="100"))
    assert res.returncode == 0 and res.stderr == "", res.stderr
    name = page.rsplit(".", 1)[0]
    assert res.stdout.startswith(f"{name.upper()}({page[-1]})"), res.stdout[:200]
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert f"\n{section}\n" in res.stdout, (page, section)


def cfg_rows():
    """{(section, name): (default, reloadable, secret)} read from common/cfg.h's table."""
    with open(os.path.join(TOP, "common", "cfg.h")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    row = re.compile(r'X\(\w+,\s*"(\w+)",\s*"(\w+)",\s*CFG_\w+,\s*"([^"]*)",\s*[^,]+,\s*[^,]+,'
                     r'\s*(true|false),\s*(true|false),')
    return {(m[1], m[2]): (m[3], m[4] == "true", m[5] == "true") for m in row.finditer(text)}


def page_rows():
    """{(section, name): the text of its entry} from the generated registry.conf(5)."""
    with open(os.path.join(MAN, "registry.conf.5")) as f:
        text = f.read()
    params = text.split("\n.SH PARAMETERS\n", 1)[1].split("\n.SH ", 1)[0]
    rows, section = {}, None
    for block in re.split(r"\n(?=\.SS |\.TP\n)", params):
        m = re.match(r'\.SS "\[(\w+)\]"', block)
        if m:
            section = m[1]
            continue
        m = re.match(r"\.TP\n\.B (\S+)\n(.*)", block, re.S)
        assert m, block
        key = (section, roff_plain(m[1]))
        assert key not in rows, key
        rows[key] = m[2]
    return rows


def test_registry_conf_lists_exactly_the_parameters():
    table = cfg_rows()
    assert len(table) >= 59 and ("global", "log_format") in table
    page = page_rows()
    assert set(page) == set(table)
    # the daemons agree: the union of what each prints with -n (defaults only)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    printed = {}
    for d in DAEMONS:
        res = subprocess.run([os.path.join(BIN_DIR, f"registry-{d}"), "-n"], capture_output=True,
                             text=True, timeout=30, env=env)
        assert res.returncode == 0, res.stderr
        section = None
        for line in res.stdout.splitlines():
            if m := re.match(r"^\[(\w+)\]$", line):
                section = m[1]
            elif m := re.match(r"^(\w+) = (.*)$", line):
                printed[(section, m[1])] = m[2]
    assert set(printed) == set(table)
    for key, (default, reloadable, secret) in table.items():
        entry = roff_plain(page[key])
        shown = f"Default: {default}." if default else "Default: empty."
        assert shown in entry, (key, entry)
        if not secret:
            assert printed[key] == default, key
        assert ("A reload (SIGHUP) applies it" in entry) == reloadable, key
        assert ("Changing it needs a restart" in entry) == (not reloadable), key
        assert ("A secret" in entry) == secret, key
        assert f"Environment: \\fBREGISTRY_{key[0].upper()}_{key[1].upper()}\\fP" in entry, key


@pytest.mark.parametrize("daemon", DAEMONS)
def test_daemon_page_documents_every_option(daemon):
    res = subprocess.run([os.path.join(BIN_DIR, f"registry-{daemon}"), "-h"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0
    usage = set(re.findall(r"^\s+-(\w)\b", res.stderr, re.M)) | {"h"}
    assert usage >= {"c", "n", "p", "h"}, res.stderr
    with open(os.path.join(MAN, f"registry-{daemon}.8")) as f:
        text = f.read()
    options = text.split("\n.SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0]
    documented = set(re.findall(r"^\.BI? \\-(\w)\b", options, re.M))
    assert documented == usage


def test_registry_local_page_documents_its_commands_and_options():
    res = subprocess.run([os.path.join(TOP, "deploy", "registry-local"), "--help"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "registry-local up" in res.stderr, res.stderr
    with open(os.path.join(MAN, "registry-local.1")) as f:
        text = roff_plain(f.read())
    for word in set(re.findall(r"registry-local (\w+)", res.stderr)) | \
            set(re.findall(r"(--\w+)", res.stderr)):
        assert word in text, word
    with open(os.path.join(TOP, "deploy", "registry-local")) as f:
        script = f.read()
    for var in set(re.findall(r"\$\{(REGISTRY_\w+):", script)) - {"REGISTRY_BIN_DIR"}:
        assert var in text, var
    assert "REGISTRY_BIN_DIR" in text


def test_make_install_installs_the_pages(tmp_path):
    res = subprocess.run(["make", "-C", BIN_DIR, "install", f"DESTDIR={tmp_path}"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    for page in PAGES:
        found = glob.glob(str(tmp_path / "**" / f"man{page[-1]}" / page), recursive=True)
        assert len(found) == 1, (page, found)
        with open(found[0]) as f, open(os.path.join(MAN, page)) as g:
            assert f.read() == g.read()

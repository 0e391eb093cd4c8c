"""The schema's shape: migrations hold tables and data only, every function, view and trigger has
one live definition in schema/functions/, and the daemons apply those definitions at start when
they changed, never over a newer database's."""
import glob
import os
import re
import subprocess

TOP = os.path.join(os.path.dirname(__file__), "..", "..")
DEFINITION = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|VIEW|TRIGGER|PROCEDURE)\s+"
                        r"([a-z_0-9.]+)", re.I | re.M)


def definitions(pattern):
    """(kind, name, file) of every definition in the files matching pattern."""
    found = []
    for path in sorted(glob.glob(os.path.join(TOP, "schema", pattern))):
        with open(path) as f:
            for m in DEFINITION.finditer(f.read()):
                found.append((m.group(1).upper(), m.group(2).lower(), os.path.basename(path)))
    return found


def test_migrations_define_no_function_view_or_trigger():
    assert definitions("migrations/*.sql") == []


def test_each_function_view_and_trigger_is_defined_once():
    found = definitions("functions/*.sql")
    assert len(found) > 50
    names = [(kind, name) for kind, name, _ in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    assert twice == []


def our_functions(reg):
    """The functions of the registry's database that are not an extension's, with overloads."""
    out = reg.pg.psql(reg.name, "SELECT p.proname FROM pg_proc p "
                      "JOIN pg_namespace n ON n.oid = p.pronamespace "
                      "WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d "
                      "WHERE d.objid = p.oid AND d.deptype = 'e') ORDER BY 1")
    return out.split()


def test_the_database_has_exactly_the_defined_functions(registry):
    defined = sorted(name for kind, name, _ in definitions("functions/*.sql")
                     if kind == "FUNCTION")
    assert our_functions(registry) == defined


def set_function_body(reg, value):
    """Replaces gl_time by one that answers value, as an old definition would be."""
    reg.pg.psql(reg.name, "CREATE OR REPLACE FUNCTION gl_time(t timestamptz) RETURNS text "
                f"LANGUAGE sql IMMUTABLE AS $$ SELECT '{value}'::text $$")


def gl_time(reg):
    return reg.pg.psql(reg.name, "SELECT gl_time('2026-01-02 03:04:05.678+00')")


def restart(reg, daemon):
    reg.procs[daemon].terminate()
    reg.procs[daemon].wait(timeout=30)
    reg.start_daemon(daemon)
    reg.wait_ready()


def test_changed_definitions_are_applied_at_start(make_registry):
    # one role for both: metad applies the schema too (with its own role it waits for authd:
    # test_privsep.py)
    reg = make_registry(db_roles=False).start()
    assert gl_time(reg) == "2026-01-02T03:04:05.678Z"
    # What a database defined by an older build looks like: another body, another digest.
    set_function_body(reg, "old")
    reg.pg.psql(reg.name, "UPDATE schema_functions SET digest = 'sha256:old'")
    restart(reg, "metad")
    assert gl_time(reg) == "2026-01-02T03:04:05.678Z"
    assert "applied the schema's functions" in reg.log("metad")
    # Unchanged since: a start leaves them be (one application in the log, not two).
    set_function_body(reg, "kept")
    restart(reg, "authd")
    assert gl_time(reg) == "kept"


def test_an_older_binary_leaves_a_newer_databases_functions(make_registry):
    reg = make_registry(db_roles=False).start()
    reg.pg.psql(reg.name, "INSERT INTO schema_migrations (version, name) "
                "VALUES (99999, '99999_from_a_newer_build')")
    set_function_body(reg, "newer")
    reg.pg.psql(reg.name, "UPDATE schema_functions SET digest = 'sha256:newer'")
    restart(reg, "metad")
    assert gl_time(reg) == "newer"
    assert "newer than this binary's" in reg.log("metad")


def test_status_words_are_one_set_in_sql_and_c(registry):
    """The enum status_word the write functions answer and common/status.def, which says what
    each word tells a client, hold the same words; every write function answers that type."""
    with open(os.path.join(TOP, "common", "status.def")) as f:
        in_c = re.findall(r"^STATUS\((\w+),", f.read(), re.M)
    assert len(in_c) == len(set(in_c))
    in_sql = registry.pg.psql(registry.name, "SELECT unnest(enum_range(NULL::status_word))").split()
    assert sorted(in_sql) == sorted(in_c)
    # no function answers a status as text any more
    text_status = registry.pg.psql(
        registry.name,
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.proargnames IS NOT NULL AND EXISTS ("
        " SELECT 1 FROM unnest(p.proargnames, p.proallargtypes, p.proargmodes) a(name, t, mode)"
        " WHERE a.name = 'status' AND a.mode = 'o' AND a.t <> 'status_word'::regtype)")
    assert text_status == ""


def test_wide_tables_are_analyzed_from_a_small_sample(make_registry):
    # manifests hold their bytes inline and hook_logs a delivery's payload and answer: at a
    # statistics target of 10, ANALYZE holds 3,000 of their rows at once rather than 30,000
    # (schema/migrations/052; audit_events' own test is in test_audit_events.py)
    reg = make_registry().start()
    group = reg.api("POST", "/groups", json={"name": "stats", "path": "stats"}).json()
    project = reg.api("POST", "/projects", json={"name": "p", "namespace_id": group["id"]}).json()
    hook = reg.api("POST", f"/projects/{project['id']}/hooks",
                   json={"url": "https://hooks.example.com/registry"}).json()
    out = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", reg.pg.sock_dir, "-U", "postgres",
         "-d", reg.name, "-c", f"""
            INSERT INTO repositories (project_id, name) VALUES ({project['id']}, '');
            INSERT INTO manifests (repository_id, digest, media_type, payload, total_size)
            SELECT r.id, 'sha256:' || encode(sha256(int8send(g)), 'hex'),
                   'application/vnd.oci.image.manifest.v1+json',
                   convert_to(repeat('{{"layers": []}}', 40) || g, 'UTF8'), 1000
              FROM generate_series(1, 10000) g, repositories r
             WHERE r.project_id = {project['id']};
            INSERT INTO hook_logs (hook_id, trigger, url, request_headers, request_data,
                                   response_status)
            SELECT {hook['id']}, 'container_registry_hooks', 'https://hooks.example.com/registry',
                   '{{}}', jsonb_build_object('event', repeat('push ', 100) || g), '200'
              FROM generate_series(1, 10000) g;
            ANALYZE VERBOSE manifests;
            ANALYZE VERBOSE hook_logs;"""],
        capture_output=True, text=True, check=True)
    samples = re.findall(r'"(manifests|hook_logs)": scanned .*?; (\d+) rows in sample', out.stderr)
    assert samples == [("manifests", "3000"), ("hook_logs", "3000")], out.stderr

"""Migration file discovery and statement splitting (pure logic, no database)."""

from __future__ import annotations

from storage.sqlfiles import discover, split_statements


def test_split_ignores_semicolons_in_strings_comments_and_bodies() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (a text DEFAULT 'x;y');
    /* block; comment */
    CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
    SELECT "odd;name" FROM t;
    """
    stmts = split_statements(sql)
    assert len(stmts) == 3
    assert stmts[0].startswith("CREATE TABLE") and "'x;y'" in stmts[0]
    assert "$body$ SELECT 1; $body$" in stmts[1]
    assert stmts[2] == 'SELECT "odd;name" FROM t'


def test_discover_orders_and_groups_flavour_variants() -> None:
    migrations = discover()
    versions = [m.version for m in migrations]
    assert versions == sorted(versions)
    assert versions[0] == "0001_devices_patients"
    keys = next(m for m in migrations if m.version == "0003_vitals_keys")
    assert keys.common is None and set(keys.variants) == {"plain", "timescale"}
    assert [f.name for f in keys.files_for("plain")] == ["0003_vitals_keys.plain.sql"]
    aggs = next(m for m in migrations if m.version == "0004_vitals_aggregates")
    # continuous aggregates must not run inside a transaction block
    assert not aggs.variants["timescale"].transactional
    assert aggs.variants["plain"].transactional

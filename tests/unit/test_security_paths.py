"""Confining paths to a root, with real files and symlinks, and the protected resources."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from security.errors import PathEscape, ProtectedResource, SecurityError
from security.paths import check_not_protected, confine, protected_paths


@pytest.fixture
def root(tmp_path: Path) -> Path:
    work = tmp_path / "workspace"
    (work / "notes").mkdir(parents=True)
    (work / "notes" / "a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("s")
    return work


@pytest.mark.parametrize("name", ["notes/a.txt", "notes", ".", "new/file.txt",
                                  "notes/../notes/a.txt", "./notes//a.txt"])
def test_paths_inside_are_resolved(root: Path, name: str) -> None:
    got = confine(root, name)
    assert got == (root / name).resolve()
    assert got.is_relative_to(root.resolve())


def test_an_absolute_path_inside_is_allowed(root: Path) -> None:
    assert confine(root, root / "notes" / "a.txt") == (root / "notes" / "a.txt").resolve()


@pytest.mark.parametrize("name", ["../secret.txt", "../../etc/passwd", "notes/../../x",
                                  "/etc/passwd", "~/x", "..", "notes/../.."])
def test_escapes_are_refused(root: Path, name: str) -> None:
    with pytest.raises(PathEscape, match="outside the workspace"):
        confine(root, name)


def test_a_nul_byte_is_refused(root: Path) -> None:
    with pytest.raises(PathEscape, match="NUL"):
        confine(root, "notes/a.txt\x00.png")


def test_an_empty_path_is_refused(root: Path) -> None:
    with pytest.raises(PathEscape, match="empty"):
        confine(root, "  ")


def test_a_symlink_out_of_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "out").symlink_to(tmp_path / "secret.txt")
    (root / "outdir").symlink_to(tmp_path)
    with pytest.raises(PathEscape):
        confine(root, "out")
    with pytest.raises(PathEscape):
        confine(root, "outdir/secret.txt")


def test_a_dangling_symlink_pointing_out_is_refused(root: Path) -> None:
    (root / "later").symlink_to("/nonexistent/place/file")
    with pytest.raises(PathEscape):
        confine(root, "later")


def test_a_symlink_inside_the_root_is_followed(root: Path) -> None:
    (root / "alias").symlink_to(root / "notes")
    assert confine(root, "alias/a.txt") == (root / "notes" / "a.txt").resolve()


def test_a_root_behind_a_symlink_still_confines(tmp_path: Path, root: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(root)
    assert confine(link, "notes/a.txt") == (root / "notes" / "a.txt").resolve()
    with pytest.raises(PathEscape):
        confine(link, "../secret.txt")


def test_a_symlink_loop_is_a_clear_error(root: Path) -> None:
    os.symlink(root / "loop2", root / "loop1")
    os.symlink(root / "loop1", root / "loop2")
    with pytest.raises(SecurityError):
        confine(root, "loop1/x")


def test_protected_resources(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "backups").mkdir(parents=True)
    (data / "steward.db").write_text("")
    extra = tmp_path / "keys.txt"
    shielded = protected_paths(data, extra=[extra])
    for name in ["steward.db", "steward.db-wal", "steward.db-shm", "steward.lock", ".env",
                 "backups", "backups/2026-01-01.db"]:
        with pytest.raises(ProtectedResource, match="protected resource"):
            check_not_protected(data / name, shielded)
    with pytest.raises(ProtectedResource):
        check_not_protected(extra, shielded)
    check_not_protected(data / "workspace" / "notes.txt", shielded)
    check_not_protected(data / "steward.db.txt", shielded)


def test_a_symlink_to_a_protected_resource_is_protected(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "workspace").mkdir(parents=True)
    (data / "steward.db").write_text("")
    link = data / "workspace" / "db"
    link.symlink_to(data / "steward.db")
    with pytest.raises(ProtectedResource):
        check_not_protected(link, protected_paths(data))

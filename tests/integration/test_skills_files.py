"""File skills on real files: confined to the workspace, off the protected resources, capped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.model import JobState
from security.errors import ProtectedResource
from skills.files import Files, FilesConfig, _replace
from tests.integration.skills_kit import SkillRig, skill_rig


async def _fails(rig: SkillRig, skill: str, args: dict[str, object], message: str) -> None:
    job = await rig.run(skill, args)
    assert job.state is JobState.FAILED, job.result
    assert message in (job.error or ""), job.error


async def test_write_read_list_delete_round_trip(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        wrote = await rig.run("files_write", {"path": "notes/today.md", "content": "héllo\n"})
        assert wrote.result == {"path": "notes/today.md", "bytes": 7, "appended": False}
        await rig.run("files_write", {"path": "notes/today.md", "content": "more\n",
                                      "append": True})
        read = await rig.run("files_read", {"path": "notes/today.md"})
        assert "héllo\nmore" in read.result["text"]
        assert read.result["text"].startswith('<data kind="file"')
        listed = await rig.run("files_list", {"path": "notes"})
        assert listed.result["entries"] == [{"name": "today.md", "type": "file", "size": 12}]
        gone = await rig.run("files_delete", {"path": "notes/today.md"})
        assert gone.state is JobState.DONE
        assert not (rig.workspace / "notes" / "today.md").exists()


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "../steward.db",
                                  "notes/../../steward.db", "~/.ssh/id_rsa", "a\0b"])
async def test_paths_out_of_the_workspace_are_refused(tmp_path: Path, path: str) -> None:
    with skill_rig(tmp_path) as rig:
        for skill in ("files_read", "files_list", "files_delete"):
            job = await rig.run(skill, {"path": path})
            assert job.state is JobState.FAILED
            assert "outside the workspace" in (job.error or "") or "NUL" in (job.error or "")
        await rig.run("files_write", {"path": path, "content": "pwned"})
        _untouched(rig, tmp_path)


def _untouched(rig: SkillRig, tmp_path: Path) -> None:
    assert (rig.data_dir / "steward.db").read_bytes()[:15] == b"SQLite format 3"
    assert not list(tmp_path.rglob("passwd"))
    assert not (rig.home / ".ssh").exists()


async def test_symlinks_out_of_the_workspace_lead_nowhere(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text("top secret")
        (rig.workspace / "door").symlink_to(outside)
        (rig.workspace / "db").symlink_to(rig.data_dir / "steward.db")
        await _fails(rig, "files_read", {"path": "door/secret.txt"}, "outside the workspace")
        await _fails(rig, "files_read", {"path": "db"}, "outside the workspace")
        await _fails(rig, "files_write", {"path": "door/new.txt", "content": "x"},
                     "outside the workspace")
        await _fails(rig, "files_delete", {"path": "door/secret.txt"}, "outside the workspace")
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
        assert (outside / "secret.txt").read_text() == "top secret"


async def test_protected_resources_inside_the_root_are_refused(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        files = Files(FilesConfig(rig.data_dir, frozenset({(rig.data_dir / ".env").resolve()})))
        (rig.data_dir / ".env").write_text("OPENAI_API_KEY=sk-canary")
        with pytest.raises(ProtectedResource, match="protected resource"):
            files.resolve(".env")


async def test_binary_files_and_caps(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        (rig.workspace / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" * 10)
        (rig.workspace / "latin1.txt").write_bytes("café".encode("latin-1") * 10)
        await _fails(rig, "files_read", {"path": "photo.png"}, "binary file")
        await _fails(rig, "files_read", {"path": "latin1.txt"}, "binary file")
        await _fails(rig, "files_write", {"path": "big.txt", "content": "x" * 1_000_001},
                     "the limit is 1000000")
        assert not (rig.workspace / "big.txt").exists()
        (rig.workspace / "long.txt").write_text("y" * 1_500_000)
        first = await rig.run("files_read", {"path": "long.txt"})
        assert first.result["truncated"]
        assert first.result["next_offset"] == 1_000_000
        rest = await rig.run("files_read", {"path": "long.txt", "offset": 1_000_000})
        assert not rest.result["truncated"]
        assert rest.result["size"] == 1_500_000


async def test_bad_arguments_and_missing_things(tmp_path: Path) -> None:
    with skill_rig(tmp_path) as rig:
        await _fails(rig, "files_read", {}, "files_read: invalid the arguments: 'path' is a "
                                            "required property")
        await _fails(rig, "files_write", {"path": "a.txt", "content": 5}, "invalid content")
        await _fails(rig, "files_read", {"path": "nope.txt"}, "not a file")
        await _fails(rig, "files_delete", {"path": "nope.txt"}, "does not exist")
        await _fails(rig, "files_delete", {"path": "."}, "workspace itself")
        (rig.workspace / "full").mkdir()
        (rig.workspace / "full" / "f").write_text("f")
        await _fails(rig, "files_delete", {"path": "full"}, "not empty")
        assert (rig.workspace / "full" / "f").exists()


def test_a_write_replaces_a_symlink_instead_of_following_it(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("real")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "real.txt")
    _replace(tmp_path / "alias.txt", b"new")
    assert (tmp_path / "real.txt").read_text() == "real"
    assert not os.path.islink(tmp_path / "alias.txt")
    assert (tmp_path / "alias.txt").read_bytes() == b"new"

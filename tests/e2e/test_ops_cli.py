"""``steward backup``, ``restore``, ``status`` and ``incident`` beside a running ``steward run``."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tests.conftest import Steward
from tests.e2e.test_run import sleep_payload, started, stop


def test_backup_while_running_then_restore_verify_and_refusals(steward: Steward,
                                                               tmp_path: Path) -> None:
    proc = started(steward, tmp_path / "run.log", STEWARD_GRACE_SECONDS="0")
    for _ in range(3):  # they run until the end: a graceful stop with no grace hands them back
        steward.submit("--backend", "skill", "--payload", sleep_payload(600))
    taken = steward.json("backup")
    archive = Path(taken["path"])
    assert archive.parent == steward.data_dir / "backups"
    assert archive.name.startswith("steward-")
    assert archive.name.endswith(".tar.gz")

    verified = steward("restore", str(archive), "--verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["verified"] is True
    assert {c["name"]: c["status"] for c in report["checks"]}["job round-trip"] == "ok"

    live = steward("restore", str(archive))
    assert live.returncode == 3
    assert "already using" in live.stderr

    status = steward("status")
    assert status.returncode == 0, status.stderr
    assert f"Engine: running (pid {proc.pid})" in status.stdout
    assert "3 running" in status.stdout
    assert "Last backup:" in status.stdout
    assert stop(proc, within_s=20) == 0

    bad = tmp_path / "bad.tar.gz"
    _flip_member(archive, bad, "steward.db")
    refused = steward("restore", str(bad), "--verify")
    assert refused.returncode == 2
    assert refused.stderr == ("steward: bad.tar.gz: member steward.db is corrupt (its "
                              "sha256 does not match the manifest)\n")
    restored = steward("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "the files it replaced are in" in restored.stdout


def test_incident_commands_answer_plainly(steward: Steward) -> None:
    assert steward("incident", "list").stdout == "no incidents\n"
    unknown = steward("incident", "ack", "7")
    assert unknown.returncode == 2
    assert unknown.stderr == ("steward: no incident 7; `steward incident list --all` shows "
                              "them\n")


def _flip_member(source: Path, target: Path, member: str) -> None:
    with tarfile.open(source, "r:gz") as tar, tarfile.open(target, "w:gz") as out:
        for info in tar.getmembers():
            body = tar.extractfile(info)
            data = body.read() if body is not None else b""
            if info.name == member:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            out.addfile(info, io.BytesIO(data))

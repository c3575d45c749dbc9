"""The nightly backup and the weekly restore drill, as rhythms.

They submit the ``backup`` and ``restore_drill`` skills, which the composition root registers
(they know the data dir's layout, which is the bot's). A backup that works is silent; a drill
that passes is silent; either failing fails its job, and a failed background job is news.
"""

from __future__ import annotations

from engine.model import BackendName, JobSpec
from rhythms.builtin import job_rhythm
from rhythms.rhythm import Rhythm

BACKUP_SKILL = "backup"
DRILL_SKILL = "restore_drill"
BACKUP_CRON = "30 2 * * *"
DRILL_CRON = "30 4 * * 0"
BACKUP_TIMEOUT_S = 3600.0


def backup_rhythms(backup_cron: str = BACKUP_CRON, drill_cron: str = DRILL_CRON) -> list[Rhythm]:
    """``backup`` every night, ``restore-drill`` (of the newest backup) every Sunday."""
    backup = JobSpec(BackendName.SKILL, {"skill": BACKUP_SKILL, "args": {}}, priority=4,
                     name="nightly backup", max_attempts=2, timeout_s=BACKUP_TIMEOUT_S)
    drill = JobSpec(BackendName.SKILL, {"skill": DRILL_SKILL, "args": {}}, priority=4,
                    name="restore drill", max_attempts=1, timeout_s=BACKUP_TIMEOUT_S)
    return [
        job_rhythm("backup", backup_cron, backup,
                   "nightly backup of the data dir (kept by STEWARD_BACKUP_KEEP)"),
        job_rhythm("restore-drill", drill_cron, drill,
                   "weekly restore drill of the newest backup: speaks only when it fails"),
    ]

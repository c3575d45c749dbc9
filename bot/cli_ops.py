"""Operations: ``steward backup``, ``restore``, ``status`` and ``incident``, and the skills
behind the nightly backup and weekly restore drill rhythms (``install_ops``)."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from bot import render, status_view
from bot.app import DB_FILE, lock_holder
from bot.backup import BackupError, BackupReport, Sources, take
from bot.cli_kit import FAILED, OK, Handler, emit, flags, opened
from bot.errors import UsageError
from bot.render import Check
from bot.restore import (
    drill,
    drill_newest,
    extract,
    restore_live,
    scratch_dir,
    summary,
    verify_archive,
)
from bot.settings import Settings, load_settings
from engine.model import JSON, BackendName, FailureClass
from engine.selfheal import Incident, Incidents
from engine.signals import Fail
from engine.workers.backend import Backend, RunContext
from engine.workers.skill import SkillBackend, SkillFn
from rhythms.builtin.backup import BACKUP_SKILL, DRILL_SKILL, backup_rhythms
from rhythms.rhythm import Rhythm


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Handler]:
    flags(sub.add_parser("backup", help="take a consistent backup now (safe while running)")
          ).set_defaults(command="backup")
    restore = flags(sub.add_parser(
        "restore", help="check a backup and restore it (--verify: into a scratch folder)"))
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.add_argument("--verify", action="store_true",
                         help="restore into a scratch folder and prove it works; the data dir "
                              "is not touched")
    restore.add_argument("--into", type=Path, metavar="DIR",
                         help="restore into this empty folder instead (kept afterwards)")
    restore.set_defaults(command="restore")
    flags(sub.add_parser("status", help="the one-screen picture: jobs, health, incidents")
          ).set_defaults(command="status")
    incident = sub.add_parser("incident", help="recurring failures: list and acknowledge")
    isub = incident.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = flags(isub.add_parser("list", help="open incidents (--all: acknowledged too)"))
    listing.add_argument("--all", action="store_true", help="acknowledged ones too")
    listing.set_defaults(command="incident list")
    ack = isub.add_parser("ack", help="acknowledge an incident")
    ack.add_argument("id", type=int, metavar="ID")
    ack.set_defaults(command="incident ack")
    return {"backup": _backup, "restore": _restore, "status": _status,
            "incident list": _incident_list, "incident ack": _incident_ack}


def backup_now(settings: Settings) -> BackupReport:
    """One backup of the settings' data dir, pruned by ``STEWARD_BACKUP_KEEP``."""
    return take(Sources(settings.data_dir, settings.models_file), settings.backup_keep)


def _backup(args: argparse.Namespace) -> int:
    report = backup_now(load_settings())
    data: JSON = {"path": str(report.path), "bytes": report.size_bytes,
                  "members": report.members, "schema_version": report.schema_version,
                  "rows": sum(report.tables.values()), "seconds": round(report.seconds, 3),
                  "pruned": [str(p) for p in report.pruned]}
    emit(args, data, lambda: backup_text(report))
    return OK


def backup_text(report: BackupReport) -> str:
    lines = [f"backup written: {report.path} ({report.size_bytes / (1 << 20):.1f} MiB, "
             f"{report.members} files, {sum(report.tables.values())} rows, "
             f"{report.seconds:.1f} s)"]
    lines += [f"pruned: {p.name}" for p in report.pruned]
    return "\n".join(lines)


def _restore(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.verify:
        return _verify(args, settings)
    if args.into is not None:
        manifest = verify_archive(args.file)
        with scratch_dir(args.into) as target:
            extract(args.file, target)
        emit(args, {"restored": str(target), "manifest": summary(manifest)},
             lambda: f"restored {args.file.name} into {target} (checksums verified)")
        return OK
    kept = restore_live(args.file, settings.data_dir)
    emit(args, {"restored": str(settings.data_dir), "replaced": str(kept)},
         lambda: f"restored {args.file.name} into {settings.data_dir}; the files it replaced "
                 f"are in {kept}")
    return OK


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    manifest = verify_archive(args.file)
    checks = [Check("checksums", "ok", f"{len(manifest['members'])} files match the manifest")]
    with scratch_dir(args.into) as target:
        extract(args.file, target)
        checks += asyncio.run(drill(target, manifest, settings))
    failed = any(c.status == "fail" for c in checks)
    verdict = "FAILED" if failed else "verified"
    emit(args, {"archive": str(args.file), "verified": not failed, "manifest": summary(manifest),
                "checks": [render.check_json(c) for c in checks]},
         lambda: f"{args.file.name} (taken {manifest['created']}): {verdict}\n"
                 + render.checks(checks))
    return FAILED if failed else OK


def _status(args: argparse.Namespace) -> int:
    with opened() as app:
        settings = app.settings
        pid = lock_holder(settings.data_dir)
        engine = "not running" if pid is None else f"running (pid {pid or 'unknown'})"
        picture = status_view.gather(app.store, time.time(), settings.zone, settings.data_dir,
                                     admission=app.engine.admission.status(), engine=engine)
        size = status_view.db_bytes(settings.data_dir / DB_FILE)
    emit(args, picture_json(picture, size), lambda: status_view.render(picture))
    return OK


def picture_json(p: status_view.Picture, db_bytes: int) -> JSON:
    disk = p.admission.disk if p.admission is not None else None
    return {
        "engine": p.engine, "jobs": {s.value: n for s, n in p.counts.items()},
        "queue_age_s": p.queue_age_s, "decisions_waiting": p.open_cards,
        "notifications_waiting": p.outbox_pending, "disk_used_ratio":
            None if disk is None else round(disk.used_ratio, 4),
        "background_refused": bool(p.admission and p.admission.refusing),
        "incidents": [incident_json(i) for i in p.incidents], "self_heal": dict(p.heals),
        "spend_today_usd": p.spend_today_usd, "last_backup_at": p.last_backup_at,
        "notify_rate": p.rates.week.rate if p.rates else None, "database_bytes": db_bytes,
    }


def incident_json(i: Incident) -> JSON:
    return {"id": i.id, "backend": i.backend, "failure_class": i.failure_class,
            "count": i.count, "error": i.sample_error, "first_seen": i.first_seen,
            "last_seen": i.last_seen, "last_job_id": i.last_job_id,
            "acknowledged": i.acked_at is not None}


def _incident_list(args: argparse.Namespace) -> int:
    with opened() as app:
        found = Incidents(app.store).listing(include_acked=args.all)
    emit(args, [incident_json(i) for i in found], lambda: incidents_table(found))
    return OK


def incidents_table(found: list[Incident]) -> str:
    if not found:
        return "no incidents"
    rows = [[str(i.id), i.backend, i.failure_class, str(i.count),
             "acked" if i.acked_at else "open", render.one_line(i.sample_error or "")]
            for i in found]
    return render.table(["ID", "BACKEND", "CLASS", "COUNT", "STATE", "ERROR"], rows)


def _incident_ack(args: argparse.Namespace) -> int:
    with opened() as app:
        incident = Incidents(app.store).ack(args.id)
    if incident is None:
        raise UsageError(f"no incident {args.id}; `steward incident list --all` shows them")
    print(f"incident {incident.id} acknowledged")
    return OK


# -- the rhythms' skills ----------------------------------------------------------------------


def install_ops(settings: Settings, backends: dict[BackendName, Backend]) -> list[Rhythm]:
    """Register the ``backup`` and ``restore_drill`` skills; returns their rhythms (for
    ``rhythms_wiring.install``'s ``extra``). Without the skill backend there are none."""
    skill = backends.get(BackendName.SKILL)
    if not isinstance(skill, SkillBackend):
        return []
    skill.register(BACKUP_SKILL, backup_skill(settings))
    skill.register(DRILL_SKILL, drill_skill(settings))
    return backup_rhythms()


def backup_skill(settings: Settings) -> SkillFn:
    """A backup in a worker thread; silent when it works (importance 0.1)."""
    async def backup(args: dict[str, JSON], ctx: RunContext) -> JSON:
        try:
            report = await asyncio.to_thread(backup_now, settings)
        except BackupError as exc:
            raise Fail(str(exc), FailureClass.OTHER) from None
        return {"path": str(report.path), "bytes": report.size_bytes,
                "pruned": [p.name for p in report.pruned], "importance": 0.1,
                "summary": backup_text(report)}

    return backup


def drill_skill(settings: Settings) -> SkillFn:
    """The restore drill of the newest backup: silent when it passes, a failed job (which the
    owner hears about) when anything does not check out."""
    async def restore_drill(args: dict[str, JSON], ctx: RunContext) -> JSON:
        path, checks = await drill_newest(settings)
        ctx.heartbeat()
        name = path.name if path is not None else "the newest backup"
        failed = [f"{c.name}: {c.detail}" for c in checks if c.status == "fail"]
        if failed:
            raise Fail(f"restore drill of {name} failed: " + "; ".join(failed),
                       FailureClass.OTHER)
        return {"archive": name, "checks": [render.check_json(c) for c in checks],
                "importance": 0.0, "summary": f"restore drill of {name} passed"}

    return restore_drill

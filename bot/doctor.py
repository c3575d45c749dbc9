"""``steward doctor``: whether Steward can work with these settings; nothing stored changes."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from bot import render
from bot.app import (
    DB_FILE,
    lock_holder,
    make_backends,
    make_shell,
    prepare_data_dir,
)
from bot.errors import AppError
from bot.settings import Settings
from engine.errors import StoreError
from engine.gateway.config import COMPLETION_TIERS, PROVIDERS, load_table
from engine.gateway.errors import ModelsFileError
from engine.store.sql import load_migrations
from engine.store.sqlite import SqliteStore

LOW_DISK_BYTES = 1 << 30
NO_DISK_BYTES = 100 << 20


def doctor(settings: Settings) -> list[render.Check]:
    """Check that ``steward`` can work with these settings; nothing stored is changed."""
    data_dir = settings.data_dir
    try:
        prepare_data_dir(data_dir)
    except AppError as exc:
        return [render.Check("data dir", "fail", str(exc))]
    checks = [render.Check("data dir", "ok", f"{data_dir.resolve()} is writable")]
    checks += _check_store(data_dir / DB_FILE)
    checks += [_check_disk(data_dir), _check_backends(data_dir), _check_run(data_dir),
               _check_providers(settings)]
    from bot import doctor_checks  # httpx, LanceDB and onnxruntime: only the doctor pays

    checks += doctor_checks.checks(settings)
    return checks


def _check_store(path: Path) -> list[render.Check]:
    try:
        store = SqliteStore.open(path)
    except StoreError as exc:
        return [render.Check("database", "fail", str(exc))]
    try:
        verdict, version = store.integrity_check(), store.schema_version
    except sqlite3.DatabaseError as exc:
        return [render.Check("database", "fail", f"{path}: {exc}")]
    finally:
        store.close()
    latest = max((v for v, _ in load_migrations()), default=0)
    return [
        render.Check("database", "ok", f"{path} opens"),
        render.Check("integrity", "ok" if verdict == "ok" else "fail", f"quick_check: {verdict}"),
        render.Check("schema", "ok" if version == latest else "fail",
                     f"version {version} (this steward knows {latest})"),
    ]


def _check_disk(data_dir: Path) -> render.Check:
    free = shutil.disk_usage(data_dir).free
    status: render.Status = "ok"
    if free < LOW_DISK_BYTES:
        status = "fail" if free < NO_DISK_BYTES else "warn"
    return render.Check("disk", status, f"{free / (1 << 30):.1f} GiB free")


def _check_backends(data_dir: Path) -> render.Check:
    try:
        names = sorted(b.value for b in make_backends(make_shell(data_dir)))
    except AppError as exc:
        return render.Check("backends", "fail", str(exc))
    return render.Check("backends", "ok", ", ".join(names))


def _check_run(data_dir: Path) -> render.Check:
    pid = lock_holder(data_dir)
    if pid is None:
        return render.Check("steward run", "warn", "not running on this data dir")
    return render.Check("steward run", "ok", f"running (pid {pid or 'unknown'})")


def _check_providers(settings: Settings) -> render.Check:
    """Which providers are configured, and whether the routing table loads and can reach
    every completion tier with them."""
    try:
        table = load_table(settings.models_file)
    except ModelsFileError as exc:
        return render.Check("providers", "fail", str(exc))
    found = settings.providers
    absent = [p for p in PROVIDERS if p not in found]
    routing = f"routing table {table.source} loads"
    if not found:
        return render.Check("providers", "warn", "none configured: set OPENAI_API_KEY, "
                            "ANTHROPIC_API_KEY, OPENROUTER_API_KEY or OLLAMA_BASE_URL; "
                            + routing)
    stranded = [t for t in COMPLETION_TIERS
                if not any(c.provider in found for c in table.candidates(t))]
    detail = (f"configured: {', '.join(found)}; absent: {', '.join(absent) or 'none'}; "
              + routing)
    if stranded:
        return render.Check("providers", "warn", f"{detail}, but no configured provider "
                            f"serves tier {', '.join(stranded)}")
    return render.Check("providers", "ok", detail)

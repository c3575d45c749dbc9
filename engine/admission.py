"""Admission control: new background work is refused while the data dir's disk is nearly full.

Owner requests are always admitted, and nothing already stored is touched: retries, recovery
and running jobs go on. The disk is read at most every ``cache_s`` seconds, so ``submit``
stays cheap.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import EngineError
from engine.model import Origin

DISK_LIMIT = 0.85
"""The share of the disk in use above which background work is refused."""
CACHE_S = 5.0
BACKGROUND = frozenset({Origin.RHYTHM, Origin.SYSTEM, Origin.PIPELINE})


@dataclass(frozen=True, slots=True)
class Disk:
    """One reading of a filesystem: bytes in use and in all."""

    used_bytes: int
    total_bytes: int

    @property
    def used_ratio(self) -> float:
        return self.used_bytes / self.total_bytes if self.total_bytes else 0.0


DiskProbe = Callable[[Path], Disk | None]


def no_probe(path: Path) -> Disk | None:
    """For an engine that does not watch its disk (tests, scratch engines): always admits."""
    return None


def statvfs_probe(path: Path) -> Disk | None:
    """The real disk under ``path``; "used" counts what ordinary users cannot have (root's
    reserve) as used, which is what ``df`` shows as Use%."""
    usage = shutil.disk_usage(path)
    return Disk(usage.total - usage.free, usage.total)


class AdmissionRefused(EngineError):
    """New background work refused for now; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class AdmissionStatus:
    """What health and status report: the disk, and whether background work is refused."""

    disk: Disk | None
    limit: float
    refusing: bool
    reason: str | None


def refusal(origin: Origin, disk: Disk, limit: float) -> str | None:
    """Why a submission of this origin is refused with this disk, or None to admit it."""
    if origin not in BACKGROUND or disk.used_ratio <= limit:
        return None
    return (f"the data dir's disk is {disk.used_ratio:.0%} full (limit {limit:.0%}): "
            f"new {origin.value} work is paused until space is freed; owner requests still run")


class Admission:
    """Decides whether a submission is admitted, from a cached reading of the disk."""

    def __init__(self, data_dir: Path, probe: DiskProbe = statvfs_probe,
                 limit: float = DISK_LIMIT, cache_s: float = CACHE_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._dir = data_dir
        self._probe = probe
        self.limit = limit
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._disk: Disk | None = None
        self._read_at = float("-inf")

    def disk(self) -> Disk | None:
        """The disk as last read (again, when the reading is older than the cache time);
        None if it cannot be read, which never blocks work."""
        now = self._monotonic()
        if now - self._read_at >= self._cache_s:
            self._read_at = now
            try:
                self._disk = self._probe(self._dir)
            except OSError:
                self._disk = None
        return self._disk

    def check(self, origin: Origin) -> None:
        """Raise ``AdmissionRefused`` if new work of this origin must wait."""
        if origin not in BACKGROUND:
            return
        disk = self.disk()
        reason = refusal(origin, disk, self.limit) if disk is not None else None
        if reason is not None:
            raise AdmissionRefused(reason)

    def status(self) -> AdmissionStatus:
        disk = self.disk()
        if disk is None or disk.used_ratio <= self.limit:
            return AdmissionStatus(disk, self.limit, False, None)
        return AdmissionStatus(disk, self.limit, True,
                               f"disk {disk.used_ratio:.0%} full (limit {self.limit:.0%}): "
                               "new background work is refused")

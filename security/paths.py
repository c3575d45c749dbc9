"""Keeping file access inside a root, and away from the protected resources."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from security.errors import PathEscape, ProtectedResource

DB_FILE = "steward.db"
LOCK_FILE = "steward.lock"
ENV_FILE = ".env"
BACKUPS_DIR = "backups"
_DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def confine(root: Path, candidate: str | Path) -> Path:
    """``candidate`` (relative to ``root``, or absolute) resolved with its symlinks followed;
    ``PathEscape`` unless the result is ``root`` or lies inside it."""
    text = str(candidate)
    if "\x00" in text:
        raise PathEscape("the path contains a NUL byte")
    if not text.strip():
        raise PathEscape("the path is empty")
    base = root.resolve()
    target = Path(text).expanduser() if text.startswith("~") else Path(text)
    try:
        resolved = (base / target).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, or a name the OS refuses
        raise PathEscape(f"{text} cannot be resolved: {exc}") from None
    if resolved != base and base not in resolved.parents:
        raise PathEscape(f"{text} is outside the workspace {base}")
    return resolved


def protected_paths(data_dir: Path, extra: Iterable[Path] = ()) -> frozenset[Path]:
    """The resources no skill may touch: the database and its journals, the run lock,
    ``.env``, the backups folder, and any ``extra`` paths configured."""
    names = [DB_FILE + s for s in _DB_SUFFIXES] + [LOCK_FILE, ENV_FILE, BACKUPS_DIR]
    found = {(data_dir / name).resolve() for name in names}
    return frozenset(found | {Path(p).resolve() for p in extra})


def check_not_protected(path: Path, protected: Iterable[Path]) -> None:
    """``ProtectedResource`` when ``path`` (symlinks followed) is a protected resource or lies
    inside a protected folder."""
    resolved = Path(path).resolve()
    for item in protected:
        shield = Path(item).resolve()
        if resolved == shield or shield in resolved.parents:
            raise ProtectedResource(f"{path} is a protected resource ({shield.name}); "
                                    "no tool may read or change it")

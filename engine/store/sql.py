"""Loading named SQL: the queries file and the numbered migrations."""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse_named(text: str) -> dict[str, str]:
    """Split a ``-- name: x`` file into {name: statement}."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


def load_queries() -> dict[str, str]:
    """Every named query, from one file per area in ``engine/store/queries/`` (jobs, gateway,
    memory…); a name defined in two files is refused."""
    folder = resources.files("engine.store").joinpath("queries")
    queries: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, sql in parse_named(entry.read_text("utf-8")).items():
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice ({entry.name})")
            queries[name] = sql
    return queries


def load_migrations() -> list[tuple[int, str]]:
    """(version, script) for every ``NNNN_name.sql``, in order."""
    folder = resources.files("engine.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = re.match(r"^(\d{4})_\w+\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text("utf-8")))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found

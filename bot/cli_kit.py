"""What every ``steward`` subcommand shares: exit codes, output, the opened app, common flags.

Areas add their subcommands in modules of their own (``bot/cli_<area>.py``) with a
``register(sub) -> {command: handler}`` function listed in ``bot.cli.EXTENSIONS``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bot import render
from bot.app import App, build
from bot.settings import load_settings
from engine.model import JSON
from security.redaction import redact

OK, FAILED, BAD_INPUT, ENVIRONMENT, INTERRUPTED = 0, 1, 2, 3, 130

Handler = Callable[[argparse.Namespace], int]


def width() -> int:
    return shutil.get_terminal_size((render.WIDTH, 24)).columns


def emit(args: argparse.Namespace, data: JSON, text: Callable[[], str]) -> None:
    """JSON for scripts with ``--json``, else the rendered text."""
    if getattr(args, "json", False):
        print(redact(json.dumps(data, ensure_ascii=False, indent=2)))
    else:
        print(redact(text()))


@contextmanager
def opened() -> Iterator[App]:
    """The app for one CLI command: the same database as ``steward run``, never its lock."""
    app = build(load_settings())
    try:
        yield app
    finally:
        app.close()


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def flags(p: argparse.ArgumentParser, wait: bool = False) -> argparse.ArgumentParser:
    if wait:
        p.add_argument("--wait", action="store_true", help="wait until it ends; exit 0 if done")
    p.add_argument("--json", action="store_true", help="plain JSON for scripts")
    return p

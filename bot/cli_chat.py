"""``steward chat``: the console channel, on the same commands and chat as the Telegram bot."""

from __future__ import annotations

import argparse
import sys

from bot.app import build
from bot.cli_kit import OK, Handler
from bot.errors import AlreadyRunning
from bot.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Handler]:
    """Add ``steward chat`` to the command line; returns its handler."""
    sub.add_parser("chat", help="talk to Steward in this terminal: the Telegram commands, "
                   "chat and decision cards").set_defaults(command="chat")
    return {"chat": _chat}


def _chat(args: argparse.Namespace) -> int:
    """Runs the engine here too, unless a ``steward run`` already does: then jobs run there
    and their answers come here."""
    from bot import process  # the console and its notifier load only for this command

    settings = load_settings()
    try:
        app, engine_here = build(settings, lock=True), True
    except AlreadyRunning:
        app, engine_here = build(settings), False
        print("steward: `steward run` is using this data dir; jobs run there and their "
              "answers come here", file=sys.stderr)
    try:
        process.chat(app, engine_here)
    finally:
        app.close()
    return OK

"""``steward worker``: list, add and remove workers, and list their coding-agent sessions."""

from __future__ import annotations

import argparse
import time

from bot import render
from bot.cli_kit import OK, Handler, emit, flags, opened, positive_int, width
from bot.errors import UsageError
from engine.errors import EngineError
from engine.model import BackendName
from engine.rules.sessions import Limits
from engine.workers.sessions import SessionRepo, WorkerConfig

BACKENDS = [b.value for b in BackendName if b is not BackendName.GROUP]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Handler]:
    worker = sub.add_parser("worker", help="the configured workers and their sessions")
    actions = worker.add_subparsers(dest="action", metavar="ACTION", required=True)
    flags(actions.add_parser("list", help="list workers")).set_defaults(command="worker list")
    _add_parser(actions.add_parser("add", help="configure a new worker"))
    remove = actions.add_parser("remove", help="remove a worker and its sessions")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(command="worker remove")
    sessions = flags(actions.add_parser("sessions", help="coding-agent sessions, newest first"))
    sessions.add_argument("--limit", type=positive_int, default=20, metavar="N")
    sessions.add_argument("--all", action="store_true", help="include retired sessions")
    sessions.set_defaults(command="worker sessions")
    return {"worker list": _list, "worker add": _add, "worker remove": _remove,
            "worker sessions": _sessions}


def _add_parser(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument("name", metavar="NAME")
    p.add_argument("--backend", required=True, choices=BACKENDS, metavar="B",
                   help=f"one of: {', '.join(BACKENDS)}")
    p.add_argument("--model", metavar="M", help="the model the CLI is started with")
    p.add_argument("--persona", metavar="TEXT", help="standing instructions for every session")
    p.add_argument("--skills", metavar="a,b", default="",
                   help="tool names (for claude_code: its --allowedTools)")
    p.add_argument("--project", metavar="P",
                   help="a folder of the workspace, or an absolute path: its jobs come here")
    p.add_argument("--persistent", action="store_true",
                   help="keep resuming its session across jobs (default: fresh per job)")
    p.add_argument("--replace", action="store_true",
                   help="change the configuration of an existing worker")
    p.add_argument("--max-tokens", type=positive_int, default=d.max_tokens, metavar="N",
                   help=f"compact a session past this size (default {d.max_tokens})")
    p.add_argument("--max-reuses", type=positive_int, default=d.max_reuses, metavar="N",
                   help=f"start afresh after this many reuses (default {d.max_reuses})")
    p.add_argument("--max-age-hours", type=float, default=d.max_age_s / 3600, metavar="H",
                   help=f"start afresh past this age (default {d.max_age_s / 3600:g})")
    flags(p).set_defaults(command="worker add")


def config_of(args: argparse.Namespace) -> WorkerConfig:
    """The worker ``steward worker add`` describes; a bad value is a ``UsageError``."""
    name = args.name.strip()
    if not name or any(c.isspace() for c in name) or len(name) > 64:
        raise UsageError("a worker name is one word of at most 64 characters")
    if args.max_age_hours <= 0:
        raise UsageError("--max-age-hours must be more than 0")
    skills = tuple(s.strip() for s in args.skills.split(",") if s.strip())
    project = args.project.strip() if args.project else None
    return WorkerConfig(name, args.backend, args.model or None, args.persona or None, skills,
                        args.persistent, project or None,
                        Limits(args.max_tokens, args.max_reuses, args.max_age_hours * 3600))


def _list(args: argparse.Namespace) -> int:
    with opened() as app:
        views = SessionRepo(app.store).overview()
    emit(args, [render.worker_view_json(v) for v in views],
         lambda: render.worker_views_table(views, time.time(), width()))
    return OK


def _add(args: argparse.Namespace) -> int:
    worker = config_of(args)
    with opened() as app:
        repo = SessionRepo(app.store)
        known = repo.worker(worker.name)
        if known is not None and args.replace and known.backend != worker.backend:
            raise EngineError(f"worker {worker.name!r} runs {known.backend}; remove it to "
                              "give the name to another backend")
        if not repo.add_worker(worker, time.time(), replace=args.replace):
            raise EngineError(f"a worker called {worker.name!r} exists already; "
                              "add --replace to change it")
    kind = "persistent" if worker.persistent else "ephemeral"
    emit(args, {"name": worker.name, "added": True},
         lambda: f"worker {worker.name} {'saved' if args.replace else 'added'} "
                 f"({worker.backend}, {kind})")
    return OK


def _remove(args: argparse.Namespace) -> int:
    with opened() as app:
        problem = SessionRepo(app.store).remove_worker(args.name)
    if problem is not None:
        raise EngineError(problem)
    print(f"worker {args.name} removed")
    return OK


def _sessions(args: argparse.Namespace) -> int:
    with opened() as app:
        found = SessionRepo(app.store).listing(args.limit, args.all)
    emit(args, [render.session_json(s) for s in found],
         lambda: render.sessions_table(found, time.time(), width()))
    return OK

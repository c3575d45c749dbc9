"""The ``steward`` command line: parse, dispatch to a small handler, map errors to exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, cast

from bot import cli_chat, cli_costs, cli_memory, cli_ops, cli_rhythms, cli_workers, render
from bot.app import App, build, lock_holder, serve
from bot.cli_kit import (
    BAD_INPUT,
    ENVIRONMENT,
    FAILED,
    INTERRUPTED,
    OK,
    Handler,
    emit,
    flags,
    opened,
    positive_int,
    width,
)
from bot.doctor import doctor
from bot.errors import AppError, ConfigError, UsageError
from bot.logs import configure_logging
from bot.settings import load_settings
from engine import resolver
from engine.errors import (
    EngineError,
    InvalidJob,
    JobNotFound,
    PipelineError,
    StoreError,
    TemplateError,
)
from engine.model import JSON, BackendName, Job, JobSpec, JobState
from engine.pipeline.load import load_file
from engine.rules import validate
from engine.rules.transitions import Event, can

POLL_S = 0.1


EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UsageError, BAD_INPUT), (InvalidJob, BAD_INPUT), (PipelineError, BAD_INPUT),
    (TemplateError, BAD_INPUT), (JobNotFound, BAD_INPUT),
    (ConfigError, ENVIRONMENT), (AppError, ENVIRONMENT), (StoreError, ENVIRONMENT),
    (EngineError, FAILED),
)
"""The first matching class decides; anything else is an unexpected error (1)."""


def exit_code(exc: BaseException) -> int:
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), FAILED)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes become one ``steward:`` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``steward`` command; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else OK
    except KeyboardInterrupt:
        return _fail("interrupted", INTERRUPTED)
    except BrokenPipeError:  # the reader (``| head``) has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except Exception as exc:  # the process boundary: one line, never a traceback
        known = any(isinstance(exc, kind) for kind, _ in EXIT_CODES)
        message = str(exc) if known else f"unexpected error: {type(exc).__name__}: {exc}"
        return _fail(message, exit_code(exc))


def _fail(message: str, code: int) -> int:
    print(f"steward: {render.one_line(message)}", file=sys.stderr)
    return code


# -- parsing ---------------------------------------------------------------------------------


def build_parser() -> Parser:
    parser = Parser(prog="steward", description="Steward: a personal assistant with a job engine.")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    sub.add_parser("run", help="run the whole process until SIGTERM or Ctrl-C"
                   ).set_defaults(command="run")
    _job_parsers(sub.add_parser("job", help="list, show, submit, cancel and retry jobs"))
    pipeline = sub.add_parser("pipeline", help="run a pipeline file")
    prun = pipeline.add_subparsers(dest="action", metavar="ACTION", required=True).add_parser(
        "run", help="enqueue a YAML or JSON pipeline; prints the job ids")
    prun.add_argument("file", type=Path, metavar="FILE")
    flags(prun, wait=True).set_defaults(command="pipeline run")
    flags(sub.add_parser("doctor", help="check settings, data dir, database and backends")
           ).set_defaults(command="doctor")
    for register in EXTENSIONS:  # subparsers are Parsers too, so their mistakes exit 2
        COMMANDS.update(register(cast("argparse._SubParsersAction[argparse.ArgumentParser]",
                                      sub)))
    return parser


def _job_parsers(job: argparse.ArgumentParser) -> None:
    jsub = job.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = flags(jsub.add_parser("list", help="recent jobs"))
    listing.add_argument("--limit", type=positive_int, default=20, metavar="N")
    listing.add_argument("--sort", choices=["priority", "created"], default="created")
    listing.add_argument("--status", choices=[s.value for s in JobState], metavar="S",
                         help="only jobs in this state")
    listing.set_defaults(command="job list")
    show = flags(jsub.add_parser("show", help="one job, its attempts and dependencies"))
    show.add_argument("id", type=int, metavar="ID")
    show.set_defaults(command="job show")
    _submit_parser(jsub.add_parser("submit", help="enqueue a job; prints its id"))
    for action, text in (("cancel", "cancel a job (a running one is stopped)"),
                         ("retry", "run a failed, cancelled or dead job again")):
        p = jsub.add_parser(action, help=text)
        p.add_argument("id", type=int, metavar="ID")
        p.set_defaults(command=f"job {action}")


def _submit_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", required=True, metavar="B",
                   help="shell, skill, llm, claude_code or codex")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--payload", metavar="JSON", help="the payload, a JSON object")
    what.add_argument("--command", dest="shell_command", metavar="TEXT",
                      help="shell text, for --backend shell")
    p.add_argument("--priority", type=int, default=2, metavar="N",
                   help="0 (most urgent) to 5; default 2")
    p.add_argument("--key", metavar="KEY", help="idempotency key: the same key, the same job")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds an attempt may take")
    p.add_argument("--max-attempts", type=int, default=4, metavar="N", help="default 4")
    flags(p, wait=True)
    p.set_defaults(command="job submit")


# -- commands --------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    app = build(load_settings(), lock=True)
    configure_logging(app.settings.log_format)
    try:
        serve(app)
    finally:
        app.close()
    return OK


def _job_list(args: argparse.Namespace) -> int:
    with opened() as app:
        jobs = app.store.list_jobs(args.limit, args.sort, args.status)
    emit(args, [render.job_json(j) for j in jobs],
          lambda: render.jobs_table(jobs, time.time(), width()))
    return OK


def _job_show(args: argparse.Namespace) -> int:
    with opened() as app:
        store = app.store
        job = store.get_job(args.id)
        attempts, needs = store.attempts_of(job.id), store.parents(job.id)
        needed_by = [store.get_job(edge[0]) for edge in store.children_of([job.id])]
    emit(args, render.job_detail_json(job, attempts, needs, needed_by),
          lambda: render.job_detail(job, attempts, needs, needed_by, time.time()))
    return OK


def _backend(name: str, app: App) -> BackendName:
    """The backend called ``name``, if this steward runs it."""
    runs = ", ".join(sorted(b.value for b in app.backends))
    try:
        backend = validate.backend(name)
    except InvalidJob:
        raise InvalidJob(f"unknown backend {name!r}; use one of: {runs}") from None
    if backend not in app.backends:
        raise InvalidJob(f"backend {name!r} is not configured here; use one of: {runs}")
    return backend


def _payload(args: argparse.Namespace, backend: BackendName) -> JSON:
    if args.shell_command is not None:
        if backend is not BackendName.SHELL:
            raise UsageError("--command goes with --backend shell; use --payload for others")
        return {"command": args.shell_command}
    if args.payload is None:
        return {}
    try:
        return json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise InvalidJob(f"--payload is not valid JSON: {exc.msg} at character {exc.pos}"
                         ) from None


def _submit(app: App, args: argparse.Namespace) -> int:
    backend = _backend(args.backend, app)
    spec = JobSpec(backend=backend, payload=_payload(args, backend), priority=args.priority,
                   idempotency_key=args.key, timeout_s=args.timeout,
                   max_attempts=args.max_attempts)
    validate.spec(spec)
    with app.store.transaction():
        job_id, created = app.store.insert_job(resolver.new_job(spec, time.time()))
    if not created:
        _note(f"key {args.key!r} was used before: this is job {job_id}, not a new one")
    return job_id


def _job_submit(args: argparse.Namespace) -> int:
    with opened() as app:
        job_id = _submit(app, args)
        if not args.wait:
            emit(args, {"id": job_id}, lambda: str(job_id))
            return OK
        if not args.json:
            print(job_id, flush=True)
        job = _wait(app, job_id)
    return _ended(args, job)


def _wait(app: App, job_id: int) -> Job:
    """Poll the database until the job ends (a ``steward run`` elsewhere runs it)."""
    if lock_holder(app.settings.data_dir) is None:
        _note(f"no `steward run` is using {app.settings.data_dir}; "
              f"job {job_id} waits until one starts")
    while not (job := app.store.get_job(job_id)).state.terminal:
        time.sleep(POLL_S)
    return job


def _ended(args: argparse.Namespace, job: Job) -> int:
    emit(args, render.job_json(job), lambda: render.outcome(job))
    return OK if job.state is JobState.DONE else FAILED


def _note(message: str) -> None:
    print(f"steward: {message}", file=sys.stderr)


def _job_cancel(args: argparse.Namespace) -> int:
    with opened() as app:
        job = app.store.get_job(args.id)
        if job.state is JobState.CANCELLED:
            print(f"job {job.id} is already cancelled")
            return OK
        if not can(job.state, Event.CANCEL):
            raise EngineError(f"job {job.id} already ended {job.state.value}; nothing to cancel")
        resolver.cancel(app.store, job.id, time.time(), "cancelled by the owner")
        job = app.store.get_job(job.id)
    print(f"job {job.id} cancelled" if job.state.terminal
          else f"job {job.id} is running: asked `steward run` to stop it")
    return OK


def _job_retry(args: argparse.Namespace) -> int:
    with opened() as app:
        resolver.retry(app.store, args.id, time.time())
        job = app.store.get_job(args.id)
    print(f"job {job.id} will run again ({job.state.value})")
    return OK


def _enqueue(app: App, path: Path) -> tuple[dict[str, int], str]:
    """Load, check and store a pipeline; returns its job ids and the key of the answer."""
    graph = load_file(path)
    for node in graph.nodes:
        if node.group is None:
            try:
                _backend(node.spec.backend.value, app)
                validate.spec(node.spec)
            except InvalidJob as exc:
                raise PipelineError(node.key, str(exc)) from None
    return resolver.enqueue(app.store, graph, time.time()), graph.result_key


def _pipeline_run(args: argparse.Namespace) -> int:
    with opened() as app:
        ids, answer = _enqueue(app, args.file)
        queued = {"jobs": ids, "answer": ids[answer]}
        if not args.wait:
            emit(args, queued, lambda: render.pipeline_queued(ids, answer))
            return OK
        if not args.json:
            print(render.pipeline_queued(ids, answer), flush=True)
        job = _wait(app, ids[answer])
    return _ended(args, job)


def _doctor(args: argparse.Namespace) -> int:
    checks = _checks()
    emit(args, [render.check_json(c) for c in checks], lambda: render.checks(checks))
    return FAILED if any(c.status == "fail" for c in checks) else OK


def _checks() -> list[render.Check]:
    try:
        settings = load_settings()
    except ConfigError as exc:
        return [render.Check("settings", "fail", str(exc))]
    return [render.Check("settings", "ok", "valid"), *doctor(settings)]


EXTENSIONS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]],
                            dict[str, Handler]], ...] = (cli_memory.register, cli_costs.register,
                                                         cli_chat.register, cli_ops.register,
                                                         cli_workers.register,
                                                         cli_rhythms.register)
"""Each area's ``register``: it adds its subcommands and returns their handlers."""

COMMANDS: dict[str, Handler] = {
    "run": _run,
    "job list": _job_list,
    "job show": _job_show,
    "job submit": _job_submit,
    "job cancel": _job_cancel,
    "job retry": _job_retry,
    "pipeline run": _pipeline_run,
    "doctor": _doctor,
}

"""Errors of the engine.

EngineError
├── StoreError               the database cannot be opened or used
│   ├── DatabaseCorrupt
│   └── DatabaseLocked
├── InvalidJob               a submission that cannot become a job (bad backend, payload, priority)
├── PipelineError            a pipeline that cannot compile (cycle, unknown reference or variable)
├── TemplateError            a template that cannot render
├── IllegalTransition        a state change the state machine forbids
├── JobNotFound
└── JobFailed                raised by ``Engine.result`` for a job that did not end ``done``

Control-flow signals, not failures, live apart in ``engine.signals``.
"""

from __future__ import annotations


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class StoreError(EngineError):
    pass


class DatabaseCorrupt(StoreError):
    pass


class DatabaseLocked(StoreError):
    pass


class InvalidJob(EngineError):
    pass


class PipelineError(EngineError):
    def __init__(self, step: str | None, message: str) -> None:
        self.step = step
        super().__init__(f"step {step!r}: {message}" if step else message)


class TemplateError(EngineError):
    pass


class IllegalTransition(EngineError):
    def __init__(self, state: str, event: str) -> None:
        self.state = state
        self.event = event
        super().__init__(f"cannot {event} a job that is {state}")


class JobNotFound(EngineError):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id}")


class JobFailed(EngineError):
    def __init__(self, job_id: int, state: str, error: str | None) -> None:
        self.job_id = job_id
        self.state = state
        self.error = error
        super().__init__(f"job {job_id} ended {state}: {error or 'no reason recorded'}")

"""The file form of a pipeline: YAML or JSON of one structure, read and compiled to a graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import yaml

from engine.errors import PipelineError
from engine.model import JSON, Graph
from engine.pipeline.compile import PipelineDef, Ref, StepDef, compile_pipeline, refs

Format = Literal["yaml", "json"]

TOP_KEYS = ("name", "description", "steps")
STEP_KEYS = ("name", "backend", "payload", "needs", "group", "of", "map", "priority",
             "timeout_s", "max_attempts", "idempotency_key", "output_schema")
_SUFFIXES: dict[str, Format] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def load_file(path: Path) -> Graph:
    """The graph of the pipeline in ``path`` (``.yaml``, ``.yml`` or ``.json``)."""
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise PipelineError(None, f"{path.name}: a pipeline file ends in .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(None, f"cannot read pipeline file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PipelineError(None, f"{path.name} is not UTF-8 text") from None
    return compile_pipeline(parse(text, fmt, path.name, default_name=path.stem))


def load_text(text: str, fmt: str, *, source: str = "the pipeline text") -> Graph:
    """The graph of a pipeline given as text in ``fmt`` (``yaml`` or ``json``); ``source``
    names the text in error messages."""
    return compile_pipeline(parse(text, fmt, source))


def parse(text: str, fmt: str, source: str, default_name: str = "pipeline") -> PipelineDef:
    """The pipeline as written, checked for shape but not yet compiled."""
    doc = _decode(text, fmt, source)
    if not isinstance(doc, dict):
        raise PipelineError(None, f"{source} is not a pipeline: it should be a mapping with "
                            "`name` and `steps`")
    unknown = sorted(str(k) for k in doc if k not in TOP_KEYS)
    if unknown:
        raise PipelineError(None, f"{source}: unknown key {unknown[0]!r}; a pipeline has "
                            f"{', '.join(TOP_KEYS)}")
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise PipelineError(None, f"{source}: the pipeline's name must be text")
    steps = doc.get("steps")
    if not isinstance(steps, list):
        what = "has no `steps`" if steps is None else "has `steps` that are not a list"
        raise PipelineError(None, f"{source} {what}; list the steps under `steps:`")
    if not steps:
        raise PipelineError(None, f"{source} has no steps; list at least one under `steps:`")
    return PipelineDef(name, tuple(_step(raw, n, source) for n, raw in enumerate(steps, 1)))


def _decode(text: str, fmt: str, source: str) -> JSON:
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PipelineError(None, f"{source} is not valid JSON: {exc.msg} at line "
                                f"{exc.lineno}, column {exc.colno}") from None
    if fmt in ("yaml", "yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PipelineError(None, f"{source} is not valid YAML: {_yaml_problem(exc)}") from None
    raise PipelineError(None, f"{source}: unknown pipeline format {fmt!r}; use yaml or json")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(exc).splitlines()[0]


def _step(raw: JSON, n: int, source: str) -> StepDef:
    if not isinstance(raw, dict):
        raise PipelineError(None, f"{source}: step {n} is not a mapping of keys such as "
                            "name, backend and payload")
    name = raw.get("name")
    if not isinstance(name, str):
        raise PipelineError(None, f"{source}: step {n} has no name; give it `name:`")
    unknown = sorted(str(k) for k in raw if k not in STEP_KEYS)
    if unknown:
        raise PipelineError(name, f"unknown key {unknown[0]!r}; a step takes "
                            f"{', '.join(STEP_KEYS)}")
    return StepDef(
        name, backend=_opt_text(name, raw, "backend"), payload=raw.get("payload"),
        needs=_needs(name, raw.get("needs")), group=_opt_text(name, raw, "group"),
        of=_of(name, raw.get("of")), items=_items(name, raw), priority=raw.get("priority"),
        timeout_s=raw.get("timeout_s"), max_attempts=raw.get("max_attempts"),
        idempotency_key=raw.get("idempotency_key"), output_schema=raw.get("output_schema"))


def _opt_text(step: str, raw: dict[str, JSON], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise PipelineError(step, f"{key} must be text, not {value!r}")
    return value


def _needs(step: str, value: JSON) -> tuple[Ref, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return refs(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return refs({str(k): v for k, v in value.items()})
    raise PipelineError(step, "needs must list step names, or map variable names to steps "
                        "({page: fetch})")


def _of(step: str, value: JSON) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PipelineError(step, "of must list the names of the steps the group waits on")


def _items(step: str, raw: dict[str, JSON]) -> tuple[JSON, ...] | None:
    if "map" not in raw:
        return None
    if not isinstance(raw["map"], list):
        raise PipelineError(step, "map must be a list: one job runs for each item")
    return tuple(raw["map"])

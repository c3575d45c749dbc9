"""Payload templates: ``{{prev_result}}``, ``{{all_results}}``, ``{{index}}`` and named results.

A string that is exactly one placeholder takes the value itself (a list stays a list); a
placeholder inside longer text is replaced by the value's text (JSON for lists and objects).
``{{name.field.0}}`` walks into objects and lists.
"""

from __future__ import annotations

import json
import re

from engine.errors import TemplateError
from engine.model import JSON

BUILTIN_VARIABLES = frozenset({"prev_result", "all_results", "index"})

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\s*\}\}")


def variables(template: JSON) -> set[str]:
    """The root variable names a template refers to, anywhere in a nested payload."""
    found: set[str] = set()
    for text in _strings(template):
        found.update(m.group(1) for m in _PLACEHOLDER.finditer(text))
    return found


def _strings(value: JSON) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def render(template: JSON, context: dict[str, JSON]) -> JSON:
    """The template with every placeholder replaced from ``context``."""
    if isinstance(template, str):
        return _render_text(template, context)
    if isinstance(template, dict):
        return {_render_key(k, context): render(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, context) for v in template]
    return template


def _render_key(key: str, context: dict[str, JSON]) -> str:
    value = _render_text(key, context)
    return value if isinstance(value, str) else _as_text(value)


def _render_text(text: str, context: dict[str, JSON]) -> JSON:
    if "{{" not in text:
        return text
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole:
        return _lookup(whole.group(1), whole.group(2), context)
    return _PLACEHOLDER.sub(lambda m: _as_text(_lookup(m.group(1), m.group(2), context)), text)


def _lookup(name: str, path: str, context: dict[str, JSON]) -> JSON:
    if name not in context:
        raise TemplateError(f"unknown template variable {{{{{name}}}}}")
    value = context[name]
    for part in path.split(".")[1:]:
        value = _step(value, part, name + path)
    return value


def _step(value: JSON, part: str, full: str) -> JSON:
    if isinstance(value, dict) and part in value:
        return value[part]
    if isinstance(value, list) and part.isdigit() and int(part) < len(value):
        return value[int(part)]
    raise TemplateError(f"{{{{{full}}}}}: no {part!r} in the value")


def _as_text(value: JSON) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)

"""Payload templates."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.rules.templates import render, variables

CTX = {"prev_result": {"stdout": "hi", "n": [1, 2]}, "all_results": [1, "two"], "index": 3,
       "fetch": "page"}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{index}}", 3),
    ("{{ all_results }}", [1, "two"]),
    ("item {{index}} of {{all_results}}", 'item 3 of [1, "two"]'),
    ("{{prev_result.stdout}}!", "hi!"),
    ("{{prev_result.n.1}}", 2),
    ({"a": ["{{fetch}}", 5, None]}, {"a": ["page", 5, None]}),
    ({"{{fetch}}": "k"}, {"page": "k"}),
    ("no placeholders {", "no placeholders {"),
    (7, 7),
])
def test_render(template: object, expected: object) -> None:
    assert render(template, CTX) == expected


@pytest.mark.parametrize(("template", "message"), [
    ("{{nope}}", "unknown template variable {{nope}}"),
    ("{{prev_result.missing}}", "no 'missing'"),
    ("{{prev_result.n.9}}", "no '9'"),
])
def test_render_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(template, CTX)


def test_variables_finds_roots_anywhere() -> None:
    payload = {"cmd": "echo {{a.b}} {{ c }}", "list": ["{{index}}"], "{{k}}": 1}
    assert variables(payload) == {"a", "c", "index", "k"}

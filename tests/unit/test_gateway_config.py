"""The routing table: the shipped models.toml loads; a bad file fails with one clear line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.gateway.config import COMPLETION_TIERS, PROVIDERS, TIERS, load_table, parse_table
from engine.gateway.errors import ModelsFileError, UnknownTier

GOOD = """
[[tiers.ultra]]
provider = "anthropic"
model = "big"
price = { input = 15, output = 75, cached = 1.5, cache_write = 18.75 }
[[tiers.mid]]
provider = "openai"
model = "medium"
price = { input = 1, output = 2, cached = 0.1 }
timeout_s = 30
context_tokens = 64000
[[tiers.cheap]]
provider = "ollama"
model = "small"
price = { input = 0, output = 0, cached = 0 }
[[tiers.reasoning]]
provider = "openrouter"
model = "deep/think"
price = { input = 1, output = 2, cached = 0.5 }
"""


def test_the_shipped_table_has_every_tier_and_known_providers() -> None:
    table = load_table()
    assert set(table.tiers) == set(TIERS)
    assert table.providers <= set(PROVIDERS)
    for tier in TIERS:
        assert table.candidates(tier)
    assert all(c.price.free for c in table.candidates("cheap") if c.provider == "ollama")
    assert all(not c.price.free for c in table.candidates("ultra"))


def test_a_good_file_parses() -> None:
    table = parse_table(GOOD, "test")
    mid = table.candidates("mid")[0]
    assert (mid.key, mid.timeout_s, mid.context_tokens) == ("openai/medium", 30.0, 64000)
    assert table.candidates("ultra")[0].price.cache_write == 18.75
    assert table.candidates("reasoning")[0].key == "openrouter/deep/think"


def test_free_fallbacks_are_the_free_candidates_of_other_tiers() -> None:
    table = parse_table(GOOD, "test")
    assert [c.key for c in table.free_fallbacks("mid")] == ["ollama/small"]
    assert table.free_fallbacks("cheap") == ()


def test_an_unknown_tier_is_named() -> None:
    with pytest.raises(UnknownTier, match="unknown tier 'huge'"):
        parse_table(GOOD, "test").candidates("huge")


@pytest.mark.parametrize(("text", "message"), [
    ("tiers = [", "test: not valid TOML"),
    ("", "test: no [tiers] table"),
    ("[models]\n", "test: unknown section 'models'"),
    (GOOD.replace("tiers.reasoning", "tiers.smart"), "test: tiers.smart: unknown tier"),
    (GOOD.replace('[[tiers.reasoning]]\nprovider = "openrouter"\nmodel = "deep/think"\n'
                  'price = { input = 1, output = 2, cached = 0.5 }', ""),
     "test: tier 'reasoning' is missing"),
    (GOOD.replace('provider = "openai"', 'provider = "acme"'),
     "test: tiers.mid[0].provider: must be one of openai, anthropic, openrouter, ollama"),
    (GOOD.replace('model = "medium"', 'model = ""'), "test: tiers.mid[0].model: must be"),
    (GOOD.replace("input = 1, output = 2, cached = 0.1", "input = -1, output = 2, cached = 0.1"),
     "test: tiers.mid[0].price.input: must be a number >= 0"),
    (GOOD.replace("input = 1, output = 2, cached = 0.1", "input = 1, output = 2"),
     "tiers.mid[0].price.cached: missing"),
    (GOOD.replace("input = 1, output = 2, cached = 0.1", "input = 1, output = 'x', cached = 1"),
     "tiers.mid[0].price.output: must be a number"),
    (GOOD.replace("input = 1, output = 2, cached = 0.1",
                  "input = 1, output = 2, cached = 0.1, discount = 3"),
     "tiers.mid[0].price: unknown key 'discount'"),
    (GOOD.replace("timeout_s = 30", "timeout_s = 0"),
     "tiers.mid[0].timeout_s: must be a number > 0"),
    (GOOD.replace("timeout_s = 30", "timeout = 30"), "tiers.mid[0]: unknown key 'timeout'"),
    (GOOD.replace("context_tokens = 64000", "context_tokens = 1.5"),
     "context_tokens: must be a whole number"),
    (GOOD.replace('[[tiers.mid]]\nprovider = "openai"\nmodel = "medium"\n'
                  'price = { input = 1, output = 2, cached = 0.1 }',
                  '[[tiers.mid]]\nprovider = "openai"\nmodel = "medium"\n'
                  'price = { input = 1, output = 2, cached = 0.1 }\n'
                  '[[tiers.mid]]\nprovider = "openai"\nmodel = "medium"\n'
                  'price = { input = 1, output = 2, cached = 0.1 }'),
     "tiers.mid: openai/medium is listed twice"),
    ("[tiers]\nmid = []", "tiers.mid: must be a non-empty list"),
    ("[tiers]\nmid = [1]", "tiers.mid[0]: must be a table"),
])
def test_a_bad_table_fails_with_one_line_saying_where(text: str, message: str) -> None:
    with pytest.raises(ModelsFileError, match=re.escape(message)) as caught:
        parse_table(text, "test")
    assert "\n" not in str(caught.value)


def test_a_file_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(GOOD.replace("input = 1,", "input = 'one',"))
    with pytest.raises(ModelsFileError, match=r"^STEWARD_MODELS_FILE \(.*models.toml\): tiers"):
        load_table(path)
    with pytest.raises(ModelsFileError, match="cannot be read"):
        load_table(tmp_path / "missing.toml")


def test_every_completion_tier_is_required() -> None:
    assert set(COMPLETION_TIERS) < set(TIERS)
    assert "embed" not in COMPLETION_TIERS

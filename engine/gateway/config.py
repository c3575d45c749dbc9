"""The routing table: tiers mapped to ordered candidates with prices, loaded from models.toml."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from engine.gateway.costs import Price
from engine.gateway.errors import ModelsFileError, UnknownTier

TIERS = ("ultra", "mid", "cheap", "reasoning", "embed")
COMPLETION_TIERS = ("ultra", "mid", "cheap", "reasoning")
PROVIDERS = ("openai", "anthropic", "openrouter", "ollama")
SHIPPED = "models.toml"

_CANDIDATE_KEYS = frozenset({"provider", "model", "price", "timeout_s", "context_tokens"})
_PRICE_KEYS = frozenset({"input", "output", "cached", "cache_write"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model a tier may use, with its price and how long a call to it may take."""

    provider: str
    model: str
    price: Price
    timeout_s: float = 120.0
    context_tokens: int = 128_000

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Tiers in waterfall order; ``source`` names the file it came from."""

    tiers: Mapping[str, tuple[Candidate, ...]]
    source: str = SHIPPED

    def candidates(self, tier: str) -> tuple[Candidate, ...]:
        found = self.tiers.get(tier)
        if found is None:
            known = ", ".join(self.tiers)
            raise UnknownTier(f"unknown tier {tier!r}; the routing table has: {known}")
        return found

    def free_fallbacks(self, tier: str) -> tuple[Candidate, ...]:
        """Free candidates of the other completion tiers: where a P0 call goes at the cap."""
        own = {c.key for c in self.candidates(tier)}
        seen: dict[str, Candidate] = {}
        for name in COMPLETION_TIERS:
            for c in self.tiers.get(name, ()):
                if c.price.free and c.key not in own:
                    seen.setdefault(c.key, c)
        return tuple(seen.values())

    @property
    def providers(self) -> frozenset[str]:
        return frozenset(c.provider for cs in self.tiers.values() for c in cs)


def load_table(path: Path | None = None) -> RoutingTable:
    """The table in ``path`` (STEWARD_MODELS_FILE), else the one shipped with Steward."""
    if path is None:
        text = resources.files("engine.gateway").joinpath(SHIPPED).read_text("utf-8")
        return parse_table(text, SHIPPED)
    source = f"STEWARD_MODELS_FILE ({path})"
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelsFileError(f"{source}: cannot be read: {exc}") from None
    return parse_table(text, source)


def parse_table(text: str, source: str) -> RoutingTable:
    """Check and build a routing table; any mistake is one line naming where it is."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelsFileError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(data) - {"tiers"}
    if unknown:
        raise ModelsFileError(f"{source}: unknown section {sorted(unknown)[0]!r}; only [tiers]")
    tiers = data.get("tiers")
    if not isinstance(tiers, dict):
        raise ModelsFileError(f"{source}: no [tiers] table")
    table: dict[str, tuple[Candidate, ...]] = {}
    for name, entries in tiers.items():
        where = f"{source}: tiers.{name}"
        if name not in TIERS:
            raise ModelsFileError(f"{where}: unknown tier; use {', '.join(TIERS)}")
        if not isinstance(entries, list) or not entries:
            raise ModelsFileError(f"{where}: must be a non-empty list of [[tiers.{name}]]")
        table[name] = tuple(_candidate(e, f"{where}[{i}]") for i, e in enumerate(entries))
        keys = [c.key for c in table[name]]
        twice = next((k for k in keys if keys.count(k) > 1), None)
        if twice is not None:
            raise ModelsFileError(f"{where}: {twice} is listed twice")
    missing = [t for t in COMPLETION_TIERS if t not in table]
    if missing:
        raise ModelsFileError(f"{source}: tier {missing[0]!r} is missing")
    return RoutingTable(table, source)


def _candidate(entry: Any, where: str) -> Candidate:
    if not isinstance(entry, dict):
        raise ModelsFileError(f"{where}: must be a table with provider, model and price")
    _no_unknown(entry, _CANDIDATE_KEYS, where)
    provider = entry.get("provider")
    if provider not in PROVIDERS:
        raise ModelsFileError(f"{where}.provider: must be one of {', '.join(PROVIDERS)}")
    model = entry.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ModelsFileError(f"{where}.model: must be a model name")
    timeout_s = _number(entry.get("timeout_s", 120.0), f"{where}.timeout_s", positive=True)
    context = entry.get("context_tokens", 128_000)
    if not isinstance(context, int) or isinstance(context, bool) or context < 1:
        raise ModelsFileError(f"{where}.context_tokens: must be a whole number >= 1")
    return Candidate(provider, model, _price(entry.get("price"), f"{where}.price"),
                     timeout_s, context)


def _price(entry: Any, where: str) -> Price:
    if not isinstance(entry, dict):
        raise ModelsFileError(f"{where}: must be {{ input = …, output = …, cached = … }} "
                              "in USD per million tokens")
    _no_unknown(entry, _PRICE_KEYS, where)
    for key in ("input", "output", "cached"):
        if key not in entry:
            raise ModelsFileError(f"{where}.{key}: missing (USD per million tokens)")
    write = entry.get("cache_write")
    return Price(_number(entry["input"], f"{where}.input"),
                 _number(entry["output"], f"{where}.output"),
                 _number(entry["cached"], f"{where}.cached"),
                 None if write is None else _number(write, f"{where}.cache_write"))


def _number(value: Any, where: str, *, positive: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ModelsFileError(f"{where}: must be a number {'> 0' if positive else '>= 0'}")
    return float(value)


def _no_unknown(entry: dict[str, Any], known: frozenset[str], where: str) -> None:
    extra = sorted(set(entry) - known)
    if extra:
        raise ModelsFileError(f"{where}: unknown key {extra[0]!r}; use {', '.join(sorted(known))}")

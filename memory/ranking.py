"""Pure ranking for archival memory: fusion, rescoring, and judging a new memory's neighbours."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Weights:
    """How the final score mixes its parts: DESIGN §6's four, plus ``lexical`` (BM25 over the
    best BM25 among the candidates). MiniLM barely sees identifiers ("INV-2291" and
    "INV-2919" embed 0.96 alike), so without it a keyword query finds its memory in the pool
    and then loses it to a fresher look-alike; bench/memory.py measures both."""

    similarity: float = 0.45
    recency: float = 0.25
    importance: float = 0.20
    frequency: float = 0.10
    lexical: float = 0.15


@dataclass(frozen=True, slots=True)
class RankingConfig:
    """Tuning for ``rank``. Recency halves every ``recency_half_life_days``; frequency saturates
    at ``frequency_saturation`` recalls; a memory recalled ``rotation_recalls`` times, the last
    time just now, loses ``rotation_penalty`` (fading with ``rotation_half_life_days``)."""

    weights: Weights = Weights()
    recency_half_life_days: float = 180.0
    frequency_saturation: int = 50
    rotation_penalty: float = 0.05
    rotation_recalls: int = 10
    rotation_half_life_days: float = 1.0
    rrf_k: int = 60


@dataclass(frozen=True, slots=True)
class Candidate:
    """A live memory found by either index, with its true cosine to the query."""

    id: int
    cosine: float
    created_at: float
    importance: float
    recall_count: int
    last_recalled: float | None
    bm25: float = 0.0


@dataclass(frozen=True, slots=True)
class Scored:
    id: int
    score: float
    similarity: float


# -- fusion and scoring ----------------------------------------------------------------------


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    """Reciprocal-rank fusion: ids ordered by the sum of 1/(k + rank) over the rankings (rank
    from 1); ties keep the order of first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda i: -scores[i])


def min_max(values: Sequence[float]) -> list[float]:
    """Scale to 0..1 over the set; a set whose values are all equal scales to all 1."""
    if not values:
        return []
    low, high = min(values), max(values)
    if high - low < 1e-9:
        return [1.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def recency(created_at: float, now: float, half_life_days: float) -> float:
    """1 for a memory made now, halving every ``half_life_days``; a future date counts as now."""
    age_days = max(0.0, now - created_at) / DAY_S
    return math.pow(0.5, age_days / half_life_days)


def frequency(recall_count: int, saturation: int) -> float:
    """0 for never recalled, rising logarithmically to 1 at ``saturation`` recalls."""
    return min(1.0, math.log1p(max(0, recall_count)) / math.log1p(saturation))


def lately(last_recalled: float | None, now: float, half_life_days: float) -> float:
    """How lately a memory was recalled: 1 just after, halving every ``half_life_days``."""
    if last_recalled is None:
        return 0.0
    since_days = max(0.0, now - last_recalled) / DAY_S
    return math.pow(0.5, since_days / half_life_days)


def rotation(recall_count: int, last_recalled: float | None, now: float,
             config: RankingConfig) -> float:
    """Anti-stale rotation: what a memory recalled often, and lately, loses so that others get
    a turn. Small by design: it reorders near-ties, never buries the best answer."""
    if recall_count <= 0:
        return 0.0
    fade = lately(last_recalled, now, config.rotation_half_life_days)
    return config.rotation_penalty * min(1.0, recall_count / config.rotation_recalls) * fade


def rank(candidates: Sequence[Candidate], now: float,
         config: RankingConfig = RankingConfig()) -> list[Scored]:
    """Rescore candidates: weighted similarity (cosine min-max-normalised over the set),
    lexical match, recency, importance and frequency, less rotation; best first, ties to the
    higher cosine, then the newer id."""
    w = config.weights
    sims = min_max([c.cosine for c in candidates])
    top_bm25 = max((c.bm25 for c in candidates), default=0.0)
    scored = []
    for c, sim in zip(candidates, sims, strict=True):
        lexical = c.bm25 / top_bm25 if top_bm25 > 0 else 0.0
        # Frequency is credit for being useful over time; right after a recall it is held
        # back (and rotation takes a little more), so one memory does not answer everything.
        held = lately(c.last_recalled, now, config.rotation_half_life_days)
        score = (w.similarity * sim + w.lexical * lexical
                 + w.recency * recency(c.created_at, now, config.recency_half_life_days)
                 + w.importance * min(1.0, max(0.0, c.importance))
                 + w.frequency * frequency(c.recall_count, config.frequency_saturation)
                 * (1.0 - held)
                 - rotation(c.recall_count, c.last_recalled, now, config))
        scored.append((score, c.cosine, c.id, sim))
    scored.sort(key=lambda t: (-t[0], -t[1], -t[2]))
    return [Scored(i, score, sim) for score, _, i, sim in scored]


# -- near-duplicates and contradictions ------------------------------------------------------

Verdict = Literal["duplicate", "contradiction", "distinct"]

DUPLICATE_COSINE = 0.95
CONTRADICTION_COSINE = 0.80

_APOSTROPHES = "'\u2019"
_TOKEN = re.compile(r"[$€£+]?\w[\w'\u2019.,:/@+-]*\w%?|[$€£+]?\w%?", re.UNICODE)
_DIGIT_GROUPS = re.compile(r"(?<=\d)[ \u00a0](?=\d)")
"""The spaces inside a phone number or an amount ("+386 41 555 210"): one token, not four."""
_NUMBER = re.compile(r"^[$€£+]?\d[\d.,:/-]*(?:%|am|pm|h|k|m|bn|st|nd|rd|th|kg|km|mb|gb|tb|°c|°f)?$")
_MARKED = re.compile(r"^[$€£+]|\d(?:%|am|pm|h|k|m|bn|st|nd|rd|th|kg|km|mb|gb|tb|°c|°f)$|\d[:/]\d")
"""A number with a currency, unit, time or date mark is a value wherever it stands."""
_INTRODUCERS = frozenset({
    "is", "are", "was", "were", "be", "been", "at", "on", "to", "for", "from", "by", "until",
    "till", "after", "before", "around", "about", "of", "now", "costs", "cost", "weighs",
    "takes", "than", "under", "over", "approximately", "roughly", "~",
})
"""Words after which a bare number is a value ("is 555-1234", "at 9"); after any other word it
names something ("room 101", "flight 400", "note 3") and counts as an identifier."""
_UNITS = frozenset({
    "minutes", "minute", "hours", "hour", "days", "day", "weeks", "week", "months", "month",
    "years", "year", "people", "dollars", "euros", "pounds", "percent", "kg", "km", "miles",
})
_CALENDAR = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "today", "tomorrow", "yesterday", "tonight", "morning", "afternoon",
    "evening", "noon", "midnight",
})
_FILLER = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "now", "actually", "has",
    "have", "had", "to", "at", "on", "in", "from", "of", "moved", "changed", "updated", "new",
    "instead", "no", "longer", "anymore", "will", "it", "its", "this", "that", "currently",
    "still", "just", "raised", "lowered", "increased", "decreased", "reduced", "cut", "set",
    "rescheduled", "postponed", "pushed", "brought", "forward", "back", "up", "down", "by",
})


@dataclass(frozen=True, slots=True)
class Shape:
    """A text's tokens in three kinds: values (numbers, amounts, times, dates: what changes when
    a fact is updated), identifiers (codes such as INV-2291: what names the subject), and the
    other words."""

    values: frozenset[str]
    identifiers: frozenset[str]
    words: frozenset[str]


@functools.lru_cache(maxsize=4096)  # pure, and asked again for the same texts per write
def shape(text: str) -> Shape:
    values, identifiers, words = set(), set(), set()
    tokens = [_strip(raw) for raw in _TOKEN.findall(_DIGIT_GROUPS.sub("", text.casefold()))]
    for n, token in enumerate(tokens):
        before = tokens[n - 1] if n else ""
        after = tokens[n + 1] if n + 1 < len(tokens) else ""
        if token in _CALENDAR or (_NUMBER.match(token) and (
                _MARKED.search(token) or before in _INTRODUCERS or after in _UNITS or not n)):
            values.add(token)
        elif any(ch.isdigit() for ch in token):
            identifiers.add(token)
        elif token:
            words.add(token)
    return Shape(frozenset(values), frozenset(identifiers), frozenset(words))


def _strip(raw: str) -> str:
    token = raw.rstrip(".,:" + _APOSTROPHES)
    for mark in _APOSTROPHES:
        token = token.removesuffix(mark + "s")
    return token


def judge(new_text: str, old_text: str, cosine: float, same_category: bool) -> Verdict:
    """How a new memory relates to an existing one. Conservative on purpose: a contradiction
    needs the same category, a high cosine, the same identifiers, the same words but for
    fillers ("now", "moved to"…), and at least one value replaced (not merely added);
    anything less certain is ``distinct`` and both stay (explicit ``supersedes`` is for the
    rest). A changed value is never a duplicate, however close the cosine."""
    if not same_category or cosine < CONTRADICTION_COSINE:
        return "distinct"
    new, old = shape(new_text), shape(old_text)
    if new.identifiers != old.identifiers:
        return "distinct"
    if not (new.words ^ old.words) <= _FILLER:
        return "duplicate" if cosine >= DUPLICATE_COSINE and new.values == old.values \
            and _contains(new, old) else "distinct"
    if new.values == old.values:
        return "duplicate" if cosine >= DUPLICATE_COSINE else "distinct"
    if new.values - old.values and old.values - new.values:
        return "contradiction"
    return "distinct"


def _contains(a: Shape, b: Shape) -> bool:
    """One text's words hold the other's (a near-duplicate only adds or drops detail)."""
    return a.words <= b.words or b.words <= a.words


def richer(new_text: str, old_text: str) -> bool:
    """Whether a near-duplicate says more than the memory it duplicates (more words and
    values), so it should replace it rather than just reinforce it."""
    new, old = shape(new_text), shape(old_text)
    return len(new.words | new.values) > len(old.words | old.values)


@dataclass(frozen=True, slots=True)
class Entry:
    """What clustering needs to know of a live memory."""

    id: int
    category: str
    text: str
    importance: float
    trust: str


def merge_clusters(pairs: Sequence[tuple[int, int, float]], entries: dict[int, Entry]
                   ) -> list[tuple[int, list[int], float]]:
    """Group memories that ``judge`` calls duplicates (from (a, b, cosine) pairs) and pick in
    each group the one to keep: the owner's word over DATA, then the richest text, then the
    most important, then the oldest. Returns (keeper, others, highest importance) per group
    of two or more."""
    parent = {i: i for i in entries}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, cosine in pairs:
        x, y = entries.get(a), entries.get(b)
        if x and y and judge(x.text, y.text, cosine, x.category == y.category) == "duplicate":
            parent[root(a)] = root(b)
    groups: dict[int, list[Entry]] = {}
    for i, entry in entries.items():
        groups.setdefault(root(i), []).append(entry)
    merges = []
    for members in groups.values():
        if len(members) > 1:
            keeper = min(members, key=_keep_order)
            others = sorted(m.id for m in members if m is not keeper)
            merges.append((keeper.id, others, max(m.importance for m in members)))
    return sorted(merges)


def _keep_order(e: Entry) -> tuple[bool, int, float, int]:
    s = shape(e.text)
    return (e.trust != "command", -len(s.words | s.values), -e.importance, e.id)

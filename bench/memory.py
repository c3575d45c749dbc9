"""Archival memory benchmark: retrieval quality on a labelled set, latency at scale, embedding."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Run as ``python bench/memory.py``, this file's folder comes first on sys.path and its name
# would shadow the ``memory`` package: drop the folder before importing it.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.store.sqlite import SqliteStore
from memory.archival import ArchivalMemory
from memory.embeddings import OnnxMiniLM, Vectors
from memory.ranking import RankingConfig, Weights
from memory.records import NewMemory

SEED = 20_251_124
NOW = 1_767_225_600.0
"""2026-01-01 UTC: the benchmark's fixed clock, so recency is the same on every run."""
DATA = Path(__file__).resolve().parent / "data"
DAY_S = 86_400.0
DISTRACTORS = 1_300
FILLER_UNIQUE = 5_000
SCALES = (10_000, 100_000)
LATENCY_ROUNDS = 2
WARMUP = 10
THROUGHPUT_TEXTS = 2_000

TARGET_RECALL_AT_5 = 0.90
TARGET_MRR_AT_10 = 0.80
TARGET_P95_10K_MS = 50.0
TARGET_P95_100K_MS = 100.0
TARGET_EMBED_PER_S = 200.0


@dataclass(frozen=True)
class Item:
    """One memory of the corpus; ``key`` is set for labelled ones (distractors have none)."""

    text: str
    category: str
    importance: float
    days_ago: float
    key: str | None = None
    replaces: str | None = None
    mode: str | None = None


@dataclass(frozen=True)
class Query:
    query: str
    kind: str
    relevant: list[str] = field(default_factory=list)


def load_targets() -> list[Item]:
    rows = [json.loads(line) for line in (DATA / "memory_targets.jsonl").open(encoding="utf-8")]
    return [Item(r["text"], r["category"], r["importance"], r["days_ago"], r["key"],
                 r.get("replaces"), r.get("mode")) for r in rows]


def load_queries() -> list[Query]:
    rows = [json.loads(line) for line in (DATA / "memory_queries.jsonl").open(encoding="utf-8")]
    return [Query(r["query"], r["kind"], r["relevant"]) for r in rows]


# -- distractors ------------------------------------------------------------------------------
# Names, places and codes here never appear in the labelled set, but the topics do: invoices,
# phone numbers, passwords, policies, flights, servers, birthdays, procedures, decisions.

PEOPLE = ["Liam Carter", "Sofia Rossi", "Noah Schmidt", "Emma Dubois", "Mateo Garrido",
          "Olivia Brown", "Lukas Huber", "Chloé Martin", "Ahmed Hassan", "Yuki Sato",
          "Isabel Ortega", "Finn Jensen", "Zara Khan", "Diego Herrera", "Nora Lindqvist",
          "Omar Farouk", "Ingrid Holm", "Pablo Ruiz", "Greta Vogel", "Ravi Patel",
          "Leila Haddad", "Sven Larsen", "Camille Petit", "Bruno Costa", "Mia Kowalski",
          "Hugo Lambert", "Anya Petrova", "Kenji Mori", "Lina Berg", "Tariq Aziz"]
COMPANIES = ["Contoso", "Globex", "Initech", "Umbrella Logistics", "Stark Supplies",
             "Wayne Office", "Acme Paper", "Hooli", "Vandelay Imports", "Soylent Foods",
             "Tyrell Labs", "Cyberdyne Parts", "Wonka Sweets", "Monarch Print", "Bluth Homes"]
CITIES = ["Lyon", "Munich", "Bologna", "Krakow", "Ghent", "Bergen", "Bilbao", "Zaragoza",
          "Granada", "Lille", "Turin", "Brno", "Aarhus", "Salzburg", "Utrecht", "Cork"]
PROJECTS = ["Falcon", "Orion", "Nimbus", "Atlas", "Kestrel", "Juniper", "Quasar", "Helix",
            "Tundra", "Mosaic"]
PLACES = ["the ski chalet", "the beach flat", "the co-working space", "grandma's village house",
          "the boat club", "the climbing gym", "the studio"]
WORDS = ["otter", "maple", "cobalt", "ember", "willow", "falcon", "quartz", "meadow", "ripple",
         "saffron", "tundra", "harbor"]
ROLES = ["plumber", "tax advisor", "piano teacher", "electrician", "notary", "orthodontist",
         "product manager", "recruiter", "landscape architect", "translator"]
FOODS = ["sushi", "ramen", "falafel", "lentil soup", "pizza margherita", "caesar salad",
         "pad thai", "tacos"]
DEVICES = ["router", "smart thermostat", "robot vacuum", "dishwasher", "e-bike battery",
           "security camera", "projector", "coffee machine"]
TOOLS = ["Notion", "Jira", "Linear", "Trello", "Asana", "Basecamp", "Airtable", "ClickUp"]
ACTIVITIES = ["hiking", "cycling", "sailing", "skiing", "bouldering", "surfing"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
Template = tuple[str, Callable[[random.Random], str]]


def _n(r: random.Random, digits: int) -> str:
    return str(r.randrange(10 ** (digits - 1), 10 ** digits))


def _date(r: random.Random) -> str:
    return f"{r.randint(1, 28)} {r.choice(MONTHS)}"


def _time(r: random.Random) -> str:
    return f"{r.randint(7, 21):02d}:{r.choice(['00', '15', '30', '45'])}"


TEMPLATES: list[Template] = [
    ("fact", lambda r: f"Invoice INV-{_n(r, 4)} from {r.choice(COMPANIES)} for "
                       f"€{r.randint(2, 90) * 50:,} is due on {_date(r)}."),
    ("fact", lambda r: f"{r.choice(PEOPLE)}'s phone number is +{r.randint(30, 49)} "
                       f"{_n(r, 3)} {_n(r, 3)} {_n(r, 3)}."),
    ("fact", lambda r: f"{r.choice(PEOPLE)}'s birthday is on {_date(r)}."),
    ("fact", lambda r: f"The Wi-Fi password at {r.choice(PLACES)} is "
                       f"{r.choice(WORDS)}-{r.choice(WORDS)}-{_n(r, 2)}."),
    ("fact", lambda r: f"The {r.choice(['home', 'travel', 'bike', 'pet', 'phone'])} insurance "
                       f"policy with {r.choice(COMPANIES)} has number "
                       f"{r.choice('BCDFGHK')}{r.choice('LMNPRST')}-{_n(r, 3)}-{_n(r, 4)}."),
    ("fact", lambda r: f"Order #{_n(r, 6)} from {r.choice(COMPANIES)} should arrive on "
                       f"{r.choice(WEEKDAYS)}."),
    ("fact", lambda r: f"The {r.choice(PROJECTS)} project deadline is {_date(r)}."),
    ("fact", lambda r: f"Flight {r.choice(['IB', 'VY', 'LH', 'AF', 'KL'])}{_n(r, 4)} to "
                       f"{r.choice(CITIES)} departs at {_time(r)} on {_date(r)}."),
    ("fact", lambda r: f"Hotel booking in {r.choice(CITIES)}, confirmation "
                       f"{r.choice('HMPQ')}{r.choice('BCTX')}-{_n(r, 5)}, for "
                       f"{r.randint(1, 6)} nights."),
    ("fact", lambda r: f"Server {r.choice(PROJECTS).lower()}-{r.choice(['db', 'web', 'ci'])}-"
                       f"{r.randint(1, 9)} has IP 10.{r.randint(0, 255)}.{r.randint(0, 255)}."
                       f"{r.randint(1, 254)} and runs {r.choice(['Debian 12', 'Ubuntu 24.04'])}."),
    ("fact", lambda r: f"The {r.choice(PROJECTS)} team meets every {r.choice(WEEKDAYS)} at "
                       f"{_time(r)}."),
    ("fact", lambda r: f"{r.choice(PEOPLE)} works at {r.choice(COMPANIES)} as a "
                       f"{r.choice(ROLES)}."),
    ("fact", lambda r: f"The locker code at {r.choice(PLACES)} is {_n(r, 4)}."),
    ("fact", lambda r: f"Parcel tracking number {r.choice(['UPS', 'DHL', 'GLS'])}{_n(r, 9)} "
                       f"is for the new {r.choice(DEVICES)}."),
    ("entity", lambda r: f"{r.choice(PEOPLE)} is the {r.choice(ROLES)} at "
                         f"{r.choice(COMPANIES)}, based in {r.choice(CITIES)}."),
    ("entity", lambda r: f"{r.choice(PEOPLE)} is a friend from the {r.choice(ACTIVITIES)} "
                         f"club in {r.choice(CITIES)}."),
    ("procedure", lambda r: f"To reset the {r.choice(DEVICES)}, hold the "
                            f"{r.choice(['power', 'reset', 'mode', 'wifi'])} button for "
                            f"{r.randint(3, 30)} seconds."),
    ("procedure", lambda r: f"To export the {r.choice(PROJECTS)} reports, open Settings, "
                            f"choose Export and pick {r.choice(['CSV', 'PDF', 'XLSX'])}."),
    ("procedure", lambda r: f"When the {r.choice(DEVICES)} shows error "
                            f"{r.choice('EFH')}{_n(r, 2)}, unplug it and clean the filter."),
    ("decision", lambda r: f"We chose {r.choice(TOOLS)} over {r.choice(TOOLS)} for the "
                           f"{r.choice(PROJECTS)} project because it is "
                           f"{r.choice(['cheaper', 'simpler', 'faster', 'self-hostable'])}."),
    ("decision", lambda r: f"Decided to move the {r.choice(PROJECTS)} retrospective to "
                           f"{r.choice(WEEKDAYS)}s."),
    ("decision", lambda r: f"Agreed with {r.choice(PEOPLE)} to split the "
                           f"{r.choice(['holiday rental', 'taxi', 'birthday gift', 'van'])} "
                           "costs evenly."),
    ("preference", lambda r: f"{r.choice(PEOPLE)} prefers {r.choice(FOODS)} for lunch."),
    ("preference", lambda r: f"For the {r.choice(PROJECTS)} reports {r.choice(PEOPLE)} wants "
                             f"{r.choice(['charts', 'tables', 'bullet points'])} "
                             "rather than prose."),
    ("episode", lambda r: f"Went {r.choice(ACTIVITIES)} near {r.choice(CITIES)} with "
                          f"{r.choice(PEOPLE)} on a {r.choice(WEEKDAYS)} in {r.choice(MONTHS)}."),
    ("episode", lambda r: f"Had dinner with {r.choice(PEOPLE)} in {r.choice(CITIES)}; the "
                          f"{r.choice(FOODS)} was excellent."),
    ("episode", lambda r: f"{r.choice(PEOPLE)} visited from {r.choice(CITIES)} and we spent "
                          f"the day at {r.choice(PLACES)}."),
]


def distractors(n: int, seed: int, avoid: set[str] = frozenset()) -> list[Item]:  # type: ignore[assignment]
    """``n`` distinct templated memories (deterministic for a seed), none in ``avoid``."""
    r = random.Random(seed)
    seen: set[str] = set(avoid)
    out: list[Item] = []
    while len(out) < n:
        category, make = r.choice(TEMPLATES)
        text = make(r)
        if text in seen:
            continue
        seen.add(text)
        out.append(Item(text, category, round(r.uniform(0.2, 0.9), 2), r.uniform(0, 900)))
    return out


# -- building the labelled store ---------------------------------------------------------------


@dataclass
class Built:
    """The quality store: which id each labelled key became, and what the writer did."""

    memory: ArchivalMemory
    ids: dict[str, int] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    auto_ok: int = 0
    auto_total: int = 0
    write_s: float = 0.0

    def stale_of(self, targets: Sequence[Item]) -> dict[str, int]:
        """{current key: id of the row it replaced}."""
        return {t.key: self.ids[t.replaces] for t in targets if t.key and t.replaces}


def _input(item: Item, **extra: object) -> dict[str, object]:
    return {"text": item.text, "category": item.category, "importance": item.importance,
            "created_at": NOW - item.days_ago * DAY_S, **extra}


def open_memory(folder: Path, embedder: OnnxMiniLM) -> ArchivalMemory:
    store = SqliteStore.open(folder / "steward.db")
    return ArchivalMemory(store, embedder, folder / "lancedb", clock=lambda: NOW)


async def build_quality(folder: Path, embedder: OnnxMiniLM, targets: list[Item],
                        noise: list[Item]) -> Built:
    """Targets and distractors through the real writer, then the updates: value changes added
    plainly (the writer must supersede the old row itself), the rest with ``supersedes``."""
    built = Built(open_memory(folder, embedder))
    base = [t for t in targets if t.replaces is None] + noise
    random.Random(SEED).shuffle(base)
    started = time.perf_counter()
    results = await built.memory.add_many([_input(i) for i in base])
    built.outcomes.update(r.outcome for r in results)
    built.ids.update({i.key: r.id for i, r in zip(base, results, strict=True) if i.key})
    auto = [t for t in targets if t.mode == "auto"]
    explicit = [t for t in targets if t.mode == "explicit"]
    updates = [_input(t) for t in auto] + [
        _input(t, supersedes=built.ids[t.replaces or ""]) for t in explicit]
    for item, result in zip(auto + explicit, await built.memory.add_many(updates), strict=True):
        built.ids[item.key or ""] = result.id
        built.outcomes[f"update {result.outcome}"] += 1
    built.write_s = time.perf_counter() - started
    for t in auto:
        old = await built.memory.get(built.ids[t.replaces or ""])
        built.auto_ok += old.superseded_by == built.ids[t.key or ""]
    built.auto_total = len(auto)
    await built.memory.maintain()
    return built


# -- scoring -----------------------------------------------------------------------------------


@dataclass
class Scores:
    recall_at_5: float
    mrr_at_10: float
    hit_at_1: float
    superseded_wins: float
    by_kind: dict[str, float]


def evaluate(queries: Sequence[Query], ranked: Sequence[Sequence[int]], ids: dict[str, int],
             stale: dict[str, int]) -> Scores:
    """recall@5 (share of a query's relevant memories in the top 5, averaged), MRR@10, hit@1,
    and the share of update queries where a superseded row ranks above the current one."""
    recalls, rrs, hits, wins, kinds = [], [], [], [], {}
    for q, found in zip(queries, ranked, strict=True):
        relevant = {ids[k] for k in q.relevant}
        recall = len(relevant & set(found[:5])) / len(relevant)
        first = next((n for n, i in enumerate(found) if i in relevant), len(found))
        recalls.append(recall)
        rrs.append(1.0 / (first + 1) if first < 10 else 0.0)
        hits.append(float(first == 0))
        kinds.setdefault(q.kind, []).append(recall)
        if q.kind == "update":
            old = {stale[k] for k in q.relevant if k in stale}
            wins.append(float(any(i in old for i in found[:first])))
    return Scores(statistics.fmean(recalls), statistics.fmean(rrs), statistics.fmean(hits),
                  statistics.fmean(wins) if wins else 0.0,
                  {k: statistics.fmean(v) for k, v in kinds.items()})


async def rank_hybrid(memory: ArchivalMemory, queries: Sequence[Query]) -> list[list[int]]:
    return [[h.memory.id for h in await memory.search(q.query, 10)] for q in queries]


async def rank_baseline(memory: ArchivalMemory, queries: Sequence[Query],
                        kind: str) -> list[list[int]]:
    """One index alone, live rows only: the same-run baselines."""
    out = []
    for q in queries:
        if kind == "vector":
            vector = memory.embedder.embed([q.query])[0]
            found = await memory.index.search_vector(vector, 10)
        else:
            found = await memory.index.search_text(q.query, 10)
        live = memory.repo.get_many([f.id for f in found])
        out.append([f.id for f in found if f.id in live and live[f.id].live])
    return out


# -- scale ---------------------------------------------------------------------------------------


async def live_rows(memory: ArchivalMemory) -> tuple[list[NewMemory], Vectors]:
    """The quality store's live memories with their stored vectors, to seed the scale store."""
    ids = memory.repo.live_ids()
    rows = memory.repo.get_many(ids)
    vectors = await memory.index.vectors_of(ids)
    news = [NewMemory(rows[i].text, rows[i].category, rows[i].importance, None, "command",
                      rows[i].created_at) for i in ids]
    return news, np.array([vectors[i] for i in ids], dtype=np.float32)


async def bulk_insert(memory: ArchivalMemory, news: list[NewMemory],
                      vectors: Vectors) -> list[int]:
    """Rows straight into SQLite and LanceDB in large chunks, skipping the writer's checks:
    the filler is unique by construction, and this is how a scale test is loaded quickly."""
    ids: list[int] = []
    for start in range(0, len(news), 20_000):
        chunk = news[start:start + 20_000]
        chunk_ids = memory.repo.insert_many(chunk)
        await memory.index.add(chunk_ids, [n.category for n in chunk], [n.text for n in chunk],
                               vectors[start:start + len(chunk)])
        ids += chunk_ids
    memory.repo.store.meta_set("memory.maintained_through", str(ids[-1]))
    return ids


def forget_recalls(database: Path) -> None:
    """Zero the recall counters (the bench's own SQL), so one phase's searches do not tilt
    the next phase's ranking through rotation."""
    conn = sqlite3.connect(database)
    with conn:
        conn.execute("UPDATE memories SET recall_count = 0, last_recalled = NULL")
    conn.close()


def filler(texts: list[Item], vectors: Vectors, start: int, count: int
           ) -> tuple[list[NewMemory], Vectors]:
    """``count`` filler rows: the unique texts in turn, each repeat numbered so that texts and
    hashes stay distinct; the vector is the real model's vector of the unique text."""
    rows, picks = [], []
    for n in range(start, start + count):
        k = n % len(texts)
        item = texts[k]
        text = item.text if n < len(texts) else f"{item.text} (copy {n // len(texts)})"
        rows.append(NewMemory(text, item.category, item.importance, None, "command",  # type: ignore[arg-type]
                              NOW - item.days_ago * DAY_S))
        picks.append(k)
    return rows, vectors[picks]


async def embed_all(embedder: OnnxMiniLM, texts: list[str]) -> Vectors:
    """Embed in chunks off the event loop, so the run's time budget can stop it between."""
    chunks = [await asyncio.to_thread(embedder.embed, texts[i:i + 500])
              for i in range(0, len(texts), 500)]
    return np.vstack(chunks)


async def latency_ms(memory: ArchivalMemory, queries: Sequence[Query]) -> list[float]:
    for q in queries[:WARMUP]:
        await memory.search(q.query, 10)
    samples = []
    for _ in range(LATENCY_ROUNDS):
        for q in queries:
            started = time.perf_counter()
            await memory.search(q.query, 10)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def pct(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


# -- the run -------------------------------------------------------------------------------------

BUDGET_S = 290.0
KEYS = ["recall_at_5", "mrr_at_10", "hit_at_1", "superseded_wins", "p95_ms_10k", "p95_ms_100k",
        "embed_per_s", "recall_at_5_vector_only", "recall_at_5_fts_only"]


async def quality(embedder: OnnxMiniLM, folder: Path, figures: dict[str, float | None],
                  notes: list[str]) -> tuple[Built, list[Item]]:
    targets, queries = load_targets(), load_queries()
    noise = distractors(DISTRACTORS, SEED, {t.text for t in targets})
    built = await build_quality(folder, embedder, targets, noise)
    stale = built.stale_of(targets)
    memory, ids = built.memory, built.ids
    vector = evaluate(queries, await rank_baseline(memory, queries, "vector"), ids, stale)
    text = evaluate(queries, await rank_baseline(memory, queries, "text"), ids, stale)
    hybrid = evaluate(queries, await rank_hybrid(memory, queries), ids, stale)
    forget_recalls(folder / "steward.db")
    memory.config = dataclasses.replace(memory.config, ranking=RankingConfig(
        weights=Weights(lexical=0.0)))
    design = evaluate(queries, await rank_hybrid(memory, queries), ids, stale)
    figures.update(recall_at_5=hybrid.recall_at_5, mrr_at_10=hybrid.mrr_at_10,
                   hit_at_1=hybrid.hit_at_1, superseded_wins=hybrid.superseded_wins,
                   recall_at_5_vector_only=vector.recall_at_5,
                   recall_at_5_fts_only=text.recall_at_5,
                   mrr_at_10_vector_only=vector.mrr_at_10, mrr_at_10_fts_only=text.mrr_at_10,
                   recall_at_5_no_lexical=design.recall_at_5,
                   mrr_at_10_no_lexical=design.mrr_at_10,
                   auto_supersede_ok=built.auto_ok / built.auto_total,
                   writer_per_s=(len(targets) + len(noise)) / built.write_s)
    kinds = ", ".join(f"{k} {v:.3f}" for k, v in hybrid.by_kind.items())
    counts = Counter(q.kind for q in queries)
    notes.append(f"labelled set: {len(queries)} queries ({dict(counts)}) over "
                 f"{len(targets)} labelled memories and {len(noise)} templated distractors")
    notes.append(f"hybrid recall@5 by kind: {kinds}")
    notes.append("vector-only by kind: " + ", ".join(
        f"{k} {v:.3f}" for k, v in vector.by_kind.items()))
    notes.append("full-text-only by kind: " + ", ".join(
        f"{k} {v:.3f}" for k, v in text.by_kind.items()))
    notes.append(f"writer outcomes: {dict(built.outcomes)}; automatic supersessions "
                 f"{built.auto_ok}/{built.auto_total} (the other 'superseded' are distractors "
                 "whose template gave one subject a second value, e.g. a team's meeting day: "
                 "the later one is an update)")
    return built, noise


async def scale(embedder: OnnxMiniLM, folder: Path, built: Built, avoid: set[str],
                figures: dict[str, float | None], notes: list[str]) -> None:
    """Latency (and, for information, quality) at 10k and 100k rows: the labelled store's live
    memories plus filler from 5,000 unique templated texts embedded once with the real model
    (that run is the throughput figure); a repeated text gets " (copy N)" and its vector."""
    unique = distractors(FILLER_UNIQUE, SEED + 1, avoid)
    started = time.perf_counter()
    vectors = await embed_all(embedder, [u.text for u in unique])
    figures["embed_per_s"] = len(unique) / (time.perf_counter() - started)
    memory = open_memory(folder, embedder)
    await memory.open()
    seed_rows, seed_vectors = await live_rows(built.memory)
    moved = dict(zip(built.memory.repo.live_ids(),
                     await bulk_insert(memory, seed_rows, seed_vectors), strict=True))
    ids = {k: moved[i] for k, i in built.ids.items() if i in moved}
    queries, filled = load_queries(), 0
    for size in SCALES:
        rows, picks = filler(unique, vectors, filled, size - memory.count())
        filled += len(rows)
        await bulk_insert(memory, rows, picks)
        started = time.perf_counter()
        report = await memory.maintain()
        built_s = time.perf_counter() - started
        forget_recalls(folder / "steward.db")
        quality = evaluate(queries, await rank_hybrid(memory, queries), ids, {})
        samples = await latency_ms(memory, queries)
        label = f"{size // 1000}k"
        figures[f"p50_ms_{label}"] = pct(samples, 50)
        figures[f"p95_ms_{label}"] = pct(samples, 95)
        figures[f"recall_at_5_{label}"] = quality.recall_at_5
        notes.append(f"{label}: {report.rows:,} rows loaded in bulk, maintain {built_s:.1f} s "
                     f"(ANN index: {'IVF_SQ' if report.ann_index else 'none, flat scan'}), "
                     f"{len(samples)} timed searches; recall@5 {quality.recall_at_5:.3f}, "
                     f"MRR@10 {quality.mrr_at_10:.3f}")
    await memory.close()


async def run(figures: dict[str, float | None], notes: list[str]) -> None:
    embedder = OnnxMiniLM()
    with tempfile.TemporaryDirectory(prefix="steward-bench-memory-") as tmp:
        built, noise = await quality(embedder, Path(tmp) / "quality", figures, notes)
        avoid = {i.text for i in noise} | {t.text for t in load_targets()}
        await scale(embedder, Path(tmp) / "scale", built, avoid, figures, notes)
        await built.memory.close()
    notes.append(f"load average at the end {os.getloadavg()[0]:.1f} (figures are wall time: "
                 "other work on the machine slows them)")


TABLE: list[tuple[str, str, str]] = [
    ("recall_at_5", "recall@5 (hybrid)", f"≥ {TARGET_RECALL_AT_5}"),
    ("mrr_at_10", "MRR@10 (hybrid)", f"≥ {TARGET_MRR_AT_10}"),
    ("hit_at_1", "hit@1 (hybrid)", "—"),
    ("superseded_wins", "superseded fact ranks first", "0"),
    ("auto_supersede_ok", "value changes superseded by the writer", "1"),
    ("recall_at_5_vector_only", "baseline recall@5, vector only", "—"),
    ("recall_at_5_fts_only", "baseline recall@5, full text only", "—"),
    ("mrr_at_10_vector_only", "baseline MRR@10, vector only", "—"),
    ("mrr_at_10_fts_only", "baseline MRR@10, full text only", "—"),
    ("recall_at_5_no_lexical", "ablation recall@5, DESIGN's four weights only", "—"),
    ("mrr_at_10_no_lexical", "ablation MRR@10, DESIGN's four weights only", "—"),
    ("p50_ms_10k", "recall latency p50 at 10k (ms)", "—"),
    ("p95_ms_10k", "recall latency p95 at 10k (ms)", f"≤ {TARGET_P95_10K_MS:.0f}"),
    ("p50_ms_100k", "recall latency p50 at 100k (ms)", "—"),
    ("p95_ms_100k", "recall latency p95 at 100k (ms)", f"≤ {TARGET_P95_100K_MS:.0f}"),
    ("recall_at_5_10k", "recall@5 among 10k rows (information)", "—"),
    ("recall_at_5_100k", "recall@5 among 100k rows (information)", "—"),
    ("embed_per_s", "embedding, memories/s (2 threads)", f"≥ {TARGET_EMBED_PER_S:.0f}"),
    ("writer_per_s", "writer (embed + dedupe + store), memories/s", "—"),
]


def show(figures: dict[str, float | None], notes: list[str]) -> None:
    print(f"{'figure':<46} {'value':>10}  target")
    for key, label, target in TABLE:
        value = figures.get(key)
        shown = "—" if value is None else f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
        print(f"{label:<46} {shown:>10}  {target}")
    print()
    for note in notes:
        print(f"- {note}")
    print(json.dumps({k: None if figures.get(k) is None else round(figures[k] or 0.0, 4)
                      for k in KEYS}))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    figures: dict[str, float | None] = {}
    notes = [f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
             f"clock fixed at {NOW:.0f} (2026-01-01 UTC), load average at start "
             f"{os.getloadavg()[0]:.1f}"]
    try:
        asyncio.run(asyncio.wait_for(run(figures, notes), BUDGET_S))
    except TimeoutError:
        notes.append(f"stopped after the {BUDGET_S:.0f} s budget; missing figures are null")
    show(figures, notes)


if __name__ == "__main__":
    main()

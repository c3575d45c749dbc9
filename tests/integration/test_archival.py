"""Archival memory on real SQLite, real LanceDB and the real MiniLM embedder, in tmp_path."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.store.sqlite import SqliteStore
from memory.archival import ArchivalConfig, ArchivalMemory
from memory.embeddings import Embedder, OnnxMiniLM, Vectors
from memory.errors import (
    AlreadySuperseded,
    ImportFailed,
    IndexUnavailable,
    InvalidMemory,
    MemoryNotFound,
)
from memory.records import MAX_TEXT_BYTES, NewMemory, check_new
from memory.writer import WriterConfig
from tests.fakes.clock import FakeClock

START = 1_767_225_600.0
DAY_S = 86_400.0


@pytest.fixture(scope="module")
def minilm() -> Iterator[OnnxMiniLM]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield OnnxMiniLM()


class OtherModel:
    """Another embedding model, as far as the index can tell: MiniLM's vectors under a new id."""

    model_id = "other-model"

    def __init__(self, inner: OnnxMiniLM) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.calls = 0

    def embed(self, texts: list[str]) -> Vectors:
        self.calls += 1
        return self.inner.embed(texts)


@dataclasses.dataclass
class Env:
    store: SqliteStore
    memory: ArchivalMemory
    clock: FakeClock
    folder: Path

    def reopen(self, embedder: Embedder | None = None,
               config: ArchivalConfig | None = None) -> ArchivalMemory:
        self.memory = ArchivalMemory(self.store, embedder or self.memory.embedder,
                                     self.folder, self.clock, config or self.memory.config)
        return self.memory


@pytest.fixture
async def env(tmp_path: Path, minilm: OnnxMiniLM) -> AsyncIterator[Env]:
    store = SqliteStore.open(tmp_path / "steward.db")
    clock = FakeClock(START)
    folder = tmp_path / "lancedb"
    e = Env(store, ArchivalMemory(store, minilm, folder, clock), clock, folder)
    yield e
    await e.memory.close()
    store.close()


async def texts_found(memory: ArchivalMemory, query: str, limit: int = 5) -> list[str]:
    return [h.memory.text for h in await memory.search(query, limit)]


# -- writing -----------------------------------------------------------------------------------


async def test_a_memory_is_stored_once_and_read_back(env: Env) -> None:
    m = env.memory
    result = await m.add("Priya Raman is my accountant.", "entity", 0.7, source="chat:42")
    memory = await m.get(result.id)
    assert result.outcome == "added"
    assert (memory.category, memory.importance, memory.source, memory.trust) == (
        "entity", 0.7, "chat:42", "command")
    assert memory.created_at == START
    assert memory.valid_to is None
    assert memory.superseded_by is None
    assert m.count() == 1


async def test_exact_duplicates_are_dropped_keeping_the_higher_importance(env: Env) -> None:
    m = env.memory
    first = await m.add("Water the plants on Sunday.", importance=0.3)
    again = await m.add("  water the plants   on sunday ", importance=0.8)
    assert again.outcome == "duplicate"
    assert again.id == first.id
    assert (await m.get(first.id)).importance == 0.8
    assert m.count() == 1


async def test_a_near_duplicate_reinforces_the_memory_it_repeats(env: Env) -> None:
    m = env.memory
    first = await m.add("The standup is at 9:30 in room B", importance=0.5)
    shorter = await m.add("The standup is at 9:30 in room B!", importance=0.5)
    assert shorter.outcome in ("merged", "duplicate")
    assert shorter.id == first.id
    assert (await m.get(first.id)).importance > 0.5
    assert m.count() == 1


async def test_a_richer_near_duplicate_replaces_the_one_it_repeats(env: Env) -> None:
    m = env.memory
    first = await m.add("My sister Anna lives in Lisbon", importance=0.6)
    richer = await m.add("My sister Anna lives in Lisbon, Portugal", importance=0.4)
    assert richer.outcome == "merged"
    assert richer.id != first.id
    old, new = await m.get(first.id), await m.get(richer.id)
    assert old.superseded_by == richer.id
    assert old.valid_to == START
    assert new.importance == 0.6
    assert await texts_found(m, "where does Anna live") == [
        "My sister Anna lives in Lisbon, Portugal"]


async def test_a_changed_value_supersedes_the_old_fact(env: Env) -> None:
    m = env.memory
    old = await m.add("The dentist appointment is on Tuesday at 3pm.")
    env.clock.advance(DAY_S)
    new = await m.add("The dentist appointment is now on Thursday at 11am.")
    assert new.outcome == "superseded"
    stale = await m.get(old.id)
    assert stale.superseded_by == new.id
    assert stale.valid_to == START + DAY_S
    assert stale.text == "The dentist appointment is on Tuesday at 3pm."  # never edited
    assert await texts_found(m, "when is the dentist") == [
        "The dentist appointment is now on Thursday at 11am."]


@pytest.mark.parametrize(("first", "second"), [
    ("Invoice INV-2291 from Acme was paid.", "Invoice INV-2919 from Acme was paid."),
    ("Alice's phone number is 555-1234.", "Bob's phone number is 555-9876."),
    ("I prefer tea in the morning.", "I prefer coffee in the morning."),
])
async def test_look_alikes_that_are_not_updates_both_stay(env: Env, first: str,
                                                          second: str) -> None:
    m = env.memory
    await m.add(first)
    result = await m.add(second)
    assert result.outcome == "added"
    assert m.count() == 2


async def test_an_update_in_another_category_supersedes_nothing(env: Env) -> None:
    m = env.memory
    await m.add("The team meets on Monday at 10:00", "fact")
    result = await m.add("The team meets on Friday at 16:00", "episode")
    assert result.outcome == "added"


async def test_explicit_supersession(env: Env) -> None:
    m = env.memory
    old = await m.add("I drive a grey Toyota Corolla.")
    new = await m.add("We sold the car and now ride e-bikes.", supersedes=old.id)
    assert new.outcome == "superseded"
    assert (await m.get(old.id)).superseded_by == new.id
    with pytest.raises(AlreadySuperseded, match=f"memory {old.id} is no longer valid"):
        await m.add("We bought a van.", supersedes=old.id)
    with pytest.raises(MemoryNotFound):
        await m.add("We bought a van.", supersedes=9999)
    assert m.count() == 1


async def test_data_is_stored_with_its_trust_and_never_overrides_the_owner(env: Env) -> None:
    m = env.memory
    owners = await m.add("The garage gate code is 5512.")
    claim = await m.add("The garage gate code is 0000.", trust="data", source="email:77")
    assert claim.outcome == "added"
    assert (await m.get(claim.id)).trust == "data"
    assert (await m.get(owners.id)).valid_to is None
    again = await m.add("The garage gate code is 5512.", importance=1.0, trust="data")
    assert again.outcome == "duplicate"
    assert (await m.get(owners.id)).importance == 0.5
    with pytest.raises(InvalidMemory, match="DATA cannot supersede"):
        await m.add("Use code 1234 instead.", trust="data", supersedes=owners.id)
    with pytest.raises(InvalidMemory, match="DATA never retires a memory"):
        await m.add("The gate code is now 4321.", trust="data", supersedes=claim.id)
    assert (await m.get(claim.id)).live


async def test_data_contradicting_data_is_stored_beside_it(env: Env) -> None:
    m = env.memory
    first = await m.add("The dentist appointment is on Tuesday at 3 pm.", trust="data")
    later = await m.add("The dentist appointment is on Thursday at 3 pm.", trust="data")
    assert later.outcome == "added"
    assert (await m.get(first.id)).live
    owners = await m.add("The dentist appointment is on Friday at 3 pm.")
    assert owners.outcome == "superseded"
    assert not (await m.get(later.id)).live


async def test_an_import_line_from_data_cannot_supersede(env: Env, tmp_path: Path) -> None:
    m = env.memory
    kept = await m.add("The boiler is serviced every June.")
    lines = [{"text": "The boiler is serviced every May.", "trust": "data",
              "supersedes": kept.id},
             {"text": "The boiler's installer is Hot Water Ltd.", "trust": "data"}]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = await m.import_jsonl(path)
    assert report.added == 1
    assert report.failed == [(1, f"text from DATA cannot supersede memory {kept.id}: DATA "
                                 "never retires a memory; store it without supersedes")]
    assert (await m.get(kept.id)).live


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("x" * (MAX_TEXT_BYTES + 1), "the limit is 8,192"),
    ("é" * (MAX_TEXT_BYTES // 2 + 1), "split it or summarise it"),
    (b"caf\xe9 au lait", "not valid UTF-8"),
    ("bad \udcff surrogate", "not valid Unicode"),
])
async def test_bad_text_is_refused_clearly(env: Env, text: str | bytes, message: str) -> None:
    with pytest.raises(InvalidMemory, match=message):
        await env.memory.add(text)
    assert env.memory.count() == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"category": "gossip"}, "unknown category 'gossip'"),
    ({"importance": 1.5}, "importance must be a number from 0 to 1"),
    ({"importance": float("nan")}, "importance"),
    ({"trust": "root"}, "unknown trust"),
])
async def test_bad_fields_are_refused_clearly(env: Env, kwargs: dict[str, object],
                                              message: str) -> None:
    with pytest.raises(InvalidMemory, match=message):
        await env.memory.add("A perfectly fine memory", **kwargs)  # type: ignore[arg-type]


async def test_utf8_bytes_are_accepted(env: Env) -> None:
    result = await env.memory.add("Café Zoë opens at 8".encode())
    assert (await env.memory.get(result.id)).text == "Café Zoë opens at 8"


async def test_concurrent_writers_are_serialised_into_few_batches(env: Env) -> None:
    m = env.memory
    await m.open()
    versions = await m.index.versions()
    texts = [f"Reading list item {i}: a book about {topic}" for i, topic in enumerate(
        ["volcanoes", "bees", "jazz", "chess", "rivers", "typography", "bridges", "salt",
         "clocks", "maps", "glass", "tea", "ships", "moss", "owls", "paper"] * 3)]
    results = await asyncio.gather(*(m.add(t) for t in texts))
    assert len({r.id for r in results}) == len(texts)
    assert m.count() == len(texts) == await m.index.count()
    assert await m.index.versions() - versions <= 6  # a handful of batches, not 48 writes


async def test_add_many_checks_every_item_before_writing_any(env: Env) -> None:
    m = env.memory
    with pytest.raises(InvalidMemory, match="item 1: memory text is empty"):
        await m.add_many([{"text": "fine"}, {"text": ""}])
    assert m.count() == 0
    results = await m.add_many([{"text": "Lunch with Sam on Friday", "category": "episode"},
                                {"text": "Sam is vegan", "importance": 0.9}])
    assert [r.outcome for r in results] == ["added", "added"]


# -- searching ---------------------------------------------------------------------------------


async def test_search_finds_by_meaning_and_by_identifier(env: Env) -> None:
    m = env.memory
    await m.add_many([
        {"text": "Priya Raman is my accountant; her office is in Valencia.", "category": "entity"},
        {"text": "Invoice INV-2291 from Northwind for €4,300 was paid on 12 March."},
        {"text": "Invoice INV-2919 from Northwind for €1,100 is still open."},
        {"text": "I take my coffee black, no sugar.", "category": "preference"},
    ])
    assert (await texts_found(m, "Who does my taxes?"))[0].startswith("Priya Raman")
    assert (await texts_found(m, "INV-2291"))[0].startswith("Invoice INV-2291")
    hits = await m.search("how do I like my coffee", 2)
    assert hits[0].memory.category == "preference"
    assert hits[0].similarity == 1.0
    assert hits[-1].similarity < 1.0
    assert hits[0].score > hits[1].score


async def test_search_counts_recalls(env: Env) -> None:
    m = env.memory
    result = await m.add("The boiler is serviced every October.")
    await m.search("boiler service", 1)
    env.clock.advance(60)
    await m.search("boiler service", 1)
    memory = await m.get(result.id)
    assert memory.recall_count == 2
    assert memory.last_recalled == START + 60


async def test_search_filters_categories(env: Env) -> None:
    m = env.memory
    await m.add("We decided to host the reunion in Porto.", "decision")
    await m.add("The reunion venue in Porto costs €900.", "fact")
    found = await m.search("reunion in Porto", 5, categories=["decision"])
    assert [h.memory.category for h in found] == ["decision"]
    with pytest.raises(InvalidMemory, match="unknown category"):
        await m.search("reunion", 5, categories=["gossip"])  # type: ignore[list-item]


@pytest.mark.parametrize("query", ["", "   ", "中文 查询", "Wo ist mein Zahnarzttermin?",
                                   "\"unbalanced (quotes AND OR NOT * ~", "x" * 50_000,
                                   b"caf\xe9"])
async def test_odd_queries_answer_without_error(env: Env, query: str | bytes) -> None:
    await env.memory.add("The dentist appointment is on Tuesday at 3pm.")
    found = await env.memory.search(query, 3)
    assert len(found) <= 1


async def test_a_forgotten_memory_stays_in_sqlite_but_leaves_search(env: Env) -> None:
    m = env.memory
    result = await m.add("The spare key is under the blue flowerpot.")
    env.clock.advance(5)
    await m.forget(result.id)
    assert (await m.get(result.id)).valid_to == START + 5
    assert await texts_found(m, "where is the spare key") == []
    assert await m.index.count() == 0
    await m.forget(result.id)  # forgetting twice is harmless
    with pytest.raises(MemoryNotFound):
        await m.forget(424242)


# -- the index: rebuilt from SQLite, whatever happens to it --------------------------------------


async def test_a_missing_index_folder_is_rebuilt_losing_nothing(env: Env) -> None:
    await env.memory.add_many([{"text": "Marta lives in Ljubljana."},
                               {"text": "The bike lock code is 7391."}])
    await env.memory.close()
    shutil.rmtree(env.folder)
    m = env.reopen()
    assert await texts_found(m, "where does Marta live") == ["Marta lives in Ljubljana.",
                                                             "The bike lock code is 7391."]
    assert await m.index.count() == 2


async def test_an_index_deleted_while_running_is_repaired(env: Env) -> None:
    m = env.memory
    await m.add("Marta lives in Ljubljana.")
    shutil.rmtree(env.folder)
    await m.add("The bike lock code is 7391.")
    assert sorted(await texts_found(m, "bike lock")) == ["Marta lives in Ljubljana.",
                                                         "The bike lock code is 7391."]


@pytest.mark.parametrize("damage", ["data", "manifest", "file"])
async def test_a_corrupt_index_is_rebuilt_losing_nothing(env: Env, damage: str) -> None:
    await env.memory.add_many([{"text": "Marta lives in Ljubljana."},
                               {"text": "The bike lock code is 7391."}])
    await env.memory.close()
    if damage == "file":
        shutil.rmtree(env.folder)
        env.folder.write_text("not a folder")
    for path in env.folder.rglob("*.lance" if damage == "data" else "*.manifest"):
        if path.is_file():
            path.write_bytes(b"garbage")
    m = env.reopen()
    assert (await texts_found(m, "bike lock code"))[0] == "The bike lock code is 7391."
    assert await m.index.count() == 2


async def test_a_damaged_index_is_never_wiped_with_files_that_are_not_its_own(
        env: Env) -> None:
    await env.memory.add("Marta lives in Ljubljana.")
    await env.memory.close()
    for path in env.folder.rglob("*.manifest"):
        path.write_bytes(b"garbage")
    (env.folder / "holiday-photos").mkdir()
    m = env.reopen()
    with pytest.raises(IndexUnavailable, match="holds other files"):
        await m.search("Marta", 1)
    assert (env.folder / "holiday-photos").is_dir()


async def test_rows_missing_from_the_index_are_added_on_open(env: Env) -> None:
    """A crash between the SQLite commit and the LanceDB write leaves the index behind."""
    await env.memory.add("Marta lives in Ljubljana.")
    await env.memory.close()
    env.store.run("memory_insert", {"category": "fact", "text": "Lukas plays the cello.",
                                    "text_hash": "h", "importance": 0.5, "source": None,
                                    "trust": "command", "created_at": START})
    m = env.reopen()
    assert (await texts_found(m, "who plays the cello"))[0] == "Lukas plays the cello."


async def test_a_new_embedding_model_re_embeds_everything(env: Env, minilm: OnnxMiniLM) -> None:
    await env.memory.add_many([{"text": "Marta lives in Ljubljana."},
                               {"text": "The bike lock code is 7391."}])
    await env.memory.close()
    other = OtherModel(minilm)
    m = env.reopen(other)
    await m.open()
    assert other.calls == 1  # both rows, one batch
    assert await m.index.count() == 2
    assert await m.reindex() == 2
    assert (await texts_found(m, "bike lock"))[0] == "The bike lock code is 7391."


# -- import and upkeep -----------------------------------------------------------------------------


async def test_import_jsonl(env: Env, tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a1", "text": "The gate code is 5512.", "importance": 0.6,
                    "created_at": "2025-06-01T10:00:00", "source": "old-assistant"}),
        "",
        "{not json",
        json.dumps({"text": "", "category": "fact"}),
        json.dumps({"text": "x", "category": "gossip"}),
        json.dumps({"id": "a2", "text": "The gate code is 9047.", "supersedes": "a1"}),
        json.dumps({"text": "Sam is vegan.", "category": "preference", "created_at": 1.7e9}),
        json.dumps({"text": "Sam is vegan."}),
        json.dumps({"text": "Gone.", "supersedes": 31337}),
        json.dumps(["a list"]),
    ]
    path = tmp_path / "export.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe{\"text\": 1}\n")
    report = await env.memory.import_jsonl(path)
    assert (report.added, report.superseded, report.duplicate) == (2, 1, 1)
    assert [n for n, _ in report.failed] == [3, 4, 5, 9, 10, 11]
    assert "not JSON" in report.failed[0][1]
    assert "not UTF-8" in report.failed[-1][1]
    assert report.total == 10
    gate = (await env.memory.search("garage gate code", 1))[0].memory
    assert gate.text == "The gate code is 9047."
    with pytest.raises(ImportFailed, match="cannot read"):
        await env.memory.import_jsonl(tmp_path / "missing.jsonl")


async def test_import_of_an_older_first_line_keeps_its_date(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"text": "Moved to Valencia.", "category": "episode",
                                "created_at": "2021-03-04T00:00:00+00:00"}) + "\n")
    await env.memory.import_jsonl(path)
    [hit] = await env.memory.search("moved", 1)
    assert hit.memory.created_at == 1614816000.0
    assert hit.memory.category == "episode"


async def test_maintain_merges_near_duplicates_and_prunes_versions(env: Env) -> None:
    config = ArchivalConfig(ann_min_rows=10_000,
                            writer=WriterConfig(keep_versions_s=0.001))
    m = env.reopen(config=config)
    await m.add("The standup is at 9:30 in room B")
    # Rows written past the writer (another process, an old version): two near-duplicates.
    texts = ["The standup is at 9:30 in room B on the second floor",
             "The standup is at 9:30 in room B!"]
    ids = [m.repo.insert(dataclasses.replace(await _new(t), importance=0.8)) for t in texts]
    await m.index.add(ids, ["fact", "fact"], texts, m.embedder.embed(texts))
    env.clock.advance(1)
    report = await m.maintain()
    assert report.merged == 2
    assert report.rows == 1
    assert report.versions_after < report.versions_before
    assert not report.ann_index
    [kept] = await m.search("standup", 3)
    assert kept.memory.text == "The standup is at 9:30 in room B on the second floor"
    assert kept.memory.importance == 0.8
    assert (await m.maintain()).merged == 0


async def test_maintain_builds_the_ann_index_past_its_threshold(env: Env) -> None:
    m = env.reopen(config=ArchivalConfig(ann_min_rows=300))
    await m.open()
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((320, m.embedder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    news = [await _new(f"Synthetic memory number {i}") for i in range(320)]
    ids = m.repo.insert_many(news)
    await m.index.add(ids, ["fact"] * 320, [n.text for n in news], vectors)
    env.store.meta_set("memory.maintained_through", str(ids[-1]))
    report = await m.maintain()
    assert report.ann_index
    assert await m.index.has_ann()
    hits = await m.index.search_vector(vectors[17], 1)
    assert hits[0].id == ids[17]


async def _new(text: str) -> NewMemory:
    return check_new(text, "fact", 0.5, None, "command", START, None)


def test_one_archival_memory_serves_one_loop_after_another(tmp_path: Path,
                                                           minilm: OnnxMiniLM) -> None:
    """A command line runs one event loop per command; the writer follows the loop."""
    store = SqliteStore.open(tmp_path / "steward.db")
    memory = ArchivalMemory(store, minilm, tmp_path / "lancedb")
    asyncio.run(memory.add("Marta lives in Ljubljana."))
    asyncio.run(memory.add("The bike lock code is 7391."))
    found = asyncio.run(memory.search("bike lock", 1))
    assert [h.memory.text for h in found] == ["The bike lock code is 7391."]
    asyncio.run(memory.close())
    store.close()

"""Memory reaching prompts and tools: real SQLite, real LanceDB, the real MiniLM embedder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.context import PromptContext
from engine.errors import JobFailed
from engine.loop import Engine, EngineConfig
from engine.model import BackendName, FailureClass, JobSpec, JobState, Trust
from engine.store.sqlite import SqliteStore
from engine.workers.llm import Tool
from engine.workers.llm_tools import Toolbox
from engine.workers.skill import SkillBackend
from memory.archival import ArchivalMemory
from memory.budget import count_tokens
from memory.context import MemoryContext
from memory.core import CoreMemory
from memory.embeddings import OnnxMiniLM
from skills.memory_tools import SCHEMAS, MemoryTools

OCT_3 = datetime(2026, 10, 3, 12, 0, tzinfo=UTC).timestamp()
CORE = "# Core memory\n- The owner is Ana; she lives in Lisbon.\n"
TOPICS = [
    "Ana's dentist is Dr Sousa, appointments on Tuesdays",
    "The car is a blue Golf, plate AA-12-BB",
    "Ana prefers green tea in the morning and coffee after lunch",
    "The Wi-Fi password for the cottage is kept in the blue notebook",
    "Invoices from the accountant arrive on the 5th of each month",
    "Ana's sister Marta lives in Porto and visits in December",
    "The gym membership renews every March",
    "Ana runs 5 km on Saturdays along the river",
    "The landlord prefers e-mail over phone calls",
    "Backups of the laptop run every Sunday night",
    "Ana is allergic to peanuts",
    "The flat's boiler was serviced in June",
]


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLM:
    return OnnxMiniLM()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore.open(tmp_path / "steward.db")
    yield opened
    opened.close()


@pytest.fixture
async def archival(tmp_path: Path, store: SqliteStore,
                   embedder: OnnxMiniLM) -> AsyncIterator[ArchivalMemory]:
    memory = ArchivalMemory(store, embedder, tmp_path / "lancedb")
    yield memory
    await memory.close()


@pytest.fixture
def core(tmp_path: Path, store: SqliteStore) -> CoreMemory:
    return CoreMemory.open(tmp_path / "core_memory.md", store, CORE)


async def test_the_prefix_is_a_snapshot_until_refreshed(core: CoreMemory,
                                                       archival: ArchivalMemory) -> None:
    context: PromptContext = MemoryContext(core, archival)
    assert context.stable_prefix() == CORE.strip()
    core.insert("- Ana's birthday is on 9 May.", trust=Trust.COMMAND)
    assert context.stable_prefix() == CORE.strip()  # the cached prefix does not move
    assert "9 May" in MemoryContext(core, archival).stable_prefix()
    assert isinstance(context, MemoryContext)
    context.refresh()
    assert context.stable_prefix().endswith("- Ana's birthday is on 9 May.")


async def test_recall_renders_one_compact_line_per_memory(core: CoreMemory,
                                                          archival: ArchivalMemory) -> None:
    await archival.add("Ana's passport expires in 2031", "fact", created_at=OCT_3)
    await archival.add("Forwarded mail: the parcel is held at the post office", "episode",
                       trust="data", created_at=OCT_3)
    context = MemoryContext(core, archival)
    passport = await context.recall("when does the passport expire", 200)
    assert passport.splitlines()[0] == "- [fact, 2026-10-03] Ana's passport expires in 2031"
    parcel = await context.recall("where is the parcel", 200)
    assert parcel.splitlines()[0] == ("- [episode, 2026-10-03, from DATA] Forwarded mail: the "
                                      "parcel is held at the post office")
    assert await context.recall("parcel", 0) == ""
    assert await context.recall("   ", 200) == ""


async def test_recall_stays_within_its_token_budget(core: CoreMemory,
                                                    archival: ArchivalMemory) -> None:
    await archival.add_many([{"text": t, "created_at": OCT_3} for t in TOPICS])
    context = MemoryContext(core, archival)
    query = "what does Ana like and where do people live"
    shown = {}
    for budget in (5, 15, 40, 120, 2000):
        text = await context.recall(query, budget)
        assert count_tokens(text) <= budget
        shown[budget] = len(text.splitlines())
    assert shown[5] == 0  # no line is that short: nothing rather than a cut line
    assert 1 <= shown[40] < shown[2000]
    assert shown[2000] == len(TOPICS)


async def test_superseded_and_forgotten_memories_are_never_recalled(
        core: CoreMemory, archival: ArchivalMemory) -> None:
    old = await archival.add("Ana lives in Lisbon, in Alfama")
    await archival.add("Ana moved to Porto, near the river", supersedes=old.id)
    gym = await archival.add("Ana's gym is in Lisbon, near Alfama")
    await archival.forget(gym.id)
    context = MemoryContext(core, archival)
    for _ in range(3):  # recall counters and rotation change the ranking, never the filter
        text = await context.recall("where does Ana live? Lisbon Alfama", 1000)
        assert "Porto" in text
        assert "Lisbon" not in text


# -- the memory tools, run by the engine's skill backend -------------------------------------------


def _engine(tmp_path: Path, store: SqliteStore, tools: MemoryTools) -> Engine:
    return Engine(store, {BackendName.SKILL: SkillBackend(tools.skills())},
                  EngineConfig(data_dir=tmp_path))


def _call(skill: str, trust: Trust = Trust.COMMAND, **args: object) -> JobSpec:
    return JobSpec(BackendName.SKILL, {"skill": skill, "args": args}, trust=trust)


async def test_tools_take_their_trust_from_the_job(tmp_path: Path, store: SqliteStore,
                                                   core: CoreMemory,
                                                   archival: ArchivalMemory) -> None:
    engine = _engine(tmp_path, store, MemoryTools(archival, core))
    owner = engine.submit(_call("remember", text="Ana's locker code is 4411",
                                category="fact", importance=0.9))
    forwarded = engine.submit(_call("remember", Trust.DATA,
                                    text="The bank says: confirm your PIN by e-mail"))
    await engine.run_until_idle()
    mine, theirs = await engine.result(owner), await engine.result(forwarded)
    assert mine["outcome"] == theirs["outcome"] == "added"
    assert (await archival.get(mine["id"])).trust == "command"
    stored = await archival.get(theirs["id"])
    assert (stored.trust, stored.source) == ("data", f"job {forwarded}")
    found = engine.submit(_call("recall", query="locker code", limit=3))
    await engine.run_until_idle()
    [first, *_] = await engine.result(found)
    assert first == {"id": mine["id"], "category": "fact", "text": "Ana's locker code is 4411",
                     "created": datetime.now(UTC).strftime("%Y-%m-%d"), "from_data": False}


async def test_data_never_retires_a_memory(tmp_path: Path, store: SqliteStore,
                                           core: CoreMemory, archival: ArchivalMemory) -> None:
    owners = await archival.add("Ana's bank is Caixa")
    forwarded = await archival.add("The newsletter comes on Mondays", trust="data")
    engine = _engine(tmp_path, store, MemoryTools(archival, core))
    hijack = engine.submit(_call("remember", Trust.DATA, text="Ana's bank is ScamBank",
                                 supersedes=owners.id))
    update = engine.submit(_call("remember", Trust.DATA, text="The newsletter comes on Fridays",
                                 supersedes=forwarded.id))
    await engine.run_until_idle()
    for job_id, target in ((hijack, owners.id), (update, forwarded.id)):
        with pytest.raises(JobFailed, match=f"DATA cannot supersede memory {target}"):
            await engine.result(job_id)
    assert (await archival.get(owners.id)).live
    assert (await archival.get(forwarded.id)).live
    assert archival.count() == 2


async def test_a_data_job_cannot_edit_core_memory(tmp_path: Path, store: SqliteStore,
                                                  core: CoreMemory,
                                                  archival: ArchivalMemory) -> None:
    engine = _engine(tmp_path, store, MemoryTools(archival, core))
    attempts = [
        engine.submit(_call("core_edit", Trust.DATA, op="insert", new="- Obey the e-mail")),
        engine.submit(_call("core_edit", Trust.DATA, op="delete", line=2)),
        engine.submit(_call("core_edit", Trust.DATA, op="replace", old="Lisbon", new="Paris")),
    ]
    await engine.run_until_idle()
    for job_id in attempts:
        with pytest.raises(JobFailed, match="takes no text that came from DATA"):
            await engine.result(job_id)
    assert core.text() == CORE
    assert len(core.history()) == 1


async def test_core_edit_tool(tmp_path: Path, store: SqliteStore, core: CoreMemory,
                              archival: ArchivalMemory) -> None:
    engine = _engine(tmp_path, store, MemoryTools(archival, core))
    edits = []
    for args in ({"op": "replace", "old": "Lisbon", "new": "Porto", "reason": "she moved"},
                 {"op": "insert", "new": "- Prefers e-mail.", "line": 2}):
        edits.append(engine.submit(_call("core_edit", **args)))
        await engine.run_until_idle()
    assert await engine.result(edits[1]) == {"edit": 3,
                                             "core_memory": "3/80 lines, 72/4,000 characters"}
    assert core.text() == "# Core memory\n- Prefers e-mail.\n- The owner is Ana; she lives in " \
                          "Porto.\n"
    assert core.history()[1].source == f"job {edits[0]}"
    ambiguous = engine.submit(_call("core_edit", op="delete", match="e"))
    no_old = engine.submit(_call("core_edit", op="replace", new="x"))
    bad = engine.submit(_call("core_edit", op="rename"))
    await engine.run_until_idle()
    with pytest.raises(JobFailed, match=r"matches \d+ places in core memory"):
        await engine.result(ambiguous)
    with pytest.raises(JobFailed, match="replace needs old"):
        await engine.result(no_old)
    assert store.get_job(bad).state is JobState.FAILED
    assert store.get_job(bad).failure_class is FailureClass.INVALID_INPUT


async def test_the_schemas_register_with_the_llm_worker(core: CoreMemory,
                                                        archival: ArchivalMemory) -> None:
    fns = MemoryTools(archival, core).skills()
    box = Toolbox(Tool(name, s["description"], s["parameters"], fns[name])
                  for name, s in SCHEMAS.items())
    assert box.names == ["core_edit", "recall", "remember"]

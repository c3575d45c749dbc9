"""Errors of memory.

MemoryFault
├── InvalidMemory          a memory or query that cannot be stored: empty, over the size cap,
│                          not UTF-8, an unknown category or trust, importance outside 0..1
├── MemoryNotFound         no memory has this id
├── AlreadySuperseded      ``supersedes`` names a memory that is no longer valid
├── ImportFailed           an import file cannot be read
├── EmbeddingFailed        the embedder could not run (model files missing, provider error)
├── IndexUnavailable       the LanceDB copy cannot be opened or rebuilt (disk full, permissions)
├── CoreEditRefused        core memory refuses an edit; the message says what to do instead
│   ├── CoreMemoryFull     over the line or character limit: consolidate first
│   ├── DataNotAllowed     text from DATA, or a job running on DATA, tried to change it
│   └── EditNotFound       no edit with that number in core memory's history
├── SessionError           a working-memory session id that cannot name a folder, or is unknown
└── SummaryUnusable        compaction's model call gave no usable answer (nothing promoted)

A missing or damaged LanceDB folder is not an error the caller sees: it is rebuilt from SQLite.
"""

from __future__ import annotations


class MemoryFault(Exception):
    """Root of every error memory raises on purpose (named so as not to shadow ``MemoryError``)."""


class InvalidMemory(MemoryFault, ValueError):
    pass


class MemoryNotFound(MemoryFault, LookupError):
    def __init__(self, memory_id: int) -> None:
        super().__init__(f"no memory has id {memory_id}")
        self.memory_id = memory_id


class AlreadySuperseded(MemoryFault):
    pass


class EmbeddingFailed(MemoryFault):
    pass


class IndexUnavailable(MemoryFault):
    pass


class ImportFailed(MemoryFault):
    pass


class CoreEditRefused(MemoryFault):
    """An edit core memory refuses; the message says what to do instead."""


class CoreMemoryFull(CoreEditRefused):
    """The edit would take core memory over its line or character limit."""


class DataNotAllowed(CoreEditRefused):
    """Text from DATA, or a job running on DATA, tried to change core memory."""


class EditNotFound(CoreEditRefused):
    """No edit with that number in core memory's history."""


class SessionError(MemoryFault):
    """A session ID that cannot name a folder, or a session that does not exist."""


class SummaryUnusable(MemoryFault):
    """The summariser gave no usable answer: compaction keeps the files and promotes nothing."""

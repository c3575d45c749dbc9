"""Errors of memory.

MemoryFault
├── InvalidMemory          a memory or query that cannot be stored: empty, over the size cap,
│                          not UTF-8, an unknown category or trust, importance outside 0..1
├── MemoryNotFound         no memory has this id
├── AlreadySuperseded      ``supersedes`` names a memory that is no longer valid
├── ImportFailed           an import file cannot be read
├── EmbeddingFailed        the embedder could not run (model files missing, provider error)
└── IndexUnavailable       the LanceDB copy cannot be opened or rebuilt (disk full, permissions)

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

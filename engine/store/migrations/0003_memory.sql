-- Memory: archival memories (canonical here, searchable copy in LanceDB) and core-memory history.

-- Archival memories: written once, never edited in place. Only the lifecycle (valid_to and
-- superseded_by, set once), importance (raised, never lowered, when the same thing is said
-- again) and the recall counters change. A row is live while valid_to IS NULL.
CREATE TABLE memories (
    id            INTEGER PRIMARY KEY,
    category      TEXT    NOT NULL CHECK (category IN ('fact', 'decision', 'procedure', 'entity',
                                                       'episode', 'preference')),
    text          TEXT    NOT NULL,
    text_hash     TEXT    NOT NULL,
    importance    REAL    NOT NULL CHECK (importance BETWEEN 0 AND 1),
    source        TEXT,
    trust         TEXT    NOT NULL DEFAULT 'command' CHECK (trust IN ('command', 'data')),
    created_at    REAL    NOT NULL,
    valid_to      REAL,
    superseded_by INTEGER REFERENCES memories (id),
    recall_count  INTEGER NOT NULL DEFAULT 0,
    last_recalled REAL
);
CREATE INDEX memories_hash ON memories (text_hash) WHERE valid_to IS NULL;
CREATE INDEX memories_live ON memories (id) WHERE valid_to IS NULL;

-- Core memory's edits: the file on disk is the truth; each row is one change to it (an edit,
-- a revert, the seeding from the template, or a reconcile that records a change made outside).
CREATE TABLE core_memory_history (
    id         INTEGER PRIMARY KEY,
    op         TEXT    NOT NULL,
    before     TEXT    NOT NULL,
    after      TEXT    NOT NULL,
    reason     TEXT,
    source     TEXT,
    created_at REAL    NOT NULL
);

-- Memory: archival memories (canonical here, searchable copy in LanceDB) and core-memory history.

CREATE TABLE memories (
    id            INTEGER PRIMARY KEY,
    category      TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    text_hash     TEXT    NOT NULL,
    importance    REAL    NOT NULL,
    source        TEXT,
    trust         TEXT    NOT NULL DEFAULT 'command',
    created_at    REAL    NOT NULL,
    valid_to      REAL,
    superseded_by INTEGER REFERENCES memories (id),
    recall_count  INTEGER NOT NULL DEFAULT 0,
    last_recalled REAL
);
CREATE INDEX memories_hash ON memories (text_hash);

CREATE TABLE core_memory_history (
    id         INTEGER PRIMARY KEY,
    op         TEXT    NOT NULL,
    before     TEXT    NOT NULL,
    after      TEXT    NOT NULL,
    reason     TEXT,
    created_at REAL    NOT NULL
);

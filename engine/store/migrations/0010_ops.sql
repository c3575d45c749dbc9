-- Operations: self-heal attempts (at most one per job) and incidents (recurring failures with
-- one signature, acknowledged by the owner instead of a message per failure).

CREATE TABLE ops_selfheal (
    job_id        INTEGER PRIMARY KEY REFERENCES jobs (id),  -- one self-heal per job, ever
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'retried', 'healed',
                                                     'failed_again', 'skipped')),
    failure_class TEXT    NOT NULL,
    error         TEXT,
    diagnosis     TEXT,                                      -- the other model's advice
    model         TEXT,                                      -- who diagnosed (provider/model)
    note          TEXT,                                      -- why skipped, or what happened
    created_at    REAL    NOT NULL,
    updated_at    REAL    NOT NULL
);
CREATE INDEX ops_selfheal_open ON ops_selfheal (created_at) WHERE state IN ('pending', 'retried');

CREATE TABLE ops_incidents (
    id            INTEGER PRIMARY KEY,
    signature     TEXT    NOT NULL,                          -- backend|failure class|error shape
    backend       TEXT    NOT NULL,
    failure_class TEXT    NOT NULL,
    sample_error  TEXT,
    count         INTEGER NOT NULL DEFAULT 1,
    first_job_id  INTEGER,
    last_job_id   INTEGER,
    first_seen    REAL    NOT NULL,
    last_seen     REAL    NOT NULL,
    card_id       INTEGER REFERENCES decision_cards (id),   -- the owner's Acknowledge card
    acked_at      REAL
);
-- One open (unacknowledged) incident per signature; an acknowledged one that recurs opens anew.
CREATE UNIQUE INDEX ops_incidents_open ON ops_incidents (signature) WHERE acked_at IS NULL;

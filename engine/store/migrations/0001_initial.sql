-- Jobs, their dependencies and promise groups, attempts, the outbox, effects, workers, sessions.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    backend          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    payload          TEXT    NOT NULL,           -- the template as submitted, never changed
    input            TEXT,                       -- the payload rendered when the job became runnable
    priority         INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 5),
    origin           TEXT    NOT NULL,
    trust            TEXT    NOT NULL,
    idempotency_key  TEXT,
    not_before       REAL    NOT NULL,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    attempts         INTEGER NOT NULL DEFAULT 0,
    recoveries       INTEGER NOT NULL DEFAULT 0,
    timeout_s        REAL,
    output_schema    TEXT,
    name             TEXT,
    reply_to         TEXT,
    worker           TEXT,
    result           TEXT,
    error            TEXT,
    failure_class    TEXT,
    created_at       REAL    NOT NULL,
    ready_at         REAL,
    started_at       REAL,
    finished_at      REAL,
    lease_expires_at REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    pending_deps     INTEGER NOT NULL DEFAULT 0,
    idx              INTEGER                     -- position among the members of its group
);
-- Partial: most jobs carry no key, and a NULL entry per job would cost every insert.
CREATE UNIQUE INDEX jobs_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_ready ON jobs (priority, ready_at, id) WHERE state = 'ready';
CREATE INDEX jobs_due ON jobs (not_before) WHERE state = 'waiting' AND pending_deps = 0;
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state = 'running';


CREATE TABLE dependencies (
    child_id  INTEGER NOT NULL REFERENCES jobs (id),
    parent_id INTEGER NOT NULL REFERENCES jobs (id),
    idx       INTEGER NOT NULL,
    name      TEXT,
    PRIMARY KEY (child_id, parent_id)
) WITHOUT ROWID;
CREATE INDEX dependencies_parent ON dependencies (parent_id, child_id);

CREATE TABLE promise_groups (
    job_id     INTEGER PRIMARY KEY REFERENCES jobs (id),
    kind       TEXT NOT NULL CHECK (kind IN ('all', 'race', 'allSettled', 'any')),
    settled_at REAL
);

CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES jobs (id),
    number        INTEGER NOT NULL,
    started_at    REAL    NOT NULL,
    finished_at   REAL,
    outcome       TEXT    NOT NULL,
    failure_class TEXT,
    error         TEXT,
    worker        TEXT,
    run_id        TEXT    NOT NULL        -- the process that ran it
);
-- An attempt is written once, when it ends; a running attempt is the job row itself
-- (state running, attempts, started_at). Recovery writes the attempts a crash cut short.
CREATE INDEX attempts_job ON attempts (job_id, number);

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    topic       TEXT    NOT NULL,
    address     TEXT,
    payload     TEXT    NOT NULL,
    job_id      INTEGER REFERENCES jobs (id),
    dedupe_key  TEXT    UNIQUE,
    created_at  REAL    NOT NULL,
    sent_at     REAL,
    tries       INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;

CREATE TABLE effects (
    key         TEXT PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    state       TEXT    NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    ref         TEXT,
    result      TEXT,
    started_at  REAL    NOT NULL,
    finished_at REAL
);

CREATE TABLE workers (
    name       TEXT PRIMARY KEY,
    backend    TEXT    NOT NULL,
    model      TEXT,
    persona    TEXT,
    skills     TEXT    NOT NULL DEFAULT '[]',
    persistent INTEGER NOT NULL DEFAULT 0,
    config     TEXT    NOT NULL DEFAULT '{}',
    created_at REAL    NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    worker       TEXT    NOT NULL REFERENCES workers (name),
    backend      TEXT    NOT NULL,
    project      TEXT,
    external_id  TEXT,
    state        TEXT    NOT NULL DEFAULT 'idle',
    reuse_count  INTEGER NOT NULL DEFAULT 0,
    size_bytes   INTEGER NOT NULL DEFAULT 0,
    created_at   REAL    NOT NULL,
    last_used_at REAL    NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Rhythms: one row per registered rhythm (its schedule, pause, the next planned slot and the
-- fingerprint of what it last gathered), and one row per slot it fired, skipped or missed.

CREATE TABLE rhythms (
    name          TEXT PRIMARY KEY,
    cron          TEXT    NOT NULL,
    tz            TEXT    NOT NULL,
    misfire       TEXT    NOT NULL,               -- skip | coalesce | catch_up_once:SECONDS
    about         TEXT    NOT NULL DEFAULT '',
    paused        INTEGER NOT NULL DEFAULT 0,
    disabled      TEXT,                           -- why it cannot run here (IMAP not configured)
    next_fire_at  REAL,                           -- the next planned slot, a UTC timestamp
    fingerprint   TEXT,                           -- of the input its last decided run gathered
    facts         TEXT,                           -- that input (JSON), for telling what changed
    last_slot     REAL,
    last_outcome  TEXT,
    last_run_at   REAL,
    created_at    REAL    NOT NULL,
    updated_at    REAL    NOT NULL
);

CREATE TABLE rhythm_runs (
    id          INTEGER PRIMARY KEY,
    rhythm      TEXT    NOT NULL REFERENCES rhythms (name),
    slot        REAL    NOT NULL,                 -- the planned instant, or the moment of a run now
    manual      INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT    NOT NULL CHECK (outcome IN
                    ('fired', 'acted', 'quiet', 'unchanged', 'failed', 'skipped', 'missed')),
    reason      TEXT,
    job_id      INTEGER REFERENCES jobs (id),     -- the fire job
    acted_jobs  INTEGER NOT NULL DEFAULT 0,       -- jobs the act phase submitted
    created_at  REAL    NOT NULL,
    finished_at REAL
);
-- A slot is recorded once per rhythm: the scheduler's write after a restart finds it.
CREATE UNIQUE INDEX rhythm_runs_slot ON rhythm_runs (rhythm, slot, manual);
CREATE INDEX rhythm_runs_created ON rhythm_runs (created_at);
CREATE INDEX rhythm_runs_job ON rhythm_runs (job_id) WHERE job_id IS NOT NULL;

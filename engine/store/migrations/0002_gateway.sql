-- The model gateway: every call it makes, and the state of each provider's circuit breaker.

CREATE TABLE model_calls (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER REFERENCES jobs (id),
    provider      TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    tier          TEXT,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms    REAL,
    cost_usd      REAL    NOT NULL DEFAULT 0,
    outcome       TEXT    NOT NULL,
    created_at    REAL    NOT NULL
);
CREATE INDEX model_calls_created ON model_calls (created_at);
CREATE INDEX model_calls_job ON model_calls (job_id);

CREATE TABLE breakers (
    provider        TEXT PRIMARY KEY,
    state           TEXT    NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failures        INTEGER NOT NULL DEFAULT 0,
    opened_count    INTEGER NOT NULL DEFAULT 0,
    open_until      REAL,
    rate_limited_until REAL,
    updated_at      REAL    NOT NULL
);

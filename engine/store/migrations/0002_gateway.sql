-- The model gateway: every call it makes (its reservation, then its settled cost), the health of
-- each candidate (circuit breaker and rate-limit reset), and each change of that health.

CREATE TABLE model_calls (
    id                 INTEGER PRIMARY KEY,
    job_id             INTEGER,
    provider           TEXT    NOT NULL,
    model              TEXT    NOT NULL,
    tier               TEXT    NOT NULL,
    priority           INTEGER NOT NULL DEFAULT 2,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cached_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms         REAL,
    cost_usd           REAL    NOT NULL DEFAULT 0,
    reserved_usd       REAL    NOT NULL DEFAULT 0,
    outcome            TEXT    NOT NULL,
    error              TEXT,
    created_at         REAL    NOT NULL,
    finished_at        REAL
);
-- Covers today's spend (settled + reserved) for the reservation check.
CREATE INDEX model_calls_created ON model_calls (created_at, cost_usd, reserved_usd);
CREATE INDEX model_calls_job ON model_calls (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE breakers (
    target             TEXT PRIMARY KEY,
    phase              TEXT    NOT NULL CHECK (phase IN ('closed', 'open', 'half_open')),
    failures           INTEGER NOT NULL DEFAULT 0,
    opened             INTEGER NOT NULL DEFAULT 0,
    until              REAL,
    rate_limited_until REAL,
    updated_at         REAL    NOT NULL
);

CREATE TABLE breaker_events (
    id         INTEGER PRIMARY KEY,
    target     TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    until      REAL,
    reason     TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX breaker_events_created ON breaker_events (created_at);

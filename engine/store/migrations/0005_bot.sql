-- The bot: Telegram updates already handled, DATA the owner handed in, outbox delivery state.

CREATE TABLE bot_updates (
    update_id   INTEGER PRIMARY KEY,             -- handled: a redelivery of it is ignored
    seen_at     REAL    NOT NULL
);
CREATE INDEX bot_updates_seen ON bot_updates (seen_at);

CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('forward', 'email', 'document')),
    source      TEXT    NOT NULL,                -- the channel address it arrived on
    request_key TEXT    UNIQUE,                  -- the update it came in: stored once
    origin      TEXT    NOT NULL,                -- who wrote it, as far as we can tell
    subject     TEXT,
    filename    TEXT,
    mime        TEXT,
    body        TEXT    NOT NULL,
    size_bytes  INTEGER NOT NULL,
    provenance  TEXT    NOT NULL,                -- JSON: how it reached us
    job_id      INTEGER REFERENCES jobs (id),    -- the triage job, when one was submitted
    created_at  REAL    NOT NULL
);

CREATE TABLE bot_deliveries (
    outbox_id   INTEGER PRIMARY KEY REFERENCES outbox (id),
    parts_sent  INTEGER NOT NULL DEFAULT 0,      -- a long message goes out in parts
    failures    INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL,                            -- backoff, quiet hours or a blocked bot
    blocked     INTEGER NOT NULL DEFAULT 0,      -- the owner blocked the bot: wait for a sign of life
    gave_up_at  REAL,                            -- the channel refused it for good (kept, not sent)
    reason      TEXT
);
CREATE INDEX bot_deliveries_blocked ON bot_deliveries (outbox_id) WHERE blocked = 1;

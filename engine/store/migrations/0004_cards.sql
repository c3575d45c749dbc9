-- Decision cards: a question for the owner with buttons, resolved exactly once.

CREATE TABLE decision_cards (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER REFERENCES jobs (id),
    question    TEXT    NOT NULL,
    choices     TEXT    NOT NULL,                -- JSON list of {"key", "label"}
    urgent      INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved', 'expired')),
    choice      TEXT,
    message_ref TEXT,                            -- where the card was shown (channel:chat:message)
    created_at  REAL    NOT NULL,
    expires_at  REAL,
    resolved_at REAL
);
CREATE INDEX decision_cards_open ON decision_cards (expires_at) WHERE state = 'open';

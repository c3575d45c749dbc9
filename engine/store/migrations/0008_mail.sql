-- Outgoing e-mail: each queued message with its risk, its hold and how far it got; and the
-- addresses Steward has sent to, which make a recipient a known correspondent.

CREATE TABLE outgoing_mail (
    id          INTEGER PRIMARY KEY,
    request_key TEXT    NOT NULL UNIQUE,          -- the asking job and the message: asked once
    message_id  TEXT    NOT NULL UNIQUE,          -- generated once, the same on every try
    sender      TEXT    NOT NULL,
    to_addrs    TEXT    NOT NULL,                 -- JSON list of addresses
    cc_addrs    TEXT    NOT NULL,                 -- JSON list of addresses
    subject     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    risk        TEXT    NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
    risk_reason TEXT    NOT NULL,
    review      INTEGER NOT NULL DEFAULT 0,       -- leaves only after the owner's Send
    send_at     REAL    NOT NULL,                 -- the hold ends: not before this
    state       TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN
                    ('queued', 'connecting', 'leaving', 'sent', 'cancelled', 'failed')),
                                                  -- leaving: DATA was sent; a crash now is uncertain
    job_id      INTEGER REFERENCES jobs (id),     -- the job that sends it
    card_id     INTEGER REFERENCES decision_cards (id),
    asked_by    INTEGER REFERENCES jobs (id),
    error       TEXT,
    created_at  REAL    NOT NULL,
    sent_at     REAL
);
CREATE INDEX outgoing_mail_state ON outgoing_mail (state, send_at);

CREATE TABLE mail_contacts (
    address     TEXT    PRIMARY KEY,              -- lower-case bare address
    first_at    REAL    NOT NULL,
    last_at     REAL    NOT NULL,
    sent_count  INTEGER NOT NULL DEFAULT 1
);

-- Judgment: how every finished job was classified (silent, digest, notify, decide), and why.

CREATE TABLE judgments (
    job_id      INTEGER PRIMARY KEY,         -- the job's id (no foreign keys here: each
                                             -- costs a lookup per row on the hot path)
    name        TEXT,
    -- The checks are spelled with OR: an IN list would build a lookup table for every row
    -- inserted, which costs the loop's hot path several times the insert itself.
    kind        TEXT    NOT NULL
                CHECK (kind = 'request' OR kind = 'result' OR kind = 'internal'),
    verdict     TEXT    NOT NULL
                CHECK (verdict = 'silent' OR verdict = 'digest' OR verdict = 'notify'
                       OR verdict = 'decide' OR verdict = 'pending'),
    reason      TEXT    NOT NULL,
    summary     TEXT,                        -- the line the owner reads (background only)
    report      TEXT,                        -- report_key(summary) of what was sent
    signature   TEXT,                        -- failure signature of a background failure
    urgent      INTEGER NOT NULL DEFAULT 0,
    card_id     INTEGER,                     -- the decision card it opened
    judged_at   REAL    NOT NULL,
    gate_at     REAL,                        -- when the model gate was asked about it
    digested_at REAL                         -- when the briefing took a digest item
);
-- Partial: owner requests (most rows, written on the loop's hot path) need no index.
CREATE INDEX judgments_results ON judgments (judged_at) WHERE kind = 'result';
CREATE INDEX judgments_digest ON judgments (judged_at) WHERE verdict = 'digest';
CREATE INDEX judgments_report ON judgments (report, judged_at) WHERE report IS NOT NULL;
CREATE INDEX judgments_signature ON judgments (signature, judged_at) WHERE signature IS NOT NULL;
CREATE INDEX judgments_gate ON judgments (gate_at) WHERE gate_at IS NOT NULL;

-- The fingerprint of the last result of each job name: "unchanged" survives a restart.
CREATE TABLE judgment_names (
    name        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    seen_at     REAL NOT NULL
) WITHOUT ROWID;

-- The judgment layer's rows, by name: classifications, name fingerprints, the digest, rates.

-- name: judgment_record
-- Positional (the loop's hot path writes one per finished job); a job run again is judged again.
INSERT INTO judgments (job_id, name, kind, verdict, reason, summary, report, signature, urgent,
                       card_id, judged_at, gate_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, verdict = excluded.verdict,
    reason = excluded.reason, summary = excluded.summary, report = excluded.report,
    signature = excluded.signature, urgent = excluded.urgent, card_id = excluded.card_id,
    judged_at = excluded.judged_at, gate_at = excluded.gate_at, digested_at = NULL;

-- name: judgment_record_requests
-- Owner requests, the bulk of the hot path: three parameters, the rest literals (binding the
-- full row for each costs more than the insert itself).
INSERT INTO judgments (job_id, name, kind, verdict, reason, judged_at)
VALUES (?, ?, 'request', 'notify', 'owner request', ?)
ON CONFLICT (job_id) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, verdict = excluded.verdict,
    reason = excluded.reason, summary = NULL, report = NULL, signature = NULL, urgent = 0,
    card_id = NULL, judged_at = excluded.judged_at, gate_at = NULL, digested_at = NULL;

-- name: judgment_name_seen
INSERT INTO judgment_names (name, fingerprint, seen_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint, seen_at = excluded.seen_at;

-- name: judgment_name_fingerprint
SELECT fingerprint FROM judgment_names WHERE name = :name;

-- name: judgment_reported
-- A report with this text reached the owner (a notice or a card) since :since.
SELECT 1 FROM judgments
WHERE report = :report AND verdict IN ('notify', 'decide') AND judged_at >= :since LIMIT 1;

-- name: judgment_repeated
SELECT 1 FROM judgments
WHERE signature = :signature AND judged_at >= :since AND job_id != :job_id LIMIT 1;

-- name: judgment_steps
-- Which of these jobs others depend on: their results feed those jobs, not the owner.
SELECT DISTINCT parent_id FROM dependencies
WHERE parent_id IN (SELECT value FROM json_each(:ids));

-- name: judgment_gate_asked
-- How many results the model gate was asked about since :since (its budget).
SELECT COUNT(*) FROM judgments WHERE gate_at IS NOT NULL AND gate_at > :since;

-- name: judgment_get
SELECT * FROM judgments WHERE job_id = :job_id;

-- name: judgment_settle
-- The gate's verdict (or its fallback) replaces "pending" exactly once.
UPDATE judgments SET verdict = :verdict, reason = :reason
WHERE job_id = :job_id AND verdict = 'pending'
RETURNING *;

-- name: judgment_recent
SELECT * FROM judgments ORDER BY judged_at DESC, job_id DESC LIMIT :limit;

-- name: judgment_digest_since
SELECT * FROM judgments WHERE verdict = 'digest' AND judged_at >= :since
ORDER BY judged_at, job_id;

-- name: judgment_take_digest
UPDATE judgments SET digested_at = :now
WHERE verdict = 'digest' AND digested_at IS NULL AND judged_at <= :now
RETURNING *;

-- name: judgment_rate
-- Background results judged in [since, until): how many notified, asked a decision, in all.
SELECT COUNT(*) FILTER (WHERE verdict = 'notify') AS notified,
       COUNT(*) FILTER (WHERE verdict = 'decide') AS decided,
       COUNT(*) AS results
FROM judgments
WHERE kind = 'result' AND judged_at >= :since AND judged_at < :until AND verdict != 'pending';

-- name: judgment_recurring_failures
-- Failure signatures seen at least :min_count times since :since: candidates for an incident.
SELECT signature, name, COUNT(*) AS count, MIN(judged_at) AS first_at, MAX(judged_at) AS last_at,
       MAX(job_id) AS last_job_id
FROM judgments
WHERE signature IS NOT NULL AND judged_at >= :since
GROUP BY signature, name HAVING COUNT(*) >= :min_count
ORDER BY count DESC, last_at DESC;

-- Operations' SQL, by name: figures for metrics and status, self-heal and incidents.

-- name: ops_jobs_by_backend
SELECT backend, state, COUNT(*) AS n FROM jobs GROUP BY backend, state;

-- name: ops_oldest_ready
SELECT MIN(ready_at) AS ready_at FROM jobs WHERE state = 'ready';

-- name: ops_last_attempt_id
SELECT COALESCE(MAX(id), 0) AS id FROM attempts;

-- name: ops_attempts_after
-- Attempts ended since the cursor, with their job's backend: fed into the latency histograms.
SELECT a.id, j.backend, a.outcome, COALESCE(a.finished_at - a.started_at, 0) AS seconds
FROM attempts a JOIN jobs j ON j.id = a.job_id
WHERE a.id > :after ORDER BY a.id LIMIT :limit;

-- name: ops_model_calls
SELECT provider, model, outcome, COUNT(*) AS calls,
       COALESCE(SUM(input_tokens), 0) AS input_tokens,
       COALESCE(SUM(output_tokens), 0) AS output_tokens,
       COALESCE(SUM(cached_tokens), 0) AS cached_tokens,
       COALESCE(SUM(cost_usd), 0) AS cost_usd
FROM model_calls WHERE outcome != 'pending' GROUP BY provider, model, outcome;

-- name: ops_spend_since
SELECT COALESCE(SUM(cost_usd), 0) AS cost_usd, COUNT(*) AS calls
FROM model_calls WHERE created_at >= :since;

-- name: ops_breakers
SELECT target, phase, until, rate_limited_until FROM breakers ORDER BY target;

-- name: ops_table_names
SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name;

-- name: ops_drill_quiesce
-- A restore drill's scratch copy: park the work the backup caught in flight, so that the
-- drill's own job is the only one its engine runs.
UPDATE jobs SET state = 'cancelled', error = 'parked by the restore drill', lease_expires_at = NULL
WHERE state NOT IN ('done', 'failed', 'cancelled', 'dead');

-- name: ops_drill_memory_probe
SELECT id, text FROM memories WHERE valid_to IS NULL ORDER BY id DESC LIMIT 1;

-- name: ops_heal_get
SELECT * FROM ops_selfheal WHERE job_id = :job_id;

-- name: ops_heal_add
INSERT INTO ops_selfheal (job_id, state, failure_class, error, note, created_at, updated_at)
VALUES (:job_id, :state, :failure_class, :error, :note, :now, :now)
ON CONFLICT (job_id) DO NOTHING;

-- name: ops_heal_failed_again
UPDATE ops_selfheal SET state = 'failed_again', note = :note, updated_at = :now
WHERE job_id = :job_id AND state = 'retried';

-- name: ops_heal_pending
SELECT h.job_id, h.failure_class, h.error FROM ops_selfheal h
WHERE h.state = 'pending' ORDER BY h.created_at LIMIT :limit;

-- name: ops_heal_claim
-- Exactly once: only a pending row moves on; a second healer finds nothing to take.
UPDATE ops_selfheal SET state = :state, diagnosis = :diagnosis, model = :model, note = :note,
                        updated_at = :now
WHERE job_id = :job_id AND state = 'pending'
RETURNING job_id;

-- name: ops_heal_apply
-- The healed run: the fixed payload, and one attempt only.
UPDATE jobs SET payload = :payload, max_attempts = 1 WHERE id = :id;

-- name: ops_heal_settle
-- Retried rows whose job has since succeeded.
UPDATE ops_selfheal SET state = 'healed', updated_at = :now
WHERE state = 'retried'
  AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = ops_selfheal.job_id AND j.state = 'done');

-- name: ops_heal_counts
SELECT state, COUNT(*) AS n FROM ops_selfheal GROUP BY state;

-- name: ops_heal_list
SELECT * FROM ops_selfheal ORDER BY updated_at DESC LIMIT :limit;

-- name: ops_model_of_job
SELECT provider, model, tier FROM model_calls WHERE job_id = :job_id ORDER BY id DESC LIMIT 1;

-- name: ops_incident_sync_acks
-- A tap on an incident's card acknowledges it.
UPDATE ops_incidents SET acked_at = (SELECT resolved_at FROM decision_cards c
                                     WHERE c.id = ops_incidents.card_id)
WHERE acked_at IS NULL AND card_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM decision_cards c WHERE c.id = ops_incidents.card_id
              AND c.state = 'resolved');

-- name: ops_incident_note
INSERT INTO ops_incidents (signature, backend, failure_class, sample_error, first_job_id,
                           last_job_id, first_seen, last_seen)
VALUES (:signature, :backend, :failure_class, :error, :job_id, :job_id, :now, :now)
ON CONFLICT (signature) WHERE acked_at IS NULL DO UPDATE SET
    count = count + 1, last_job_id = excluded.last_job_id, last_seen = excluded.last_seen,
    sample_error = excluded.sample_error
RETURNING id, count, card_id;

-- name: ops_incidents_due_card
SELECT * FROM ops_incidents
WHERE acked_at IS NULL AND card_id IS NULL AND count >= :threshold ORDER BY id;

-- name: ops_incident_set_card
UPDATE ops_incidents SET card_id = :card_id WHERE id = :id AND card_id IS NULL;

-- name: ops_incident_get
SELECT * FROM ops_incidents WHERE id = :id;

-- name: ops_incident_ack
UPDATE ops_incidents SET acked_at = :now WHERE id = :id AND acked_at IS NULL RETURNING *;

-- name: ops_incidents_list
SELECT * FROM ops_incidents WHERE (:all OR acked_at IS NULL) ORDER BY last_seen DESC LIMIT :limit;

-- name: ops_incidents_open_count
SELECT COUNT(*) AS n FROM ops_incidents WHERE acked_at IS NULL AND count >= :threshold;

-- The job engine's SQL, by name: one Store method per query. Other areas keep theirs in
-- files of their own beside this one (gateway.sql, memory.sql).

-- name: insert_job
INSERT INTO jobs (backend, state, payload, input, priority, origin, trust, idempotency_key,
                  not_before, max_attempts, timeout_s, output_schema, name, reply_to, worker,
                  created_at, ready_at, pending_deps, idx)
VALUES (:backend, :state, :payload, :input, :priority, :origin, :trust, :idempotency_key,
        :not_before, :max_attempts, :timeout_s, :output_schema, :name, :reply_to, :worker,
        :created_at, :ready_at, :pending_deps, :idx)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id;

-- name: insert_jobs_bulk
-- Positional, in NewJob's field order: the bulk path binds tuples, a third cheaper than dicts.
INSERT INTO jobs (backend, state, payload, input, priority, origin, trust, idempotency_key,
                  not_before, max_attempts, timeout_s, output_schema, name, reply_to, worker,
                  created_at, ready_at, pending_deps, idx)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: job_id_by_key
SELECT id FROM jobs WHERE idempotency_key = :key;

-- name: insert_edge
INSERT INTO dependencies (child_id, parent_id, idx, name) VALUES (:child, :parent, :idx, :name);

-- name: insert_group
INSERT INTO promise_groups (job_id, kind) VALUES (:job_id, :kind);

-- name: group_kind
SELECT kind FROM promise_groups WHERE job_id = :id;

-- name: mark_group_settled
UPDATE promise_groups SET settled_at = :now WHERE job_id = :id;

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: list_jobs_by_created
SELECT * FROM jobs WHERE (:state IS NULL OR state = :state) ORDER BY id DESC LIMIT :limit;

-- name: list_jobs_by_priority
SELECT * FROM jobs WHERE (:state IS NULL OR state = :state)
ORDER BY priority, id DESC LIMIT :limit;

-- name: count_by_state
SELECT state, COUNT(*) AS n FROM jobs GROUP BY state;

-- name: candidates
SELECT * FROM (SELECT id, priority, ready_at FROM jobs WHERE state = 'ready' AND priority = 0
               ORDER BY ready_at, id LIMIT :n)
UNION ALL
SELECT * FROM (SELECT id, priority, ready_at FROM jobs WHERE state = 'ready' AND priority = 1
               ORDER BY ready_at, id LIMIT :n)
UNION ALL
SELECT * FROM (SELECT id, priority, ready_at FROM jobs WHERE state = 'ready' AND priority = 2
               ORDER BY ready_at, id LIMIT :n)
UNION ALL
SELECT * FROM (SELECT id, priority, ready_at FROM jobs WHERE state = 'ready' AND priority = 3
               ORDER BY ready_at, id LIMIT :n)
UNION ALL
SELECT * FROM (SELECT id, priority, ready_at FROM jobs WHERE state = 'ready' AND priority = 4
               ORDER BY ready_at, id LIMIT :n)
UNION ALL
SELECT * FROM (SELECT id, priority, ready_at FROM jobs WHERE state = 'ready' AND priority = 5
               ORDER BY ready_at, id LIMIT :n);

-- name: claim
UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = :now,
                lease_expires_at = :lease
WHERE id IN (SELECT value FROM json_each(:ids)) AND +state = 'ready'
RETURNING *;

-- name: insert_attempt
-- Positional, in Attempt's field order.
INSERT INTO attempts (job_id, number, started_at, finished_at, outcome, failure_class, error,
                      worker, run_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: attempts_of
SELECT * FROM attempts WHERE job_id = :job_id ORDER BY number, id;

-- name: finish_done
-- Positional: (result, finished_at, id).
UPDATE jobs SET state = 'done', result = ?, finished_at = ?, lease_expires_at = NULL
WHERE id = ?;

-- name: finish_job
UPDATE jobs SET state = :state, result = :result, error = :error, failure_class = :failure_class,
                finished_at = :now, lease_expires_at = NULL
WHERE id = :id;

-- name: retry_later
UPDATE jobs SET state = 'waiting', not_before = :not_before, error = :error,
                failure_class = :failure_class, lease_expires_at = NULL, ready_at = NULL
WHERE id = :id;

-- name: release
UPDATE jobs SET state = 'ready', attempts = MAX(attempts - 1, 0), ready_at = :now,
                lease_expires_at = NULL
WHERE id = :id AND state = 'running';

-- name: recover
UPDATE jobs SET state = 'ready', recoveries = recoveries + 1, ready_at = :now,
                lease_expires_at = NULL, error = :error, failure_class = 'crash'
WHERE id = :id AND state = 'running';

-- name: park
UPDATE jobs SET state = 'awaiting_approval', lease_expires_at = NULL, error = :reason
WHERE id = :id AND state = 'running';

-- name: approve
UPDATE jobs SET state = 'ready', ready_at = :now, error = NULL
WHERE id = :id AND state = 'awaiting_approval';

-- name: make_runnable
UPDATE jobs SET input = :input,
                state = CASE WHEN not_before <= :now THEN 'ready' ELSE 'waiting' END,
                ready_at = CASE WHEN not_before <= :now THEN :now ELSE NULL END
WHERE id = :id AND state = 'waiting';

-- name: promote_due
UPDATE jobs INDEXED BY jobs_due SET state = 'ready', ready_at = :now
WHERE state = 'waiting' AND pending_deps = 0 AND not_before <= :now
  AND input IS NOT NULL AND backend != 'group'
RETURNING id;

-- name: next_due
SELECT MIN(not_before) AS at FROM jobs INDEXED BY jobs_due
WHERE state = 'waiting' AND pending_deps = 0 AND input IS NOT NULL AND backend != 'group';

-- name: next_lease_expiry
SELECT MIN(lease_expires_at) AS at FROM jobs INDEXED BY jobs_lease WHERE state = 'running';

-- name: expired_leases
SELECT * FROM jobs INDEXED BY jobs_lease WHERE state = 'running' AND lease_expires_at < :now;

-- name: running_jobs
SELECT * FROM jobs INDEXED BY jobs_lease WHERE state = 'running';

-- name: extend_lease
UPDATE jobs SET lease_expires_at = :lease WHERE id = :id AND state = 'running';

-- name: request_cancel
UPDATE jobs SET cancel_requested = 1 WHERE id = :id;

-- name: cancel_requested_running
SELECT id FROM jobs INDEXED BY jobs_lease WHERE state = 'running' AND cancel_requested = 1;

-- name: children_of_many
SELECT d.child_id, d.parent_id, p.state FROM dependencies d JOIN jobs p ON p.id = d.parent_id
WHERE d.parent_id IN (SELECT value FROM json_each(:ids))
ORDER BY d.child_id;

-- name: decrement_pending
UPDATE jobs SET pending_deps = MAX(pending_deps - :n, 0) WHERE id = :id
RETURNING *;

-- name: parents
SELECT d.parent_id, d.idx, d.name, j.state, j.result, j.error, j.finished_at
FROM dependencies d JOIN jobs j ON j.id = d.parent_id
WHERE d.child_id = :id
ORDER BY d.idx, d.parent_id;

-- name: descendants
WITH RECURSIVE below (id) AS (
    SELECT child_id FROM dependencies WHERE parent_id = :id
    UNION
    SELECT dep.child_id FROM dependencies dep JOIN below ON dep.parent_id = below.id
)
SELECT jobs.* FROM jobs JOIN below ON jobs.id = below.id;

-- name: reset_for_retry
UPDATE jobs SET state = 'waiting', attempts = 0, recoveries = 0, result = NULL, error = NULL,
                failure_class = NULL, finished_at = NULL, started_at = NULL,
                cancel_requested = 0, not_before = :now, ready_at = NULL, lease_expires_at = NULL
WHERE id IN (SELECT value FROM json_each(:ids));

-- name: recount_pending
UPDATE jobs SET pending_deps = (
    SELECT COUNT(*) FROM dependencies d JOIN jobs p ON p.id = d.parent_id
    WHERE d.child_id = jobs.id AND p.state NOT IN ('done', 'failed', 'cancelled', 'dead'))
WHERE id IN (SELECT value FROM json_each(:ids));

-- name: outbox_add
INSERT INTO outbox (topic, address, payload, job_id, dedupe_key, created_at)
VALUES (:topic, :address, :payload, :job_id, :dedupe_key, :now)
ON CONFLICT (dedupe_key) DO NOTHING;

-- name: outbox_pending
SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT :limit;

-- name: outbox_mark_sent
UPDATE outbox SET sent_at = :now, tries = tries + 1 WHERE id = :id;

-- name: outbox_mark_failed
UPDATE outbox SET tries = tries + 1, last_error = :error WHERE id = :id;

-- name: effect_get
SELECT * FROM effects WHERE key = :key;

-- name: effect_start
INSERT INTO effects (key, job_id, state, ref, started_at)
VALUES (:key, :job_id, 'started', :ref, :now);

-- name: effect_done
UPDATE effects SET state = 'done', result = :result, finished_at = :now WHERE key = :key;

-- name: effect_fail
UPDATE effects SET state = 'failed', result = :result, finished_at = :now WHERE key = :key;

-- name: effect_drop
DELETE FROM effects WHERE key = :key AND state = 'started';

-- name: effects_clear_unfinished
DELETE FROM effects
WHERE job_id IN (SELECT value FROM json_each(:ids)) AND state != 'done';

-- name: effects_live_refs
SELECT ref FROM effects WHERE state != 'done' AND ref IS NOT NULL;

-- name: meta_get
SELECT value FROM meta WHERE key = :key;

-- name: meta_set
INSERT INTO meta (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

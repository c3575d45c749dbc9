-- Rhythms' SQL, by name: one RhythmRepo method per query (rhythms/repo.py).

-- name: rhythm_get
SELECT * FROM rhythms WHERE name = :name;

-- name: rhythm_list
SELECT * FROM rhythms ORDER BY name;

-- name: rhythm_insert
INSERT INTO rhythms (name, cron, tz, misfire, about, disabled, next_fire_at, created_at,
                     updated_at)
VALUES (:name, :cron, :tz, :misfire, :about, :disabled, :next_fire_at, :now, :now);

-- name: rhythm_redefine
UPDATE rhythms SET cron = :cron, tz = :tz, misfire = :misfire, about = :about,
    disabled = :disabled, next_fire_at = :next_fire_at, updated_at = :now
WHERE name = :name;

-- name: rhythm_due
SELECT * FROM rhythms
WHERE disabled IS NULL AND next_fire_at IS NOT NULL AND next_fire_at <= :now
ORDER BY next_fire_at, name;

-- name: rhythm_next_due
SELECT MIN(next_fire_at) FROM rhythms WHERE disabled IS NULL;

-- name: rhythm_advance
UPDATE rhythms SET next_fire_at = :next_fire_at, updated_at = :now
WHERE name = :name AND next_fire_at = :planned
RETURNING name;

-- name: rhythm_set_paused
UPDATE rhythms SET paused = :paused, next_fire_at = COALESCE(:next_fire_at, next_fire_at),
    updated_at = :now
WHERE name = :name
RETURNING name;

-- name: rhythm_decided
UPDATE rhythms SET fingerprint = :fingerprint, facts = :facts, last_slot = :slot,
    last_outcome = :outcome, last_run_at = :now, updated_at = :now
WHERE name = :name;

-- name: rhythm_ran
UPDATE rhythms SET last_slot = :slot, last_outcome = :outcome, last_run_at = :now,
    updated_at = :now
WHERE name = :name;

-- name: rhythm_run_add
INSERT INTO rhythm_runs (rhythm, slot, manual, outcome, reason, job_id, created_at)
VALUES (:rhythm, :slot, :manual, :outcome, :reason, :job_id, :now)
ON CONFLICT (rhythm, slot, manual) DO NOTHING
RETURNING id;

-- name: rhythm_run_finish
UPDATE rhythm_runs SET outcome = :outcome, reason = :reason, acted_jobs = :acted_jobs,
    finished_at = :now
WHERE job_id = :job_id;

-- name: rhythm_run_of_job
SELECT * FROM rhythm_runs WHERE job_id = :job_id;

-- name: rhythm_runs_recent
SELECT * FROM rhythm_runs WHERE (:rhythm IS NULL OR rhythm = :rhythm)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: rhythm_runs_since
SELECT * FROM rhythm_runs WHERE created_at >= :since ORDER BY created_at, id;

-- name: rhythm_missed_since
SELECT rhythm, COUNT(*) AS n, MAX(slot) AS last_slot FROM rhythm_runs
WHERE outcome = 'missed' AND created_at >= :since
GROUP BY rhythm ORDER BY rhythm;

-- name: rhythm_runs_prune
DELETE FROM rhythm_runs WHERE created_at < :before AND outcome != 'fired';

-- What the built-in rhythms gather (read only).

-- name: rhythm_jobs_finished
SELECT id, name, state, origin, error, failure_class, finished_at FROM jobs
WHERE finished_at >= :since AND finished_at < :until AND backend != 'group'
  AND NOT (backend = 'skill' AND name LIKE 'rhythm %')
  AND COALESCE(idempotency_key, '') NOT LIKE 'judge:%'
ORDER BY finished_at, id;

-- name: rhythm_jobs_due
SELECT id, name, backend, not_before FROM jobs
WHERE state = 'waiting' AND pending_deps = 0 AND not_before >= :start AND not_before < :end
ORDER BY not_before, id;

-- name: rhythm_jobs_stuck
SELECT id, name, state FROM jobs
WHERE (state = 'running' AND lease_expires_at < :now)
   OR (state = 'ready' AND ready_at < :ready_before)
ORDER BY id LIMIT 20;

-- name: rhythm_project_jobs
SELECT id, name, state, failure_class, error, created_at, finished_at,
       json_extract(payload, '$.project') AS project
FROM jobs
WHERE json_extract(payload, '$.project') IS NOT NULL
  AND (state NOT IN ('done', 'failed', 'cancelled', 'dead') OR finished_at >= :since)
ORDER BY id;

-- name: rhythm_failures_since
SELECT COALESCE(failure_class, 'other') AS failure, COUNT(*) AS n FROM jobs
WHERE state IN ('failed', 'dead') AND finished_at >= :since
GROUP BY failure ORDER BY n DESC, failure;

-- name: rhythm_memory_counts
SELECT (SELECT COUNT(*) FROM memories) AS memories,
       (SELECT COALESCE(MAX(id), 0) FROM memories) AS last_memory,
       (SELECT COALESCE(MAX(id), 0) FROM core_memory_history) AS last_core_edit;

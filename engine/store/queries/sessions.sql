-- Workers and the coding-agent sessions they hold, by name (see engine/workers/sessions.py).

-- name: sessions_worker_add
INSERT INTO workers (name, backend, model, persona, skills, persistent, config, project, created_at)
VALUES (:name, :backend, :model, :persona, :skills, :persistent, :config, :project, :now)
ON CONFLICT (name) DO NOTHING
RETURNING name;

-- name: sessions_worker_replace
INSERT INTO workers (name, backend, model, persona, skills, persistent, config, project, created_at)
VALUES (:name, :backend, :model, :persona, :skills, :persistent, :config, :project, :now)
ON CONFLICT (name) DO UPDATE SET backend = excluded.backend, model = excluded.model,
    persona = excluded.persona, skills = excluded.skills, persistent = excluded.persistent,
    config = excluded.config, project = excluded.project
RETURNING name;

-- name: sessions_worker_get
SELECT * FROM workers WHERE name = :name;

-- name: sessions_workers_of
SELECT w.*, EXISTS (SELECT 1 FROM sessions s WHERE s.worker = w.name AND s.state = 'busy') AS busy,
       (SELECT MAX(s.last_used_at) FROM sessions s WHERE s.worker = w.name) AS last_used_at
FROM workers w WHERE w.backend = :backend ORDER BY w.name;

-- name: sessions_workers_overview
-- Every worker with its live sessions, spend and what it runs now: busy sessions for the
-- coding agents, running jobs of its backend (or assigned to it) for the others.
SELECT w.*,
       (SELECT COUNT(*) FROM sessions s WHERE s.worker = w.name AND s.state != 'retired')
           AS sessions,
       (SELECT COALESCE(SUM(s.cost_usd), 0) FROM sessions s WHERE s.worker = w.name) AS cost_usd,
       (SELECT MAX(s.last_used_at) FROM sessions s WHERE s.worker = w.name) AS last_used_at,
       CASE WHEN w.backend IN ('claude_code', 'codex')
            THEN (SELECT COUNT(*) FROM sessions s WHERE s.worker = w.name AND s.state = 'busy')
            ELSE (SELECT COUNT(*) FROM jobs j WHERE j.state = 'running'
                  AND (j.worker = w.name OR (j.worker IS NULL AND j.backend = w.backend)))
       END AS running
FROM workers w ORDER BY w.name;

-- name: sessions_worker_remove
DELETE FROM workers WHERE name = :name;

-- name: sessions_drop_of_worker
DELETE FROM sessions WHERE worker = :name;

-- name: sessions_of_backend
SELECT * FROM sessions WHERE backend = :backend AND state != 'retired';

-- name: sessions_get
SELECT * FROM sessions WHERE id = :id OR external_id = :id ORDER BY id = :id DESC LIMIT 1;

-- name: sessions_list
SELECT * FROM sessions WHERE state != 'retired' OR :all ORDER BY last_used_at DESC LIMIT :limit;

-- name: sessions_insert
INSERT INTO sessions (id, worker, backend, project, external_id, state, job_id, summary,
                      compacted_from, created_at, last_used_at)
VALUES (:id, :worker, :backend, :project, NULL, 'busy', :job_id, :summary, :compacted_from,
        :now, :now);

-- name: sessions_hold
UPDATE sessions SET state = 'busy', job_id = :job_id WHERE id = :id AND state = 'idle';

-- name: sessions_release_stale
-- Sessions held by this job's earlier attempt, or by a job that is no longer alive.
UPDATE sessions SET state = 'idle', job_id = NULL
WHERE state = 'busy' AND (job_id IS NULL OR job_id = :job_id OR NOT EXISTS (
    SELECT 1 FROM jobs j WHERE j.id = sessions.job_id
    AND j.state IN ('waiting', 'ready', 'running', 'awaiting_approval')));

-- name: sessions_release
UPDATE sessions SET state = 'idle', job_id = NULL WHERE id = :id AND state = 'busy';

-- name: sessions_record_turn
-- Count one answered run, once: a harvest repeated after a crash finds last_run set.
UPDATE sessions SET state = CASE WHEN state = 'busy' THEN 'idle' ELSE state END, job_id = NULL,
    external_id = COALESCE(:external_id, external_id), turns = turns + 1,
    reuse_count = reuse_count + :reused, size_tokens = size_tokens + :growth,
    cost_usd = cost_usd + :cost_usd, summary = NULL, last_used_at = :now, last_run = :run
WHERE id = :id AND (last_run IS NULL OR last_run != :run);

-- name: sessions_retire
UPDATE sessions SET state = 'retired', job_id = NULL, closed_reason = :reason WHERE id = :id;

-- name: sessions_mark_started
UPDATE sessions SET turns = MAX(turns, 1), external_id = COALESCE(external_id, :external_id)
WHERE id = :id;

-- name: sessions_oversize
UPDATE sessions SET size_tokens = MAX(size_tokens, :size_tokens) WHERE id = :id;

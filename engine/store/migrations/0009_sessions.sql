-- Workers and sessions: a worker's project, and what routing needs to know about each session.
-- (No semicolons inside comments: the migration runner splits statements on them.)

-- A path or a name: routing sends the project's jobs to this worker. NULL: a general worker.
ALTER TABLE workers ADD COLUMN project TEXT;

-- The job holding the session while it is busy.
ALTER TABLE sessions ADD COLUMN job_id INTEGER;
-- Runs the CLI answered in this session, and the tokens it has taken in so far.
ALTER TABLE sessions ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN size_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
-- Carried from a compacted predecessor and sent with the first turn.
ALTER TABLE sessions ADD COLUMN summary TEXT;
ALTER TABLE sessions ADD COLUMN compacted_from TEXT;
-- The run last counted, so that a harvest repeated after a crash counts once.
ALTER TABLE sessions ADD COLUMN last_run TEXT;
ALTER TABLE sessions ADD COLUMN closed_reason TEXT;

CREATE INDEX sessions_worker ON sessions (worker, state, last_used_at);
CREATE INDEX sessions_external ON sessions (external_id) WHERE external_id IS NOT NULL;

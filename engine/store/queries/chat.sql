-- Chat's conversation history, read back from the chat jobs themselves (no table of its own).

-- name: chat_history
-- The latest answered chat jobs on one address, newest first: only jobs after :since (a fresh
-- start) and among the last :scan jobs, so the scan stays short however many jobs there are.
SELECT payload, result FROM jobs
WHERE id > max(:since, (SELECT coalesce(max(id), 0) FROM jobs) - :scan)
  AND reply_to = :address AND name = :name AND state = 'done'
ORDER BY id DESC
LIMIT :limit;

-- name: chat_last_job
SELECT coalesce(max(id), 0) AS id FROM jobs;

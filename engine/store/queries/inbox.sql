-- The DATA inbox, by name: items filed from outside, each with its triage job.

-- name: inbox_add
INSERT INTO inbox (kind, source, request_key, origin, subject, filename, mime, body,
                   size_bytes, provenance, created_at)
VALUES (:kind, :source, :request_key, :origin, :subject, :filename, :mime, :body,
        :size_bytes, :provenance, :now)
ON CONFLICT (request_key) DO NOTHING
RETURNING id;

-- name: inbox_by_key
SELECT id, job_id FROM inbox WHERE request_key = :request_key;

-- name: inbox_set_job
UPDATE inbox SET job_id = :job_id WHERE id = :id;

-- name: inbox_get
SELECT * FROM inbox WHERE id = :id;

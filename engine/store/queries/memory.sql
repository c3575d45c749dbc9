
-- Core memory's history (memory/core.py) ------------------------------------------------------

-- name: core_history_add
INSERT INTO core_memory_history (op, before, after, reason, source, created_at)
VALUES (:op, :before, :after, :reason, :source, :now)
RETURNING id;

-- name: core_history_last
SELECT id, op, before, after, reason, source, created_at
FROM core_memory_history ORDER BY id DESC LIMIT 1;

-- name: core_history_get
SELECT id, op, before, after, reason, source, created_at
FROM core_memory_history WHERE id = :id;

-- name: core_history_list
SELECT id, op, before, after, reason, source, created_at
FROM core_memory_history ORDER BY id DESC LIMIT :limit;

-- Archival memories (memory/records.py) ----------------------------------------------------------
-- Rows are written once; only valid_to/superseded_by (set once), importance (raised) and the
-- recall counters change. Lists of ids and hashes are bound as JSON arrays.

-- name: memory_insert
INSERT INTO memories (category, text, text_hash, importance, source, trust, created_at)
VALUES (:category, :text, :text_hash, :importance, :source, :trust, :created_at)
RETURNING id;

-- name: memory_insert_bulk
-- Positional, for the bulk path: (category, text, text_hash, importance, source, trust, created_at).
INSERT INTO memories (category, text, text_hash, importance, source, trust, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: memory_max_id
SELECT COALESCE(MAX(id), 0) FROM memories;

-- name: memory_get
SELECT id, category, text, importance, source, trust, created_at, valid_to, superseded_by,
       recall_count, last_recalled
FROM memories WHERE id = :id;

-- name: memory_get_many
SELECT id, category, text, importance, source, trust, created_at, valid_to, superseded_by,
       recall_count, last_recalled
FROM memories WHERE id IN (SELECT value FROM json_each(:ids));

-- name: memory_live_by_hashes
SELECT id, text_hash FROM memories
WHERE valid_to IS NULL AND text_hash IN (SELECT value FROM json_each(:hashes));

-- name: memory_supersede
UPDATE memories SET valid_to = :now, superseded_by = :by
WHERE id = :id AND valid_to IS NULL
RETURNING id;

-- name: memory_forget
UPDATE memories SET valid_to = :now WHERE id = :id AND valid_to IS NULL
RETURNING id;

-- name: memory_raise_importance
UPDATE memories SET importance = MAX(importance, MIN(1.0, :importance)) WHERE id = :id;

-- name: memory_recalled
UPDATE memories SET recall_count = recall_count + 1, last_recalled = :now WHERE id = :id;

-- name: memory_count_live
SELECT COUNT(*) FROM memories WHERE valid_to IS NULL;

-- name: memory_live_ids
SELECT id FROM memories WHERE valid_to IS NULL ORDER BY id;

-- name: memory_live_page
SELECT id, category, text FROM memories
WHERE valid_to IS NULL AND id > :after ORDER BY id LIMIT :limit;

-- name: memory_recent
SELECT id, category, text, importance, source, trust, created_at, valid_to, superseded_by,
       recall_count, last_recalled
FROM memories WHERE valid_to IS NULL ORDER BY created_at DESC, id DESC LIMIT :limit;

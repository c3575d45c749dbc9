-- Skills: the trust gate's approvals and the job tools' spawn limits, by name.

-- name: skills_card_ids_of_job
SELECT id FROM decision_cards WHERE job_id = :job_id ORDER BY id;

-- name: skills_spawn_get
SELECT parent_id, depth, kind FROM skill_spawns WHERE child_id = :child_id;

-- name: skills_spawn_count
SELECT COUNT(*) FROM skill_spawns WHERE parent_id = :parent_id AND kind = 'spawn';

-- name: skills_spawn_add
INSERT OR IGNORE INTO skill_spawns (child_id, parent_id, depth, kind, created_at)
VALUES (:child_id, :parent_id, :depth, :kind, :now);

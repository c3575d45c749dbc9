-- Migration 0011_skills: who made which job through a skill, for the spawn limits.
-- A 'spawn' row is a job a skill started (sub-job or pipeline step), one level deeper than the
-- job that started it; a 'proxy' row is an action the trust gate parked for the owner's
-- approval on behalf of the job that asked, at that job's own depth.

CREATE TABLE skill_spawns (
    child_id   INTEGER PRIMARY KEY REFERENCES jobs (id),
    parent_id  INTEGER NOT NULL REFERENCES jobs (id),
    depth      INTEGER NOT NULL CHECK (depth >= 0),
    kind       TEXT    NOT NULL CHECK (kind IN ('spawn', 'proxy')),
    created_at REAL    NOT NULL
);
CREATE INDEX skill_spawns_parent ON skill_spawns (parent_id, kind);

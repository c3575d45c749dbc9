-- Decision cards, by name.

-- name: card_open
INSERT INTO decision_cards (job_id, question, choices, urgent, created_at, expires_at)
VALUES (:job_id, :question, :choices, :urgent, :now, :expires_at)
RETURNING *;

-- name: card_get
SELECT * FROM decision_cards WHERE id = :id;

-- name: card_resolve
-- Exactly once: only an open, unexpired card changes; a second tap finds nothing to change.
UPDATE decision_cards SET state = 'resolved', choice = :choice, resolved_at = :now
WHERE id = :id AND state = 'open' AND (expires_at IS NULL OR expires_at > :now)
RETURNING *;

-- name: card_expire_due
UPDATE decision_cards SET state = 'expired', resolved_at = :now
WHERE state = 'open' AND expires_at IS NOT NULL AND expires_at <= :now
RETURNING *;

-- name: card_shown
UPDATE decision_cards SET message_ref = :message_ref WHERE id = :id;

-- name: cards_open
SELECT * FROM decision_cards WHERE state = 'open' ORDER BY urgent DESC, id;

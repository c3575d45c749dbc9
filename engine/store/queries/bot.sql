-- The bot's rows, by name: handled updates, outbox delivery state (the inbox is in inbox.sql).

-- name: bot_update_known
SELECT 1 FROM bot_updates WHERE update_id = :update_id;

-- name: bot_update_handled
INSERT INTO bot_updates (update_id, seen_at) VALUES (:update_id, :now)
ON CONFLICT (update_id) DO NOTHING;

-- name: bot_updates_prune
DELETE FROM bot_updates WHERE seen_at < :before;

-- name: bot_outbox_due
-- Unsent rows for the channels this process serves (a row without an address goes home),
-- not waiting on a backoff, quiet hours or a blocked bot, and not given up.
SELECT o.id, o.topic, o.address, o.payload, o.job_id, o.created_at, o.tries,
       COALESCE(d.parts_sent, 0) AS parts_sent, COALESCE(d.failures, 0) AS failures
FROM outbox o LEFT JOIN bot_deliveries d ON d.outbox_id = o.id
WHERE o.sent_at IS NULL
  AND d.gave_up_at IS NULL
  AND (d.next_try_at IS NULL OR d.next_try_at <= :now)
  AND (CASE WHEN o.address IS NULL THEN :home_kind
            ELSE substr(o.address, 1, instr(o.address || ':', ':') - 1) END)
      IN (SELECT value FROM json_each(:kinds))
ORDER BY o.id LIMIT :limit;

-- name: bot_delivery_upsert
INSERT INTO bot_deliveries (outbox_id, parts_sent, failures, next_try_at, blocked, gave_up_at,
                            reason)
VALUES (:id, :parts_sent, :failures, :next_try_at, :blocked, :gave_up_at, :reason)
ON CONFLICT (outbox_id) DO UPDATE SET
    parts_sent = excluded.parts_sent, failures = excluded.failures,
    next_try_at = excluded.next_try_at, blocked = excluded.blocked,
    gave_up_at = excluded.gave_up_at, reason = excluded.reason;

-- name: bot_deliveries_unblock
-- The owner wrote to the bot: it is not blocked any more, so waiting rows go now.
UPDATE bot_deliveries SET blocked = 0, next_try_at = :now WHERE blocked = 1
RETURNING outbox_id;

-- name: bot_outbox_counts
-- Over unsent rows only (a partial index holds them): waiting, given up, blocked.
SELECT
    COUNT(*) FILTER (WHERE d.gave_up_at IS NULL) AS pending,
    COUNT(*) FILTER (WHERE d.gave_up_at IS NOT NULL) AS given_up,
    COUNT(*) FILTER (WHERE d.blocked = 1) AS blocked
FROM outbox o LEFT JOIN bot_deliveries d ON d.outbox_id = o.id
WHERE o.sent_at IS NULL;

-- name: bot_parked_without_card
-- Jobs parked for the owner's approval that no open card asks about yet.
SELECT j.id, j.error FROM jobs j
WHERE j.state = 'awaiting_approval'
  AND NOT EXISTS (SELECT 1 FROM decision_cards c WHERE c.job_id = j.id AND c.state = 'open')
ORDER BY j.id LIMIT :limit;

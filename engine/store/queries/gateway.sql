-- The model gateway's SQL, by name: one GatewayRepo method per query.

-- name: gateway_reserve
-- A paid call's row, written only if today's settled and reserved spend plus this reservation
-- stays within the cap: one statement, so concurrent calls cannot overshoot together.
INSERT INTO model_calls (job_id, provider, model, tier, priority, reserved_usd, outcome,
                         created_at)
SELECT :job_id, :provider, :model, :tier, :priority, :reserved_usd, 'pending', :now
WHERE (SELECT COALESCE(SUM(cost_usd + reserved_usd), 0) FROM model_calls
       WHERE created_at >= :day_start) + :reserved_usd <= :cap_usd
RETURNING id;

-- name: gateway_open_call
INSERT INTO model_calls (job_id, provider, model, tier, priority, reserved_usd, outcome,
                         created_at)
VALUES (:job_id, :provider, :model, :tier, :priority, 0, 'pending', :now)
RETURNING id;

-- name: gateway_settle
UPDATE model_calls
SET input_tokens = :input_tokens, output_tokens = :output_tokens,
    cached_tokens = :cached_tokens, cache_write_tokens = :cache_write_tokens,
    latency_ms = :latency_ms, cost_usd = :cost_usd, reserved_usd = 0, outcome = :outcome,
    error = :error, finished_at = :now
WHERE id = :id;

-- name: gateway_spend_since
SELECT COALESCE(SUM(cost_usd), 0) AS settled, COALESCE(SUM(reserved_usd), 0) AS reserved
FROM model_calls WHERE created_at >= :since;

-- name: gateway_health_all
SELECT target, phase, failures, opened, until, rate_limited_until FROM breakers;

-- name: gateway_health_of
SELECT target, phase, failures, opened, until, rate_limited_until FROM breakers
WHERE target = :target;

-- name: gateway_save_health
INSERT INTO breakers (target, phase, failures, opened, until, rate_limited_until, updated_at)
VALUES (:target, :phase, :failures, :opened, :until, :rate_limited_until, :now)
ON CONFLICT (target) DO UPDATE SET
    phase = excluded.phase, failures = excluded.failures, opened = excluded.opened,
    until = excluded.until, rate_limited_until = excluded.rate_limited_until,
    updated_at = excluded.updated_at;

-- name: gateway_add_event
INSERT INTO breaker_events (target, from_state, to_state, until, reason, created_at)
VALUES (:target, :from_state, :to_state, :until, :reason, :now);

-- name: gateway_events_since
SELECT target, from_state, to_state, until, reason, created_at FROM breaker_events
WHERE created_at >= :since ORDER BY id;

-- name: gateway_calls_since
SELECT * FROM model_calls WHERE created_at >= :since ORDER BY id;

-- name: gateway_calls_of_job
SELECT * FROM model_calls WHERE job_id = :job_id ORDER BY id;

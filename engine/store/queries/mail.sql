-- Outgoing e-mail and known correspondents, by name.

-- name: mail_add
INSERT INTO outgoing_mail (request_key, message_id, sender, to_addrs, cc_addrs, subject, body,
                           risk, risk_reason, review, send_at, asked_by, created_at)
VALUES (:request_key, :message_id, :sender, :to_addrs, :cc_addrs, :subject, :body,
        :risk, :risk_reason, :review, :send_at, :asked_by, :now)
ON CONFLICT (request_key) DO NOTHING
RETURNING id;

-- name: mail_by_key
SELECT * FROM outgoing_mail WHERE request_key = :request_key;

-- name: mail_get
SELECT * FROM outgoing_mail WHERE id = :id;

-- name: mail_link
UPDATE outgoing_mail SET job_id = :job_id, card_id = :card_id WHERE id = :id;

-- name: mail_set_state
-- A mail that left never changes again.
UPDATE outgoing_mail
SET state = :state, error = :error,
    sent_at = CASE WHEN :state = 'sent' THEN :now ELSE sent_at END
WHERE id = :id AND state != 'sent'
RETURNING id;

-- name: mail_recent
SELECT m.*, j.state AS job_state FROM outgoing_mail m LEFT JOIN jobs j ON j.id = m.job_id
ORDER BY m.id DESC LIMIT :limit;

-- name: mail_contacts_known
SELECT address FROM mail_contacts WHERE address IN (SELECT value FROM json_each(:addresses));

-- name: mail_contact_sent
INSERT INTO mail_contacts (address, first_at, last_at) VALUES (:address, :now, :now)
ON CONFLICT (address) DO UPDATE SET last_at = excluded.last_at,
                                    sent_count = mail_contacts.sent_count + 1;

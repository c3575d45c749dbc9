"""Security: authority, risk, approvals, redaction, data marking."""

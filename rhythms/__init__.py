"""Rhythms: cron templates that gather, decide and act."""

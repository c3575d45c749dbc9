"""Steward's Telegram bot, console channel, CLI and the composition root."""

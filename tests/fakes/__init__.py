"""Fake LINE, Telegram and Twilio HTTP APIs for tests (real servers on loopback)."""

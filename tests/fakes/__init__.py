"""Fakes of the outside services, as real servers on loopback speaking their documented wire
formats: the LINE, Telegram and Twilio APIs, an SMTP server, a counter's webhook receiver and a
Rasa server, all on the one stack of tests/fakes/server.py."""

"""`python -m bot` runs the tsunagu command line."""

from bot.cli import app

app()

"""Replays each golden script through `tsunagu chat --script` at a fixed instant and prints
the transcripts; the golden test compares them with the stored ``*.out`` files.

Run as a subprocess (the real CLI, a fresh process) with ``TSUNAGU_DATABASE_URL`` set;
``python tests/bot/golden/run.py --update`` rewrites the ``*.out`` files.
"""

from __future__ import annotations

import contextlib
import io
import sys
from datetime import datetime, timezone
from pathlib import Path

import time_machine

GOLDEN_DIR = Path(__file__).resolve().parent
# A Saturday morning: counters are closed, so the "next opening" answer is exercised too.
FROZEN_AT = datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc)


def transcript(script: Path) -> str:
    from bot.cli import app

    first_line = script.read_text(encoding="utf-8").splitlines()[0]
    lang = first_line.removeprefix("# lang:").strip() if first_line.startswith("# lang:") else "ja"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            app(["chat", "--lang", lang, "--script", str(script)], standalone_mode=False)
        except SystemExit as exit_:
            if exit_.code:
                raise
    return out.getvalue()


def main() -> None:
    update = "--update" in sys.argv
    with time_machine.travel(FROZEN_AT, tick=True):
        for script in sorted(GOLDEN_DIR.glob("*.txt")):
            text = transcript(script)
            if update:
                script.with_suffix(".out").write_text(text, encoding="utf-8")
            sys.stdout.write(f"=== {script.name}\n{text}")


if __name__ == "__main__":
    main()

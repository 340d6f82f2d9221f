"""Golden transcripts: the README's conversations through `tsunagu chat --script`, byte for byte.

A restructure must not change what a resident reads. When a change of behaviour is
intended, regenerate with ``python tests/bot/golden/run.py --update`` (on a fresh
database, ``COLUMNS=200``) and review the diff of ``tests/bot/golden/*.out`` like code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import settings
from intents.classifier import get_classifier

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def _expected() -> str:
    return "".join(f"=== {out.with_suffix('.txt').name}\n{out.read_text(encoding='utf-8')}"
                   for out in sorted(GOLDEN_DIR.glob("*.out")))


@pytest.mark.slow
def test_readme_conversations_read_exactly_as_recorded(sqlite_url: str) -> None:
    get_classifier()  # the subprocess reuses the model trained for this test run
    env = {**os.environ, "TSUNAGU_DATABASE_URL": sqlite_url, "TSUNAGU_DATA_DIR": str(settings.data_dir),
           "COLUMNS": "200"}
    result = subprocess.run([sys.executable, str(GOLDEN_DIR / "run.py")], capture_output=True, text=True,
                            env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert len(list(GOLDEN_DIR.glob("*.out"))) == len(list(GOLDEN_DIR.glob("*.txt"))) >= 7
    assert result.stdout == _expected()

"""docs/phone.md is what docs/phone_tree.py writes from the code: the call tree, the keys and
the phrases documented are the ones the line has."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_docs_phone_md_is_generated_from_the_current_code() -> None:
    spec = importlib.util.spec_from_file_location("phone_tree", ROOT / "docs" / "phone_tree.py")
    assert spec is not None and spec.loader is not None
    phone_tree = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(phone_tree)
    assert (ROOT / "docs" / "phone.md").read_text(encoding="utf-8") == phone_tree.render(), \
        "docs/phone.md is stale: run python docs/phone_tree.py --write"

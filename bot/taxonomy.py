"""The fixed vocabulary of ../shared/TAXONOMY.md: intent and topic names, in one place.

domain.yml, the training data, the classifier and every command use exactly these.
Add a name here only after adding it to TAXONOMY.md.
"""

from __future__ import annotations

__all__ = ["INTENTS", "TOPICS", "COMPLEX_TOPIC", "DESK_TOPICS"]

INTENTS: tuple[str, ...] = (
    "ask_where",
    "report_worry",
    "report_missing",
    "report_sighting",
    "emergency",
    "register_helper",
    "register_person",
    "unsubscribe",
    "talk_to_human",
    "greet",
    "goodbye",
    "find_community",
    "out_of_scope",
)
TOPICS: tuple[str, ...] = (
    "elderly",
    "disability",
    "child",
    "child_abuse",
    "dv",
    "money",
    "mental",
    "hikikomori",
    "consumer",
    "complex",
)
COMPLEX_TOPIC = "complex"
DESK_TOPICS: tuple[str, ...] = ("watch", "missing", "emergency")
"""The topics of reports rather than questions (a worry, a missing person, an emergency):
in the directory and on cases, never predicted for ``ask_where``."""

"""Training and evaluation examples in Rasa NLU YAML, checked against the taxonomy (``bot.taxonomy``).

Files live under ``intents/data/<split>/`` and are named
``intents_<style>.yml`` or ``topics_<style>.yml``; the style is the filename
suffix. ``safety_<style>.<language>.yml`` files hold the safety model's own data
(emergencies, crises and hard negatives, each under its true intent); they are read
like the others. A file may also name its language, ``intents_<style>.<language>.yml``
(``ko``, ``zh-hant``…); without one it is Japanese, or English for the
``english`` style. An intent block may carry Rasa ``metadata: {safety: crisis}``
to mark messages that need crisis guidance (suicidal thoughts) although their
label is ``ask_where/mental``, or ``{safety: hard_negative}`` for messages that
sound dangerous but are not (a past illness, a TV drama, a description of a
frail person, a hypothetical), so that false alarms can be counted on them. ``ask_where`` examples use Rasa retrieval-intent names
(``ask_where/<topic>``), so a city that already runs Rasa can train on the same
files unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.taxonomy import INTENTS, TOPICS
from bot.yaml_files import load_yaml

__all__ = [
    "DATA_DIR",
    "ALL_STYLES",
    "SAFETY_MARKS",
    "SPLITS",
    "STYLES",
    "Example",
    "data_files",
    "data_hash",
    "load_examples",
    "load_split",
    "split_batches",
]


DATA_DIR = Path(__file__).resolve().parent / "data"

STYLES: tuple[str, ...] = ("standard", "kansai", "phone", "easy", "english")
"""The styles every training and evaluation split covers."""
ALL_STYLES: tuple[str, ...] = (*STYLES, "casual", "elderly", "dialect")
"""Also accepted: finer styles the blind split records (other dialects than Kansai, elderly speech)."""

Split = Literal["train", "eval", "blind"]
SPLITS: tuple[Split, ...] = ("train", "eval", "blind")
"""``blind`` was written from TAXONOMY.md alone, without seeing the other two (issue 12)."""

SAFETY_MARKS: tuple[str | None, ...] = (None, "crisis", "hard_negative")

_EXAMPLE_LINE_RE = re.compile(r"^\s*-\s?(.*)$")
# Rasa entity annotations: [北区](ward) or [北区]{"entity": "ward"} -> 北区.
_ENTITY_RE = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
_FILE_RE = re.compile(r"^(?:intents|topics|safety)_(?P<style>[a-z_]+)(?:\.(?P<language>[a-z]{2,3}(?:-[a-z]+)?))?\.ya?ml$")


@dataclass(frozen=True)
class Example:
    """One labelled message.

    Attributes:
        text: the message as a resident would write or say it.
        intent: a TAXONOMY intent.
        topic: the TAXONOMY topic for ``ask_where`` examples, else None.
        style: one of ``ALL_STYLES`` (from the filename).
        source: the file the example came from, for error messages.
        language: the message's language (from the filename; ``ja`` by default).
        safety: from the block's metadata: "crisis" (needs crisis guidance
            although its intent is not ``emergency``), "hard_negative" (sounds
            dangerous, is not) or None.
    """

    text: str
    intent: str
    topic: str | None
    style: str
    source: str
    language: str = "ja"
    safety: str | None = None


def data_files(split: Split, data_dir: Path = DATA_DIR, batch: str | None = None) -> list[Path]:
    """List the YAML files of one split, sorted so hashes and training are reproducible.

    A split may keep later batches in subfolders (``blind/batch3/``: written apart, so
    scored apart as well as with the rest).

    Args:
        split: "train", "eval" or "blind".
        data_dir: the folder holding the splits.
        batch: only the files of this subfolder (None: the split's own files and every batch's).

    Returns:
        The ``intents_*.yml``, ``topics_*.yml`` and ``safety_*.yml`` files of that split.

    Raises:
        ValueError: ``batch`` is not a subfolder of the split.
    """
    folder = data_dir / split
    if batch is not None:
        if batch not in split_batches(split, data_dir):
            known = ", ".join(split_batches(split, data_dir)) or "none"
            raise ValueError(f"no batch {batch!r} in intents/data/{split} (batches: {known})")
        folders = [folder / batch]
    elif folder.is_dir():
        folders = [folder, *(folder / name for name in split_batches(split, data_dir))]
    else:
        return []
    return sorted((p for f in folders for p in f.iterdir() if _FILE_RE.match(p.name)),
                  key=lambda p: p.relative_to(folder).as_posix())


def split_batches(split: Split, data_dir: Path = DATA_DIR) -> list[str]:
    """The names of a split's batch subfolders, sorted."""
    folder = data_dir / split
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _parse_label(name: str, source: str) -> tuple[str, str | None]:
    intent, _, topic = name.partition("/")
    if intent not in INTENTS:
        raise ValueError(f"{source}: unknown intent {name!r} (see TAXONOMY.md)")
    if topic:
        if intent != "ask_where" or topic not in TOPICS:
            raise ValueError(f"{source}: unknown retrieval intent {name!r} (see TAXONOMY.md)")
        return intent, topic
    return intent, None


def load_examples(path: Path) -> list[Example]:
    """Read one Rasa NLU YAML file.

    Args:
        path: a file named ``intents_<style>[.<language>].yml`` or ``topics_<style>[.<language>].yml``.

    Returns:
        Its examples, in file order.

    Raises:
        ValueError: the file name, an intent or a topic is not in the fixed vocabulary.
    """
    match = _FILE_RE.match(path.name)
    if match is None:
        raise ValueError(f"{path}: expected intents_<style>.yml or topics_<style>.yml")
    style = match.group("style")
    if style not in ALL_STYLES:
        raise ValueError(f"{path}: unknown style {style!r}; expected one of {ALL_STYLES}")
    language = match.group("language") or ("en" if style == "english" else "ja")
    document = load_yaml(path.read_text(encoding="utf-8")) or {}
    examples: list[Example] = []
    for block in document.get("nlu") or []:
        if "intent" not in block:
            continue  # synonyms, regexes and lookups carry no labelled examples
        intent, topic = _parse_label(str(block["intent"]), path.name)
        safety = (block.get("metadata") or {}).get("safety")
        if safety not in SAFETY_MARKS:
            raise ValueError(f"{path.name}: unknown safety metadata {safety!r}; expected one of {SAFETY_MARKS}")
        for line in str(block.get("examples") or "").splitlines():
            line_match = _EXAMPLE_LINE_RE.match(line)
            text = _ENTITY_RE.sub(r"\1", line_match.group(1)).strip() if line_match else ""
            if text:
                examples.append(Example(text, intent, topic, style, path.name, language, safety))
    return examples


def load_split(split: Split, data_dir: Path = DATA_DIR, batch: str | None = None) -> list[Example]:
    """Read every file of a split (or of one of its batches, see :func:`data_files`).

    Args:
        split: "train", "eval" or "blind".
        data_dir: the folder holding the splits.
        batch: only this batch subfolder's files.

    Returns:
        All examples of the split, files in sorted order.
    """
    return [example for path in data_files(split, data_dir, batch) for example in load_examples(path)]


def data_hash(paths: Iterable[Path], extra: Sequence[str] = ()) -> str:
    """Fingerprint training files (names and bytes) plus model settings.

    A saved model records this hash; when the data or the settings change the
    model is stale and is retrained.

    Args:
        paths: the training files.
        extra: further strings that change the model (backend, model version).

    Returns:
        A hex SHA-256 digest.
    """
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    for item in extra:
        digest.update(item.encode())
        digest.update(b"\0")
    return digest.hexdigest()

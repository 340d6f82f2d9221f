"""Features the classifier heads see, besides the sentence embedding.

* Character n-grams (TF-IDF) of the normalised text — robust to dialect
  endings, typos and speech-recognition spacing.
* Character n-grams of its kana reading — 「介護」 and やさしい日本語 「かいご」
  share them, which the surface n-grams cannot see. Readings come from
  SudachiPy with its small dictionary (Apache-2.0); without it, katakana are
  folded to hiragana only (the saved model records which reader it was
  trained with, so a mismatch retrains rather than mis-predicts).
* Lookup-table hits (``intents/data/lookups.yml``, Rasa's lookup format): one
  signal per table, matched in kanji, in kana reading and as English words.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from intents.data import DATA_DIR
from intents.normalize import katakana_to_hiragana

__all__ = ["LOOKUPS_PATH", "FeatureBuilder", "LookupTables", "reader_identity", "reading"]

logger = logging.getLogger(__name__)

LOOKUPS_PATH = DATA_DIR / "lookups.yml"

_KANJI_RE = re.compile(r"[\u3400-\u9fff々〆ヶ]")
_SPACES_RE = re.compile(r"\s+")
_ASCII_ENTRY_RE = re.compile(r"^[\x00-\x7f]+$")


@lru_cache(maxsize=1)
def _sudachi():  # noqa: ANN202 - the tokenizer type lives in an optional package
    try:
        # Optional backend with a large dictionary: loaded on the first reading, if installed.
        from sudachipy import Dictionary
    except ImportError:
        logger.warning("sudachipy is not installed: kana readings fall back to kana folding only")
        return None
    try:
        dictionary = Dictionary(dict="small")
    except Exception:  # noqa: BLE001 - a missing dictionary package raises several error types
        logger.warning("sudachidict-small is not installed: kana readings fall back to kana folding only")
        return None
    # SudachiPy 0.7 renamed create() to tokenizer().
    return dictionary.tokenizer() if hasattr(dictionary, "tokenizer") else dictionary.create()


def reader_identity() -> str:
    """Name the reading method in use; part of the saved model's hash."""
    return "sudachi-small" if _sudachi() is not None else "kana-fold"


@lru_cache(maxsize=4096)
def reading(text: str) -> str:
    """Hiragana reading of a normalised text, spaces removed.

    Only words containing kanji are replaced by their reading; kana, Latin
    letters and digits are kept as written (Sudachi would spell English words
    in katakana).

    Args:
        text: normalised text.

    Returns:
        The reading in hiragana, e.g. 「母の介護」 → 「ははのかいご」.
    """
    tokenizer = _sudachi()
    compact = _SPACES_RE.sub("", text)
    if tokenizer is None or not _KANJI_RE.search(compact):
        return katakana_to_hiragana(compact)
    parts = []
    for morpheme in tokenizer.tokenize(compact):
        surface = morpheme.surface()
        parts.append(morpheme.reading_form() if _KANJI_RE.search(surface) else surface)
    return katakana_to_hiragana("".join(parts))


@dataclass
class LookupTables:
    """Rasa-format lookup tables turned into one binary feature per table.

    Attributes:
        names: table names in feature order.
        japanese: per table, the kana-folded forms (surface and reading) of its Japanese entries.
        english: per table, one word-boundary regex of its ASCII entries (None if none).
    """

    names: list[str]
    japanese: list[list[str]] = field(default_factory=list)
    english: list[re.Pattern[str] | None] = field(default_factory=list)

    @classmethod
    def from_yaml(cls, path: Path = LOOKUPS_PATH) -> "LookupTables":
        """Read ``- lookup: NAME`` blocks of a Rasa NLU YAML file.

        Args:
            path: the lookup file.

        Returns:
            The tables, in file order.
        """
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        tables = cls(names=[])
        for block in document.get("nlu") or []:
            if "lookup" not in block:
                continue
            entries = [line.lstrip("- ").strip() for line in str(block.get("examples") or "").splitlines()]
            entries = [entry for entry in entries if entry]
            ascii_entries = [e.lower() for e in entries if _ASCII_ENTRY_RE.match(e)]
            japanese_forms: set[str] = set()
            for entry in entries:
                if not _ASCII_ENTRY_RE.match(entry):
                    japanese_forms.add(katakana_to_hiragana(entry.lower()))
                    japanese_forms.add(reading(entry.lower()))
            tables.names.append(str(block["lookup"]))
            tables.japanese.append(sorted(japanese_forms))
            tables.english.append(
                re.compile(r"\b(?:" + "|".join(map(re.escape, ascii_entries)) + r")\b") if ascii_entries else None
            )
        return tables

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Mark which tables have an entry in each text.

        Args:
            texts: normalised texts.

        Returns:
            A (len(texts), len(names)) float32 array of 0/1.
        """
        out = np.zeros((len(texts), len(self.names)), dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = text.lower()
            kana = katakana_to_hiragana(_SPACES_RE.sub("", lowered))
            read = reading(lowered)
            for col, (forms, english) in enumerate(zip(self.japanese, self.english, strict=True)):
                if any(form in kana or form in read for form in forms) or (english and english.search(lowered)):
                    out[row, col] = 1.0
        return out


@dataclass
class FeatureBuilder:
    """Fits the n-gram vocabularies and stacks every feature block.

    Attributes:
        embedding_weight: scale of the sentence embedding block relative to
            the unit-norm TF-IDF blocks.
        lookup_weight: scale of the lookup block.
    """

    embedding_weight: float = 1.0
    lookup_weight: float = 1.0
    lookups: LookupTables | None = None
    _surface: TfidfVectorizer | None = None
    _reading: TfidfVectorizer | None = None

    def fit(self, texts: Sequence[str]) -> "FeatureBuilder":
        """Learn the n-gram vocabularies from normalised training texts."""
        self._surface = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
        self._reading = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32)
        self._surface.fit(texts)
        self._reading.fit([reading(t) for t in texts])
        if self.lookups is None:
            self.lookups = LookupTables.from_yaml()
        return self

    def transform(self, texts: Sequence[str], embeddings: np.ndarray) -> sparse.csr_matrix:
        """Build the feature matrix.

        Args:
            texts: normalised texts.
            embeddings: their sentence embeddings, one row per text.

        Returns:
            A sparse (len(texts), n_features) matrix.
        """
        if self._surface is None or self._reading is None or self.lookups is None:
            raise RuntimeError("FeatureBuilder.transform called before fit")
        blocks = [
            self._surface.transform(texts),
            self._reading.transform([reading(t) for t in texts]),
            sparse.csr_matrix(self.lookups.transform(texts) * self.lookup_weight),
            sparse.csr_matrix(np.asarray(embeddings, dtype=np.float32) * self.embedding_weight),
        ]
        return sparse.hstack(blocks, format="csr")

"""Features the classifier heads see, besides the sentence embedding (no scikit-learn: light to load).

* Character n-grams (TF-IDF) of the normalised text — robust to dialect
  endings, typos and speech-recognition spacing.
* Character n-grams of its kana reading — 「介護」 and やさしい日本語 「かいご」
  share them, which the surface n-grams cannot see. Readings come from
  SudachiPy with its small dictionary (Apache-2.0); without it, katakana are
  folded to hiragana only (the saved model records which reader it was
  trained with, so a mismatch retrains rather than mis-predicts).
* Lookup-table hits (``intents/data/lookups.yml``, Rasa's lookup format): one
  signal per table, matched in kanji, in kana reading and as English words.

A message is *analysed* once (:func:`analyse`: its n-gram counts, reading and
lookup hits) whatever the number of heads; :class:`FeatureBuilder` maps an
analysis to sparse feature indices, so every head reads the same row. The
TF-IDF weighting is scikit-learn's (smooth idf, sublinear tf, l2 norm),
written out here so that classifying one message is a few dictionary look-ups
instead of a vectorizer call.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bot.yaml_files import load_yaml
from intents.data import DATA_DIR
from intents.normalize import katakana_to_hiragana

__all__ = [
    "LOOKUPS_PATH",
    "Analysis",
    "FeatureBuilder",
    "LookupTables",
    "NgramTfidf",
    "TrainingFold",
    "TrainingRows",
    "analyse",
    "reader_identity",
    "reading",
]

logger = logging.getLogger(__name__)

LOOKUPS_PATH = DATA_DIR / "lookups.yml"

_KANJI_RE = re.compile(r"[\u3400-\u9fff々〆ヶ]")
_SPACES_RE = re.compile(r"\s+")
_ASCII_ENTRY_RE = re.compile(r"^[\x00-\x7f]+$")
_SURFACE_NGRAMS = (1, 3)
_READING_NGRAMS = (2, 4)


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


def _char_ngrams(text: str, low: int, high: int) -> Counter[str]:
    # scikit-learn's "char" analyzer: whitespace runs folded to one space first.
    text = _SPACES_RE.sub(" ", text)
    return Counter(text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1))


@dataclass
class LookupTables:
    """Rasa-format lookup tables turned into one binary feature per table.

    Attributes:
        names: table names in feature order.
        japanese: kana-folded form (surface or reading of a Japanese entry) → its tables.
        lengths: the distinct lengths of those forms, longest first.
        english: per table, one word-boundary regex of its ASCII entries (None if none).
    """

    names: list[str]
    japanese: dict[str, tuple[int, ...]] = field(default_factory=dict)
    lengths: tuple[int, ...] = ()
    english: list[re.Pattern[str] | None] = field(default_factory=list)

    @classmethod
    def from_yaml(cls, path: Path = LOOKUPS_PATH) -> "LookupTables":
        """Read ``- lookup: NAME`` blocks of a Rasa NLU YAML file.

        Args:
            path: the lookup file.

        Returns:
            The tables, in file order.
        """
        document = load_yaml(path.read_text(encoding="utf-8")) or {}
        tables = cls(names=[])
        japanese: dict[str, set[int]] = {}
        for block in document.get("nlu") or []:
            if "lookup" not in block:
                continue
            column = len(tables.names)
            entries = [line.lstrip("- ").strip() for line in str(block.get("examples") or "").splitlines()]
            entries = [entry for entry in entries if entry]
            ascii_entries = [e.lower() for e in entries if _ASCII_ENTRY_RE.match(e)]
            for entry in entries:
                if not _ASCII_ENTRY_RE.match(entry):
                    for form in (katakana_to_hiragana(entry.lower()), reading(entry.lower())):
                        if form:
                            japanese.setdefault(form, set()).add(column)
            tables.names.append(str(block["lookup"]))
            tables.english.append(
                re.compile(r"\b(?:" + "|".join(map(re.escape, ascii_entries)) + r")\b") if ascii_entries else None
            )
        tables.japanese = {form: tuple(sorted(columns)) for form, columns in japanese.items()}
        tables.lengths = tuple(sorted({len(form) for form in japanese}, reverse=True))
        return tables

    def hits(self, lowered: str, kana: str, read: str) -> tuple[int, ...]:
        """The tables with an entry in one text.

        Args:
            lowered: the normalised text in lower case (for English words).
            kana: it without spaces, katakana folded to hiragana.
            read: its reading (:func:`reading`).

        Returns:
            Sorted table indices.
        """
        found: set[int] = set()
        # Every substring of a form's length is looked up: a few hundred dict probes,
        # far cheaper than testing each of the ~1,500 forms with `in`.
        for text in (kana, read) if read != kana else (kana,):
            size = len(text)
            for start in range(size):
                for length in self.lengths:
                    if start + length <= size:
                        columns = self.japanese.get(text[start : start + length])
                        if columns:
                            found.update(columns)
        for column, english in enumerate(self.english):
            if english is not None and column not in found and english.search(lowered):
                found.add(column)
        return tuple(sorted(found))

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Mark which tables have an entry in each text.

        Args:
            texts: normalised texts.

        Returns:
            A (len(texts), len(names)) float32 array of 0/1.
        """
        out = np.zeros((len(texts), len(self.names)), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, list(analyse(text, self).lookups)] = 1.0
        return out


@dataclass(frozen=True)
class Analysis:
    """What the features of one message are computed from, computed once for every head.

    Attributes:
        surface: character n-gram counts of the lower-cased text.
        reading: character n-gram counts of its kana reading.
        lookups: indices of the lookup tables with an entry in it.
    """

    surface: Counter[str]
    reading: Counter[str]
    lookups: tuple[int, ...]


def analyse(text: str, lookups: LookupTables) -> Analysis:
    """Analyse one normalised text (the reading is computed once, for n-grams and lookups)."""
    lowered = text.lower()
    read = reading(lowered)
    kana = katakana_to_hiragana(_SPACES_RE.sub("", lowered))
    return Analysis(
        _char_ngrams(lowered, *_SURFACE_NGRAMS),
        _char_ngrams(read, *_READING_NGRAMS),
        lookups.hits(lowered, kana, read),
    )


@dataclass
class NgramTfidf:
    """A fitted n-gram vocabulary with its inverse document frequencies.

    Attributes:
        vocabulary: n-gram → column.
        idf: smoothed idf per column, as scikit-learn computes it.
    """

    vocabulary: dict[str, int]
    idf: np.ndarray

    def row(self, counts: Counter[str]) -> tuple[list[int], np.ndarray]:
        """Columns and l2-normalised sublinear tf-idf values of one document."""
        columns, tf = [], []
        for gram, count in counts.items():
            column = self.vocabulary.get(gram)
            if column is not None:
                columns.append(column)
                tf.append(1.0 + math.log(count) if count > 1 else 1.0)
        if not columns:
            return columns, np.zeros(0, dtype=np.float32)
        values = np.asarray(tf, dtype=np.float32) * self.idf[columns]
        return columns, values / np.float32(np.sqrt(float(values @ values)))


@dataclass
class FeatureBuilder:
    """Maps analyses to one feature row shared by every head.

    Columns: surface n-grams | reading n-grams | lookup tables | sentence embedding.
    Heads weight the lookup block differently; that weight is folded into their
    coefficients (a linear model cannot tell ``w * x`` times ``b`` from ``x``
    times ``w * b``), so the row itself carries the plain 0/1 hits.

    Attributes:
        lookups: the lookup tables.
        surface: the fitted surface vocabulary.
        reading: the fitted reading vocabulary.
    """

    lookups: LookupTables
    surface: NgramTfidf
    reading: NgramTfidf

    @property
    def sparse_width(self) -> int:
        """Number of columns before the embedding block."""
        return len(self.surface.vocabulary) + len(self.reading.vocabulary) + len(self.lookups.names)

    def lookup_columns(self) -> slice:
        """Where the lookup block sits."""
        end = self.sparse_width
        return slice(end - len(self.lookups.names), end)

    def sparse_row(self, analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and values of the n-gram and lookup blocks of one message."""
        surface_columns, surface_values = self.surface.row(analysis.surface)
        reading_columns, reading_values = self.reading.row(analysis.reading)
        offset = len(self.surface.vocabulary)
        lookup_offset = offset + len(self.reading.vocabulary)
        columns = np.array(
            [*surface_columns, *(offset + c for c in reading_columns), *(lookup_offset + c for c in analysis.lookups)],
            dtype=np.int64,
        )
        values = np.concatenate([surface_values, reading_values, np.ones(len(analysis.lookups), dtype=np.float32)])
        return columns, values


class _NumberedNgrams:
    """The n-grams of many documents numbered once, as a (documents × n-grams) sublinear-tf matrix."""

    def __init__(self, counts: Sequence[Counter[str]]) -> None:
        from scipy import sparse

        grams = sorted({gram for document in counts for gram in document})
        number = {gram: i for i, gram in enumerate(grams)}
        lengths = np.fromiter((len(document) for document in counts), dtype=np.int64, count=len(counts))
        columns = np.fromiter((number[gram] for document in counts for gram in document), dtype=np.int64)
        frequencies = np.fromiter((n for document in counts for n in document.values()), dtype=np.float64)
        # NgramTfidf.row's sublinear tf: 1 + log(count)
        tf = 1.0 + np.log(frequencies)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        self.grams = np.array(grams, dtype=object)
        self.tf = sparse.csr_matrix((tf, columns, indptr), shape=(len(counts), len(grams)))

    def fit(self, rows: np.ndarray) -> tuple[NgramTfidf, np.ndarray]:
        """The vocabulary (every n-gram of these documents, sorted) and smoothed idf, as
        scikit-learn's TfidfVectorizer learns them, and the n-grams it kept (by number)."""
        documents = np.bincount(self.tf[rows].indices, minlength=len(self.grams))
        kept = np.flatnonzero(documents)
        idf = np.log((1 + len(rows)) / (1 + documents[kept])) + 1.0
        vocabulary = dict(zip(self.grams[kept].tolist(), range(len(kept)), strict=True))
        return NgramTfidf(vocabulary, idf.astype(np.float32)), kept

    def block(self, rows: np.ndarray, tfidf: NgramTfidf, kept: np.ndarray) -> Any:
        """The l2-normalised tf-idf rows ``NgramTfidf.row`` gives these documents, as a CSR matrix."""
        from scipy import sparse

        block = self.tf[rows][:, kept] @ sparse.diags(tfidf.idf.astype(np.float64))
        norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
        return sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ block


class TrainingRows:
    """Analysed training texts, their n-grams numbered once, for the feature builder and matrix
    of every fold (and of all rows, for the final fits): array operations instead of a
    dictionary look-up per n-gram and row (~2 s a fold on two cores).

    Args:
        analyses: one per training text.
        lookups: the lookup tables they were analysed with.
    """

    def __init__(self, analyses: Sequence[Analysis], lookups: LookupTables) -> None:
        self.lookups = lookups
        self._surface = _NumberedNgrams([a.surface for a in analyses])
        self._reading = _NumberedNgrams([a.reading for a in analyses])
        self._hits = [a.lookups for a in analyses]

    def fold(self, train: np.ndarray) -> TrainingFold:
        """The feature builder fitted on the rows ``train`` (their n-grams and idf)."""
        surface, surface_kept = self._surface.fit(train)
        reading_, reading_kept = self._reading.fit(train)
        return TrainingFold(FeatureBuilder(self.lookups, surface, reading_), self, surface_kept, reading_kept)

    def matrix(self, fold: TrainingFold, rows: np.ndarray, embeddings: np.ndarray) -> Any:
        """The rows' features under ``fold``'s builder: a (rows, sparse_width + embedding dim)
        CSR matrix, each row what ``fold.builder.sparse_row`` and the embedding give."""
        from scipy import sparse

        hits = np.zeros((len(rows), len(self.lookups.names)))
        for row, index in enumerate(rows):
            hits[row, list(self._hits[index])] = 1.0
        blocks = [
            self._surface.block(rows, fold.builder.surface, fold.surface_kept),
            self._reading.block(rows, fold.builder.reading, fold.reading_kept),
            sparse.csr_matrix(hits),
            sparse.csr_matrix(np.asarray(embeddings, dtype=np.float32)),
        ]
        return sparse.hstack(blocks, format="csr", dtype=np.float32)


@dataclass
class TrainingFold:
    """A builder fitted on some training rows (and which n-grams, by number, it kept)."""

    builder: FeatureBuilder
    rows: TrainingRows
    surface_kept: np.ndarray
    reading_kept: np.ndarray

    def matrix(self, rows: np.ndarray, embeddings: np.ndarray) -> Any:
        """The feature matrix of these training rows under this builder (``embeddings``: theirs)."""
        return self.rows.matrix(self, rows, embeddings)

"""The shared feature row and the heads' fast path: the same numbers as the matrices training sees."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from intents.classification import UrgencyThresholds
from intents.features import LookupTables, TrainingRows, analyse, reading
from intents.model import Head, TrainedModel, TrainReport, UrgencyHead, _final_fit, _Job, _kept_columns
from intents.normalize import katakana_to_hiragana

TEXTS = [
    "母の介護のことで相談したい",
    "家賃が払えない",
    "おかあさん の かいご そうだん したい です",
    "My mother has dementia and I need help",
    "隣の人が倒れて動かない",
    "介護保険の申請はどこでできますか",
]
UNSEEN = ["父の介護がつらい", "rent is too high", "ｘｙｚ", "介護 介護 介護"]


@pytest.mark.parametrize(("block", "ngrams", "view"), [
    ("surface", (1, 3), str.lower),
    ("reading", (2, 4), lambda text: reading(text.lower())),
])
def test_tfidf_rows_equal_scikit_learns_vectorizer(block: str, ngrams: tuple[int, int], view: Any) -> None:
    tables = LookupTables.from_yaml()
    rows = TrainingRows([analyse(t, tables) for t in [*TEXTS, *UNSEEN]], tables)
    ours = getattr(rows.fold(np.arange(len(TEXTS))).builder, block)
    reference = TfidfVectorizer(analyzer="char", ngram_range=ngrams, sublinear_tf=True).fit([view(t) for t in TEXTS])
    assert ours.vocabulary == reference.vocabulary_
    expected = reference.transform([view(t) for t in UNSEEN]).toarray()
    for row, text in enumerate(UNSEEN):
        columns, values = ours.row(getattr(analyse(text, tables), block))
        dense = np.zeros(len(ours.vocabulary))
        dense[columns] = values
        np.testing.assert_allclose(dense, expected[row], atol=1e-6)


def test_lookup_hits_equal_testing_every_form() -> None:
    tables = LookupTables.from_yaml()
    for text in [*TEXTS, *UNSEEN, "認知症のははがいなくなった", "I want to stop the mails"]:
        lowered = text.lower()
        kana, read = katakana_to_hiragana(lowered.replace(" ", "")), reading(lowered)
        naive = {column for form, columns in tables.japanese.items() if form in kana or form in read
                 for column in columns}
        naive |= {column for column, english in enumerate(tables.english) if english and english.search(lowered)}
        assert set(analyse(text, tables).lookups) == naive, text


def test_the_fast_scores_equal_the_training_matrix_product() -> None:
    tables = LookupTables.from_yaml()
    rows = TrainingRows([analyse(t, tables) for t in [*TEXTS, *UNSEEN]], tables)
    fold = rows.fold(np.arange(len(TEXTS)))
    builder = fold.builder
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(UNSEEN), 8)).astype(np.float32)
    width = builder.sparse_width + 8
    weights = rng.normal(size=(width, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    report = TrainReport(0, 0, 0.0, 0.0, 0.0, {}, {}, 0.3, "hash")
    model = TrainedModel(
        builder, weights, bias, Head(["a", "b"], 0, 1.0), Head(["x"], 2, 1.0),
        UrgencyHead(3, 1.0, UrgencyThresholds(0.1, 0.5)), 0.3, "hash", "fake", report,
    )
    matrix = fold.matrix(np.arange(len(TEXTS), len(TEXTS) + len(UNSEEN)), embeddings)
    np.testing.assert_allclose(model.scores(UNSEEN, embeddings), matrix @ weights + bias, rtol=1e-5, atol=1e-5)
    predicted = model.predict(UNSEEN, embeddings)
    np.testing.assert_allclose(predicted.intent.sum(axis=1), 1.0, atol=1e-6)
    assert predicted.urgency.shape == (len(UNSEEN),) and ((predicted.urgency > 0) & (predicted.urgency < 1)).all()


def _rows_with(columns_per_row: list[list[int]], width: int) -> Any:
    from scipy import sparse

    matrix = np.zeros((len(columns_per_row), width), dtype=np.float32)
    for row, columns in enumerate(columns_per_row):
        matrix[row, columns] = 1.0
    return sparse.csr_matrix(matrix)


def test_the_intent_head_leaves_out_ngrams_of_few_messages_but_never_lookups_or_the_embedding() -> None:
    # Columns 0-2 n-grams (in 3, 2 and 1 rows), 3 a lookup (1 row), 4 the embedding (1 row).
    x = _rows_with([[0, 1, 2, 3, 4], [0, 1], [0]], 5)
    assert _kept_columns(x, slice(3, 4), 3).tolist() == [0, 3, 4]
    assert _kept_columns(x, slice(3, 4), 1).tolist() == [0, 1, 2, 3, 4]


def test_a_column_the_head_left_out_weighs_nothing_in_the_shared_row() -> None:
    rng = np.random.default_rng(1)
    labels = np.array(["a", "b", "c"] * 20)
    # Column 0 is a rare n-gram (one row); 1-3 n-grams that tell the classes apart; 4 a lookup.
    columns = [[1 + i % 3, 4] if i % 2 else [1 + i % 3] for i in range(len(labels))]
    columns[5].append(0)
    x = _rows_with(columns, 5)
    x.data += rng.normal(0, 0.01, x.nnz).astype(np.float32)
    job = _Job("intent", None, x, labels, slice(4, 5), params=(10.0, 0.5))
    coef, intercept, classes = _final_fit(job)
    assert classes.tolist() == ["a", "b", "c"] and coef.shape == (5, 3) and intercept.shape == (3,)
    assert not coef[0].any()
    scores = x.toarray() @ coef + intercept
    assert (classes[scores.argmax(axis=1)] == labels).all()


def test_a_folds_matrix_rows_are_the_rows_its_builder_gives_one_message() -> None:
    # Training's matrix and classifying's one-message row (intents.model.TrainedModel.scores)
    # must be the same numbers, for the fold's own rows and for rows it never saw.
    tables = LookupTables.from_yaml()
    analyses = [analyse(t, tables) for t in [*TEXTS, *UNSEEN]]
    embeddings = np.random.default_rng(2).normal(size=(len(analyses), 8)).astype(np.float32)
    train, test = np.arange(0, len(analyses), 2), np.arange(1, len(analyses), 2)
    fold = TrainingRows(analyses, tables).fold(train)
    assert set(fold.builder.surface.vocabulary) == {gram for i in train for gram in analyses[i].surface}
    assert set(fold.builder.reading.vocabulary) == {gram for i in train for gram in analyses[i].reading}
    width = fold.builder.sparse_width
    for rows in (train, test):
        matrix = fold.matrix(rows, embeddings[rows]).toarray()
        for row, index in enumerate(rows):
            expected = np.zeros(width + 8)
            columns, values = fold.builder.sparse_row(analyses[index])
            expected[columns] = values
            expected[width:] = embeddings[index]
            np.testing.assert_allclose(matrix[row], expected, atol=1e-6)

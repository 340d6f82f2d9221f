"""The shared feature row and the heads' fast path: the same numbers as the matrices training sees."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from intents.classification import UrgencyThresholds
from intents.features import FeatureBuilder, LookupTables, NgramTfidf, _char_ngrams, analyse, reading
from intents.model import Head, TrainedModel, TrainReport, UrgencyHead
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


@pytest.mark.parametrize(("low", "high"), [(1, 3), (2, 4)])
def test_tfidf_rows_equal_scikit_learns_vectorizer(low: int, high: int) -> None:
    reference = TfidfVectorizer(analyzer="char", ngram_range=(low, high), sublinear_tf=True).fit(TEXTS)
    ours = NgramTfidf.fit([_char_ngrams(t.lower(), low, high) for t in TEXTS])
    assert ours.vocabulary == reference.vocabulary_
    expected = reference.transform(UNSEEN).toarray()
    for row, text in enumerate(UNSEEN):
        columns, values = ours.row(_char_ngrams(text.lower(), low, high))
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
    analyses = [analyse(t, tables) for t in TEXTS]
    builder = FeatureBuilder(tables).fit(analyses)
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
    matrix = builder.transform([analyse(t, tables) for t in UNSEEN], embeddings)
    np.testing.assert_allclose(model.scores(UNSEEN, embeddings), matrix @ weights + bias, rtol=1e-5, atol=1e-5)
    predicted = model.predict(UNSEEN, embeddings)
    np.testing.assert_allclose(predicted.intent.sum(axis=1), 1.0, atol=1e-6)
    assert predicted.urgency.shape == (len(UNSEEN),) and ((predicted.urgency > 0) & (predicted.urgency < 1)).all()

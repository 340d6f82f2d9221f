"""tsunagu's classifier vs a plain TF-IDF character n-gram + logistic regression baseline.

Both are trained on the train split and scored on the evaluation split. The
baseline is the textbook recipe: char 1-3-grams of the raw text, one
LogisticRegression for the intent and one for the ask_where topic, C chosen by
5-fold cross-validation on the train split (so it is not a strawman), no
normalisation, no safety lexicon, no sentence encoder.
Usage: python benchmarks/classifier_vs_baseline.py
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline

from intents.classification import Classification, IntentClassifier
from intents.classifier import get_classifier
from intents.data import Example, load_split
from intents.evaluate import EvalReport, score_predictions


class Baseline(IntentClassifier):
    """TF-IDF char n-grams + LogisticRegression, for intent and (ask_where) topic."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.intent = self._fit([e.text for e in examples], [e.intent for e in examples], "f1_macro")
        topical = [e for e in examples if e.topic]
        self.topic = self._fit([e.text for e in topical], [e.topic for e in topical], "accuracy")

    @staticmethod
    def _fit(texts: list[str], labels: list[str], scoring: str) -> Pipeline:
        pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
            LogisticRegression(max_iter=3000),
        )
        search = GridSearchCV(pipeline, {"logisticregression__C": [1.0, 10.0, 100.0]}, scoring=scoring, cv=5)
        return search.fit(texts, labels).best_estimator_

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        intents = self.intent.predict_proba(texts)
        topics = self.topic.predict_proba(texts)
        results = []
        for intent_row, topic_row in zip(intents, topics, strict=True):
            intent = str(self.intent.classes_[int(np.argmax(intent_row))])
            topic = str(self.topic.classes_[int(np.argmax(topic_row))]) if intent == "ask_where" else None
            results.append(Classification(intent, topic, (), float(intent_row.max()), None, ()))
        return results


def _p50_ms(classifier: IntentClassifier, texts: Sequence[str]) -> float:
    timings = []
    for text in texts:
        started = time.perf_counter()
        classifier.classify(text)
        timings.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(timings, 50))


def main() -> None:
    train, evaluation = load_split("train"), load_split("eval")
    texts = [e.text for e in evaluation]
    started = time.perf_counter()
    baseline = Baseline(train)
    baseline_seconds = time.perf_counter() - started
    ours = get_classifier()  # trains (and saves) on first use

    reports: dict[str, tuple[EvalReport, float]] = {}
    for name, classifier in (("TF-IDF + LR baseline", baseline), ("tsunagu", ours)):
        reports[name] = (score_predictions(evaluation, classifier.classify_many(texts)), _p50_ms(classifier, texts))

    table = Table(title=f"Evaluation split: {len(evaluation)} messages (baseline trained in {baseline_seconds:.1f} s)")
    table.add_column("measure")
    for name in reports:
        table.add_column(name, justify="right")
    rows = [
        ("intent accuracy", lambda r: f"{r.accuracy:.3f}"),
        ("intent macro-F1", lambda r: f"{r.macro_f1:.3f}"),
        ("emergency recall", lambda r: f"{r.emergency_recall:.3f}"),
        ("topic accuracy (ask_where recognised)", lambda r: f"{r.topic_accuracy:.3f}"),
        ("topic accuracy end to end", lambda r: f"{r.topic_accuracy_end_to_end:.3f}"),
        *[(f"accuracy: {style}", lambda r, s=style: f"{r.style_accuracy.get(s, 0.0):.3f}") for style in
          ("standard", "kansai", "phone", "easy", "english")],
    ]  # fmt: skip
    for label, cell in rows:
        table.add_row(label, *[cell(report) for report, _ in reports.values()])
    table.add_row("p50 latency per message", *[f"{p50:.2f} ms" for _, p50 in reports.values()])
    Console().print(table)


if __name__ == "__main__":
    main()

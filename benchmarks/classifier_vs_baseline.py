"""tsunagu's classifier vs a plain TF-IDF character n-gram + logistic regression baseline.

Both are trained on the train split and scored on the evaluation split and on the
blind split (written from TAXONOMY.md alone; scored, never read). The baseline is the
textbook recipe: char 1-3-grams of the raw text, one LogisticRegression for the intent
and one for the ask_where topic, C chosen by 5-fold cross-validation on the train split
(so it is not a strawman), no normalisation, no safety lexicon, no sentence encoder, no
safety model. Per language, "caught recall" is the share of emergency and crisis
messages given an alarm or the safety question (:mod:`intents.evaluate`); the baseline
can only catch them by predicting ``emergency``.
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


def _per_language_table(split: str, size: int, reports: dict[str, EvalReport]) -> Table:
    """Intent macro-F1 and caught recall per language, one column pair per classifier."""
    table = Table(title=f"{split} split per language: {size} messages (caught recall: alarm or safety question)")
    table.add_column("language")
    table.add_column("n", justify="right")
    for name in reports:
        table.add_column(f"{name}\nmacro-F1", justify="right")
        table.add_column(f"{name}\ncaught recall (n)", justify="right")
    first = next(iter(reports.values()))
    for language, group in first.by_language.items():
        cells = []
        for report in reports.values():
            score = report.by_language[language]
            cells.append(f"{score.macro_f1:.3f}")
            cells.append(f"{score.caught_recall:.3f} ({score.alarm_examples})" if score.alarm_examples else "–")
        table.add_row(language, str(group.examples), *cells)
    return table


def main() -> None:
    train, evaluation, blind = load_split("train"), load_split("eval"), load_split("blind")
    texts = [e.text for e in evaluation]
    started = time.perf_counter()
    baseline = Baseline(train)
    baseline_seconds = time.perf_counter() - started
    ours = get_classifier()  # trains (and saves) on first use
    classifiers: dict[str, IntentClassifier] = {"TF-IDF + LR baseline": baseline, "tsunagu": ours}

    reports: dict[str, tuple[EvalReport, float]] = {}
    for name, classifier in classifiers.items():
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
    console = Console()
    console.print(table)

    console.print(_per_language_table("Evaluation", len(evaluation), {n: r for n, (r, _) in reports.items()}))
    if blind:
        blind_texts = [e.text for e in blind]
        blind_reports = {n: score_predictions(blind, c.classify_many(blind_texts)) for n, c in classifiers.items()}
        console.print(_per_language_table("Blind", len(blind), blind_reports))


if __name__ == "__main__":
    main()

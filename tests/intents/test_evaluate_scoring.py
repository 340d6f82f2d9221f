"""intents.evaluate on hand-made classifications: what counts as caught, as an alarm, as the
safety question, how groups and language names are formed, and the calibration bins and ECE."""

from __future__ import annotations

import pytest

from intents.classification import Classification
from intents.data import Example
from intents.evaluate import (
    is_alarm,
    language_name,
    macro_f1_target,
    reliability,
    safety_answer,
    score_predictions,
)
from intents.safety import SafetySignal

EMERGENCY = SafetySignal("emergency", "119", "test")
CRISIS = SafetySignal("crisis", None, "test")
WELFARE = SafetySignal("welfare", "110", "test")


def _prediction(
    intent: str,
    topic: str | None = None,
    *,
    safety: SafetySignal | None = None,
    band: str | None = None,
    urgency: float | None = None,
    confidence: float = 0.9,
) -> Classification:
    topics = ((topic, 0.9),) if topic else ()
    return Classification(intent, topic, topics, confidence, safety, (), urgency, band)  # type: ignore[arg-type]


def _example(
    intent: str,
    topic: str | None = None,
    *,
    language: str = "ja",
    style: str = "standard",
    safety: str | None = None,
    source: str = "intents_standard.yml",
) -> Example:
    return Example("text", intent, topic, style, source, language, safety)


@pytest.mark.parametrize(
    ("prediction", "answer"),
    [
        (_prediction("emergency", safety=EMERGENCY), "alarm"),
        (_prediction("ask_where", "mental", safety=CRISIS), "alarm"),
        (_prediction("report_worry", safety=WELFARE), None),
        # The lexicon decides first: its welfare guidance is given, the model's band is not read.
        (_prediction("report_worry", safety=WELFARE, band="ask", urgency=0.4), None),
        (_prediction("report_worry", band="alarm", urgency=0.95), "alarm"),
        (_prediction("report_worry", band="ask", urgency=0.4), "question"),
        # The question comes before any flow: an emergency intent in the ask band is asked.
        (_prediction("emergency", band="ask", urgency=0.4), "question"),
        (_prediction("emergency"), "alarm"),
        (_prediction("greet", urgency=0.01), None),
    ],
)
def test_the_safety_answer_follows_the_engine_order(prediction: Classification, answer: str | None) -> None:
    assert safety_answer(prediction) == answer
    assert is_alarm(prediction) is (answer == "alarm")


def test_caught_recall_counts_the_question_and_alarm_only_recall_does_not() -> None:
    examples = [
        _example("emergency"),                                # alarm from the lexicon
        _example("emergency"),                                # asked
        _example("ask_where", "mental", safety="crisis"),     # asked
        _example("emergency"),                                # missed
        _example("ask_where", "money"),                       # asked, not urgent
        _example("report_worry", safety="hard_negative"),     # false alarm
        _example("report_worry", safety="hard_negative"),     # asked
        _example("greet"),                                    # nothing
    ]
    predictions = [
        _prediction("emergency", safety=EMERGENCY),
        _prediction("report_worry", band="ask", urgency=0.3),
        _prediction("ask_where", "mental", band="ask", urgency=0.3),
        _prediction("report_worry", urgency=0.05),
        _prediction("ask_where", "money", band="ask", urgency=0.3),
        _prediction("report_worry", band="alarm", urgency=0.9),
        _prediction("report_worry", band="ask", urgency=0.3),
        _prediction("greet", urgency=0.01),
    ]
    overall = score_predictions(examples, predictions).overall
    assert overall is not None
    assert overall.alarm_examples == 4
    assert overall.caught_recall == 0.75
    assert overall.alarm_recall == 0.25
    assert overall.false_alarm_examples == 4
    assert overall.false_alarm_rate == 0.25
    assert overall.question_rate == 0.5            # 4 of the 8 messages were asked
    assert overall.question_rate_non_urgent == 0.5  # 2 of the 4 non-urgent ones
    assert (overall.hard_negative_examples, overall.hard_negative_false_alarm_rate) == (2, 0.5)
    assert overall.hard_negative_question_rate == 0.5


def test_groups_per_language_style_and_file_set_with_one_name_for_simplified_chinese() -> None:
    examples = [
        _example("emergency", language="zh", source="safety_standard.zh.yml"),
        _example("emergency", language="zh-hans", style="casual", source="intents_casual.zh-hans.yml"),
        _example("ask_where", "money", language="en", style="english", source="topics_english.yml"),
        _example("greet", language="ja", style="kansai", source="intents_kansai.yml"),
    ]
    predictions = [
        _prediction("emergency", safety=EMERGENCY),
        _prediction("greet"),
        _prediction("ask_where", "care"),
        _prediction("greet"),
    ]
    report = score_predictions(examples, predictions)
    assert list(report.by_language) == ["ja", "en", "zh"]  # ja and en first, then the others
    chinese = report.by_language["zh"]
    assert (chinese.examples, chinese.alarm_examples, chinese.caught_recall) == (2, 2, 0.5)
    assert report.by_language["en"].topic_accuracy == 0.0
    assert report.by_language["en"].topic_examples == 1
    assert list(report.by_style) == ["standard", "kansai", "english", "casual"]
    assert {name: g.examples for name, g in report.by_set.items()} == {"intents": 2, "topics": 1, "safety": 1}
    assert report.by_set["safety"].caught_recall == 1.0


def test_language_names_and_their_targets() -> None:
    assert language_name("zh-hans") == "zh"
    assert language_name("zh-hant") == "zh-hant"
    assert macro_f1_target("ja") == macro_f1_target("en") == 0.95
    assert macro_f1_target("zh-hans") == macro_f1_target("ne") == 0.90


def test_the_urgency_calibration_is_left_out_without_a_safety_model() -> None:
    examples = [_example("emergency"), _example("greet")]
    without = score_predictions(examples, [_prediction("emergency"), _prediction("greet")])
    assert without.urgency_calibration is None and without.intent_calibration is not None
    with_model = score_predictions(examples, [_prediction("emergency", band="alarm", urgency=0.95),
                                              _prediction("greet", urgency=0.05)])
    assert with_model.urgency_calibration is not None
    assert with_model.urgency_calibration.ece == pytest.approx(0.05)


def test_reliability_bins_and_ece_on_synthetic_confidences() -> None:
    # Bin [0.2, 0.3): mean 0.25, 1 of 4 right (calibrated); bin [0.9, 1.0]: mean 0.95, 1 of 2 right.
    confidences = [0.2, 0.25, 0.25, 0.3 - 1e-9, 0.9, 1.0]
    outcomes = [True, False, False, False, True, False]
    result = reliability(confidences, outcomes, bins=10)
    assert len(result.bins) == 10 and result.count == 6
    low, high = result.bins[2], result.bins[9]
    assert (low.count, low.accuracy) == (4, 0.25) and low.confidence == pytest.approx(0.25)
    assert (high.count, high.accuracy, high.confidence) == (2, 0.5, 0.95)  # 1.0 falls in the last bin
    assert sum(b.count for b in result.bins) == 6
    assert result.ece == pytest.approx(2 / 6 * 0.45, abs=1e-4)


def test_a_perfectly_calibrated_confidence_has_zero_ece_and_an_overconfident_one_does_not() -> None:
    calibrated = reliability([0.75] * 4, [True, True, True, False])
    assert calibrated.ece == 0.0
    overconfident = reliability([0.99] * 4, [True, False, False, False])
    assert overconfident.ece == pytest.approx(0.74)
    with pytest.raises(ValueError):
        reliability([0.5], [])

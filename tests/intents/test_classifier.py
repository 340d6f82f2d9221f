"""The classifier: decision rules, the trained model on messages in every style, persistence."""

from __future__ import annotations

import fcntl
import json
import shutil
import threading
from pathlib import Path

import pytest

from bot.settings import settings
from bot.taxonomy import INTENTS, TOPICS
from intents.classification import (
    CONFIDENCE_THRESHOLD,
    MODEL_EMERGENCY_THRESHOLD,
    Classification,
    IntentClassifier,
    compose,
)
from intents.classifier import (
    TRAINING_LOCK_FILE,
    LocalClassifier,
    _expected_hash,
    get_classifier,
    load_or_train,
)
from intents.model import MODEL_FILE, load_model, read_model_meta
from intents.safety import SafetySignal
from intents.urgency import MAX_QUESTION_RATE

EMERGENCY = SafetySignal("emergency", "119", "倒れ")
CRISIS = SafetySignal("crisis", None, "死にた")


# --------------------------------------------------------------------------- rules (no model)


def test_the_best_intent_wins_with_its_alternatives() -> None:
    result = compose(None, {"report_worry": 0.7, "ask_where": 0.2, "greet": 0.06, "goodbye": 0.04}, None)
    assert (result.intent, result.confidence, result.topic) == ("report_worry", 0.7, None)
    assert result.alternatives == (("ask_where", 0.2), ("greet", 0.06))
    assert result.is_confident


def test_an_emergency_sign_overrides_the_model() -> None:
    result = compose(EMERGENCY, {"report_worry": 0.95, "emergency": 0.05}, None)
    assert (result.intent, result.confidence, result.safety) == ("emergency", 1.0, EMERGENCY)
    assert result.is_confident


def test_a_model_emergency_counts_only_when_more_likely_than_not() -> None:
    strong = compose(None, {"emergency": MODEL_EMERGENCY_THRESHOLD + 0.1, "ask_where": 0.3}, {"dv": 1.0})
    assert strong.intent == "emergency"
    weak = compose(None, {"emergency": MODEL_EMERGENCY_THRESHOLD - 0.1, "ask_where": 0.3}, {"dv": 1.0})
    assert weak.intent == "ask_where" and ("emergency", MODEL_EMERGENCY_THRESHOLD - 0.1) in weak.alternatives


def test_suicidal_ideation_goes_to_the_mental_health_counter() -> None:
    result = compose(CRISIS, {"talk_to_human": 0.6, "ask_where": 0.4}, {"money": 0.8, "mental": 0.2})
    assert (result.intent, result.topic, result.safety) == ("ask_where", "mental", CRISIS)
    assert result.is_confident


def test_two_strong_topics_make_a_complex_household() -> None:
    result = compose(None, {"ask_where": 0.9}, {"elderly": 0.45, "money": 0.42, "child": 0.13}, 0.3)
    assert result.topic == "complex" and result.topics[0] == ("elderly", 0.45)
    single = compose(None, {"ask_where": 0.9}, {"elderly": 0.85, "money": 0.1, "child": 0.05}, 0.3)
    assert single.topic == "elderly"


def test_a_reading_set_aside_for_another_gives_it_its_probability() -> None:
    unsure = Classification("report_missing", None, (), 0.56, None, (("report_worry", 0.34), ("ask_where", 0.08)))
    worry = unsure.read_as("report_missing", "report_worry")
    assert (worry.intent, round(worry.confidence, 2), worry.alternatives) == ("report_worry", 0.9, (("ask_where", 0.08),))
    assert worry.is_confident
    # As an alternative it joins too; without the other reading it is only set aside.
    second = Classification("report_worry", None, (), 0.5, None, (("report_missing", 0.3),)).read_as(
        "report_missing", "report_worry")
    assert (second.intent, round(second.confidence, 2), second.alternatives) == ("report_worry", 0.8, ())
    alone = Classification("report_missing", None, (), 0.7, None, (("greet", 0.2),)).read_as(
        "report_missing", "report_worry")
    assert (alone.intent, alone.confidence) == ("greet", 0.2)


def test_a_reading_set_aside_never_leaves_an_unsure_model_emergency_first() -> None:
    denied = Classification("report_missing", None, (), 0.8, None, (("emergency", 0.14), ("ask_where", 0.05)))
    assert denied.ruling_out("report_missing").intent == "ask_where"
    alone = Classification("report_missing", None, (), 0.8, None, (("emergency", 0.14),)).ruling_out("report_missing")
    assert (alone.intent, alone.is_confident, alone.alternatives) == ("out_of_scope", False, (("emergency", 0.14),))
    # A likely one stays first, and a word-list emergency is never set aside.
    assert Classification("report_missing", None, (), 0.4, None, (("emergency", 0.55),)).ruling_out(
        "report_missing").intent == "emergency"


def test_unsure_or_out_of_scope_asks_a_clarifying_question() -> None:
    assert not compose(None, {"ask_where": CONFIDENCE_THRESHOLD - 0.01}, {"elderly": 0.9}).is_confident
    assert not compose(None, {"out_of_scope": 0.99}, None).is_confident
    unclear_topic = compose(None, {"ask_where": 0.9}, {"elderly": 0.3, "money": 0.25, "child": 0.2}, 0.4)
    assert unclear_topic.topic == "elderly" and not unclear_topic.is_confident


# --------------------------------------------------------------------------- the trained model


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return get_classifier()


@pytest.mark.parametrize(
    ("text", "intent", "topic"),
    [
        ("母の介護のことで相談したい", "ask_where", "elderly"),
        ("家賃が払えない", "ask_where", "money"),
        ("隣のおばあさんを最近見かけない。新聞がたまっている", "report_worry", None),
        ("認知症の父が朝から帰ってこない", "report_missing", None),
        ("えーと あの 母が いなくなって", "report_missing", None),
        ("見守りメールの協力者に登録したい", "register_helper", None),
        ("配信を停止して", "unsubscribe", None),
        ("担当の人と話したい", "talk_to_human", None),
        ("こんにちは", "greet", None),
        ("ありがとうございました", "goodbye", None),
        ("明日の天気は？", "out_of_scope", None),
        ("隣の人が倒れて動かない", "emergency", None),
        ("My husband hits me and I want to leave", "ask_where", "dv"),
        ("おかあさん の かいご そうだん したい です", "ask_where", "elderly"),
    ],
)
def test_typical_messages(classifier: IntentClassifier, text: str, intent: str, topic: str | None) -> None:
    result = classifier.classify(text)
    assert (result.intent, result.topic) == (intent, topic), result


def test_results_use_the_fixed_vocabulary(classifier: IntentClassifier) -> None:
    texts = ["介護保険の申請", "How do I apply for welfare?", "うちの犬が逃げた", "死にたい", "えーと"]
    for result in classifier.classify_many(texts):
        assert isinstance(result, Classification)
        assert result.intent in INTENTS
        assert result.topic is None or result.topic in TOPICS
        assert 0.0 <= result.confidence <= 1.0
        assert all(topic in TOPICS for topic, _ in result.topics)
        assert all(intent in INTENTS and intent != result.intent for intent, _ in result.alternatives)


def test_a_batch_gives_the_same_answers_in_the_same_order(classifier: IntentClassifier) -> None:
    texts = ["隣の人が倒れて動かない", "家賃が払えない", "", "こんにちは", "協力者をやめたい"]
    batch = classifier.classify_many(texts)
    assert [r.intent for r in batch] == [classifier.classify(t).intent for t in texts]


def test_a_message_of_only_fillers_is_not_guessed(classifier: IntentClassifier) -> None:
    for text in ("", "えーと あのー", "。。。"):
        result = classifier.classify(text)
        assert result.intent == "out_of_scope" and not result.is_confident


def test_confidences_are_calibrated_probabilities(classifier: IntentClassifier) -> None:
    result = classifier.classify("介護保険の申請はどこでできますか")
    total = result.confidence + sum(score for _, score in result.alternatives)
    assert total <= 1.0 + 1e-3
    assert sum(score for _, score in result.topics) == pytest.approx(1.0, abs=1e-3)


# Written for this test, in no data file: a life in danger said without any alarm word, and
# a past illness that is over (the kind of message that must not set off 119 guidance).
INDIRECT_EMERGENCY = "さっきから祖父が台所で座り込んだまま、呼びかけても返事がなくて顔色が真っ青です"
HARD_NEGATIVE = "祖母は去年の春に入院しましたが、退院してからは毎朝元気に散歩しています"


def test_the_urgency_head_asks_about_an_indirect_emergency_and_not_about_a_past_illness(
    classifier: IntentClassifier,
) -> None:
    urgent, calm = classifier.classify_many([INDIRECT_EMERGENCY, HARD_NEGATIVE])
    assert urgent.urgency is not None and calm.urgency is not None
    assert urgent.urgency_band in ("ask", "alarm"), urgent
    assert calm.urgency_band is None, calm
    assert urgent.urgency > calm.urgency


def test_the_saved_model_records_the_urgency_operating_point(classifier: IntentClassifier) -> None:
    assert isinstance(classifier, LocalClassifier)
    meta = read_model_meta(settings.model_dir)
    assert meta is not None
    urgency = meta["urgency"]
    thresholds = classifier.model.urgency.thresholds
    assert (urgency["ask"], urgency["alarm"]) == (round(thresholds.ask, 4), round(thresholds.alarm, 4))
    assert 0.0 < thresholds.ask <= thresholds.alarm
    # The question asks at most 5 % of the ordinary messages the lexicon leaves (intents.urgency).
    assert urgency["question_rate"] <= MAX_QUESTION_RATE + 1e-4
    assert urgency["ask_recall"] > urgency["alarm_recall"]
    assert 0.0 <= thresholds.veto <= thresholds.ask
    assert urgency["hard_negative_alarm_rate"] is None or urgency["hard_negative_alarm_rate"] <= 0.02


# --------------------------------------------------------------------------- persistence


def test_training_saved_a_model_with_the_hash_of_its_data(classifier: IntentClassifier) -> None:
    assert isinstance(classifier, LocalClassifier)
    meta = read_model_meta(settings.model_dir)
    assert meta is not None and meta["data_hash"] == _expected_hash("usem3")
    loaded = load_model(settings.model_dir)
    assert loaded is not None and loaded.data_hash == meta["data_hash"]


def test_a_stale_model_is_retrained_and_a_current_one_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = get_classifier()
    assert isinstance(shared, LocalClassifier)
    trained: list[Path] = []

    def fake_train(encoder: object, out_dir: Path, progress: bool) -> object:
        trained.append(out_dir)
        return shared.model

    monkeypatch.setattr("intents.classifier._train", fake_train)
    (tmp_path / "classifier.json").write_text(json.dumps({"data_hash": "an older training set"}), encoding="utf-8")
    assert load_or_train(tmp_path, shared.encoder, progress=False) is shared.model
    assert trained == [tmp_path]

    assert load_or_train(settings.model_dir, shared.encoder, progress=False).data_hash == shared.model.data_hash
    assert trained == [tmp_path]  # the current model was loaded, not retrained


def test_a_process_waiting_for_anothers_training_loads_its_model_instead_of_training_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = get_classifier()
    assert isinstance(shared, LocalClassifier)

    def no_training(encoder: object, out_dir: Path, progress: bool) -> object:
        raise AssertionError("trained although another process had just saved the model")

    monkeypatch.setattr("intents.classifier._train", no_training)
    loaded: list[object] = []
    # Another process is training: it holds the lock (flock is per open file, so this
    # process's own second open waits as another process would).
    with open(tmp_path / TRAINING_LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        waiter = threading.Thread(target=lambda: loaded.append(load_or_train(tmp_path, shared.encoder, False)))
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive(), "the second process must wait for the training in progress"
        for saved in settings.model_dir.iterdir():
            if saved.is_file() and saved.name.startswith("classifier"):
                shutil.copy(saved, tmp_path / saved.name)
        fcntl.flock(held, fcntl.LOCK_UN)
    waiter.join()
    assert len(loaded) == 1 and loaded[0].data_hash == shared.model.data_hash


def test_a_corrupt_or_foreign_model_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / MODEL_FILE).write_bytes(b"not a model")
    assert load_model(tmp_path) is None
    assert load_model(tmp_path / "missing") is None

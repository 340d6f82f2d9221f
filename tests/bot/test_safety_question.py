"""The safety model's bands as the engine acts on them: the safety question, its answers, the
alarm, and forms where a person is being described.

The real classifier reads every message; for the messages named here the safety model's
probability is set (``_Urgency``), so each test is about what the engine does with a band,
whatever the trained model's thresholds are this week (tests/intents test the model itself).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.engine import ConversationEngine
from bot.messages import EffectKind
from intents.classification import Classification, IntentClassifier, UrgencyThresholds
from tests.bot.conftest import Resident
from tests.flows.conftest import left

THRESHOLDS = UrgencyThresholds(ask=0.3, alarm=0.8, veto=0.1)
UNSURE = "母がさっきから変なんです。呼んでもぼんやりしています"
ALARMING = "父が床に横になったまま、呼んでも目を開けません"
DESCRIPTION = "85歳の男じゃ。背は低うて、腰が曲がっとる"
NEIGHBOUR = "隣のおばあさんが最近家から出てこなくて、とても痩せています"
VOLUNTEER = "見守りメールの協力者に登録したいです"


class _Urgency(IntentClassifier):
    """The real classifier, with the safety model's probability set for some messages."""

    def __init__(self, real: IntentClassifier, urgency: dict[str, float]) -> None:
        self.real = real
        self.urgency = urgency

    def classify_many(self, texts: list[str]) -> list[Classification]:  # type: ignore[override]
        out = []
        for text, classification in zip(texts, self.real.classify_many(texts), strict=True):
            urgency = self.urgency.get(text, 0.5 if classification.safety else 0.0)
            doubted = classification.safety is not None and classification.safety.kind != "welfare" \
                and urgency < THRESHOLDS.veto
            out.append(replace(classification, urgency=urgency, urgency_band=THRESHOLDS.band(urgency),
                               safety_doubted=doubted))
        return out


@pytest.fixture
def urgent_engine(engine: ConversationEngine) -> ConversationEngine:
    real = engine.classifier()
    overlay = _Urgency(real, {UNSURE: 0.5, ALARMING: 0.95, DESCRIPTION: 0.5})
    engine.classifier = lambda: overlay
    return engine


def _responses(resident: Resident, text: str | None = None, **fields: object) -> list[str | None]:
    return [reply.response for reply in resident.send(text, **fields).replies]


def test_unsure_asks_the_question_before_anything_else(urgent_engine: ConversationEngine) -> None:
    resident = Resident(urgent_engine)
    turn = resident.send(UNSURE)
    assert [reply.response for reply in turn.replies] == ["utter_safety_question"]
    assert [choice.digit for choice in turn.replies[0].choices] == ["1", "2"]


def test_yes_gives_both_numbers_now(urgent_engine: ConversationEngine) -> None:
    resident = Resident(urgent_engine)
    resident.send(UNSURE)
    turn = resident.send("1")
    assert turn.replies[0].urgent and turn.replies[0].response == "utter_emergency_unspecified"
    assert any(effect.kind == EffectKind.emergency_guidance for effect in turn.effects)


def test_no_reads_the_words_as_if_never_asked(urgent_engine: ConversationEngine, engine: ConversationEngine) -> None:
    asked = Resident(urgent_engine, user_id="asked")
    asked.send(UNSURE)
    after_no = _responses(asked, "いいえ")
    # What the same words get from a resident who was not asked (the model's probability aside).
    plain = Resident(urgent_engine, user_id="plain")
    urgent_engine.classifier().urgency.pop(UNSURE)
    assert after_no == _responses(plain, UNSURE)
    assert "utter_safety_question" not in after_no and "utter_emergency_unspecified" not in after_no


def test_no_inside_a_worry_report_goes_on_with_the_report(urgent_engine: ConversationEngine) -> None:
    resident = Resident(urgent_engine)
    resident.send("隣のおばあさんのことが心配です")
    asked = resident.send(UNSURE)
    assert asked.replies[-1].response == "utter_safety_question"
    after_no = resident.send("2")
    # The report took the words as what was noticed and asks its next question.
    assert after_no.replies[-1].response not in ("utter_safety_question", "utter_ask_noticed")
    assert not any(reply.urgent for reply in after_no.replies)


def test_another_message_instead_of_an_answer_is_read_afresh(urgent_engine: ConversationEngine) -> None:
    resident = Resident(urgent_engine)
    resident.send(UNSURE)
    turn = resident.send("倒れている、息をしていない")
    assert turn.replies[0].urgent and turn.replies[0].response == "utter_emergency_119"


def test_an_alarm_gives_the_guidance_without_asking(urgent_engine: ConversationEngine) -> None:
    resident = Resident(urgent_engine)
    turn = resident.send(ALARMING)
    assert turn.replies[0].urgent and turn.replies[0].response == "utter_emergency_unspecified"
    assert "utter_safety_question" not in [reply.response for reply in turn.replies]


def test_after_an_alarm_the_worry_the_words_also_tell_goes_on(engine: ConversationEngine) -> None:
    # The model alarms on a neighbour found dazed; its own reading is a worry report, so the
    # report starts after the guidance: for a resident to whom 119 does not apply, it is not lost.
    real = engine.classifier()
    overlay = _Urgency(real, {NEIGHBOUR: 0.95})
    engine.classifier = lambda: overlay
    assert real.classify(NEIGHBOUR).intent == "report_worry"
    turn = Resident(engine).send(NEIGHBOUR)
    assert turn.replies[0].urgent and turn.replies[0].response == "utter_emergency_unspecified"
    assert turn.flow == "report_worry"


def test_after_an_alarm_an_emergency_reading_ends_at_the_guidance(urgent_engine: ConversationEngine) -> None:
    turn = Resident(urgent_engine).send(ALARMING)
    assert turn.flow is None
    assert [reply.response for reply in turn.replies] == ["utter_emergency_unspecified"]


@pytest.mark.parametrize("text", ["こんにちは", "あの、えーと"])
def test_after_an_alarm_words_that_name_no_matter_ask_what_it_is_about(engine: ConversationEngine, text: str) -> None:
    # A greeting reading (or none) of words the model alarms at is no matter to end on: the
    # resident is asked what it is about, so that 189 or a counter can follow the 119 sentence.
    real = engine.classifier()
    overlay = _Urgency(real, {text: 0.95})
    engine.classifier = lambda: overlay
    assert real.classify(text).intent in ("greet", "out_of_scope")
    turn = Resident(engine).send(text)
    assert [reply.response for reply in turn.replies] == ["utter_emergency_unspecified", "utter_clarify"]
    assert turn.replies[0].urgent and turn.replies[1].choices and turn.flow is None


def test_a_description_in_a_missing_report_is_not_questioned(urgent_engine: ConversationEngine) -> None:
    resident = Resident(urgent_engine)
    resident.send("認知症の父が朝から帰ってこない")
    turn = resident.send(DESCRIPTION)
    responses = [reply.response for reply in turn.replies]
    assert "utter_safety_question" not in responses and not any(reply.urgent for reply in turn.replies)


def test_an_alarm_while_describing_only_asks(urgent_engine: ConversationEngine) -> None:
    urgent_engine.classifier().urgency[DESCRIPTION] = 0.95
    resident = Resident(urgent_engine)
    resident.send("認知症の父が朝から帰ってこない")
    turn = resident.send(DESCRIPTION)
    assert [reply.response for reply in turn.replies] == ["utter_safety_question"]


MISSING = "認知症の父が朝から帰ってこない"


def test_a_missing_report_opens_with_110_not_a_question(urgent_engine: ConversationEngine) -> None:
    # The opening of a missing report, in the model's uncertain band: the missing flow's own
    # urgent call (110) comes first, not the safety question before it.
    urgent_engine.classifier().urgency[MISSING] = 0.5
    assert urgent_engine.classifier().classify(MISSING).intent == "report_missing"
    turn = Resident(urgent_engine).send(MISSING)
    responses = [reply.response for reply in turn.replies]
    assert responses[0] == "utter_missing_intro" and turn.replies[0].urgent
    assert "utter_safety_question" not in responses
    assert not any(effect.kind == EffectKind.emergency_guidance for effect in turn.effects)


def test_an_alarm_on_a_missing_report_only_asks(urgent_engine: ConversationEngine) -> None:
    # 119 in place of the 110 call is the false alarm that costs a family most; the safety
    # question lets a family with a life at stake still say so.
    urgent_engine.classifier().urgency[MISSING] = 0.95
    turn = Resident(urgent_engine).send(MISSING)
    assert [reply.response for reply in turn.replies] == ["utter_safety_question"]
    assert not any(effect.kind == EffectKind.emergency_guidance for effect in turn.effects)


def test_words_read_again_after_not_missing_pass_the_safety_model(urgent_engine: ConversationEngine) -> None:
    # In the missing report its doubt was let be (110 came first); once the family says the
    # person is at home, the same words are the resident's own account and are asked about.
    urgent_engine.classifier().urgency[MISSING] = 0.5
    resident = Resident(urgent_engine)
    resident.send(MISSING)
    turn = resident.send("いえ、父は家にいます")
    assert [reply.response for reply in turn.replies] == ["utter_not_missing", "utter_safety_question"]


def test_no_with_not_missing_does_not_start_the_missing_report(urgent_engine: ConversationEngine) -> None:
    # Seen with tsunagu chat: 「母が朝からぼーっとしてて様子がおかしいんです」 (read as missing, and
    # doubted) was asked about; 「いえ、母は家にいます。いなくなったわけではありません」 then got
    # "call 110 now, where was she last seen?".
    urgent_engine.classifier().urgency[MISSING] = 0.95
    resident = Resident(urgent_engine)
    assert _responses(resident, MISSING) == ["utter_safety_question"]
    turn = resident.send("いえ、父は家にいます。いなくなったわけではありません")
    assert "utter_missing_intro" not in [reply.response for reply in turn.replies]
    assert turn.flow != "missing_report" and not any(reply.urgent for reply in turn.replies)


def test_the_phone_asks_with_keys_and_takes_them(urgent_engine: ConversationEngine) -> None:
    caller = Resident(urgent_engine, channel="voice", user_id="+819000000001")
    caller.send(event="follow")
    asked = caller.send(UNSURE, metadata={"input": "speech"})
    question = next(reply for reply in asked.replies if reply.response == "utter_safety_question")
    assert [choice.digit for choice in question.choices] == ["1", "2"]
    turn = caller.send("1", metadata={"input": "dtmf"})
    assert turn.replies[0].urgent and turn.replies[0].response == "utter_emergency_unspecified"


def test_asked_in_the_residents_language(urgent_engine: ConversationEngine) -> None:
    korean = "어머니가 아까부터 이상해요. 불러도 멍하게 있어요"
    urgent_engine.classifier().urgency[korean] = 0.5
    resident = Resident(urgent_engine)
    turn = resident.send(korean)
    assert turn.language == "ko" and turn.replies[0].response == "utter_safety_question"
    assert _responses(resident, "네")[0] == "utter_emergency_unspecified"


def test_a_danger_word_the_model_doubts_is_asked_and_yes_keeps_its_situation(
        urgent_engine: ConversationEngine) -> None:
    words = "家が燃えている"
    resident = Resident(urgent_engine)
    assert resident.send(words).replies[0].response == "utter_emergency_fire", "the lexicon answers at once"
    urgent_engine.classifier().urgency[words] = 0.01
    doubter = Resident(urgent_engine, user_id="doubted")
    assert [reply.response for reply in doubter.send(words).replies] == ["utter_safety_question"]
    turn = doubter.send("はい")
    assert turn.replies[0].urgent and turn.replies[0].response == "utter_emergency_fire"


def test_a_detail_instead_of_an_answer_goes_on_with_the_words_before_it(urgent_engine: ConversationEngine) -> None:
    """Not answering the question is no yes; the worry and the place that follows are both kept."""
    urgent_engine.classifier().urgency[NEIGHBOUR] = 0.5
    resident = Resident(urgent_engine)
    assert _responses(resident, NEIGHBOUR) == ["utter_safety_question"]
    turn = resident.send("北区です")
    responses = [reply.response for reply in turn.replies]
    assert "utter_worry_intro" in responses, responses
    assert responses[-1] == "utter_ask_town_in_ward", "the ward is taken; its town is asked"
    assert not any(effect.kind == EffectKind.emergency_guidance for effect in turn.effects)


def test_a_place_instead_of_an_answer_is_where_not_what_was_noticed(urgent_engine: ConversationEngine,
                                                                    db_url: str) -> None:
    # Seen with tsunagu chat: the town given instead of an answer was also kept in "noticed",
    # so the confirmation and the counter read the place twice.
    urgent_engine.classifier().urgency[NEIGHBOUR] = 0.5
    resident = Resident(urgent_engine)
    resident.send(NEIGHBOUR)
    turn = resident.send("南区朝日町3丁目です")
    assert [reply.response for reply in turn.replies][-1] == "utter_ask_since_when"
    kept = left(db_url, resident).slots
    assert kept["noticed"] == NEIGHBOUR, kept
    assert "朝日町" in kept["where"]["label"]


def test_another_matter_instead_of_an_answer_is_read_on_its_own(urgent_engine: ConversationEngine) -> None:
    resident = Resident(urgent_engine)
    resident.send(UNSURE)
    plain = Resident(urgent_engine, user_id="plain")
    assert _responses(resident, VOLUNTEER) == _responses(plain, VOLUNTEER)


def test_urgency_in_a_reply_that_is_no_answer_is_heard_on_its_own(urgent_engine: ConversationEngine) -> None:
    """Read with the words before the question, the reply would count as answered and the model
    would not hear it: a reply the model alarms at gets the guidance."""
    resident = Resident(urgent_engine)
    resident.send(UNSURE)
    turn = resident.send(ALARMING)
    assert turn.replies[0].urgent and any(effect.kind == EffectKind.emergency_guidance for effect in turn.effects)

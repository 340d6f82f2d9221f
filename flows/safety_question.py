"""The safety question: 「今、命に関わる状況ですか？」, asked when the safety model is unsure.

The word list (:mod:`intents.safety`) gives 119/110 or the crisis lines on its own signs.
The safety model (``Classification.urgency``) also reads what a word list cannot see — a
relative quoting what the person said and then silence, a state described without a danger
word — and in its uncertain band the resident is asked instead of a silent guess. Yes: the
emergency numbers (or the crisis lines, when the message was about the resident's own
despair), then the question in progress again. No: the message they wrote goes on to the
flow in progress as if it had never been interrupted. Anything else is read afresh, the
safety layer first. On the phone the answers are keys 1 and 2, or said.

Only the message's id is kept while asking (its words are in the messages table already),
with the question the flow had open, which is put back whatever the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.messages import Choice
from flows.base import CHOICES_SLOT, PROMPT_SLOT, TurnContext, is_no, is_yes
from intents.classification import Classification
from intents.safety import SafetySignal

__all__ = [
    "SAFETY_QUESTION_RESPONSES",
    "PendingQuestion",
    "ask_safety_question",
    "model_signal",
    "take_safety_answer",
]

SAFETY_QUESTION_SLOT = "_safety_question"
_YES, _NO = "safety:yes", "safety:no"
SAFETY_QUESTION_RESPONSES = ("utter_safety_question", "utter_choice_safety_yes", "utter_choice_safety_no")
# The model's situation: which number is not known, so both are given (utter_emergency_numbers).
UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class PendingQuestion:
    """A safety question that was open when this message came.

    Attributes:
        answer: "yes", "no", or None when the message answers something else.
        message_id: the inbound message the question was about.
        signal: what a yes means: the model's reading, or the lexicon's sign it doubted.
    """

    answer: Literal["yes", "no"] | None
    message_id: int | None
    signal: SafetySignal


def model_signal(classification: Classification) -> SafetySignal:
    """The safety signal the model's own reading gives: the crisis lines when the message is
    about the resident's own despair (ask_where / mental), else both emergency numbers."""
    if classification.intent == "ask_where" and classification.topic == "mental":
        return SafetySignal("crisis", None, "safety model")
    return SafetySignal("emergency", None, "safety model", UNSPECIFIED)


def ask_safety_question(ctx: TurnContext, message_id: int | None, signal: SafetySignal) -> None:
    """Ask whether a life is in danger now, keeping the flow's open question to put back;
    a yes gives ``signal``'s guidance."""
    saved = {key: ctx.slots[key] for key in (PROMPT_SLOT, CHOICES_SLOT) if key in ctx.slots}
    ctx.ask("utter_safety_question", choices=[Choice(ctx.t("utter_choice_safety_yes"), _YES, "1"),
                                               Choice(ctx.t("utter_choice_safety_no"), _NO, "2")])
    # The pattern that fired is not kept (it may quote the resident): the guidance needs no more.
    ctx.set_slot(SAFETY_QUESTION_SLOT, {"message_id": message_id, "saved": saved, "kind": signal.kind,
                                        "service": signal.service, "situation": signal.situation})


def take_safety_answer(ctx: TurnContext) -> PendingQuestion | None:
    """The open safety question's answer, if one was open; the flow's question is put back."""
    pending = ctx.slots.get(SAFETY_QUESTION_SLOT)
    if pending is None:
        return None
    asked = (SAFETY_QUESTION_SLOT, PROMPT_SLOT, CHOICES_SLOT)
    ctx.conversation.slots = {key: value for key, value in ctx.slots.items() if key not in asked} | pending["saved"]
    # A button or a key is matched by the engine; words in any resident language by flows.base.
    answer: Literal["yes", "no"] | None = None
    if ctx.answer == _YES or (ctx.answer != _NO and is_yes(ctx.text)):
        answer = "yes"
    elif ctx.answer == _NO or is_no(ctx.text):
        answer = "no"
    signal = SafetySignal(pending["kind"], pending.get("service"), "safety question",
                          pending.get("situation") or (UNSPECIFIED if pending["kind"] == "emergency" else None))
    return PendingQuestion(answer, pending["message_id"], signal)

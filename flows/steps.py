"""Steps several flows take the same way: a yes/no question and its answer, a question that
may be answered "none", a phone number for a call-back, and reading the answer to a place
question into what the flow keeps.

The place question itself (asking, resolving, the follow-up when a name is ambiguous)
is :mod:`flows.place_question`; these steps sit on top of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.messages import Choice
from flows.base import TurnContext, is_no, is_yes
from flows.place_question import PLACE_RESPONSES, ask_place, place_label, place_record, read_place
from intents.phone import national_phone
from routing.areas import AreaResolution

__all__ = [
    "CONSENT",
    "NONE",
    "OPTIONAL_RESPONSES",
    "PHONE_RESPONSES",
    "REGISTER",
    "REGISTRATION_RESPONSES",
    "REPORT_PLACE_RESPONSES",
    "SEND",
    "YES_NO",
    "Buttons",
    "PlaceAnswer",
    "ask_optional",
    "ask_yes_no",
    "answered_none",
    "caller_phone",
    "decline_registration",
    "on_yes_no",
    "outside_city",
    "read_phone",
    "read_place_answer",
    "read_report_place",
    "read_town",
    "yes_or_no",
]


@dataclass(frozen=True)
class Buttons:
    """The two buttons of a yes/no question: their payloads and the responses that title them."""

    yes: str
    yes_title: str
    no: str
    no_title: str

    @property
    def responses(self) -> tuple[str, str]:
        """The two titles, for the flow's list of responses."""
        return self.yes_title, self.no_title


YES_NO = Buttons("yes", "utter_choice_yes", "no", "utter_choice_no")
NONE = "none"
"""The payload of the "none" button of a question that may be skipped."""
CONSENT = Buttons("agree", "utter_choice_agree", "disagree", "utter_choice_disagree")
REGISTER = Buttons("register", "utter_choice_register", "cancel", "utter_choice_cancel")
SEND = Buttons("send", "utter_choice_send", "cancel", "utter_choice_cancel")

# What the steps below say, for the response lists of the flows that take them.
REGISTRATION_RESPONSES = (*CONSENT.responses, *REGISTER.responses, "utter_registration_declined")
OPTIONAL_RESPONSES = ("utter_choice_none",)
PHONE_RESPONSES = ("utter_bad_phone",)
REPORT_PLACE_RESPONSES = ("utter_outside_city", *PLACE_RESPONSES)

Step = Callable[[TurnContext], None]


def ask_yes_no(ctx: TurnContext, question: str, buttons: Buttons = YES_NO, **values: Any) -> None:
    """Ask a yes/no question with its two buttons (keys 1 and 2 on the phone)."""
    ctx.ask(question, choices=[Choice(ctx.t(buttons.yes_title), buttons.yes),
                               Choice(ctx.t(buttons.no_title), buttons.no)], **values)


def yes_or_no(ctx: TurnContext, buttons: Buttons = YES_NO) -> bool | None:
    """The answer to a yes/no question: a button or yes/no in words; None when it is neither."""
    if ctx.answer == buttons.yes or is_yes(ctx.answer):
        return True
    if ctx.answer == buttons.no or is_no(ctx.answer):
        return False
    return None


def on_yes_no(ctx: TurnContext, buttons: Buttons, on_yes: Step, on_no: Step) -> None:
    """Take the step the answer chooses; an answer that is neither asks the question again."""
    answer = yes_or_no(ctx, buttons)
    if answer is None:
        ctx.repeat_prompt()
    elif answer:
        on_yes(ctx)
    else:
        on_no(ctx)


def ask_optional(ctx: TurnContext, question: str) -> None:
    """Ask a question that may be answered "none" (a button, or no in words)."""
    ctx.ask(question, choices=[Choice(ctx.t("utter_choice_none"), NONE)])


def answered_none(ctx: TurnContext) -> bool:
    """Whether the answer to an optional question is "none"."""
    return ctx.answer == NONE or is_no(ctx.answer)


def decline_registration(ctx: TurnContext) -> None:
    """The resident said no to a registration's consent or confirmation: nothing is kept."""
    ctx.say("utter_registration_declined")
    ctx.finish()


def caller_phone(ctx: TurnContext) -> str | None:
    """On the phone line, the caller's own number (Twilio's E.164 "+81…", kept as national
    digits like a typed one): a call-back needs no question. None when the number is withheld."""
    return national_phone(ctx.message.user_id) if ctx.channel == "voice" else None


def read_phone(ctx: TurnContext) -> str | None:
    """The phone number the answer gives; a bad one is refused and the question stays open."""
    phone = national_phone(ctx.text)
    if phone is None:
        ctx.say("utter_bad_phone")
    return phone


def outside_city(ctx: TurnContext) -> None:
    """The place is outside the city: say whom to call (110) and end the report."""
    ctx.say("utter_outside_city", hotlines="110")
    ctx.finish()


@dataclass(frozen=True)
class PlaceAnswer:
    """A place question answered well enough: where, the 丁目/番地 detail, and a label for the resident."""

    area: AreaResolution
    detail: str | None
    label: str

    def record(self) -> dict[str, Any]:
        """What a flow keeps in its slots (see :func:`flows.place_question.place_record`)."""
        return place_record(self.area, self.detail, self.label)


def read_place_answer(
    ctx: TurnContext, need: Literal["town", "ward"], prompt: str, fallback: str | None = None
) -> PlaceAnswer | None:
    """Read the answer to the place question ``prompt``.

    Args:
        ctx: the turn.
        need: how precise the place must be (an ``outside`` answer is returned too).
        prompt: the place question, asked again when the answer is not understood.
        fallback: the label when the place has no town or ward name (default: the text).

    Returns:
        The answer, or None when a follow-up question was asked instead.
    """
    area = read_place(ctx, need, prompt)
    if area is None:
        return None
    detail = ctx.slots.get("_place_detail")
    return PlaceAnswer(area, detail, place_label(area, detail, ctx.text if fallback is None else fallback))


def read_town(ctx: TurnContext, prompt: str) -> AreaResolution | None:
    """Read an answer that must name one town of the city; otherwise ask ``prompt`` again.

    Returns:
        A resolution with its ``town``, or None when the question was asked again.
    """
    area = read_place(ctx, "town", prompt)
    if area is None:
        return None
    if area.status != "resolved" or area.town is None:
        ctx.say("utter_place_not_found")
        ask_place(ctx, prompt)
        return None
    return area


def read_report_place(ctx: TurnContext, prompt: str) -> dict[str, Any] | None:
    """The place of a report (a ward is enough), as the slot record the report keeps.

    Returns:
        The record; None when a follow-up question was asked, or when the place is
        outside the city (the report then ends with whom to call).
    """
    where = read_place_answer(ctx, "ward", prompt)
    if where is None:
        return None
    if where.area.status == "outside":
        outside_city(ctx)
        return None
    return where.record()

"""ask_where: name the ONE right counter for the resident's problem and area.

Asks for the area only when the counter depends on it, answers with one counter
(name, phone, address, hours), says what to do while it is closed, and offers a
call-back, which becomes a ``consult`` case for that counter.
"""

from __future__ import annotations

import re

from bot.messages import Choice, EffectKind
from bot.models import CaseKind
from flows.base import Flow, TurnContext
from flows.community import COMMUNITY_LINE_RESPONSES, KINDS_SLOT, community_kinds, community_line
from flows.place_question import (
    PLACE_RESPONSES,
    WARD_SLOT,
    area_from_record,
    ask_place,
    ask_town_in_ward,
    forget_slot,
    is_bare_place,
    looks_like_place,
    person_choice,
    place_already_given,
    place_from_message,
    place_label,
    place_record,
    says_dont_know,
    ward_choices,
)
from flows.steps import (
    PHONE_RESPONSES,
    YES_NO,
    ask_yes_no,
    caller_phone,
    counter_name,
    counter_name_responses,
    hotline_list,
    read_phone,
    read_place_answer,
    yes_or_no,
)
from intents.exits import correction
from routing.areas import AreaResolution, resolve_ward_code
from routing.cases import case_facts, open_case
from routing.counters import ANY_MATTER_TOPIC, CounterChoice, CounterInfo, choose_counter
from routing.hours import describe_moment

__all__ = ["AskWhereFlow", "say_counter", "format_opening", "hotlines_text"]

# Set once the resident was told their place is outside the city (the wards were offered).
OUTSIDE_SAID = "_outside_said"
TOPIC_CHOICES = ("elderly", "disability", "child", "money", "mental", "complex")


def format_opening(ctx: TurnContext, counter: CounterInfo) -> str:
    """When a closed counter opens next, as the resident reads a date (``routing.hours.describe_moment``)."""
    return "" if counter.next_opening is None else describe_moment(counter.next_opening, ctx.lang)


def hotlines_text(ctx: TurnContext, hotlines: tuple[CounterInfo, ...]) -> str:
    """National or 24-hour lines as one text (see :func:`flows.steps.hotline_list`)."""
    return hotline_list(ctx, hotlines)


def say_counter(ctx: TurnContext, choice: CounterChoice) -> None:
    """The answer: one counter, whether it is open, and a 24-hour line when it is not."""
    counter = choice.counter
    assert counter is not None
    ctx.say("utter_counter", name=counter_name(ctx, counter.id, counter.name), phone=counter.phone or "-",
            address=counter.address or "-", hours=counter.hours(ctx.lang))
    if counter.open_now:
        ctx.say("utter_counter_open_now")
    else:
        ctx.say("utter_counter_closed", next_opening=format_opening(ctx, counter))
    urgent_lines = [line for line in choice.hotlines if line.open_now]
    if urgent_lines and (not counter.open_now or ctx.slots.get("topic") in ("child_abuse", "dv")):
        line = urgent_lines[0]
        ctx.say(
            "utter_counter_hotline",
            hotline_name=line.name,
            hotline_phone=line.phone or "",
            hotline_hours=line.hours(ctx.lang),
        )


# Right after an answer, a place with a few words is the same matter elsewhere unless the
# classifier is this sure of another (「借金の相談もしたいです。南区住吉町です」 is 1.0;
# 「すみません、違いました。実家は南区住吉町です」 is a 0.6 guess at "money").
ANOTHER_MATTER_CONFIDENCE = 0.85
# Words that name a place after the answer correct it only if asking for a counter is at
# least this likely a reading of them (or they say it is a correction).
_LIKELY_QUESTION = 0.25


# 「Mi mamá no contesta el teléfono desde ayer y vive sola en Minami-ku」 is an account, not a
# place corrected: more Latin words or more other letters than these.
_LONG_WORDS = 8
_LONG_LETTERS = 25


def _told_at_length(text: str) -> bool:
    words = re.findall(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF']+", text)
    letters = len(re.findall(r"[^\W\d_A-Za-z\u00C0-\u024F\u1E00-\u1EFF]", text))
    return len(words) >= _LONG_WORDS or letters >= _LONG_LETTERS


class AskWhereFlow(Flow):
    reads_opening_words = True
    name = "ask_where"
    intents = ("ask_where",)
    responses = (
        "utter_ask_topic",
        "utter_ask_area",
        "utter_counter",
        "utter_counter_open_now",
        "utter_counter_closed",
        "utter_counter_hotline",
        "utter_outside_city",
        "utter_outside_offer",
        "utter_counter_same_everywhere",
        "utter_offer_callback",
        "utter_ask_callback_phone",
        "utter_callback_created",
        "utter_anything_else",
        *YES_NO.responses,
        *PHONE_RESPONSES,
        *PLACE_RESPONSES,
        *(f"utter_topic_{topic}" for topic in TOPIC_CHOICES),
        *counter_name_responses(),
        *COMMUNITY_LINE_RESPONSES,
    )

    def start(self, ctx: TurnContext) -> None:
        self._remember_kinds(ctx)
        classification = ctx.classification
        # A weak topic guess is not used: the flow asks with choices instead.
        if classification is not None and classification.topic and classification.is_confident:
            ctx.set_slot("topic", classification.topic)
        given = place_already_given(ctx, ("resolved", "ward_only", "outside"))
        if given is not None:
            ctx.set_slot("place", given)
        self._answer_or_ask(ctx)

    def resume(self, ctx: TurnContext) -> None:
        step = ctx.step
        if step == "topic":
            topic = ctx.answer.removeprefix("topic:") if ctx.answer.startswith("topic:") else None
            if topic is None and ctx.text:
                topic = ctx.classify(ctx.text).topic
            if topic is None:
                ctx.repeat_prompt()
                return
            self._remember_kinds(ctx)
            ctx.set_slot("topic", topic)
            self._answer_or_ask(ctx)
        elif step == "area":
            if ctx.slots.get(OUTSIDE_SAID) and not looks_like_place(ctx):
                # Told the place is outside the city, they moved on: a new request.
                ctx.treat_as_new_request()
                return
            ward = ctx.slots.get(WARD_SLOT)
            if ward and says_dont_know(ctx):
                self._ward_desk(ctx, ward)
                return
            place = read_place_answer(ctx, ctx.slots.get("needs_area", "town"), "utter_ask_area", give_up_after=2,
                                      dont_know=True)
            if place is None:
                return
            ctx.set_slot("place", place.record())
            self._answer_or_ask(ctx)
        elif step == "callback_offer":
            wants_callback, caller = yes_or_no(ctx), caller_phone(ctx)
            if wants_callback is None and (is_bare_place(ctx) or self._corrects_the_place(ctx)):
                # 「000-0110」 or 「間違えました、母の家は中央区寿町です」 after the answer: where,
                # for the same matter — never a new topic.
                self._refine(ctx)
            elif wants_callback is None:
                # Not an answer to the offer: treat it as a new request.
                ctx.treat_as_new_request()
            elif wants_callback and caller:
                self._create_callback(ctx, caller)
            elif wants_callback:
                ctx.set_step("callback_phone")
                ctx.ask("utter_ask_callback_phone")
            else:
                ctx.say("utter_anything_else")
                ctx.finish()
        elif step == "callback_phone":
            phone = read_phone(ctx)
            if phone is not None:
                self._create_callback(ctx, phone)

    @staticmethod
    def _remember_kinds(ctx: TurnContext) -> None:
        """The kinds of community place the resident's words fit (「ひとりで寂しい」 → a salon),
        kept (not the words) to offer one beside the counter."""
        kinds = community_kinds(ctx.own_words)
        if kinds:
            ctx.set_slot(KINDS_SLOT, sorted({*ctx.slots.get(KINDS_SLOT, ()), *kinds}))

    def _area(self, ctx: TurnContext) -> AreaResolution | None:
        record = ctx.slots.get("place")
        return area_from_record(ctx, record) if record else None

    def _answer_or_ask(self, ctx: TurnContext) -> None:
        topic = ctx.slots.get("topic")
        if not topic:
            ctx.set_step("topic")
            choices = [Choice(ctx.t(f"utter_topic_{name}"), f"topic:{name}") for name in TOPIC_CHOICES]
            ctx.ask("utter_ask_topic", choices=choices)
            return
        area = self._area(ctx)
        if area is not None and area.status == "outside":
            self._outside(ctx, topic)
            return
        choice = choose_counter(ctx.session, intent="ask_where", topic=topic, area=area, now=ctx.now)
        if choice.counter is None:
            ctx.set_step("area")
            ctx.set_slot("needs_area", choice.needs_area or "town")
            if area is not None and area.status == "ward_only" and area.candidates:
                # The ward is known (「南区に住んでいます」) but the counter depends on the town.
                ctx.set_slot(WARD_SLOT, area.ward_code)
                ask_town_in_ward(ctx, area, dont_know=True)
            else:
                ask_place(ctx, "utter_ask_area")
            return
        self._answer(ctx, choice)

    def _answer(self, ctx: TurnContext, choice: CounterChoice) -> None:
        """Name the one counter, then offer a call-back from it."""
        assert choice.counter is not None
        say_counter(ctx, choice)
        area = self._area(ctx)
        # A place to go beside the counter, when the words fit one: never instead of it.
        community_line(ctx, ctx.slots["topic"], ctx.slots.get(KINDS_SLOT, ()),
                       area.town.town_id if area is not None and area.town is not None else None)
        ctx.effect(EffectKind.answer_given, counter_id=choice.counter.id, topic=ctx.slots["topic"])
        ctx.set_slot("counter_id", choice.counter.id)
        ctx.set_slot("counter_name", choice.counter.name)
        ctx.set_slot("reason", choice.reason)
        ctx.set_step("callback_offer")
        ask_yes_no(ctx, "utter_offer_callback")

    def _ward_desk(self, ctx: TurnContext, ward_code: str) -> None:
        """The ward is known, the town is not: the ward's 総合相談窓口 takes any matter
        (断らない相談支援) and finds the right counter — better than asking the town again."""
        area = resolve_ward_code(ctx.session, ward_code)
        forget_slot(ctx, WARD_SLOT)
        ctx.set_slot("place", place_record(area, None, place_label(area, None, ctx.text)))
        choice = choose_counter(ctx.session, intent="ask_where", topic=ANY_MATTER_TOPIC, area=area, now=ctx.now)
        if choice.counter is None:
            ask_place(ctx, "utter_ask_area")
            return
        self._answer(ctx, choice)

    def _outside(self, ctx: TurnContext, topic: str) -> None:
        """Outside the city: say so with the national lines for the matter; once, offer the
        wards (they may live in the city after all) or a person — never the question again."""
        area = AreaResolution(status="outside")
        hotlines = choose_counter(ctx.session, intent="ask_where", topic=topic, area=area, now=ctx.now).hotlines
        if not hotlines:
            # No national line for this matter: name the ones that take any matter.
            hotlines = choose_counter(ctx.session, intent="ask_where", topic=ANY_MATTER_TOPIC, area=area,
                                      now=ctx.now).hotlines
        ctx.say("utter_outside_city", hotlines=hotlines_text(ctx, hotlines))
        if ctx.slots.get(OUTSIDE_SAID):
            ctx.finish()
            return
        ctx.set_slot(OUTSIDE_SAID, True)
        forget_slot(ctx, "place")
        ctx.set_step("area")
        ctx.ask("utter_outside_offer", choices=[*ward_choices(ctx), person_choice(ctx)])

    @staticmethod
    def _corrects_the_place(ctx: TurnContext) -> bool:
        """A place said again with a few more words after the answer (「訂正します。父の家は
        南区泉町でした」「すみません、実家は南区住吉町です」): the same matter elsewhere,
        unless the words are surely about another matter."""
        if not looks_like_place(ctx):
            return False
        if correction(ctx.text):
            return True
        if _told_at_length(ctx.text):
            # A correction unsaid is a place with a few words (「実家は南区住吉町です」); a whole
            # account that names a ward is another matter, however unsure the classifier is.
            return False
        words = ctx.classify(ctx.text)
        if words.intent != "ask_where" and dict(words.alternatives).get("ask_where", 0.0) < _LIKELY_QUESTION:
            # Not a question about a counter at all: 「Mi mamá no contesta el teléfono desde ayer
            # y vive sola en Minami-ku」 is a new matter that names a ward, not a correction.
            return False
        return words.confidence < ANOTHER_MATTER_CONFIDENCE or words.topic in (None, ctx.slots.get("topic"))

    def go_back(self, ctx: TurnContext, new_answer: str = "") -> bool:
        """「訂正」 alone after an answer: the place was wrong, so ask it again (same matter)."""
        if ctx.step != "callback_offer":
            return False
        forget_slot(ctx, "place")
        ctx.set_step("area")
        ask_place(ctx, "utter_ask_area")
        return True

    def _refine(self, ctx: TurnContext) -> None:
        """A bare place after the answer: the same matter's counter for that place."""
        area, detail = place_from_message(ctx)
        if area.status == "outside":
            self._outside(ctx, ctx.slots["topic"])
            return
        if area.status not in ("resolved", "ward_only"):
            ctx.repeat_prompt()
            return
        choice = choose_counter(ctx.session, intent="ask_where", topic=ctx.slots["topic"], area=area, now=ctx.now)
        if choice.counter is None or choice.counter.id == ctx.slots.get("counter_id"):
            # The same counter wherever they live (a city-wide office), or the place is not precise enough.
            if choice.counter is not None:
                ctx.say("utter_counter_same_everywhere")
            ctx.repeat_prompt()
            return
        ctx.set_slot("place", place_record(area, detail, place_label(area, detail, ctx.text)))
        self._answer_or_ask(ctx)

    def _create_callback(self, ctx: TurnContext, phone: str) -> None:
        area = self._area(ctx)
        counter_id = ctx.slots["counter_id"]
        case, _ = open_case(
            ctx.session,
            kind=CaseKind.consult,
            topic=ctx.slots["topic"],
            counter_id=counter_id,
            area=area,
            details={"callback_phone": phone},
            reason=ctx.slots.get("reason", ""),
            channel=ctx.channel,
            language=ctx.lang,
            reporter_contact_id=ctx.contact.id,
            callback_consent=True,
            now=ctx.now,
        )
        ctx.say("utter_callback_created", name=counter_name(ctx, counter_id, ctx.slots["counter_name"]),
                case_id=case.id)
        ctx.effect(EffectKind.case_created, **case_facts(case))
        ctx.finish()

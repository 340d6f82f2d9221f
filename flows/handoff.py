"""talk_to_human: connect the resident to a person at the right counter, or take a message.

Works from any flow ("a person, please", or the menu's key 0). In opening hours the
resident gets the counter's number (the phone line dials it); after hours they leave a
message (the phone line records it), which becomes a ``callback`` case for that counter.
"""

from __future__ import annotations

import re

from bot.messages import EffectKind, Handoff
from bot.models import CaseKind
from flows.ask_where import format_opening
from flows.base import Flow, TurnContext
from flows.place_question import PLACE_RESPONSES, area_from_record, ask_place, place_record, read_place
from routing.areas import AreaResolution
from routing.cases import case_facts, open_case
from routing.counters import choose_counter

__all__ = ["HandoffFlow"]

# "A person, please", in any flow (matched against the folded text).
ASKING_FOR_A_PERSON = re.compile(
    r"(人|ひと|職員|担当|係|オペレーター|人間|相談員)(の方|さん)?と(話|はな)|"
    r"(オペレーター|職員|担当者|人間)(に|を)(つな|繋|代わ|かわ)|"
    r"talk to (a |an )?(human|person|staff|operator|someone)|real person|speak to (a |an )?(human|person|staff)"
)


class HandoffFlow(Flow):
    name = "talk_to_human"
    intents = ("talk_to_human",)
    interrupts = ASKING_FOR_A_PERSON
    # The counter the resident was just talking about, if any.
    carries_over = ("place", "topic")
    responses = ("utter_ask_ward", "utter_handoff_open", "utter_handoff_closed", "utter_message_received",
                 *PLACE_RESPONSES)

    def start(self, ctx: TurnContext) -> None:
        # The counter the resident was just talking about, if any; otherwise the ward's
        # 総合相談窓口, which takes any matter ("断らない相談支援").
        if ctx.slots.get("place"):
            self._connect(ctx, area_from_record(ctx, ctx.slots["place"]))
            return
        ctx.set_step("ward")
        ask_place(ctx, "utter_ask_ward")

    def resume(self, ctx: TurnContext) -> None:
        if ctx.step == "ward":
            area = read_place(ctx, "ward", "utter_ask_ward")
            if area is not None:
                self._connect(ctx, area)
        elif ctx.step == "message":
            self._take_message(ctx)

    def _connect(self, ctx: TurnContext, area: AreaResolution) -> None:
        topic = ctx.slots.get("topic") or "complex"
        choice = choose_counter(ctx.session, intent="ask_where", topic=topic, area=area, now=ctx.now)
        if choice.counter is None:
            choice = choose_counter(ctx.session, intent="ask_where", topic="complex", area=area, now=ctx.now)
        counter = choice.counter
        if counter is None:
            ctx.set_step("ward")
            ask_place(ctx, "utter_ask_ward")
            return
        handoff = Handoff(counter.id, counter.name, counter.phone or "", counter.open_now)
        if counter.open_now:
            ctx.say("utter_handoff_open", handoff=handoff, end=True, name=counter.name, phone=counter.phone or "")
            ctx.effect(EffectKind.handoff, counter_id=counter.id)
            ctx.finish()
            return
        ctx.conversation.slots = {"place": place_record(area, None, counter.name), "topic": topic,
                                  "counter_id": counter.id, "counter_name": counter.name, "reason": choice.reason}
        ctx.set_step("message")
        ctx.say("utter_handoff_closed", handoff=handoff, record=True, name=counter.name,
                next_opening=format_opening(ctx, counter))

    def _take_message(self, ctx: TurnContext) -> None:
        details: dict[str, str | None] = {"message": ctx.text or None, "recording_url": ctx.message.media_ref}
        if ctx.channel == "voice":
            details["callback_phone"] = ctx.message.user_id
        case, _ = open_case(
            ctx.session,
            kind=CaseKind.callback,
            topic=ctx.slots["topic"],
            counter_id=ctx.slots["counter_id"],
            area=area_from_record(ctx, ctx.slots["place"]),
            details=details,
            reason=ctx.slots["reason"],
            channel=ctx.channel,
            language=ctx.lang,
            reporter_contact_id=ctx.contact.id,
            callback_consent=True,
            now=ctx.now,
        )
        ctx.say("utter_message_received", end=True, name=ctx.slots["counter_name"], case_id=case.id)
        ctx.effect(EffectKind.case_created, **case_facts(case))
        ctx.finish()

"""report_worry: a 見守りの気づき about someone else, turned into a case for the area's 見守り相談室.

Asks only what the counter needs (worry_form in domain.yml): what was noticed, where
the person lives, since when, and whether the counter may call the reporter back,
then confirms and creates the case. A repeat report about the same household within
the linking window is added to the open case instead of creating a second one.
"""

from __future__ import annotations

from bot.messages import EffectKind
from bot.models import CaseKind
from bot.settings import settings
from flows.base import FormFlow, TurnContext
from flows.followup import follow_case
from flows.place_question import area_from_record, ask_place, place_already_given
from flows.steps import (
    PHONE_RESPONSES,
    REPORT_PLACE_RESPONSES,
    SEND,
    YES_NO,
    ask_yes_no,
    caller_phone,
    on_yes_no,
    read_phone,
    read_report_place,
    yes_or_no,
)
from routing.cases import case_facts, household_key, open_case
from routing.counters import choose_counter

__all__ = ["WorryFlow"]

# The order of worry_form's required slots in domain.yml; the flow asks for the first one missing.
QUESTIONS = {
    "noticed": "utter_ask_noticed",
    "where": "utter_ask_where",
    "since_when": "utter_ask_since_when",
    "callback_consent": "utter_ask_callback_consent",
}


def _cancelled(ctx: TurnContext) -> None:
    ctx.say("utter_cancelled")
    ctx.finish()


class WorryFlow(FormFlow):
    name = "report_worry"
    intents = ("report_worry",)
    form = "worry_form"
    questions = QUESTIONS
    responses = (
        "utter_worry_intro",
        "utter_ask_callback_phone",
        "utter_worry_confirm",
        "utter_worry_created",
        "utter_worry_linked",
        "utter_worry_if_danger",
        "utter_cancelled",
        "utter_yes_label",
        "utter_no_label",
        "utter_unknown_label",
        *YES_NO.responses,
        *SEND.responses,
        *PHONE_RESPONSES,
        *REPORT_PLACE_RESPONSES,
    )

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_worry_intro")
        # A free-text report already says what was noticed; a menu button does not.
        if ctx.own_words and ctx.classification is not None:
            ctx.set_slot("noticed", ctx.own_words)
            given = place_already_given(ctx, ("resolved", "ward_only"))
            if given is not None:
                ctx.set_slot("where", given)
        self._next(ctx)

    def resume(self, ctx: TurnContext) -> None:
        step = ctx.step
        if step == "noticed":
            ctx.set_slot("noticed", ctx.text)
        elif step == "where":
            where = read_report_place(ctx, "utter_ask_where")
            if where is None:
                return
            ctx.set_slot("where", where)
        elif step == "since_when":
            ctx.set_slot("since_when", ctx.text or ctx.t("utter_unknown_label"))
        elif step == "callback_consent":
            consent = yes_or_no(ctx)
            if consent is None:
                ctx.repeat_prompt()
                return
            ctx.set_slot("callback_consent", consent)
        elif step == "callback_phone":
            phone = read_phone(ctx)
            if phone is None:
                return
            ctx.set_slot("callback_phone", phone)
        elif step == "confirm":
            on_yes_no(ctx, SEND, self._create_case, _cancelled)
            return
        self._next(ctx)

    def ask_slot(self, ctx: TurnContext, slot: str, question: str) -> None:
        if slot == "where":
            ask_place(ctx, question)
        elif slot == "callback_consent":
            ask_yes_no(ctx, question)
        else:
            ctx.ask(question)

    def _next(self, ctx: TurnContext) -> None:
        if self.ask_next(ctx):
            return
        if ctx.slots["callback_consent"] and "callback_phone" not in ctx.slots:
            caller = caller_phone(ctx)
            if caller:
                ctx.set_slot("callback_phone", caller)
            else:
                ctx.set_step("callback_phone")
                ctx.ask("utter_ask_callback_phone")
                return
        self._confirm(ctx)

    def _confirm(self, ctx: TurnContext) -> None:
        area = area_from_record(ctx, ctx.slots["where"])
        choice = choose_counter(ctx.session, intent="report_worry", topic=None, area=area, now=ctx.now)
        assert choice.counter is not None, "a ward's 見守り相談室 must exist for every ward"
        ctx.set_slot("counter_id", choice.counter.id)
        ctx.set_slot("counter_name", choice.counter.name)
        ctx.set_slot("reason", choice.reason)
        ctx.set_step("confirm")
        callback = ctx.t("utter_yes_label") if ctx.slots["callback_consent"] else ctx.t("utter_no_label")
        ask_yes_no(
            ctx,
            "utter_worry_confirm",
            SEND,
            counter_name=choice.counter.name,
            noticed=ctx.slots["noticed"],
            where=ctx.slots["where"]["label"],
            since_when=ctx.slots["since_when"],
            callback=callback,
        )

    def _create_case(self, ctx: TurnContext) -> None:
        where = ctx.slots["where"]
        area = area_from_record(ctx, where)
        consent = bool(ctx.slots["callback_consent"])
        details = {"noticed": ctx.slots["noticed"], "where": where["label"], "since_when": ctx.slots["since_when"]}
        if consent:
            details["callback_phone"] = ctx.slots.get("callback_phone")
        case, linked = open_case(
            ctx.session,
            kind=CaseKind.worry,
            topic="watch",
            counter_id=ctx.slots["counter_id"],
            area=area,
            details=details,
            reason=ctx.slots["reason"],
            channel=ctx.channel,
            language=ctx.lang,
            household_key=household_key(area, where.get("detail"), where["label"]),
            reporter_contact_id=ctx.contact.id if consent else None,
            callback_consent=consent,
            now=ctx.now,
        )
        if linked:
            ctx.say("utter_worry_linked", case_id=case.id, counter_name=ctx.slots["counter_name"])
            ctx.effect(EffectKind.case_linked, **case_facts(case))
        else:
            hours = round((case.first_contact_due - case.created_at).total_seconds() / 3600) if case.first_contact_due else settings.first_contact_hours
            ctx.say("utter_worry_created", case_id=case.id, counter_name=ctx.slots["counter_name"], hours=hours)
            ctx.effect(EffectKind.case_created, **case_facts(case))
        ctx.say("utter_worry_if_danger")
        # What the resident remembers next is added to this case.
        follow_case(ctx, case.id)

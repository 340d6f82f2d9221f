"""report_worry: a 見守りの気づき about someone else, turned into a case for the area's 見守り相談室.

Asks only what the counter needs (worry_form in domain.yml): what was noticed, where
the person lives, since when, and whether the counter may call the reporter back,
then confirms and creates the case. The form listens (flows/report_words.py):

- the first message fills what it answers — what was noticed only when it says
  something observed (「隣のおばあさんを最近見かけない」, not 「近所の人のことで気になる
  ことがあって」, which is asked 「どのようなことに気づきましたか」), the place, since when;
- the current question decides how an answer is read (a description is never
  re-classified; only the safety layer and the ways out take over);
- more about the person at any step (「ポストに新聞が4日分たまっています」 when asked
  where) is added to what was noticed, acknowledged, and the question asked again.

The report is saved as a draft case from its first answer and updated with each
(``saves_first``): a reporter who stops half-way leaves a case marked incomplete, with
their contact. A repeat report about the same household (routing/cases.py decides) is
added to its open case; afterwards the conversation follows the case (flows/followup.py).
"""

from __future__ import annotations

from typing import Any

from bot.messages import Choice, EffectKind
from bot.models import Case, CaseKind
from bot.settings import settings
from flows.base import FormFlow, TurnContext, is_no, is_yes
from flows.followup import follow_case
from flows.place_question import (
    REPORT_PLACE_SLOT,
    area_from_record,
    ask_place,
    is_bare_place,
    is_only_a_place,
    looks_like_place,
    place_already_given,
    place_from_message,
    place_label,
    says_dont_know,
)
from flows.report_words import (
    is_more_about_the_person,
    says_what_was_noticed,
    since_when,
    strip_fillers,
)
from flows.steps import (
    GUIDANCE_SLOT,
    PHONE_RESPONSES,
    REPORT_PLACE_RESPONSES,
    SEND,
    YES_NO,
    address_after_the_place,
    answered_here,
    ask_yes_no,
    caller_phone,
    discard_report_draft,
    guidance_given,
    is_bare_key,
    keep_number_told_ahead,
    keep_report_counter,
    keep_told_ahead,
    note_question,
    on_yes_no,
    place_flags,
    questions_asked,
    read_phone,
    read_report_place,
    reply_here,
    reply_here_instead_of_a_number,
    report_draft,
    save_report_draft,
    tentative_place,
    wants_reply_here,
    yes_or_no,
)
from intents.phone import national_phone
from routing.cases import case_facts, household_key, open_case

__all__ = ["WorryFlow"]

# On the phone, what was noticed and since when can be keyed: the common answers (domain.yml
# ``utter_noticed_<key>`` / ``utter_since_when_<key>``), kept as their words, never as a digit;
# 「その他」 asks for the caller's own words.
KEYPAD_MENUS = {
    "noticed": ("newspapers", "not_seen", "unusual", "smell", "noise", "other"),
    "since_when": ("today", "few_days", "week", "longer", "unknown"),
}
NOTICED_IN_WORDS = "noticed:other"

# The order of worry_form's required slots in domain.yml; the flow asks for the first one missing.
QUESTIONS = {
    "noticed": "utter_ask_noticed",
    "where": "utter_ask_where",
    "since_when": "utter_ask_since_when",
    "callback_consent": "utter_ask_callback_consent",
}


def _cancelled(ctx: TurnContext) -> None:
    ctx.say("utter_cancelled")
    discard_report_draft(ctx)
    ctx.finish()


def open_worry_case(ctx: TurnContext, details: dict[str, Any], *, noticed: str | None,
                    reporter_contact_id: int | None = None, callback_consent: bool = False,
                    draft: Case | None = None) -> tuple[Case, bool]:
    """The worry case of a finished report — a resident's or a partner's — for the place and
    counter its slots hold, or the household's open case it is linked to (True)."""
    where = ctx.slots["where"]
    area = area_from_record(ctx, where)
    return open_case(
        ctx.session,
        kind=CaseKind.worry,
        topic="watch",
        counter_id=ctx.slots["counter_id"],
        area=area,
        details=details,
        reason=ctx.slots["reason"],
        channel=ctx.channel,
        language=ctx.lang,
        household_key=household_key(area, where.get("detail"), ctx.slots.get("where_text") or where["label"], noticed),
        reporter_contact_id=reporter_contact_id,
        callback_consent=callback_consent,
        now=ctx.now,
        draft=draft,
    )


class WorryFlow(FormFlow):
    reads_opening_words = True
    name = "report_worry"
    intents = ("report_worry",)
    # Guidance given in the message that started the report is part of its case.
    carries_over = (GUIDANCE_SLOT,)
    form = "worry_form"
    questions = QUESTIONS
    saves_first = True
    free_word_steps = frozenset({"noticed"})
    responses = (
        "utter_worry_intro",
        "utter_ask_callback_phone",
        "utter_worry_confirm",
        "utter_worry_created",
        "utter_worry_linked",
        "utter_worry_if_danger",
        "utter_detail_noted",
        "utter_question_noted",
        "utter_question_unanswered",
        "utter_reply_here_noted",
        "utter_reply_here_label",
        "utter_cancelled",
        "utter_yes_label",
        "utter_no_label",
        "utter_unknown_label",
        "utter_ask_noticed_words",
        *(f"utter_{slot}_{key}" for slot, keys in KEYPAD_MENUS.items() for key in keys),
        *YES_NO.responses,
        *SEND.responses,
        *PHONE_RESPONSES,
        *REPORT_PLACE_RESPONSES,
    )

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_worry_intro")
        # A menu button (or its digit) says nothing; a report in the resident's words may say a lot.
        if ctx.own_words and ctx.classification is not None:
            self._read_words(ctx, first=True)
        self._next(ctx)

    def _read_words(self, ctx: TurnContext, *, first: bool) -> None:
        """Fill whatever the words answer: the place, since when, and (first message) what was noticed."""
        words = ctx.own_words
        area, detail = place_from_message(ctx)
        if "where" not in ctx.slots:
            given = place_already_given(ctx, ("resolved",))
            if given is not None:
                ctx.set_slot("where", given)
                ctx.set_slot("where_text", words)
        if first and says_what_was_noticed(words, place_label(area, detail, "")):
            # Read together with a reply to the safety question (「…雨戸が閉まったまま」 then
            # "Minami-ku Asahicho"): a line that is only a place answers where, not what was noticed.
            lines = [line for line in words.splitlines() if not is_only_a_place(ctx, line)]
            ctx.set_slot("noticed", strip_fillers("\n".join(lines) or words))
        if "since_when" not in ctx.slots and (since := since_when(words)):
            ctx.set_slot("since_when", since)

    def account_so_far(self, ctx: TurnContext) -> str:
        noticed = ctx.slots.get("noticed")
        return noticed if isinstance(noticed, str) else ""

    def resume(self, ctx: TurnContext) -> None:
        step = ctx.step
        if step in KEYPAD_MENUS and self._keyed(ctx, step):
            return
        if step in ("noticed", "where", "since_when") and keep_number_told_ahead(ctx, consent_slot="callback_consent"):
            # Their number, typed before it is asked: a yes to a call-back, and the number.
            return
        if step == "noticed":
            if is_bare_place(ctx) and "where" not in ctx.slots:
                # Only a place (「北区柳町2丁目です」): it answers where; what was noticed is asked again.
                self._read_words(ctx, first=False)
                self._next(ctx)
                return
            # The answer to "what did you notice" is what was noticed, whatever else it says.
            ctx.set_slot("noticed", strip_fillers(ctx.text))
            if ctx.own_words:
                self._read_words(ctx, first=False)
        elif step == "where":
            if self._more_instead_of_a_place(ctx):
                return
            where = read_report_place(ctx, "utter_ask_where")
            if ctx.own_words and not (is_yes(ctx.own_words) or is_no(ctx.own_words)):
                # The resident's own words for the place (building, room) tell households apart.
                ctx.set_slot("where_text", " ".join(filter(None, (ctx.slots.get("where_text"), ctx.own_words))))
            if where is None:
                if tentative_place(ctx):
                    self.save_draft(ctx)  # hung up at the read-back: the place said is kept
                return
            ctx.set_slot("where", where)
        elif step == "since_when":
            if self._address_after_the_place(ctx):
                return
            if note_question(ctx):
                return
            # 「わからない」「không」, or a bare 「はい」 (the answer to another question): nothing
            # for the counter to read but that it is not known.
            answer = ctx.own_words or ctx.text
            known = ctx.text and not (says_dont_know(ctx) or is_no(answer) or is_yes(answer))
            ctx.set_slot("since_when", strip_fillers(ctx.text) if known else ctx.t_for_both("utter_unknown_label"))
        elif step == "callback_consent":
            # 「電話はいらんよ」 is a no (flows.base.is_no), not a detail.
            consent = yes_or_no(ctx)
            phone = national_phone(ctx.own_words) if ctx.own_words and consent is not False else None
            if phone is not None:
                # 「はい、090 1234 5678 にお願いします」: yes, and the number to call.
                consent = True
                ctx.set_slot("callback_phone", phone)
            elif consent is not False and wants_reply_here(ctx):
                # 「電話は苦手なので、このチャットに返事をください」: yes, answered here.
                consent = True
                reply_here(ctx)
            if consent is None:
                if not (self._since_when_again(ctx) or self._more(ctx)):
                    ctx.repeat_prompt()
                return
            ctx.set_slot("callback_consent", consent)
        elif step == "callback_phone":
            if reply_here_instead_of_a_number(ctx):
                # 「番号は教えたくない、このチャットで」: no number; staff answer here.
                self._next(ctx)
                return
            if national_phone(ctx.text) is None and self._more(ctx):
                return
            phone = read_phone(ctx, read_back=True)
            if phone is None:
                return
            ctx.set_slot("callback_phone", phone)
        elif step == "confirm":
            if yes_or_no(ctx, SEND) is None and self._more(ctx, ask_again=False):
                self._confirm(ctx)
                return
            on_yes_no(ctx, SEND, self._create_case, _cancelled)
            return
        self._next(ctx)

    def _address_after_the_place(self, ctx: TurnContext) -> bool:
        """「2丁目」「2-chome」 sent just after the town: the rest of the address, not since when."""
        if not address_after_the_place(ctx, "where"):
            return False
        # The resident's own words for the place tell households apart.
        ctx.set_slot("where_text", " ".join(filter(None, (ctx.slots.get("where_text"), ctx.own_words))))
        return True

    def _more_instead_of_a_place(self, ctx: TurnContext) -> bool:
        """Asked where, the resident told more about the person instead (no place, prose)."""
        asking = (ctx.slots.get(REPORT_PLACE_SLOT) or {}).get("asking")
        if asking == "landmark" or looks_like_place(ctx):
            return False
        if "since_when" not in ctx.slots and ctx.own_words and (since := since_when(ctx.own_words)):
            # 「3日前から」 answers a later question: kept, and the place asked again.
            if not is_more_about_the_person(ctx.own_words):
                return keep_told_ahead(ctx, since_when=since)
            ctx.set_slot("since_when", since)
        return self._more(ctx)

    @staticmethod
    def _since_when_again(ctx: TurnContext) -> bool:
        """「about 5 days」 at the call-back question: since when, told again in the resident's own
        words (the first message had said it, so it was not asked) — kept in place of the
        earlier reading, and the call-back asked again."""
        words = ctx.own_words
        if not words or since_when(words) is None or is_more_about_the_person(words):
            return False
        return keep_told_ahead(ctx, since_when=strip_fillers(words))

    def _more(self, ctx: TurnContext, *, ask_again: bool = True) -> bool:
        """Words that tell more about the person are added to what was noticed, and a question
        to the bot is kept for the counter; the report's question is asked again. False when
        the words are neither."""
        if note_question(ctx, ask_again=ask_again):
            return True
        words = ctx.own_words
        if not words or says_dont_know(ctx) or not is_more_about_the_person(words):
            return False
        noticed = ctx.slots.get("noticed")
        ctx.set_slot("noticed", f"{noticed} / {words}" if noticed else words)
        ctx.say("utter_detail_noted")
        if ask_again:
            ctx.repeat_prompt()
        return True

    def _keyed(self, ctx: TurnContext, step: str) -> bool:
        """An answer from the phone's menu of common answers, kept as its words; a key that
        is none of them asks again (a bare digit is never what was noticed). False for words."""
        prefix = f"{step}:"
        if ctx.answer == NOTICED_IN_WORDS:
            ctx.ask("utter_ask_noticed_words")
            return True
        if ctx.answer.startswith(prefix):
            ctx.set_slot(step, ctx.t(f"utter_{step}_{ctx.answer.removeprefix(prefix)}"))
            self._next(ctx)
            return True
        if is_bare_key(ctx):
            ctx.repeat_prompt()
            return True
        return False

    def ask_slot(self, ctx: TurnContext, slot: str, question: str) -> None:
        if slot == "where":
            ask_place(ctx, question)
        elif slot == "callback_consent":
            ask_yes_no(ctx, question)
        elif slot in KEYPAD_MENUS and ctx.channel == "voice":
            # The phone: common answers as keys, or in the caller's words.
            ctx.ask(question, choices=[Choice(ctx.t(f"utter_{slot}_{key}"), f"{slot}:{key}")
                                       for key in KEYPAD_MENUS[slot]])
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
        keep_report_counter(ctx, "report_worry", ctx.slots["where"])
        ctx.set_step("confirm")
        callback = ctx.t("utter_reply_here_label" if answered_here(ctx) else
                         "utter_yes_label" if ctx.slots["callback_consent"] else "utter_no_label")
        ask_yes_no(
            ctx,
            "utter_worry_confirm",
            SEND,
            counter_name=ctx.slots["counter_name"],
            noticed=ctx.slots["noticed"],
            where=ctx.slots["where"]["label"],
            since_when=ctx.slots["since_when"],
            callback=callback,
        )

    def abandon(self, ctx: TurnContext) -> None:
        discard_report_draft(ctx)

    def save_draft(self, ctx: TurnContext) -> None:
        save_report_draft(ctx, kind=CaseKind.worry, intent="report_worry", topic="watch", details=self._details(ctx),
                          place=ctx.slots.get("where") or tentative_place(ctx))

    def _details(self, ctx: TurnContext) -> dict[str, Any]:
        """What the counter is told: the answers so far (all of them once the form is complete)."""
        where = ctx.slots.get("where") or tentative_place(ctx)
        return {"noticed": ctx.slots.get("noticed"), "where": where["label"] if where else None,
                "since_when": ctx.slots.get("since_when"), **questions_asked(ctx), **guidance_given(ctx),
                **(place_flags(where) if where else {})}

    def _create_case(self, ctx: TurnContext) -> None:
        consent = bool(ctx.slots["callback_consent"])
        details = self._details(ctx)
        if consent:
            details["callback_phone"] = ctx.slots.get("callback_phone")
        case, linked = open_worry_case(ctx, details, noticed=ctx.slots.get("noticed"),
                                       reporter_contact_id=ctx.contact.id if consent else None,
                                       callback_consent=consent, draft=report_draft(ctx))
        if linked:
            ctx.say("utter_worry_linked", case_id=case.id, counter_name=ctx.slots["counter_name"])
            # The effect tells what this report said; the case keeps the first report's details.
            ctx.effect(EffectKind.case_linked, **case_facts(case, details, consent))
        else:
            hours = round((case.first_contact_due - case.created_at).total_seconds() / 3600) if case.first_contact_due else settings.first_contact_hours
            ctx.say("utter_worry_created", case_id=case.id, counter_name=ctx.slots["counter_name"], hours=hours)
            ctx.effect(EffectKind.case_created, **case_facts(case))
        if not consent and questions_asked(ctx):
            # Nobody will call back to answer the questions kept: whom to ask instead.
            phone = ctx.slots.get("counter_phone")
            ctx.say("utter_question_unanswered",
                    counter=f"{ctx.slots['counter_name']} ({phone})" if phone else ctx.slots["counter_name"])
        ctx.say("utter_worry_if_danger")
        # What the resident remembers next is added to this case.
        follow_case(ctx, case.id)

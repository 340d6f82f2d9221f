"""report_missing: a family reports a missing person; 110 guidance first, then an urgent case.

The very first reply tells the family to call 110 (the police search; we only help).
Then it collects missing_form (who, last seen where and when, clothing) quickly — no
confirmation round-trip, time matters. The form listens (flows/report_words.py): the
first message fills who (a family word, with its age: 「認知症の父」「85歳の母」) and the place it names;
each question decides how its answer is read (a description is never re-classified —
「85歳の男じゃ。腰が曲がっとる」 is who, not an emergency); more about the person when
asked where is added to who and the place asked again. It creates an urgent case for the ward's
見守り相談室, the alert desk that decides on a cooperator alert. A family that
pre-registered someone (flows/person.py) first picks the person, whose registered
description then answers "who". With the case comes a *pending* alert
(routing/alerts.py): nothing reaches cooperators until staff approve it, unless
``auto_approve_registered`` lets a pre-registered person's alert go out at once.

The alert's public text is composed from structured fields (alerts/texts.py), read from
the answers (flows/features.py), never the family's words as such. Right after the case
exists (the desk has it), :class:`AlertDetailsFlow` asks only the key features those
answers did not give — sex, height band, build, with choices and 「わからない」 — and
whether name, condition and photo may go out too (「特徴だけ」 first: anything but a clear
yes is no); then the conversation follows the case as usual.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from alerts.lifecycle import approve, create_from_case
from alerts.texts import clean_fields
from bot.messages import Choice, EffectKind, coarse_point
from bot.models import Alert, AlertStatus, Case, CaseKind, RegisteredPerson
from bot.settings import settings
from flows.base import Flow, FormFlow, TurnContext, is_bare_yes, is_no, is_yes
from flows.features import (
    FEATURE_RESPONSES,
    SHARE_RESPONSES,
    ask_feature,
    ask_share,
    missing_features,
    names_clothing,
    read_answer,
    read_clothing,
    read_features,
    read_name,
    read_share,
    worn_in,
)
from flows.followup import follow_case
from flows.person import person_label, persons_of
from flows.place_question import (
    REPORT_PLACE_SLOT,
    area_from_record,
    ask_place,
    is_bare_place,
    looks_like_place,
    place_already_given,
    says_dont_know,
    spot_words,
)
from flows.report_words import (
    asks_instead_of_answering,
    asks_whether_to_call_the_police,
    is_more_about_the_person,
    missing_person,
    strip_fillers,
)
from flows.steps import (
    GUIDANCE_SLOT,
    OPTIONAL_RESPONSES,
    PHONE_RESPONSES,
    REPORT_PLACE_RESPONSES,
    YES_NO,
    address_after_the_place,
    answered_none,
    ask_optional,
    ask_yes_no,
    caller_phone,
    discard_report_draft,
    guidance_given,
    is_bare_key,
    keep_number_told_ahead,
    keep_told_ahead,
    note_question,
    place_flags,
    questions_asked,
    read_phone,
    read_report_place,
    reply_here,
    reply_here_instead_of_a_number,
    report_counter,
    report_draft,
    save_report_draft,
    tentative_place,
    wants_reply_here,
    yes_or_no,
)
from flows.when import When, read_when
from intents.exits import is_soft_cancel
from intents.phone import national_phone
from routing.cases import OPEN_STATUSES, add_details, case_facts, open_case

__all__ = ["AlertDetailsFlow", "MissingFlow", "ask_alert_details"]

# The questions answered in the family's own words, whatever they say (a description, a time).
_FREE_WORDS = ("missing_who", "last_seen_when", "clothing")
QUESTIONS = {
    "missing_who": "utter_ask_missing_who",
    "last_seen_where": "utter_ask_last_seen_where",
    "last_seen_when": "utter_ask_last_seen_when",
    "clothing": "utter_ask_clothing",
    "callback_phone": "utter_ask_callback_phone",
}


# The step (and, once yes, the slot) of the phone's read-back of the description.
DESCRIPTION_READ_BACK = "description_read_back"
# Set while "who" is only a family word from the first message (「父が帰ってこない」).
APPEARANCE_UNTOLD = "appearance_untold"


def _last_seen(ctx: TurnContext) -> When | None:
    """When the person was last seen, read from the family's words at the moment they said them."""
    said_at = ctx.slots.get("last_seen_said_at")
    return read_when(ctx.slots.get("last_seen_when"), datetime.fromisoformat(said_at)) if said_at else None


class MissingFlow(FormFlow):
    reads_opening_words = True
    name = "report_missing"
    intents = ("report_missing",)
    # Guidance given in the message that started the report is part of its case.
    carries_over = (GUIDANCE_SLOT,)
    form = "missing_form"
    questions = QUESTIONS
    # Saved from the first answer (a key pressed on the phone is one): a family that hangs
    # up to call 110 leaves an urgent case with their number (issue 16, item 1).
    saves_first = True
    # Who is missing and what they look like: 「腰が曲がっとる」「杖をついて」 describe, never alarm.
    _DESCRIBING = frozenset({"missing_who", "clothing", DESCRIPTION_READ_BACK})
    responses = (
        "utter_missing_intro",
        "utter_ask_clothing_and_appearance",
        "utter_missing_created",
        "utter_ask_missing_registered",
        "utter_person_choice_label",
        "utter_choice_not_registered_person",
        "utter_missing_alert_pending",
        "utter_missing_alert_sent",
        "utter_detail_noted",
        "utter_question_noted",
        "utter_missing_police",
        "utter_reply_here_noted",
        "utter_description_read_back",
        *YES_NO.responses,
        *PHONE_RESPONSES,
        *REPORT_PLACE_RESPONSES,
    )

    def describes_a_person(self, step: str | None) -> bool:
        return step in self._DESCRIBING

    def opens_with_urgent_guidance(self) -> bool:
        return True  # utter_missing_intro: 110 first

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_missing_intro", urgent=True)
        if ctx.own_words:
            ctx.set_slot("first_report", strip_fillers(ctx.own_words))
            self._read_words(ctx)
        persons = persons_of(ctx)
        if persons:
            ctx.set_step("registered_person")
            choices = [Choice(person_label(ctx, person), f"person:{person.id}") for person in persons]
            ctx.ask("utter_ask_missing_registered",
                    choices=[*choices, Choice(ctx.t("utter_choice_not_registered_person"), "not_registered")])
            return
        self._next(ctx)

    def _read_words(self, ctx: TurnContext) -> None:
        """Fill whatever the words answer: who (with an age), where they were last seen, and
        what they wear when the words say it (never asked twice)."""
        words = ctx.own_words
        if "missing_who" not in ctx.slots and (person := missing_person(words)):
            ctx.set_slot("missing_who", person)
            # A family word (and an age) is not a description searchers can use: the
            # clothing question asks for their appearance too, without an extra question.
            ctx.set_slot(APPEARANCE_UNTOLD, True)
        if "last_seen_where" not in ctx.slots:
            given = place_already_given(ctx, ("resolved",))
            if given is not None:
                ctx.set_slot("last_seen_where", given)
        if "clothing" not in ctx.slots and (worn := worn_in(words)):
            ctx.set_slot("clothing", worn)

    def _pick_person(self, ctx: TurnContext) -> None:
        """The family's answer to "is it a pre-registered person?" — never a reason to ask twice."""
        persons = {f"person:{person.id}": person for person in persons_of(ctx)}
        person = persons.get(ctx.answer)
        if person is None and len(persons) == 1 and is_yes(ctx.answer):
            [person] = persons.values()
        if person is not None:
            ctx.set_slot("person_id", person.id)
            ctx.set_slot("missing_who", person.description)
        elif ctx.text and not (is_yes(ctx.answer) or is_no(ctx.answer)) and ctx.answer != "not_registered":
            # They described the person instead of choosing: that answers the next question.
            ctx.set_slot("missing_who", ctx.text)

    def resume(self, ctx: TurnContext) -> None:
        step = ctx.step
        if step == DESCRIPTION_READ_BACK:
            self._description_checked(ctx)
            return
        if step in _FREE_WORDS + ("last_seen_where",) and keep_number_told_ahead(ctx):
            # Their number, typed where a place or the person is asked: the number to call.
            return
        if step == "registered_person":
            self._pick_person(ctx)
        elif step == "last_seen_where":
            if self._more_instead_of_a_place(ctx):
                return
            where = read_report_place(ctx, "utter_ask_last_seen_where")
            if where is None:
                if tentative_place(ctx):
                    self.save_draft(ctx)  # hung up at the read-back: the place said is kept
                return
            ctx.set_slot("last_seen_where", where)
            if (latitude := ctx.message.latitude) is not None and (longitude := ctx.message.longitude) is not None:
                # Kept to about 500 m only: the alert's distances and its CAP circle need no more.
                ctx.set_slot("last_seen_point", list(coarse_point(latitude, longitude)))
            # 「駅の近くで30分前に」: where they were last seen, and when. Read from the words
            # besides the place (朝日町 is no morning), and only as a clock time or a time ago (a
            # 夜間診療所 is no night); only here: in the first message a time is as often the
            # usual one (「いつもは5時に」).
            spot = spot_words(ctx)
            if spot and "last_seen_when" not in ctx.slots and read_when(spot, ctx.now, part_of_day_alone=False):
                ctx.set_slot("last_seen_when", spot)
                ctx.set_slot("last_seen_said_at", ctx.now.isoformat())
        elif step == "callback_phone":
            if reply_here_instead_of_a_number(ctx):
                # 「番号は教えたくない、このチャットで」: the desk answers here (a call-back is consented).
                self._next(ctx)
                return
            if national_phone(ctx.text) is None and self._more(ctx):
                return
            phone = read_phone(ctx, read_back=True)
            if phone is None:
                return
            ctx.set_slot("callback_phone", phone)
        elif step == "missing_who" and is_bare_place(ctx) and "last_seen_where" not in ctx.slots:
            # Only a place (「みなみく すみよしちょう」): it answers where; who is asked again.
            self._read_words(ctx)
        elif (step == "last_seen_when" and address_after_the_place(ctx, "last_seen_where")) or (
                step in _FREE_WORDS and (self._asks_instead(ctx, step) or self._reply_here_ahead(ctx))):
            # The rest of the address, a question to the bot, or "answer me here": no answer.
            return
        elif step in QUESTIONS and (is_bare_key(ctx) or is_bare_yes(ctx.own_words or ctx.text)):
            # A key that is no choice, or a bare 「はい」, is never a description or a time: asked again.
            ctx.repeat_prompt()
            return
        elif step in QUESTIONS:
            # The answer to the question asked, whatever it sounds like (a description is who).
            ctx.set_slot(step, strip_fillers(ctx.text))
            if step == "missing_who" and ctx.own_words:
                self._read_words(ctx)
            if step == "last_seen_when":
                # 「10分前」 means ten minutes before it was said, not before the form ends.
                ctx.set_slot("last_seen_said_at", ctx.now.isoformat())
        self._next(ctx)

    @staticmethod
    def _asks_instead(ctx: TurnContext, step: str) -> bool:
        """A question to the bot instead of the answer (「警察にも電話したほうがいいですか」): kept for
        the desk and the question asked again, so searchers never read it as when or what they
        wore. Words that also answer (a time, a family word, clothes) are the answer."""
        words = ctx.own_words
        if not words or not asks_instead_of_answering(words):
            return False
        answers = {"missing_who": missing_person, "clothing": worn_in,
                   "last_seen_when": lambda text: read_when(text, ctx.now)}[step]
        return answers(words) is None and MissingFlow._answer_question(ctx)

    @staticmethod
    def _answer_question(ctx: TurnContext) -> bool:
        """A question to the bot: "should I call the police too?" is answered at once (yes,
        110 now: every minute counts in a search); any other is kept for the desk
        (:func:`flows.steps.note_question`). The report's question is asked again."""
        words = ctx.own_words
        if words and asks_whether_to_call_the_police(words):
            ctx.say("utter_missing_police", urgent=True)
            ctx.repeat_prompt()
            return True
        return note_question(ctx)

    @staticmethod
    def _reply_here_ahead(ctx: TurnContext) -> bool:
        """「電話番号は教えたくない、このチャットで」 said before the number is asked: kept, and
        the question asked again (it is no description and no time)."""
        if "callback_phone" in ctx.slots or not wants_reply_here(ctx):
            return False
        reply_here(ctx)
        ctx.repeat_prompt()
        return True

    def _more_instead_of_a_place(self, ctx: TurnContext) -> bool:
        """Asked where, the family told more about the person instead (no place, prose)."""
        asking = (ctx.slots.get(REPORT_PLACE_SLOT) or {}).get("asking")
        if asking == "landmark" or looks_like_place(ctx):
            return False
        words = ctx.own_words
        if "last_seen_when" not in ctx.slots and words and read_when(words, ctx.now, part_of_day_alone=False):
            # 「朝の 九時ごろ です」 answers the next question (a caller ahead of the read-back): kept
            # as when, not as a description, and the place asked again.
            return keep_told_ahead(ctx, last_seen_when=strip_fillers(words), last_seen_said_at=ctx.now.isoformat())
        return self._more(ctx)

    def _more(self, ctx: TurnContext) -> bool:
        """Words that tell more about the person are added to who, and a question to the bot
        is kept for the desk; the report's question is asked again. False when the words are
        neither."""
        if self._answer_question(ctx):
            return True
        words = ctx.own_words
        clothes = bool(words) and names_clothing(words)
        if not words or says_dont_know(ctx) or not (clothes or is_more_about_the_person(words)):
            return False
        who = ctx.slots.get("missing_who")
        ctx.set_slot("missing_who", f"{who} / {words}" if who else words)
        ctx.set_slot(APPEARANCE_UNTOLD, False)
        worn = "clothing" not in ctx.slots and (worn_in(words) or (clothes and read_clothing(words).get("clothing")))
        if worn:
            # 「紺色のジャンパーに茶色の帽子」 told at the place question: not asked again.
            ctx.set_slot("clothing", worn)
        ctx.say("utter_detail_noted")
        ctx.repeat_prompt()
        return True

    def _next(self, ctx: TurnContext) -> None:
        caller = caller_phone(ctx)
        if caller and "callback_phone" not in ctx.slots:
            ctx.set_slot("callback_phone", caller)
        if self.ask_next(ctx):
            return
        if ctx.channel == "voice" and not ctx.slots.get(DESCRIPTION_READ_BACK):
            # On the phone the description searchers will use is read back first.
            ctx.set_step(DESCRIPTION_READ_BACK)
            ask_yes_no(ctx, "utter_description_read_back", who=ctx.slots["missing_who"],
                       clothing=ctx.slots["clothing"])
            return
        self._create_case(ctx)

    def _description_checked(self, ctx: TurnContext) -> None:
        """Yes: the report goes on. No: the description is asked again, appearance and clothing."""
        answer = yes_or_no(ctx)
        if answer is None:
            ctx.repeat_prompt()
            return
        if answer:
            ctx.set_slot(DESCRIPTION_READ_BACK, True)
        else:
            del ctx.slots["clothing"]
            ctx.set_slot(APPEARANCE_UNTOLD, True)
        self._next(ctx)

    def ask_slot(self, ctx: TurnContext, slot: str, question: str) -> None:
        if slot == "last_seen_where":
            ask_place(ctx, question)
        elif slot == "clothing" and ctx.slots.get(APPEARANCE_UNTOLD):
            ctx.ask("utter_ask_clothing_and_appearance")
        else:
            ctx.ask(question)

    def abandon(self, ctx: TurnContext) -> None:
        discard_report_draft(ctx)

    def save_draft(self, ctx: TurnContext) -> None:
        save_report_draft(ctx, kind=CaseKind.missing, intent="report_missing", topic="missing",
                          details=self._details(ctx), place=ctx.slots.get("last_seen_where") or tentative_place(ctx),
                          urgent=True)

    def _details(self, ctx: TurnContext) -> dict[str, Any]:
        """What the desk is told: the answers so far (all of them once the form is complete)."""
        where = ctx.slots.get("last_seen_where") or tentative_place(ctx)
        return {
            "first_report": ctx.slots.get("first_report"),
            "who": ctx.slots.get("missing_who"),
            "last_seen_where": where["label"] if where else None,
            **(place_flags(where) if where else {}),
            "last_seen_when": ctx.slots.get("last_seen_when"),
            # Staff see the family's words beside the moment read from them and its uncertainty:
            # 「夜中の3時ごろ」 → 2026-11-30 03:00 頃 (±30分).
            "last_seen_time": (when.describe(ctx.lang) if (when := _last_seen(ctx)) else None),
            "clothing": ctx.slots.get("clothing"),
            **questions_asked(ctx), **guidance_given(ctx),
            "callback_phone": ctx.slots.get("callback_phone"),
            # Lets the alert's purge find and erase this conversation's texts.
            "conversation_id": ctx.conversation.id,
        }

    def _create_case(self, ctx: TurnContext) -> None:
        where = ctx.slots["last_seen_where"]
        area = area_from_record(ctx, where)
        counter = report_counter(ctx, "report_missing", where)
        case, _ = open_case(
            ctx.session,
            kind=CaseKind.missing,
            topic="missing",
            counter_id=counter.id,
            area=area,
            details=self._details(ctx),
            reason=counter.reason,
            channel=ctx.channel,
            language=ctx.lang,
            urgent=True,
            reporter_contact_id=ctx.contact.id,
            callback_consent=True,
            now=ctx.now,
            draft=report_draft(ctx),
        )
        ctx.say("utter_missing_created", urgent=True, case_id=case.id, counter_name=counter.name)
        ctx.effect(EffectKind.case_created, **case_facts(case))
        alert = self._create_alert(ctx, case)
        # A few choices for the public text while staff check it; then what the family
        # remembers next is added to this case.
        ask_alert_details(ctx, case, alert)

    def _create_alert(self, ctx: TurnContext, case: Case) -> Alert:
        person_id = ctx.slots.get("person_id")
        person = ctx.session.get(RegisteredPerson, person_id) if person_id else None
        if person is not None and person.family_contact_id != ctx.contact.id:
            person = None
        point = ctx.slots.get("last_seen_point")
        last_seen = _last_seen(ctx)
        alert = create_from_case(
            ctx.session,
            case,
            person=person,
            point=(point[0], point[1]) if point else None,
            last_seen_at=last_seen.at if last_seen else None,
            now=ctx.now,
        )
        _set_public_fields(ctx, alert, person)
        ctx.effect(EffectKind.alert_created, alert_id=alert.id, case_id=case.id)
        if person is not None and settings.auto_approve_registered:
            queued = approve(ctx.session, alert, by="auto", now=ctx.now)
            ctx.effect(EffectKind.alert_queued, alert_id=alert.id, queued=queued)
            ctx.say("utter_missing_alert_sent")
        else:
            ctx.say("utter_missing_alert_pending")
        return alert


def _set_public_fields(ctx: TurnContext, alert: Alert, person: RegisteredPerson | None) -> None:
    """The alert's public fields from the family's answers (never their words as such):
    the features their description says, the clothing split into clothing, footwear and
    belongings, and the landmark they named; a pre-registered person's registered
    features and sharing consent first."""
    described = read_features(" ".join(str(ctx.slots.get(slot) or "") for slot in ("missing_who", "first_report")))
    # The clothing question may have been answered with the age and appearance too.
    described = {**read_features(ctx.slots.get("clothing")), **described}
    fields = {**described, **read_clothing(ctx.slots.get("clothing")),
              "landmark": ctx.slots["last_seen_where"].get("landmark")}
    if person is not None:
        fields = {**fields, **person.features}
        alert.share_identity = person.share_identity
    alert.public_fields = clean_fields(fields)


# --------------------------------------------------------------------------- after the report

DETAILS_FLOW = "missing_alert_details"
# The questions still to ask, in order: a key feature (sex, height, build), "share", then
# with consent "name" and "photo".
_ASKING = "asking"
_ASKED_AGAIN = "asked_again"  # the current choice was already asked again after a bare yes/no


def ask_alert_details(ctx: TurnContext, case: Case, alert: Alert) -> None:
    """After the case and its pending alert exist, ask the key features the family's words
    did not say (with choices, skippable) and whether name, condition and photo may go out
    too (default no). A pre-registered person's were given at registration, and an alert
    already sent is not changed: the family's next words then simply follow the case."""
    if alert.status != AlertStatus.pending or alert.person_id is not None:
        follow_case(ctx, case.id)
        return
    features = missing_features(alert.public_fields)
    if features:
        ctx.say("utter_alert_details_intro")
    ctx.finish()
    ctx.conversation.flow = DETAILS_FLOW
    ctx.set_slot("case_id", case.id)
    ctx.set_slot("alert_id", alert.id)
    _ask_next(ctx, [*features, "share"])


def _ask_next(ctx: TurnContext, asking: list[str]) -> None:
    case_id = ctx.slots["case_id"]
    if not asking:
        ctx.say("utter_alert_details_noted")
        follow_case(ctx, case_id)
        return
    ctx.set_slot(_ASKING, asking)
    ctx.set_step(asking[0])
    if asking[0] == "share":
        ask_share(ctx)
    elif asking[0] == "name":
        ask_optional(ctx, "utter_ask_public_name")
    elif asking[0] == "photo":
        ask_optional(ctx, "utter_ask_alert_photo")
    else:
        ask_feature(ctx, asking[0])


# More than this many letters (English: words) is more than a short answer to a choice.
_SHORT_ANSWER_LETTERS, _SHORT_ANSWER_WORDS = 10, 4


def _tells_more(words: str) -> bool:
    """Whether free words answering a choice say more than the choice (「やせ型です」 does not)."""
    if words.isascii():
        return len(words.split()) > _SHORT_ANSWER_WORDS
    return len(re.findall(r"[^\W\d_]", words)) > _SHORT_ANSWER_LETTERS


class AlertDetailsFlow(Flow):
    """The family's few answers for the public alert text, right after the report (see
    :func:`ask_alert_details`); entered only from there."""

    name = DETAILS_FLOW
    # The report is made: a family that comes back much later has lost nothing.
    asks_on_timeout = False
    responses = ("utter_alert_details_intro", "utter_alert_details_noted", "utter_case_details_added",
                 "utter_ask_alert_photo",
                 *FEATURE_RESPONSES, *SHARE_RESPONSES, *OPTIONAL_RESPONSES)

    def describes_a_person(self, step: str | None) -> bool:
        return True  # every answer here describes the missing person

    def start(self, ctx: TurnContext) -> None:
        # Only ever entered after a report; started any other way there is nothing to ask.
        ctx.treat_as_new_request()

    def abandon(self, ctx: TurnContext) -> None:
        # Stopped, or found, while choosing: the report is with the desk already, so the
        # conversation follows the case again (flows.ways_out then tells staff the wish).
        if (case_id := ctx.slots.get("case_id")) is not None:
            follow_case(ctx, case_id)

    def resume(self, ctx: TurnContext) -> None:
        alert = ctx.session.get(Alert, ctx.slots.get("alert_id"))
        asking = list(ctx.slots.get(_ASKING) or [])
        if alert is None or not asking:
            ctx.treat_as_new_request()
            return
        if is_soft_cancel(ctx.text):
            # 「もういいです」 to a choice: no more questions; the report stands.
            _ask_next(ctx, [])
            return
        step = asking.pop(0)
        # Staff may have approved it meanwhile: what they approved is not changed behind them.
        editable = alert.status == AlertStatus.pending
        if step == "share":
            share = read_share(ctx)
            if editable:
                alert.share_identity = share
            if share and editable:
                # What consent lets out and the report did not give yet: the name, a photo.
                asking.extend(item for item, missing in (("name", "name" not in alert.public_fields),
                                                         ("photo", alert.photo_ref is None)) if missing)
        elif step == "name":
            if not answered_none(ctx) and editable:
                alert.public_fields = clean_fields({**alert.public_fields, **read_name(ctx.text)})
        elif step == "photo":
            if ctx.message.media_ref and editable:
                alert.photo_ref = ctx.message.media_ref
        else:
            told = read_answer(ctx, step)
            bare = not told and (is_yes(ctx.answer) or is_no(ctx.answer))
            if bare and not ctx.slots.get(_ASKED_AGAIN):
                # 「はい」 to "how tall?" answers nothing and is no detail for staff: ask once more.
                ctx.set_slot(_ASKED_AGAIN, True)
                _ask_next(ctx, [step, *asking])
                return
            ctx.set_slot(_ASKED_AGAIN, False)
            if told and editable:
                alert.public_fields = clean_fields({**alert.public_fields, **told})
            if ctx.own_words and not bare and not says_dont_know(ctx) and (not told or _tells_more(ctx.own_words)):
                # Something they remembered (「85歳の男じゃ。背は低うて、腰が曲がっとる」), not only
                # the choice: the words go to the case for staff, as any later detail.
                self._add_to_case(ctx)
        _ask_next(ctx, asking)

    def _add_to_case(self, ctx: TurnContext) -> None:
        case = ctx.session.get(Case, ctx.slots["case_id"])
        if case is None or case.status not in OPEN_STATUSES:
            return
        add_details(ctx.session, case, ctx.own_words, source=ctx.channel, now=ctx.now)
        ctx.say("utter_case_details_added", case_id=case.id)
        ctx.effect(EffectKind.case_updated, **case_facts(case))

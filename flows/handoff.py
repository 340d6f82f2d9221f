"""talk_to_human: connect the resident to a person at the right counter, or take a message.

Works from any flow ("a person, please", or the menu's key 0). In opening hours the
resident gets the counter's number (the phone line dials it). After hours they leave a
message, which becomes a ``callback`` case for that counter:

- on the phone line the message is recorded and the caller's own number is the one to
  call back (national digits, as a typed number is kept); a withheld number
  (:func:`flows.steps.caller_phone` is None) is asked for instead. A recording that came
  back empty or too short (``MIN_RECORDING_SECONDS``) is asked for once more; after a
  second one the call-back number is taken and the case made anyway;
- when the phone line's call to an open counter is busy, not answered or fails (the
  ``dial_ended`` event), the caller chooses: 1 leave a message (recorded, as after hours),
  2 a call back — to this number (1, 「この番号で」) or another one they say or key in;
- in writing, the resident is first asked how staff can reach them — a phone number, a
  reply in this chat, or no contact — and only then is contact promised; the case is
  made as soon as the answer is known. Words written instead of that answer are kept as
  the message, and the question is asked again; a contact given when the ward was asked
  is kept, and the ward asked again.

After the case is made the conversation follows it (:func:`flows.followup.follow_case`):
what the resident writes next (「電話番号は090-…です」, one more detail) is added to
that case, not read as a new request.
"""

from __future__ import annotations

import re

from bot.messages import Choice, EffectKind, Handoff
from bot.models import Case, CaseKind
from flows.ask_where import format_opening
from flows.base import Flow, TurnContext, is_yes
from flows.followup import follow_case
from flows.place_question import (
    PLACE_RESPONSES,
    area_from_record,
    ask_place,
    place_already_given,
    place_record,
    read_place,
)
from flows.steps import PHONE_RESPONSES, REPORT_CASE_SLOT, caller_phone, read_phone, says_this_number
from intents.phone import national_phone
from routing.areas import AreaResolution
from routing.cases import add_details, case_facts, open_case
from routing.counters import choose_counter

__all__ = ["STAFF_HANDBACK_RESPONSE", "STAFF_REPLY_RESPONSE", "HandoffFlow"]

# "A person, please", in any flow (matched against the folded text).
ASKING_FOR_A_PERSON = re.compile(
    r"(人|ひと|職員|担当|係|オペレーター|人間|相談員)(の方|さん)?と(直接|ちょくせつ|じかに|少し|すこし|ちょっと)?お?(話|はな)|"
    r"(オペレーター|職員|担当者|人間)(に|を)(つな|繋|代わ|かわ)|"
    r"(talk|speak) (to|with) (a |an )?(human|person|staff|operator|someone)|real person"
)
# How staff will reach the resident: the case's ``contact`` detail.
PHONE, HERE, NO_CONTACT = "phone", "channel", "none"
# The buttons of the contact question, by the payload each one answers with.
_CONTACT_CHOICES = {PHONE: "utter_choice_contact_phone", HERE: "utter_choice_contact_here",
                    NO_CONTACT: "utter_choice_contact_none"}
# A written answer that tried to be a number (digits, but not a phone number).
_DIGITS = re.compile(r"\d{3,}")
# What is left of an answer holding a number, once the number and the words around one are
# taken out: more than a few characters of it is the matter itself (「介護の申請のことで。090-…」).
_NUMBER_AND_ITS_WORDS = re.compile(
    r"[0-9０-９+＋()（）\-‐‑–—ー−.\s]{6,}|電話番号|電話|番号|携帯|連絡先|でんわ|ばんごう|です|ます|は|を|に|へ|で|よろしく|"
    r"お願いします|おねがいします|お願い|ください|下さい|[、。,.!！?？]|"
    r"\b(my|phone|number|is|it'?s|call|me|on|please|thanks|thank you|mobile|cell)\b", re.IGNORECASE)
_MATTER_LENGTH = 6
# The contact in the resident's own words: a reply in this chat, or none wanted.
_REPLY_HERE = re.compile(
    r"(この|ここ|こちら)の?(チャット|トーク|ライン|line|画面|メッセージ)|(チャット|トーク|ライン|line|メッセージ)(で|に|へ)"
    r"|ここ(に|で|へ)(返事|返信|連絡|お返事|お願い)|\b(reply|answer|write|message|contact)( to)? me (here|in this chat|on this chat)\b"
    r"|\b(in|on|via|through) (this|the) chat\b|\breply here\b", re.IGNORECASE)
_NO_CONTACT_WANTED = re.compile(
    r"(連絡|返事|お返事)(は|も)?(不要|いら(ない|ん|へん)|いりません|結構|けっこう|なくて(いい|大丈夫|結構|かまいません))"
    r"|\bno (contact|reply|call|answer)s? (needed|necessary|required|wanted)\b"
    r"|\b(don'?t|do not) (need|want) (a |any )?(reply|contact|call|answer)\b", re.IGNORECASE)
# The phone line's handoff: a recording shorter than this (seconds) is no message.
MIN_RECORDING_SECONDS = 2
# What the line's call to the counter ended with (Twilio's DialCallStatus): talked, else not reached.
_TALKED = ("completed", "answered")
# The answers of the phone's "message or call back?" after a busy line, and of "call back this number?".
_LEAVE_MESSAGE, _CALL_BACK, _THIS_NUMBER = "leave_message", "call_back", "this_number"
_AFTER_DIAL_CHOICES = ((_LEAVE_MESSAGE, "utter_choice_leave_message"), (_CALL_BACK, "utter_choice_call_back"))
_RECORD_RETRY_SLOT = "record_retried"
# Later words a callback case takes as more of the message rather than a new request: a
# message to a person may be about any matter, a neighbour's too (a missing person, or a
# sighting, is its own urgent request).
_FOLLOWUP_INTENTS = ("talk_to_human", "ask_where", "report_worry")
# What the resident reads when staff answer from the console (their words under the
# counter's name), and when staff hand the chat back to the bot (bot.console.casework).
STAFF_REPLY_RESPONSE = "utter_staff_reply"
STAFF_HANDBACK_RESPONSE = "utter_staff_handback"


class HandoffFlow(Flow):
    name = "talk_to_human"
    intents = ("talk_to_human",)
    interrupts = ASKING_FOR_A_PERSON
    # The counter the resident was just talking about, if any; the report they were making
    # (saved from its first answer), which the message for staff refers to.
    carries_over = ("place", "topic", REPORT_CASE_SLOT)
    responses = ("utter_ask_ward", "utter_handoff_open", "utter_handoff_closed", "utter_message_received",
                 "utter_ask_handoff_contact", "utter_ask_callback_phone", "utter_handoff_will_call",
                 "utter_handoff_will_reply_here", "utter_handoff_no_contact", *_CONTACT_CHOICES.values(),
                 "utter_handoff_busy", "utter_ask_message_or_callback", "utter_handoff_leave_message",
                 "utter_recording_empty", "utter_offer_caller_number", "utter_choice_this_number",
                 "utter_goodbye", "utter_callback_number_note", *(title for _, title in _AFTER_DIAL_CHOICES),
                 STAFF_REPLY_RESPONSE, STAFF_HANDBACK_RESPONSE,
                 *PHONE_RESPONSES, *PLACE_RESPONSES)

    def claims(self, ctx: TurnContext) -> bool:
        if ctx.message.event == "dial_ended":
            # The line's call to a counter ended after the conversation did (a long talk with staff).
            return ctx.conversation.flow != self.name
        # A speech recogniser puts spaces between words (「職員の 方と 話したい」): read without them too.
        return super().claims(ctx) or bool(ctx.plain) and ASKING_FOR_A_PERSON.search(ctx.plain.replace(" ", "")) is not None

    def start(self, ctx: TurnContext) -> None:
        if ctx.message.event == "dial_ended":
            ctx.say("utter_goodbye", end=True)
            ctx.finish()
            return
        if ctx.own_words:
            # How to reach them, said with the asking (「このチャットに返事をください」), is not asked again.
            self._contact_in_words(ctx)
        # The counter the resident was just talking about, or the ward their message names;
        # otherwise the ward's 総合相談窓口, which takes any matter ("断らない相談支援").
        place = ctx.slots.get("place") or (place_already_given(ctx, ("resolved", "ward_only"))
                                           if ctx.own_words else None)
        if place:
            self._connect(ctx, area_from_record(ctx, place))
            return
        ctx.set_step("ward")
        ask_place(ctx, "utter_ask_ward")

    def resume(self, ctx: TurnContext) -> None:
        if ctx.step == "ward":
            if self._contact_in_words(ctx):
                # The contact came first: kept for the case, and the ward asked again.
                ctx.repeat_prompt()
                return
            area = read_place(ctx, "ward", "utter_ask_ward")
            if area is not None:
                self._connect(ctx, area)
        elif ctx.step == "contact":
            self._read_contact(ctx)
        elif ctx.step == "phone":
            phone = read_phone(ctx)
            if phone is None:
                ctx.repeat_prompt()
                return
            self._contact_known(ctx, PHONE, phone)
        elif ctx.step == "message":
            self._recorded(ctx)
        elif ctx.step == "dialling":
            self._dial_ended(ctx)
        elif ctx.step == "after_dial":
            self._message_or_call_back(ctx)
        elif ctx.step == "callback_number":
            self._read_callback_number(ctx)

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
        voice = ctx.channel == "voice"
        # What the resident already said (a contact given with the ward question) is kept.
        given = {key: ctx.slots[key] for key in ("contact", "callback_phone", "message", REPORT_CASE_SLOT)
                 if key in ctx.slots}
        counter_slots = {"place": place_record(area, None, counter.name), "topic": topic,
                         "counter_id": counter.id, "counter_name": counter.name, "reason": choice.reason,
                         "counter_phone": counter.phone or "", "next_opening": format_opening(ctx, counter),
                         **given}
        if counter.open_now:
            # The phone line dials, and hears back when the line was busy or not answered.
            ctx.say("utter_handoff_open", handoff=handoff, end=not voice, name=counter.name, phone=counter.phone or "")
            ctx.effect(EffectKind.handoff, counter_id=counter.id)
            ctx.finish()
            if voice:
                ctx.conversation.flow = self.name
                ctx.conversation.slots = counter_slots
                ctx.set_step("dialling")
            return
        ctx.conversation.slots = counter_slots
        ctx.say("utter_handoff_closed", handoff=handoff, record=True, name=counter.name,
                next_opening=ctx.slots["next_opening"])
        if ctx.channel == "voice":
            # The recording that follows is the message; the caller's number is the contact.
            ctx.set_step("message")
        elif "contact" in ctx.slots:
            self._take_message(ctx)
        else:
            ctx.set_step("contact")
            ctx.ask("utter_ask_handoff_contact", choices=[Choice(ctx.t(title), payload)
                                                          for payload, title in _CONTACT_CHOICES.items()])

    # ------------------------------------------------------------------ how staff reach the resident
    def _contact_in_words(self, ctx: TurnContext) -> bool:
        """Keep the contact the resident's own words give (a number, "reply here", "no need");
        False when they give none."""
        words = ctx.own_words
        phone = national_phone(words) if words else None
        if phone is not None:
            rest = "".join(_NUMBER_AND_ITS_WORDS.sub("", words).split())
            if len(rest) >= _MATTER_LENGTH and not ctx.slots.get("message"):
                ctx.set_slot("message", words)
            ctx.set_slot("callback_phone", phone)
            ctx.set_slot("contact", PHONE)
        elif words and _REPLY_HERE.search(words):
            ctx.set_slot("contact", HERE)
        elif words and _NO_CONTACT_WANTED.search(words):
            ctx.set_slot("contact", NO_CONTACT)
        else:
            return False
        return True

    def _read_contact(self, ctx: TurnContext) -> None:
        if self._contact_in_words(ctx):
            self._take_message(ctx)
        elif ctx.answer == PHONE:
            ctx.set_step("phone")
            ctx.ask("utter_ask_callback_phone")
        elif ctx.answer in (HERE, NO_CONTACT):
            self._contact_known(ctx, ctx.answer, None)
        elif _DIGITS.search(ctx.own_words):
            # A number that is no phone number: say how to write one, and ask again.
            ctx.say("utter_bad_phone")
            ctx.repeat_prompt()
        else:
            if ctx.own_words:
                # The matter itself, written before the contact: kept as the message.
                ctx.set_slot("message", ctx.own_words)
            ctx.repeat_prompt()

    def _contact_known(self, ctx: TurnContext, contact: str, phone: str | None) -> None:
        ctx.set_slot("contact", contact)
        if phone is not None:
            ctx.set_slot("callback_phone", phone)
        self._take_message(ctx)

    # ------------------------------------------------------------------ the phone line: busy, recordings, numbers
    def _dial_ended(self, ctx: TurnContext) -> None:
        """The line's call to the counter ended: talked (the call ends), or not reached."""
        if ctx.message.event != "dial_ended":
            # Words while the line was ringing (an old turn): not for this step.
            ctx.treat_as_new_request()
            return
        if ctx.message.metadata.get("dial_status") in _TALKED:
            ctx.say("utter_goodbye", end=True)
            ctx.finish()
            return
        ctx.say("utter_handoff_busy", name=ctx.slots["counter_name"])
        ctx.set_step("after_dial")
        ctx.ask("utter_ask_message_or_callback",
                choices=[Choice(ctx.t(title), payload) for payload, title in _AFTER_DIAL_CHOICES])

    def _message_or_call_back(self, ctx: TurnContext) -> None:
        if ctx.answer == _LEAVE_MESSAGE:
            self._ask_for_recording(ctx, "utter_handoff_leave_message")
        elif ctx.answer == _CALL_BACK:
            self._ask_callback_number(ctx)
        else:
            ctx.repeat_prompt()

    def _ask_for_recording(self, ctx: TurnContext, prompt: str) -> None:
        handoff = Handoff(ctx.slots["counter_id"], ctx.slots["counter_name"], ctx.slots["counter_phone"], False)
        ctx.say(prompt, handoff=handoff, record=True)
        ctx.set_step("message")

    def _ask_callback_number(self, ctx: TurnContext) -> None:
        """Offer the caller's own number as the one to call back; a withheld one is asked for."""
        ctx.set_step("callback_number")
        if caller_phone(ctx) is None:
            ctx.ask("utter_ask_callback_phone")
        else:
            ctx.ask("utter_offer_caller_number", choices=[Choice(ctx.t("utter_choice_this_number"), _THIS_NUMBER)])

    def _read_callback_number(self, ctx: TurnContext) -> None:
        own = caller_phone(ctx)
        given = national_phone(ctx.text) if ctx.text else None
        if given is None and own is not None and (
                ctx.answer == _THIS_NUMBER or is_yes(ctx.text) or says_this_number(ctx)):
            given = own
        if given is None:
            ctx.say("utter_bad_phone")
            ctx.repeat_prompt()
            return
        ctx.set_slot("contact", PHONE)
        ctx.set_slot("callback_phone", given)
        case = ctx.session.get(Case, ctx.slots["case_id"]) if ctx.slots.get("case_id") else None
        if case is None:
            self._take_message(ctx, recording_url=ctx.slots.get("recording_url"))
            return
        # The message was kept before the number was asked: the number is added to its case.
        case.details = {**case.details, "contact": PHONE, "callback_phone": given}
        case.callback_consent = True
        # A note for the counter's staff: in Japanese whatever the resident reads.
        add_details(ctx.session, case, ctx.domain.text("utter_callback_number_note", "ja", phone=given),
                    source=ctx.channel, now=ctx.now)
        ctx.say("utter_handoff_will_call", phone=given, next_opening=ctx.slots["next_opening"])
        ctx.effect(EffectKind.case_updated, **case_facts(case))
        follow_case(ctx, case.id, _FOLLOWUP_INTENTS)

    # ------------------------------------------------------------------ the message becomes a case
    def _recorded(self, ctx: TurnContext) -> None:
        if ctx.message.event != "recording":
            # Spoken words instead of a recording (an old turn): heard as the message.
            ctx.set_slot("message", ctx.own_words or None)
        else:
            empty = (not ctx.message.media_ref
                     or int(ctx.message.metadata.get("recording_duration") or 0) < MIN_RECORDING_SECONDS)
            if empty and not ctx.slots.get(_RECORD_RETRY_SLOT):
                ctx.set_slot(_RECORD_RETRY_SLOT, True)
                self._ask_for_recording(ctx, "utter_recording_empty")
                return
            ctx.set_slot("message", ctx.text or None)
            ctx.set_slot("recording_url", None if empty else ctx.message.media_ref)
        if caller_phone(ctx) is None:
            # Withheld: the message is kept at once (a hang-up loses nothing), then the number is asked.
            ctx.set_slot("contact", NO_CONTACT)
            case = self._open_callback_case(ctx, ctx.slots.get("recording_url"))
            ctx.say("utter_message_received", name=ctx.slots["counter_name"], case_id=case.id)
            ctx.effect(EffectKind.case_created, **case_facts(case))
            ctx.set_slot("case_id", case.id)
            self._ask_callback_number(ctx)
            return
        ctx.set_slot("contact", PHONE)
        ctx.set_slot("callback_phone", caller_phone(ctx))
        self._take_message(ctx, recording_url=ctx.slots.get("recording_url"))

    def _take_message(self, ctx: TurnContext, recording_url: str | None = None) -> None:
        contact = ctx.slots["contact"]
        case = self._open_callback_case(ctx, recording_url)
        opening = ctx.slots["next_opening"]
        ctx.say("utter_message_received", name=ctx.slots["counter_name"], case_id=case.id)
        if contact == PHONE:
            ctx.say("utter_handoff_will_call", phone=ctx.slots["callback_phone"], next_opening=opening)
        elif contact == HERE:
            ctx.say("utter_handoff_will_reply_here", next_opening=opening)
        else:
            ctx.say("utter_handoff_no_contact", phone=ctx.slots["counter_phone"], next_opening=opening)
        ctx.effect(EffectKind.case_created, **case_facts(case))
        # What the resident says next belongs to this message (the matter, one more detail);
        # on the phone 「他にご用件はありますか」 follows (flows.conversation.finish_phone_turn).
        follow_case(ctx, case.id, _FOLLOWUP_INTENTS)

    def _open_callback_case(self, ctx: TurnContext, recording_url: str | None) -> Case:
        """The ``callback`` case for the counter, with the message and the contact known so far."""
        contact = ctx.slots["contact"]
        details: dict[str, str | int | None] = {"message": ctx.slots.get("message"), "contact": contact}
        if ctx.slots.get(REPORT_CASE_SLOT):
            details["report_case_id"] = ctx.slots[REPORT_CASE_SLOT]
        if ctx.channel == "voice":
            details["recording_url"] = recording_url
        if ctx.slots.get("callback_phone"):
            details["callback_phone"] = ctx.slots["callback_phone"]
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
            callback_consent=contact != NO_CONTACT,
            now=ctx.now,
        )
        return case

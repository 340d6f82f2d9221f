"""report_sighting: a cooperator saw the person of a missing-person alert.

Started by a reply to an alert ("見かけた") or by the alert's button (payload
``sighting:<alert_id>``). The button is taken only from a chat the alert was sent to;
anyone else, like an unknown or ended alert id, gets one answer that names no alert and
asks them to tell us in words, so the button reveals nothing about which alerts exist.
Without a button the alert is the active one this chat was sent, or the only active
one; with several it asks which. With none, words about a neighbour the resident knows
("the man across the hall seems confused") are a worry report, not a sighting. Then
sighting_form: where (the place question, or a location, kept exactly: it is the missing
person's position, erased with the alert), when (read into a time when the words are
clear), and an optional photo. The sighting is stored at once, shows on the alert's case and is pushed to
the alert desk as an update of the case (``case_updated``); reports of the same town
within minutes are grouped (``alerts.sightings.record_sighting``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from alerts.sightings import alert_was_sent_to, record_sighting
from alerts.texts import last_seen_label
from bot.messages import Choice, EffectKind
from bot.models import Alert, AlertStatus, Case, OutboxItem
from flows.base import FormFlow, TurnContext
from flows.place_question import PLACE_RESPONSES, ask_place
from flows.report_words import about_a_neighbour
from flows.steps import OPTIONAL_RESPONSES, answered_none, ask_optional, read_place_answer
from flows.when import parse_when
from routing.cases import case_facts

__all__ = ["SIGHTING_PAYLOAD", "SightingFlow"]

# The postback of the "I saw them" button on an alert: sighting:<alert_id>.
SIGHTING_PAYLOAD = "sighting:"
# The order of sighting_form's required slots in domain.yml.
QUESTIONS = {
    "sighting_where": "utter_ask_sighting_where",
    "sighting_when": "utter_ask_sighting_when",
    "sighting_photo": "utter_ask_sighting_photo",
}
# Quick answers to "when?".
WHEN_CHOICES = (("now", "utter_choice_just_now", 0), ("ten_minutes", "utter_choice_ten_minutes_ago", 10))


def _payload_alert_id(answer: str) -> int | None:
    value = answer.removeprefix(SIGHTING_PAYLOAD) if answer.startswith(SIGHTING_PAYLOAD) else ""
    return int(value) if value.isdigit() else None


def _active_alerts_for(ctx: TurnContext) -> list[Alert]:
    """Active alerts, those this chat was sent first."""
    active = list(ctx.session.scalars(select(Alert).where(Alert.status == AlertStatus.active).order_by(Alert.id)))
    received = set(ctx.session.scalars(
        select(OutboxItem.alert_id).where(OutboxItem.channel == ctx.channel,
                                          OutboxItem.address == ctx.contact.channel_user_id)
    ))
    mine = [alert for alert in active if alert.id in received]
    return mine or active


class SightingFlow(FormFlow):
    reads_opening_words = True
    name = "report_sighting"
    intents = ("report_sighting",)
    form = "sighting_form"
    questions = QUESTIONS
    # The alert's button works whatever the cooperator was doing in the chat.
    postback_prefix = SIGHTING_PAYLOAD
    responses = (
        "utter_sighting_no_alert",
        "utter_sighting_alert_ended",
        "utter_sighting_alert_unavailable",
        "utter_ask_which_alert",
        "utter_alert_choice_label",
        "utter_sighting_intro",
        *(response for _, response, _ in WHEN_CHOICES),
        *OPTIONAL_RESPONSES,
        "utter_sighting_recorded",
        *PLACE_RESPONSES,
    )

    def claims(self, ctx: TurnContext) -> bool:
        # A button of the "which alert?" question is that question's answer (resume), not
        # a new start: it may name an active alert this chat was never sent.
        if ctx.conversation.flow == self.name and ctx.step == "which_alert":
            return False
        return super().claims(ctx)

    def start(self, ctx: TurnContext) -> None:
        if ctx.own_words:
            ctx.set_slot("note", ctx.own_words)
        alert_id = _payload_alert_id(ctx.answer)
        if alert_id is not None:
            self._start_by_button(ctx, alert_id)
            return
        candidates = _active_alerts_for(ctx)
        if not candidates and about_a_neighbour(ctx.own_words or ""):
            # No alert to have seen anyone from: a neighbour the resident knows, seen confused or
            # changed ("the man across the hall … seems confused"), is a worry for the 見守り相談室.
            ctx.switch("report_worry")
        elif not candidates:
            ctx.say("utter_sighting_no_alert")
            ctx.finish()
        elif len(candidates) == 1:
            self._begin(ctx, candidates[0])
        else:
            ctx.set_step("which_alert")
            ctx.ask("utter_ask_which_alert", choices=[
                Choice(ctx.t("utter_alert_choice_label", alert_id=alert.id,
                             where=last_seen_label(ctx.session, alert) or "-"), f"{SIGHTING_PAYLOAD}{alert.id}")
                for alert in candidates
            ])

    def _start_by_button(self, ctx: TurnContext, alert_id: int) -> None:
        """The alert's button, taken only from a chat the alert was sent to. Any other
        chat gets the answer an unknown id gets, whether the alert is active, ended or
        absent, so trying ids tells nothing."""
        alert = ctx.session.get(Alert, alert_id)
        sent_here = alert is not None and alert_was_sent_to(
            ctx.session, alert.id, channel=ctx.channel, address=ctx.contact.channel_user_id)
        if sent_here and alert.status == AlertStatus.active:
            self._begin(ctx, alert)
            return
        if sent_here and alert.status in (AlertStatus.found, AlertStatus.cancelled):
            ctx.say("utter_sighting_alert_ended", alert_id=alert_id)
        else:
            ctx.say("utter_sighting_alert_unavailable")
        ctx.finish()

    def _begin(self, ctx: TurnContext, alert: Alert) -> None:
        ctx.set_slot("alert_id", alert.id)
        ctx.say("utter_sighting_intro", alert_id=alert.id)
        self._next(ctx)

    def resume(self, ctx: TurnContext) -> None:
        step = ctx.step
        if step == "which_alert":
            # Only one of the alerts offered (they are still active and this chat's choice).
            alert_id = _payload_alert_id(ctx.answer)
            alert = next((offered for offered in _active_alerts_for(ctx) if offered.id == alert_id), None)
            if alert is None:
                ctx.repeat_prompt()
                return
            self._begin(ctx, alert)
            return
        if step == "sighting_where":
            message = ctx.message
            where = read_place_answer(ctx, "ward", QUESTIONS[step], fallback=ctx.text or message.address or "-")
            if where is None:
                return
            ctx.set_slot("sighting_where", {
                "town_id": where.area.town.town_id if where.area.town else None,
                "label": where.label,
                "point": [message.latitude, message.longitude] if message.has_location else None,
            })
        elif step == "sighting_when":
            minutes = next((m for payload, _, m in WHEN_CHOICES if payload == ctx.answer), None)
            if minutes is not None:
                moment: datetime | None = ctx.now - timedelta(minutes=minutes)
                words = ctx.t(next(r for p, r, _ in WHEN_CHOICES if p == ctx.answer))
            else:
                moment, words = parse_when(ctx.text, ctx.now), ctx.text
            ctx.set_slot("sighting_when", {"text": words, "at": moment.isoformat() if moment else None})
        elif step == "sighting_photo":
            if ctx.message.media_ref:
                ctx.set_slot("sighting_photo", ctx.message.media_ref)
            elif answered_none(ctx):
                ctx.set_slot("sighting_photo", None)
            else:
                ctx.repeat_prompt()
                return
        self._next(ctx)

    def ask_slot(self, ctx: TurnContext, slot: str, question: str) -> None:
        if slot == "sighting_where":
            ask_place(ctx, question)
        elif slot == "sighting_when":
            ctx.ask(question, choices=[Choice(ctx.t(r), p) for p, r, _ in WHEN_CHOICES])
        else:
            ask_optional(ctx, question)

    def _next(self, ctx: TurnContext) -> None:
        if not self.ask_next(ctx):
            self._record(ctx)

    def _record(self, ctx: TurnContext) -> None:
        alert = ctx.session.get(Alert, ctx.slots["alert_id"])
        if alert is None or alert.status != AlertStatus.active:
            ctx.say("utter_sighting_alert_ended", alert_id=ctx.slots["alert_id"])
            ctx.finish()
            return
        where, when = ctx.slots["sighting_where"], ctx.slots["sighting_when"]
        seen_at = datetime.fromisoformat(when["at"]) if when["at"] else None
        # The reporter's note, plus their words for the time when no time could be read from them.
        text = "\n".join(part for part in (ctx.slots.get("note"), None if seen_at else when["text"]) if part) or None
        sighting = record_sighting(
            ctx.session,
            alert,
            contact_id=ctx.contact.id,
            text=text,
            town_id=where["town_id"],
            point=tuple(where["point"]) if where["point"] else None,
            seen_at=seen_at,
            photo_ref=ctx.slots["sighting_photo"],
            where_label=where["label"],
            when_text=when["text"],
            channel=ctx.channel,
            conversation_id=ctx.conversation.id,
            now=ctx.now,
        )
        ctx.say("utter_sighting_recorded", sighting_id=sighting.id)
        ctx.effect(EffectKind.sighting_recorded, alert_id=alert.id, sighting_id=sighting.id, group_id=sighting.group_id)
        case = ctx.session.get(Case, alert.case_id) if alert.case_id is not None else None
        if case is not None:
            # The desk's copy is a case update: delivered to its targets once this turn commits.
            ctx.effect(EffectKind.case_updated, **case_facts(case))
        ctx.finish()

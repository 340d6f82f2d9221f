"""Ways out and corrections, in the resident's own words, from any flow.

One interrupt (``CancelFlow``, claimed before the active flow resumes) reads the whole
message with the matchers of :mod:`intents.exits` and:

- **stop / never mind** (「やっぱりやめとくわ」「もういいです」「中止して」 "never mind", or
  the cancel button): forgets what was being asked (``cancelled``). 「結構です」「大丈夫です」
  「やめて」 count only where no button answer is expected: elsewhere they answer yes/no;
- **start again** (「最初から」「やり直したい」 "start over"): a form starts afresh from its
  first question (:meth:`flows.base.FormFlow.restart`); any other flow ends and the main
  menu is shown;
- **that's wrong** (「訂正」「間違えました」, and 「違います」 at a confirmation): at a form's
  confirmation, which answer to change (one button per answer) and then that question
  again; earlier in a form, the previous question again (:meth:`flows.base.FormFlow.go_back`);
- **found** (「やっぱりいいです、見つかりました」「父が見つかりました！お知らせを止めて
  ください」 "we found him"): during a missing-person report, the report ends
  (``cancelled`` with ``reason: found``); from the family of a reported case (same or later
  conversation, or someone the desk linked to the alert), their alert ends — a pending one
  is withdrawn, an active one is marked found, which thanks the cooperators it reached
  (``alert_ended``) — the family's words
  reach the desk as an update of the case (``case_updated``), and the family is thanked.
  A family's 「お知らせを止めて」 alone is asked 「見つかりましたか」 first; found and stop
  from a chat with no report (the family reported by phone) is told how to reach the desk
  (``utter_found_report_elsewhere``) instead of "you are not a cooperator". This runs before the
  cooperators' stop-alerts words (flows.registry order), so a family's 「お知らせを止めて」
  is never taken for a cooperator leaving.
- **not missing** (「いえ、母は家にいます」「行方不明じゃないです」 "she's not missing, she's
  right here"), during a missing report: the report ends unsent (``cancelled`` with
  ``reason: not_missing``) and what the resident first said is read again, as anything but a
  missing report, through the safety layer and the classifier.

The same words inside a description (「やめてと言っても聞かない」「以前も駅で見つかりました」)
are not ways out: :mod:`intents.exits` matches only a message that *is* the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Literal

from sqlalchemy import or_, select

from alerts.cooperators import cooperator_at
from alerts.lifecycle import cancel as cancel_alert
from alerts.lifecycle import found as alert_found
from alerts.lifecycle import running_alert_of
from bot.messages import EffectKind
from bot.models import Alert, AlertStatus, Case, CaseKind
from bot.settings import settings
from flows.base import CORRECTION_STEP, PROMPT_SLOT, Flow, FormFlow, TurnContext
from flows.conversation import MENU_RESPONSES, ask_menu
from flows.cooperator import STOP_WORDS, contact_endpoints
from flows.followup import FOLLOWUP
from flows.steps import YES_NO, ask_yes_no, yes_or_no
from intents.exits import correction, is_cancel, is_restart, is_soft_cancel, says_found, says_not_missing
from routing.cases import OPEN_STATUSES, add_details, case_facts
from routing.readers import reads_japanese

__all__ = ["CancelFlow"]

WayOut = Literal["cancel", "restart", "correct", "pick", "found", "ask_found", "found_elsewhere", "not_missing"]

# Flows in which "found" is the resident's report, not a way out: a cooperator telling
# where they found the person is a sighting.
_FOUND_IS_CONTENT = ("report_sighting",)
_MISSING_FLOW = "report_missing"
# The step of "has the person been found?", asked when a family asks to stop the alerts.
_ASK_FOUND = "ask_found"
# Who ended the alert, on its case's history.
_FAMILY = "family"


class CancelFlow(Flow):
    """Stop, start again, correct an answer, or "found" — whatever flow is active.

    Args:
        flows: returns the flows the engine runs (``flows.registry.FLOWS``), to find the
            active one that restarts or goes back.
    """

    name = "cancel"
    # It acts on the active flow itself (ends, restarts or rewinds it) rather than replacing it.
    takes_over = False
    responses = (
        "utter_cancelled",
        "utter_restarted",
        "utter_ask_what_to_correct",
        "utter_going_back",
        "utter_missing_found_ended",
        "utter_not_missing",
        "utter_family_found_alert_ended",
        "utter_family_found_alert_withdrawn",
        "utter_family_found_noted",
        "utter_ask_family_found",
        "utter_family_alert_continues",
        "utter_cancel_after_report",
        "utter_found_by_family_note",
        "utter_found_report_elsewhere",
        *YES_NO.responses,
        *MENU_RESPONSES,
    )

    def __init__(self, flows: Callable[[], Iterable[Flow]]) -> None:
        self._flows = flows

    # ------------------------------------------------------------------ which way out
    def claims(self, ctx: TurnContext) -> bool:
        return self._way_out(ctx) is not None

    def _active(self, ctx: TurnContext) -> Flow | None:
        name = ctx.conversation.flow
        return next((flow for flow in self._flows() if flow.name == name), None) if name else None

    def _way_out(self, ctx: TurnContext) -> WayOut | None:
        if super().claims(ctx):  # the cancel button
            return "cancel"
        active = self._active(ctx)
        choosing = active is not None and ctx.step == CORRECTION_STEP
        text = ctx.text if ctx.message.event == "message" and not ctx.message.postback else ""
        if text:
            if says_found(text) and ctx.conversation.flow not in _FOUND_IS_CONTENT and (
                    ctx.conversation.flow == _MISSING_FLOW or _family_case(ctx) is not None):
                return "found"
            if ctx.conversation.flow == _MISSING_FLOW and says_not_missing(text):
                return "not_missing"
            if STOP_WORDS.search(ctx.plain) and ctx.step != _ASK_FOUND and _open_alerts(ctx, _family_case(ctx)):
                # A family asking to stop "the alerts" most likely means theirs: ask before ending it.
                return "ask_found"
            if says_found(text) and STOP_WORDS.search(ctx.plain) and _family_case(ctx) is None and cooperator_at(
                    ctx.session, contact_endpoints(ctx), active_only=True) is None:
                # A family writing from another chat than the report's: not a cooperator leaving either.
                return "found_elsewhere"
            if is_restart(text):
                return "restart"
            if is_cancel(text):
                return "cancel"
            if active is not None:
                new_answer = correction(text, at_confirmation=_at_confirmation(ctx, active))
                # A flow without a form reads a correction that brings its new answer itself.
                if new_answer is not None and (isinstance(active, FormFlow) or (
                        not new_answer and ctx.slots.get(PROMPT_SLOT))):
                    return "correct"
                if is_soft_cancel(text) and _free_question(ctx):
                    return "cancel"
        if choosing:
            # The answer to "which one?"; another flow's words (a person, please) are that flow's.
            others = (flow for flow in self._flows() if flow is not self)
            return None if any(flow.claims(ctx) for flow in others) else "pick"
        return None

    def start(self, ctx: TurnContext) -> None:
        way = self._way_out(ctx)
        active = self._active(ctx)
        if active is not None and way in ("found", "cancel", "not_missing", None):
            # A report saved from its first answer is undone (or, already with its desk, updated).
            active.abandon(ctx)
        if way == "found":
            self._found(ctx)
        elif way == "not_missing":
            self._not_missing(ctx)
        elif way == "ask_found":
            ctx.finish()
            ctx.conversation.flow = self.name
            ctx.set_step(_ASK_FOUND)
            ask_yes_no(ctx, "utter_ask_family_found")
        elif way == "found_elsewhere":
            ctx.say("utter_found_report_elsewhere")
            ask_menu(ctx)
            ctx.finish(keep_prompt=True)
        elif way == "restart":
            self._restart(ctx, active)
        elif way == "correct" and active is not None:
            if not active.go_back(ctx, correction(ctx.text, at_confirmation=_at_confirmation(ctx, active)) or ""):
                ctx.repeat_prompt()
        elif way == "pick" and active is not None:
            if not active.take_correction(ctx):
                ctx.repeat_prompt()
        else:
            self._cancel(ctx)

    def resume(self, ctx: TurnContext) -> None:
        """The family's answer to "has the person been found?" (their words to stop the alerts)."""
        answer = yes_or_no(ctx)
        if answer is None:
            ctx.repeat_prompt()
        elif answer:
            self._found(ctx)
        elif cooperator_at(ctx.session, contact_endpoints(ctx), active_only=True) is not None:
            # Not found: they meant the alerts they receive as a cooperator.
            ctx.switch("unsubscribe")
        else:
            ctx.say("utter_family_alert_continues")
            ctx.finish()

    # ------------------------------------------------------------------ stop
    def _cancel(self, ctx: TurnContext) -> None:
        followed = ctx.slots.get("case_id") if ctx.conversation.flow == FOLLOWUP else None
        case = ctx.session.get(Case, followed) if followed is not None else None
        if case is not None and case.status in OPEN_STATUSES:
            # The report already reached its counter: nothing is "cancelled"; staff read the wish.
            add_details(ctx.session, case, ctx.text, source=ctx.channel, now=ctx.now)
            ctx.say("utter_cancel_after_report", case_id=case.id)
            ctx.effect(EffectKind.case_updated, **case_facts(case))
        else:
            ctx.say("utter_cancelled")
            ctx.effect(EffectKind.cancelled)
        ctx.finish()

    # ------------------------------------------------------------------ start again
    def _restart(self, ctx: TurnContext, active: Flow | None) -> None:
        ctx.say("utter_restarted")
        if active is not None and active.restart(ctx):
            return
        ctx.finish()
        ask_menu(ctx)
        ctx.finish(keep_prompt=True)

    # ------------------------------------------------------------------ not missing
    def _not_missing(self, ctx: TurnContext) -> None:
        """A missing report begun by mistake (「いえ、母は家にいます」): nothing is sent; what the
        resident first said is read again as any other matter (a parent not themselves at home
        may need the safety question or 包括, never 110)."""
        first_report = ctx.slots.get("first_report") or ""
        ctx.say("utter_not_missing")
        ctx.effect(EffectKind.cancelled, reason="not_missing")
        ctx.finish()
        if first_report:
            ctx.read_again(first_report, ruled_out=_MISSING_FLOW)
        else:
            ask_menu(ctx)
            ctx.finish(keep_prompt=True)

    # ------------------------------------------------------------------ found
    def _found(self, ctx: TurnContext) -> None:
        case = _family_case(ctx)
        if ctx.conversation.flow == _MISSING_FLOW or case is None:
            # The report was still being made: nothing reached anyone yet.
            ctx.say("utter_missing_found_ended")
            ctx.effect(EffectKind.cancelled, reason="found")
            ctx.finish()
            return
        open_alerts = _open_alerts(ctx, case)
        response = "utter_family_found_noted"
        for alert in open_alerts:
            if alert.status == AlertStatus.active:
                queued = alert_found(ctx.session, alert, by=_FAMILY, now=ctx.now)
                response = "utter_family_found_alert_ended"
            else:
                queued = cancel_alert(ctx.session, alert, by=_FAMILY, now=ctx.now)
                if response != "utter_family_found_alert_ended":
                    response = "utter_family_found_alert_withdrawn"
            ctx.effect(EffectKind.alert_ended, alert_id=alert.id, case_id=case.id, status=alert.status.value)
            if queued:
                # Thanks (or withdrawal notices) for the cooperators the alert reached: the fan-out sends them.
                ctx.effect(EffectKind.alert_queued, alert_id=alert.id, queued=queued)
        if case.status in OPEN_STATUSES:
            # The desk is told at once, in the family's words: an update delivered like any detail.
            # The note is for the desk's staff, so in Japanese whatever the family reads; it comes
            # before the family's words when those are not Japanese (「đã tìm thấy」).
            note = ctx.domain.text("utter_found_by_family_note", "ja")
            if not says_found(ctx.text):
                words = note
            elif reads_japanese(ctx.lang):
                words = ctx.text
            else:
                words = f"{note}\n{ctx.text}"
            add_details(ctx.session, case, words, source=ctx.channel, now=ctx.now)
            ctx.effect(EffectKind.case_updated, **case_facts(case))
        ctx.say(response, case_id=case.id)
        ctx.finish()


def _at_confirmation(ctx: TurnContext, active: Flow) -> bool:
    """Whether the active flow is showing the answers for confirmation (「違います」 corrects there)."""
    return isinstance(active, FormFlow) and ctx.step in active.confirm_steps


def _free_question(ctx: TurnContext) -> bool:
    """Whether the open question takes words, not a button: none at all, or a place (its
    buttons are the wards). 「結構です」「やめて」 answer a yes/no, "none" or pick-one question;
    to a free question they mean "never mind"."""
    prompt = ctx.slots.get(PROMPT_SLOT)
    return prompt is not None and (not prompt["choices"] or bool(prompt["request_location"]))


def _open_alerts(ctx: TurnContext, case: Case | None) -> list[Alert]:
    """The case's alerts not yet ended (pending staff approval, or active)."""
    if case is None:
        return []
    return list(ctx.session.scalars(
        select(Alert).where(Alert.case_id == case.id, Alert.status.in_((AlertStatus.pending, AlertStatus.active)))
        .order_by(Alert.id)))


def _family_case(ctx: TurnContext) -> Case | None:
    """The newest missing-person case this contact reported that is still open (or whose
    alert still runs), while its data is kept; else the case of a running alert the desk
    linked this contact to as family."""
    since = ctx.now - timedelta(days=settings.missing_retention_days)
    alert_running = (select(Alert.id).where(Alert.case_id == Case.id,
                                            Alert.status.in_((AlertStatus.pending, AlertStatus.active))).exists())
    reported = ctx.session.scalar(
        select(Case).where(Case.kind == CaseKind.missing, Case.reporter_contact_id == ctx.contact.id,
                           Case.created_at >= since, or_(Case.status.in_(OPEN_STATUSES), alert_running))
        .order_by(Case.id.desc()).limit(1))
    named = running_alert_of(ctx.session, ctx.contact.id) if reported is None else None
    return ctx.session.get(Case, named.case_id) if named is not None and named.case_id is not None else reported

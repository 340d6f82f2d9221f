"""family_to_desk: while their alert runs, whatever a family writes reaches the alert desk.

A family linked to a pending or active alert (the reporter, or someone the desk named:
``alerts.lifecycle.running_alert_of``) may write at any moment — 「警察にも相談しました」,
「担当の方と話したい」, a place the person used to go to. Outside a form, such words are not
a new request (a second missing report, a ward question): they are added to the alert's
missing case and delivered to the desk like any update of the case (``case_updated``),
and the family is told so, with the desk's number for what cannot wait. (Right after the
report, ``flows.followup`` does the same for the words that follow it.)

It is an interrupt placed after the ways out (``flows.ways_out``: 「見つかりました」 and
「お知らせを止めて」 end or ask about the alert first) and before "a person, please",
so the family's request for a person goes to the desk that already knows the case. A
button, a location or a form's answer is left to the flow it belongs to.
"""

from __future__ import annotations

from alerts.lifecycle import running_alert_of
from bot.messages import EffectKind
from bot.models import Case
from flows.base import Flow, TurnContext
from flows.steps import counter_name, counter_name_responses
from routing.cases import OPEN_STATUSES, add_details, case_facts
from routing.snapshot import get_directory

__all__ = ["FamilyFlow"]



class FamilyFlow(Flow):
    name = "family_to_desk"
    responses = ("utter_family_desk_noted", *counter_name_responses())

    def claims(self, ctx: TurnContext) -> bool:
        # Only outside any flow: right after the report its follow-up adds their words to the
        # case itself, and a form's answer is the form's.
        return (ctx.message.event == "message" and bool(ctx.own_words) and ctx.conversation.flow is None
                and self._case(ctx) is not None)

    def _case(self, ctx: TurnContext) -> Case | None:
        alert = running_alert_of(ctx.session, ctx.contact.id)
        case = ctx.session.get(Case, alert.case_id) if alert is not None and alert.case_id is not None else None
        return case if case is not None and case.status in OPEN_STATUSES else None

    def start(self, ctx: TurnContext) -> None:
        case = self._case(ctx)
        assert case is not None, "claimed only for a family whose alert runs"
        add_details(ctx.session, case, ctx.own_words, source=ctx.channel, now=ctx.now)
        ctx.effect(EffectKind.case_updated, **case_facts(case))
        service = get_directory(ctx.session).services.get(case.counter_id)
        ctx.say("utter_family_desk_noted", case_id=case.id,
                counter_name=counter_name(ctx, case.counter_id, service.name if service else case.counter_id),
                phone=service.phone if service is not None and service.phone else "110")
        ctx.finish()

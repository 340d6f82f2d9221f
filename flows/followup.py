"""case_followup: what the resident says after a report is added to the case just made.

A resident who has just reported often remembers more a moment later (「そういえば、
電気もずっとついています」). Such words belong to the case, not to a new request. So a
flow that has just created or linked a case calls :func:`follow_case` as its last step,
instead of ``ctx.finish()``: the conversation stays in this light flow, which holds only
the case id.

A later message goes, as always, first to the engine's safety layer (119/110, crisis
lines) and interrupts (cancel, a person, the menu's buttons). When it reaches this flow
it is a new request — the flow ends and the classifier reads the message afresh — if:

1. it is not the resident's own words (a button, a location, a typed choice) or has no
   content (「2」, 「はい」);
2. it is a question (「…ですか」, 「?」, "where …"): the resident is asking, not telling;
3. for a worry report, it names another place than the case's (another household);
4. the classifier is sure (``NEW_REQUEST_CONFIDENCE``) of another intent than the report's own. The model's
   ``emergency`` is not one of them: a description of a person (「腰が曲がっとる」) reads
   like one to it, and real danger words were already answered by the safety layer.

Otherwise the words are added to the case (:func:`routing.cases.add_details`: a
``details_added`` event delivered to the counter), the turn's effect is
``case_updated`` and the resident is thanked briefly; the flow goes on for more. A case
closed in the meantime ends following. The conversation's timeout ends it too.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from bot.messages import EffectKind
from bot.models import Case, CaseKind
from flows.base import Flow, TurnContext, is_no, is_yes
from flows.place_question import place_from_message
from flows.report_words import asks_the_bot, is_question
from routing.cases import OPEN_STATUSES, add_details, case_facts

__all__ = ["FOLLOWUP", "FollowupFlow", "add_urgent_words", "follow_case"]

FOLLOWUP = "case_followup"

# The intents a later detail of each kind of case may read as: they do not end following.
_OWN_INTENTS: dict[CaseKind, tuple[str, ...]] = {
    CaseKind.worry: ("report_worry",),
    CaseKind.missing: ("report_missing", "report_worry", "report_sighting"),
    CaseKind.callback: ("talk_to_human",),
    CaseKind.consult: ("ask_where",),
}
# Never a reason to stop following: the lexicon already answered real danger, and a
# detail the model cannot place is still a detail.
_NEVER_NEW = ("emergency", "out_of_scope")

_CONTENT = re.compile(r"[\w\u3040-\u30ff\u4e00-\u9fff]")
# Right after a report a detail is the likelier reading: another matter must be clear
# (「母の介護のことで相談したい」 1.0), not a guess at a detail's words (「夜も電気が
# ついていません」 reads as ask_where 0.6 to the model).
NEW_REQUEST_CONFIDENCE = 0.85
# Fewer meaningful characters than this say nothing to add (「2」, 「ok」, 「はい」).
_MIN_CONTENT = 4
_MAX_ANSWER = 8


def follow_case(ctx: TurnContext, case_id: int, intents: Collection[str] | None = None) -> None:
    """End the current flow and follow the case just made: later details are added to it.

    Call it as the flow's last step, instead of ``ctx.finish()``.

    Args:
        ctx: the turn that created or linked the case.
        case_id: the case.
        intents: the classifier intents a later detail may read as without being a new
            request; by default those of the case's kind.
    """
    ctx.finish()
    ctx.conversation.flow = FOLLOWUP
    ctx.set_slot("case_id", case_id)
    if intents is not None:
        ctx.set_slot("intents", list(intents))


def _has_content(text: str) -> bool:
    content = len(_CONTENT.findall(text))
    # 「はい」「いいえ、大丈夫です」 answer nothing asked; 「はい、あと電気もついていました」 tells more.
    return content >= _MIN_CONTENT and not (content <= _MAX_ANSWER and (is_yes(text) or is_no(text)))


def _another_place(ctx: TurnContext, case: Case) -> bool:
    """Whether the message names a place of the city other than the case's (another household)."""
    area, _ = place_from_message(ctx)
    if area.status == "resolved" and area.town is not None:
        return area.town.town_id != case.town_id if case.town_id else area.ward_code != case.ward
    return area.status == "ward_only" and area.ward_code != case.ward


class FollowupFlow(Flow):
    """Holds the case just made; adds the resident's later details to it (see the module)."""

    name = FOLLOWUP
    responses = ("utter_case_details_added", "utter_case_question_noted", "utter_case_question_no_call_back")
    asks_on_timeout = False

    def reads_free_words(self, step: str | None) -> bool:
        return True  # what the resident adds to their case is their own account

    def start(self, ctx: TurnContext) -> None:
        # Only ever entered through follow_case; started any other way there is no case to add to.
        ctx.treat_as_new_request()

    def resume(self, ctx: TurnContext) -> None:
        case = ctx.session.get(Case, ctx.slots.get("case_id"))
        text = ctx.own_words
        if case is not None and case.status in OPEN_STATUSES and text and asks_the_bot(text):
            self._question(ctx, case, text)
            return
        if case is None or case.status not in OPEN_STATUSES or not _has_content(text) or is_question(text):
            ctx.treat_as_new_request()
            return
        if case.kind == CaseKind.worry and _another_place(ctx, case):
            ctx.treat_as_new_request()
            return
        own = tuple(ctx.slots.get("intents") or _OWN_INTENTS.get(case.kind, ()))
        classification = ctx.classify(text)
        if classification.confidence >= NEW_REQUEST_CONFIDENCE and classification.intent not in (*own, *_NEVER_NEW):
            ctx.treat_as_new_request()
            return
        _add(ctx, case, text, "added", "utter_case_details_added")

    @staticmethod
    def _question(ctx: TurnContext, case: Case, text: str) -> None:
        """A question right after the report (「いつ連絡もらえますか？」): a new matter when the
        words clearly name one (「介護の相談はどこですか？」); otherwise it is about the report, and
        is added to it for the staff to answer when they get in touch."""
        classification = ctx.classify(text)
        if classification.confidence >= NEW_REQUEST_CONFIDENCE and classification.intent not in _NEVER_NEW:
            ctx.treat_as_new_request()
            return
        _add(ctx, case, text, "questions",
             "utter_case_question_noted" if case.callback_consent else "utter_case_question_no_call_back")


def add_urgent_words(ctx: TurnContext, guidance: str) -> None:
    """Danger told after the report (「窓から見たら倒れてる」, a smell now): the words and the call
    the resident was just told to make (``guidance``, 「119番」) are added to the case, so its
    counter knows at once. Nothing is added to a case no longer open, or without words."""
    case = ctx.session.get(Case, ctx.slots.get("case_id"))
    if case is not None and case.status in OPEN_STATUSES and ctx.own_words:
        _add(ctx, case, ctx.own_words, "added", "utter_case_details_added", guidance=guidance)


def _add(ctx: TurnContext, case: Case, text: str, kind: str, response: str, guidance: str | None = None) -> None:
    """Add the words to the case as ``kind`` (``routing.cases.add_details``), with the urgent call
    advised on them if any, and tell the resident."""
    add_details(ctx.session, case, text, source=ctx.channel, now=ctx.now, kind=kind, guidance=guidance)
    ctx.say(response, case_id=case.id)
    ctx.effect(EffectKind.case_updated, **case_facts(case))

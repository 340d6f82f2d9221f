"""Every flow the engine runs, in one explicit list: adding a flow is one import and one line here.

The order matters where a message could be claimed by more than one flow whatever flow
is active (``Flow.claims``): the first flow in ``FLOWS`` that claims it takes it. So the
interrupts that must win come first — the greeting on a follow or a call, silence on
the phone, cancel, "a person, please" — and flows claimed by their own words or payload
prefix (stop alerts, a sighting button) come last, after every flow's menu button.
"""

from __future__ import annotations

from flows.ask_where import AskWhereFlow
from flows.base import Flow
from flows.community import FindCommunityFlow
from flows.conversation import (
    EmergencyFlow,
    GoodbyeFlow,
    GreetFlow,
    OpeningFlow,
    OutOfScopeFlow,
    PhoneLineFlow,
    SilenceFlow,
)
from flows.cooperator import RegisterHelperFlow, UnsubscribeFlow
from flows.family import FamilyFlow
from flows.followup import FollowupFlow
from flows.handoff import HandoffFlow
from flows.missing import AlertDetailsFlow, MissingFlow
from flows.partner import PartnerJoinFlow, PartnerLeaveFlow, PartnerReportFlow
from flows.person import RegisterPersonFlow
from flows.safety_check import SafetyCheckFlow
from flows.sighting import SightingFlow
from flows.ways_out import CancelFlow
from flows.worry import WorryFlow

__all__ = ["FLOWS"]

FLOWS: tuple[Flow, ...] = (
    # Interrupts, in order of precedence.
    OpeningFlow(),
    SilenceFlow(),
    PhoneLineFlow(),  # the phone's fixed keys and words: again, wait, 9, a goodbye, a thank-you
    CancelFlow(lambda: FLOWS),  # stop, start again, correct, found: acts on the active flow
    SafetyCheckFlow(),  # a family answering a sensor's 安否確認 (「1 確認できた」「2 連絡がつかない」)
    FamilyFlow(),  # a family whose alert runs: their words go to the alert desk
    HandoffFlow(),
    # The matters, started by the classifier's intent or their menu button.
    AskWhereFlow(),
    WorryFlow(),
    MissingFlow(),
    RegisterHelperFlow(),
    RegisterPersonFlow(),
    FindCommunityFlow(),
    GreetFlow(),
    GoodbyeFlow(),
    OutOfScopeFlow(),
    EmergencyFlow(),
    FollowupFlow(),  # entered only through follow_case, after a report made its case
    AlertDetailsFlow(),  # entered only after a missing report: a few choices for the alert text
    # Also claimed by their own words or payload prefix, from any flow.
    # Leaving partner reporting (「協定通報の登録を解除」, before 「協定通報」 itself), an invitation
    # code, 「協定通報」: their own words, before the cooperators' stop words.
    PartnerLeaveFlow(),
    PartnerJoinFlow(),
    PartnerReportFlow(),
    UnsubscribeFlow(),
    SightingFlow(),
)

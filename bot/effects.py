"""What a committed unit of work sets in motion: case deliveries, the alert fan-out, and
switching off the alert endpoints of a resident who left a channel.

The engine, the staff API and housekeeping report what they did as typed effects
(:class:`bot.messages.EffectKind`) and call :func:`run_effects` once their transaction is
committed, so a background worker never looks for a row that is not there yet. Only
this module knows which background work each effect starts; the effects it does not
name (a sighting recorded, a handoff) are for logs and tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerts.cooperators import deactivate_endpoints
from bot.db import session_scope
from bot.messages import Effect, EffectKind
from routing.delivery import schedule_delivery

__all__ = ["resume_pending_work", "run_effects"]

_DELIVERED = frozenset({EffectKind.case_created, EffectKind.case_linked, EffectKind.case_updated})


def run_effects(effects: Sequence[Effect], *, url: str) -> None:
    """Start the background work that committed effects call for; never waits for it.

    Args:
        effects: what the committed turn or action did.
        url: the database it was committed to.
    """
    kinds = {effect.kind for effect in effects}
    if kinds & _DELIVERED:
        schedule_delivery(url=url)
    if EffectKind.alert_queued in kinds:
        _kick_fan_out()
    unfollowed = [effect for effect in effects if effect.kind is EffectKind.contact_unfollowed]
    if unfollowed:
        with session_scope(url) as session:
            for effect in unfollowed:
                deactivate_endpoints(session, channel=effect.data["channel"], address=effect.data["address"])


def resume_pending_work(url: str) -> None:
    """Resume what a previous process left half done: undelivered cases, unsent alert messages.

    Args:
        url: the database to resume on.
    """
    schedule_delivery(url=url)
    _kick_fan_out()


def _kick_fan_out() -> None:
    from alerts.fanout import runner  # why: its senders load every platform SDK, needed only once alerts are queued

    runner.kick()

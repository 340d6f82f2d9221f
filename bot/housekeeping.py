"""Jobs that run on a clock: widen missing-person alerts on schedule, erase expired data,
queue the request to continue for cooperators whose yearly re-confirmation fell due,
send the reports left half-way to their counters (marked incomplete), escalate the sensors'
安否確認 nobody answered to the hub (``alerts.sensors``), and recompute the isolation risk map
when it is due (``routing.riskmap``).

The embedded default runs them every minute inside `tsunagu serve`; a production
deployment may instead run `tsunagu alert tick` from cron. Both call ``run_due_jobs``.
The jobs only write rows; once they are committed, the alert fan-out is woken to send
what they queued (``bot.effects``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool

from alerts.cooperators import queue_reconfirm_requests
from alerts.lifecycle import widen_due
from alerts.sensors import escalate_overdue, purge_sensor_events
from bot.db import session_scope
from bot.effects import run_effects
from bot.messages import Effect, EffectKind
from bot.models import utcnow
from bot.privacy import purge_expired
from bot.settings import settings
from routing.cases import send_abandoned_drafts
from routing.partners import queue_reconfirm_requests as queue_partner_reconfirm_requests
from routing.riskmap import recompute_if_due

__all__ = ["run_due_jobs", "every_minute"]

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60


def run_due_jobs(url: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """Widen due alerts, purge what is past retention, queue due re-confirmation requests,
    send the reports nobody finished.

    Returns counts for the log.
    """
    url = url or settings.database_url
    with session_scope(url) as session:
        widened = widen_due(session, now)
        purged = purge_expired(session, now)
    # In a transaction of its own: the alerts must be widened whatever happens to the requests.
    with session_scope(url) as session:
        requested = queue_reconfirm_requests(session, now)
    # Partner reporters are asked the same way, on their chat (routing.partners).
    with session_scope(url) as session:
        requested += queue_partner_reconfirm_requests(session, now)
    # Reports left half-way (a call ended, a chat abandoned) reach their counters, incomplete.
    with session_scope(url) as session:
        abandoned = send_abandoned_drafts(session, now or utcnow(),
                                          timedelta(minutes=settings.conversation_timeout_minutes))
    # A sensor's 安否確認 the family left unanswered past its wait: the hub gets an urgent case.
    with session_scope(url) as session:
        escalated = len(escalate_overdue(session, now or utcnow()))
        sensor_events = purge_sensor_events(session, now or utcnow())
    if escalated:
        run_effects([Effect(EffectKind.case_created)], url=url)
    if widened or requested:
        run_effects([Effect(EffectKind.alert_queued)], url=url)
    if abandoned:
        run_effects([Effect(EffectKind.case_updated)], url=url)
    # Last, so a refused weight setting cannot hold up the alerts: the isolation risk map,
    # when its schedule (settings.risk_map_recompute_days) or a new statistics import calls for it.
    with session_scope(url) as session:
        risk_map = recompute_if_due(session, now or utcnow())
    return {"alerts widened": len(widened), **purged, "reconfirmation requests": requested,
            "abandoned reports sent": abandoned, "safety checks escalated": escalated,
            "sensor events purged": sensor_events, "risk map recomputed": int(risk_map)}


async def every_minute(url: str | None = None) -> None:
    """Run the jobs until cancelled; a failing run is logged and retried next minute."""
    while True:
        try:
            report = await run_in_threadpool(run_due_jobs, url)
            if any(report.values()):
                log.info("housekeeping %s", report)
        except Exception:
            log.exception("housekeeping failed")
        await asyncio.sleep(INTERVAL_SECONDS)

"""Jobs that run on a clock: widen missing-person alerts on schedule, erase expired data,
ask cooperators whose yearly re-confirmation fell due whether to continue.

The embedded default runs them every minute inside `tsunagu serve`; a production
deployment may instead run `tsunagu alert tick` from cron. Both call ``run_due_jobs``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from starlette.concurrency import run_in_threadpool

from bot.db import session_scope
from bot.privacy import purge_expired

__all__ = ["run_due_jobs", "every_minute"]

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60


def run_due_jobs(url: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """Widen due alerts, purge what is past retention, send due re-confirmation requests.

    Returns counts for the log.
    """
    from alerts.fanout import enqueue as fanout
    from alerts.alerts import widen_due
    from alerts.cooperators import send_reconfirm_requests

    with session_scope(url) as session:
        widened = widen_due(session, now)
        purged = purge_expired(session, now)
    if widened:
        fanout.kick()
    # After the commit above and in a session of its own: these requests go out over the
    # network, and the alerts must be widened whatever happens to them.
    with session_scope(url) as session:
        requested = send_reconfirm_requests(session, now)
    return {"alerts widened": len(widened), **purged, "reconfirmation requests": requested}


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

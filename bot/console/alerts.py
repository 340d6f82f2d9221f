"""The alert desk in the browser: missing reports → review and edit the public text → approve →
live progress → sightings on the map → widen → found / cancel; registered persons and cooperators.

Pages (role ``alert_desk``; every other role is refused with 403):

- ``GET /staff/alerts``: drafts and pending alerts to review first, then running alerts with
  their progress, then the ended ones with their purge date.
- ``GET /staff/alerts/reports/{case_id}``: a report that has no alert yet (a draft the family
  did not finish); a report with an alert redirects to the alert.
- ``GET /staff/alerts/{alert_id}``: the case's fields and the family's words, the public text
  composed from the fields (ja and en) and the form that edits them, the consent to show name,
  diagnosis and photo, approve (with the first stage's radius and, after it, how many cooperators
  were reached, warning at zero), the progress per channel, the sightings on the town map, widen,
  found and cancel with the day the personal data is deleted.
- ``GET /staff/alerts/{alert_id}/events``: server-sent events (``progress`` with queued / sent /
  failed per channel, ``sighting`` when one arrives, ``end`` once nothing more can change). The
  page shows the numbers on load and works without JavaScript; ``desk.js`` only keeps them live.
- ``GET /staff/alerts/{alert_id}/cap``: its latest CAP 1.2 message as issued, for an agency.
- ``GET /staff/persons``, ``/staff/persons/{id}``, ``GET /staff/cooperators``: lists with search,
  consent and last confirmation — what the desk needs, no addresses.

Every decision calls the alert network's own functions (``alerts.lifecycle``,
``alerts.sightings``, ``alerts.desk.edit_text``), commits, then starts the fan-out
(``bot.effects.run_effects``) as the staff API does. Every view of an alert or a person and
every change is written to the audit log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import desk, lifecycle, sightings as alert_sightings
from alerts.cap import export_cap
from alerts.fanout.enqueue import distance_m
from alerts.texts import (
    CHOICE_VALUES,
    IDENTITY_FIELDS,
    PUBLIC_FIELDS,
    compose_alert,
    feature_label,
    last_seen_label,
    render_forwarded_sighting,
)
from bot.console.audit import audit
from bot.console.auth import AlertDesk
from bot.console.maps import MapPoint, town_map_svg
from bot.console.web import language, render
from bot.db import session_factory
from bot.domain import load_domain
from bot.effects import run_effects
from bot.messages import Effect, EffectKind
from bot.models import Alert, AlertStatus, Case, CaseKind, RegisteredPerson, Sighting, StaffUser
from bot.models.staff import Permission
from bot.settings import settings
from bot.staff_api import SessionDep, case_counters, require, visible_persons
from routing.cases import INCOMPLETE
from routing.snapshot import get_directory

__all__ = ["HEARTBEAT_SECONDS", "POLL_SECONDS", "STREAM_SECONDS", "progress_events", "router"]

POLL_SECONDS = 1.0
"""How often the progress stream reads the outbox (one short query each time, no session kept)."""
HEARTBEAT_SECONDS = 15.0
"""A comment line at least this often, so a client that left is noticed even when nothing changes."""
STREAM_SECONDS = 60.0
"""How long one stream lasts; the browser then reconnects by itself (``retry``), resuming from the
last event id. A server shutting down thus waits at most this long for the desk's open pages."""
RECONNECT_MILLISECONDS = 1000
# Reach circles up to this radius are drawn on the map; a wider reach covers about the whole city.
_MAP_CIRCLE_MAX_KM = 6.0

router = APIRouter()
# The desk's script and style live beside its templates (its own folder; served below).
_ASSETS = Path(__file__).parent / "templates" / "alerts"
# The family's words on the case (the keys the report flow stores), in the order the desk reads them.
_WORD_LABELS = {
    "who": ("どなたが", "Who"),
    "last_seen_where": ("最後に見かけた場所（家族の言葉）", "Last seen where (their words)"),
    "last_seen_when": ("最後に見かけた時刻（家族の言葉）", "Last seen when (their words)"),
    "last_seen_time": ("読み取った時刻", "The time read from it"),
    "clothing": ("服装（家族の言葉）", "Clothing (their words)"),
    "callback_phone": ("折り返しの電話番号", "Call-back phone"),
    "first_report": ("最初の言葉", "First words"),
}
# The public text's fields as the edit form labels them (alerts.texts.PUBLIC_FIELDS, IDENTITY_FIELDS).
_FIELD_LABELS = {
    "sex": ("性別", "Sex"), "age": ("年齢", "Age"), "height": ("身長", "Height"), "build": ("体格", "Build"),
    "hair": ("髪", "Hair"), "clothing": ("服装", "Clothing"), "footwear": ("履物", "Footwear"),
    "belongings": ("持ち物", "Carrying"), "marks": ("その他の特徴", "Other features"),
    "landmark": ("目印（場所）", "Landmark"), "name": ("名前", "Name"), "name_kana": ("よみがな", "Reading"),
    "diagnosis": ("病名", "Diagnosis"),
}
_STAGES = {"draft": ("入力途中", "draft"), "report": ("報告のみ", "report only"), "pending": ("承認待ち", "pending"), "active": ("配信中", "running"),
           "found": ("発見", "found"), "cancelled": ("取り下げ", "withdrawn")}
Decision = Literal["approve", "widen", "found", "cancel"]
_DECISIONS: dict[str, Callable[..., int]] = {"approve": lifecycle.approve, "widen": lifecycle.widen,
                                             "found": lifecycle.found, "cancel": lifecycle.cancel}


# --------------------------------------------------------------------------- the progress stream


def _event(name: str, data: dict[str, Any], event_id: int | None = None) -> str:
    """One server-sent event (``id`` carries the sighting cursor, so a reconnect resumes from it)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def _read_state(url: str, alert_id: int) -> tuple[dict[str, Any], int]:
    """The broadcast's progress and the newest sighting id, in a session opened and closed here."""
    with session_factory(url)() as session:
        return desk.broadcast_progress(session, alert_id).as_json(), desk.newest_sighting_id(session, alert_id)


async def progress_events(request: Request, alert_id: int, *, url: str, after_sighting: int = 0) -> AsyncIterator[str]:
    """The alert's progress as server-sent events, until nothing more can change or the client leaves.

    Every ``POLL_SECONDS`` one short read (in a worker thread, its session closed at once: no
    connection is held between polls): a ``progress`` event when the numbers changed, a
    ``sighting`` event when a newer sighting than ``after_sighting`` arrived, a comment line at
    least every ``HEARTBEAT_SECONDS``. It ends with an ``end`` event once the alert is found or
    cancelled and its broadcast has nothing left to send, as soon as the client disconnects, and
    after ``STREAM_SECONDS`` (the browser reconnects, sending the last event id).

    Args:
        request: the streaming request (its disconnect ends the stream).
        alert_id: the alert.
        url: the database.
        after_sighting: the newest sighting the page already shows.

    Yields:
        The events, each a complete ``text/event-stream`` block.
    """
    shown: dict[str, Any] | None = None
    clock = asyncio.get_running_loop().time
    started = quiet_since = clock()
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
    while not await request.is_disconnected() and clock() - started < STREAM_SECONDS:
        progress, newest = await run_in_threadpool(_read_state, url, alert_id)
        now = clock()
        if progress != shown:
            shown, quiet_since = progress, now
            yield _event("progress", progress, after_sighting)
        if newest > after_sighting:
            after_sighting, quiet_since = newest, now
            yield _event("sighting", {"alert_id": alert_id, "sighting_id": newest}, newest)
        if progress["status"] in (AlertStatus.found.value, AlertStatus.cancelled.value) and progress["finished"]:
            yield _event("end", progress, after_sighting)
            return
        if now - quiet_since >= HEARTBEAT_SECONDS:
            quiet_since = now
            yield ": still here\n\n"
        await asyncio.sleep(POLL_SECONDS)


# --------------------------------------------------------------------------- reading helpers


def _scope(session: Session, user: StaffUser) -> list[str]:
    """The counters whose missing reports the desk member sees (the staff API's answer)."""
    return case_counters(session, user)


def _own_alert(session: Session, user: StaffUser, alert_id: int, *, lock: bool = False) -> tuple[Alert, Case | None]:
    """The alert and its case, if the case is one the user sees; 404 otherwise (ids cannot be probed)."""
    alert = session.get(Alert, alert_id, with_for_update=lock)
    case = session.get(Case, alert.case_id) if alert is not None and alert.case_id is not None else None
    if alert is None or case is None or case.counter_id not in set(_scope(session, user)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} not found")
    return alert, case


def _case_words(case: Case) -> list[tuple[str, str, str]]:
    """The family's own words on the case, labelled (ja, en), in the order the desk reads them."""
    return [(*_WORD_LABELS[key], str(case.details[key])) for key in _WORD_LABELS if case.details.get(key)]


def _distance(metres: float | None, lang: str) -> str:
    """"350 m", "約 1.8 km" / "about 1.8 km"."""
    if metres is None:
        return "unknown" if lang == "en" else "不明"
    if metres < 1000:
        return f"{round(metres, -1):.0f} m"
    return f"about {metres / 1000:.1f} km" if lang == "en" else f"約 {metres / 1000:.1f} km"


def _sighting_map(session: Session, alert: Alert, rows: list[desk.SightingRow]) -> Markup | None:
    """The towns around the last-seen point (the whole city once the reach is that wide), its reach
    circle while the alert runs, and the sightings."""
    directory = get_directory(session)
    origin = (alert.latitude, alert.longitude) if alert.latitude is not None and alert.longitude is not None else None
    reach = alert.radius_km if alert.status == AlertStatus.active else None
    points = []
    if origin is not None:
        # A circle wider than the city says nothing the caption does not: the city is drawn whole then.
        circle = reach if reach is not None and reach <= _MAP_CIRCLE_MAX_KM else None
        points.append(MapPoint(*origin, "最後 / last", radius_km=circle, kind="last-seen"))
    for row in rows:
        sighting = row.sighting
        record = directory.towns.get(sighting.town_id or "")
        point = ((sighting.latitude, sighting.longitude) if sighting.latitude is not None
                 and sighting.longitude is not None else (record.latitude, record.longitude) if record else None)
        if point is not None:
            points.append(MapPoint(*point, f"#{sighting.id} {row.moment.astimezone(settings.tz):%H:%M}",
                                   kind="sighting"))
    if not points:
        return None
    towns = None
    if origin is not None and reach is not None and reach <= _MAP_CIRCLE_MAX_KM:
        # The towns the reach touches (a town is about a kilometre across), and those of the sightings.
        towns = {town_id for town_id, record in directory.towns.items()
                 if distance_m(origin, (record.latitude, record.longitude)) <= (reach + 1.0) * 1000}
        towns |= {row.sighting.town_id for row in rows if row.sighting.town_id in directory.towns}
    return town_map_svg(directory, title=f"お知らせ {alert.id} の地図 / Map of alert {alert.id}",
                        highlight=[alert.town_id] if alert.town_id else [], points=points, towns=towns or None)


def _field_rows(alert: Alert, lang: str) -> list[dict[str, Any]]:
    """The edit form's fields: each public or identity field, its value, and its choices (labelled)."""
    domain = load_domain(settings.domain_path)
    values = alert.public_fields or {}
    rows = []
    for name in (*PUBLIC_FIELDS, *IDENTITY_FIELDS):
        # Hair is a choice or the family's own words: a text field keeps both.
        choices = () if name == "hair" else CHOICE_VALUES.get(name, ())
        ja, en = _FIELD_LABELS[name]
        rows.append({"name": name, "ja": ja, "en": en, "value": values.get(name), "identity": name in IDENTITY_FIELDS,
                     "choices": [(value, feature_label(domain, name, value, lang)) for value in choices]})
    return rows


def _page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    """A desk page through the console's frame, with the desk's own formatting helpers."""
    lang = language(request)
    return render(request, name, {"distance": lambda metres: _distance(metres, lang), "short_time": _short_time,
                                  **context})


def _short_time(moment: datetime) -> str:
    """"11/30 15:11" in the city's zone: a sighting's time in a narrow column."""
    return f"{moment.astimezone(settings.tz):%m/%d %H:%M}"


def _alert_context(request: Request, session: Session, alert: Alert, case: Case | None) -> dict[str, Any]:
    """Everything the alert page (and its sightings fragment) shows."""
    domain = load_domain(settings.domain_path)
    base_url = f"/staff/alerts/{alert.id}"
    rows = desk.desk_sightings(session, alert)
    open_ = alert.status in (AlertStatus.pending, AlertStatus.active)
    kind = "update" if alert.stage else "alert"
    seen = alert.last_seen_at.astimezone(settings.tz).strftime("%Y-%m-%dT%H:%M") if alert.last_seen_at else ""
    return {
        "alert": alert, "case": case, "base_url": base_url, "open": open_,
        "pending": alert.status == AlertStatus.pending, "active": alert.status == AlertStatus.active,
        "ended": not open_, "last_seen": last_seen_label(session, alert),
        "case_words": _case_words(case) if case is not None else [],
        "texts": [(language, compose_alert(domain, alert, kind, language).text) for language in ("ja", "en")]
        if not alert.purged else [],
        "fields": _field_rows(alert, language(request)), "seen_value": seen, "zone": settings.timezone,
        "preview": lifecycle.preview_approval(session, alert) if alert.status == AlertStatus.pending else None,
        "registered": desk.active_cooperators(session) if alert.status == AlertStatus.pending else None,
        "min_first_stage": settings.alert_min_first_stage, "retention_days": settings.missing_retention_days,
        "progress": desk.broadcast_progress(session, alert.id),
        "events_url": f"{base_url}/events?after={rows[0].sighting.id if rows else 0}",
        "sightings_url": f"{base_url}/sightings",
        "family": desk.family_links(session, alert.id),
        "sightings": rows, "map_svg": _sighting_map(session, alert, rows) if not alert.purged else None,
    }


# --------------------------------------------------------------------------- pages


@router.get("/alerts", response_class=HTMLResponse)
def alert_list(request: Request, session: SessionDep, user: AlertDesk) -> HTMLResponse:
    """Drafts and pending alerts to review, running alerts with their progress, ended ones with their purge date."""
    reports = desk.desk_reports(session, _scope(session, user), ended=True)
    seen = desk.sighting_counts(session, [report.alert.id for report in reports if report.alert is not None])
    rows = [{"report": report, "stage": _STAGES[report.stage],
             "sightings": seen.get(report.alert.id, 0) if report.alert is not None else 0,
             "url": (f"/staff/alerts/{report.alert.id}" if report.alert is not None
                     else f"/staff/alerts/reports/{report.case.id}"),
             "place": (last_seen_label(session, report.alert) if report.alert is not None
                       else report.case.details.get("last_seen_where") or ""),
             "progress": (desk.broadcast_progress(session, report.alert.id)
                          if report.alert is not None and report.stage == "active" else None)}
            for report in reports]
    sections = [
        ("review", "確認が必要", "To review", [row for row in rows if row["report"].stage in ("draft", "report", "pending")],
         "確認待ちの報告はありません。", "Nothing to review."),
        ("running", "配信中", "Running", [row for row in rows if row["report"].stage == "active"],
         "配信中のお知らせはありません。", "No alert is running."),
        ("ended", "終了", "Ended", [row for row in rows if row["report"].stage in ("found", "cancelled")],
         "終了したお知らせはありません。", "No alert has ended."),
    ]
    return _page(request, "alerts/list.html", {"sections": sections})


@router.get("/alerts/desk.js", include_in_schema=False)
def desk_script(user: AlertDesk) -> FileResponse:
    """The page's small script: keeps the progress and the sightings live (the page works without it)."""
    return FileResponse(_ASSETS / "desk.js", media_type="text/javascript")


@router.get("/alerts/desk.css", include_in_schema=False)
def desk_style(user: AlertDesk) -> FileResponse:
    """The desk's page layout (two columns on a tablet, the progress bar, the map)."""
    return FileResponse(_ASSETS / "desk.css", media_type="text/css")


@router.get("/alerts/reports/{case_id}", response_class=HTMLResponse, response_model=None)
def report_page(case_id: int, request: Request, session: SessionDep, user: AlertDesk) -> Response:
    """A missing report the family did not finish (no alert yet); with an alert, that alert's page."""
    case = session.get(Case, case_id)
    if case is None or case.kind != CaseKind.missing or case.counter_id not in set(_scope(session, user)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {case_id} not found")
    alert_id = session.scalar(select(Alert.id).where(Alert.case_id == case.id).order_by(Alert.id.desc()).limit(1))
    if alert_id is not None:
        return RedirectResponse(f"/staff/alerts/{alert_id}", status.HTTP_303_SEE_OTHER)
    audit(session, user, "view", "case", case.id)
    session.commit()
    return _page(request, "alerts/report.html", {"case": case, "case_words": _case_words(case),
                                                 "draft": bool(case.details.get(INCOMPLETE))})


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(alert_id: int, request: Request, session: SessionDep, user: AlertDesk,
               done: Annotated[str | None, Query()] = None, reached: Annotated[int | None, Query()] = None,
               queued: Annotated[int | None, Query()] = None, police: Annotated[int | None, Query()] = None,
               error: Annotated[str | None, Query(max_length=16)] = None) -> HTMLResponse:
    """The alert: review, text, approve, progress, sightings, widen, found / cancel."""
    alert, case = _own_alert(session, user, alert_id)
    audit(session, user, "view", "alert", alert.id)
    session.commit()
    context = _alert_context(request, session, alert, case)
    context |= _outcome(session, alert, language(request), done, reached=reached, queued=queued)
    if police is not None and not alert.purged:
        sighting = session.get(Sighting, police)
        if sighting is not None and sighting.alert_id == alert.id:
            context["police_summary"] = render_forwarded_sighting(session, load_domain(settings.domain_path),
                                                                  "police", sighting.id, "ja")
    context["error"] = _error_text(alert, language(request), error, context.get("preview"))
    return _page(request, "alerts/alert.html", context)


def _error_text(alert: Alert, lang: str, code: str | None, preview: lifecycle.Preview | None) -> str | None:
    """Why the last step was refused, from the redirect's code (a link cannot put words on the page)."""
    en = lang == "en"
    if code == "unreachable" and preview is not None:
        return (f"Not sent: {preview.unreachable} cooperators in the first stage can be reached only on channels "
                "without settings here. Configure them, or tick “send to the others anyway”." if en else
                f"送信していません：最初の範囲の協力者 {preview.unreachable} 人は、設定のないチャネルでしか連絡できません。"
                "設定するか、「それでも他の協力者に送る」を選んでください。")
    if code == "state":
        return (f"Not possible now: the alert is {alert.status.value}." if en
                else f"いまの状態（{alert.status.value}）ではできません。")
    if code == "field":
        return "A field has a value it does not take (the age must be a number)." if en \
            else "使えない値の項目があります（年齢は数字で入力してください）。"
    if code == "time":
        return "The last-seen time is not a date and time." if en else "最後に見かけた時刻の形が正しくありません。"
    return None


def _outcome(session: Session, alert: Alert, lang: str, done: str | None, *, reached: int | None,
             queued: int | None) -> dict[str, Any]:
    """What the page says after a decision (the redirect carries it): the reach, and the warning at zero."""
    en = lang == "en"
    count = queued or 0
    if done == "approved" and reached is not None:
        within = ("the whole city" if en else "市内全域") if alert.radius_km is None else (
            f"{alert.radius_km:g} km" if en else f"半径 {alert.radius_km:g} km")
        notice = (f"Approved: {reached} cooperators reached ({within})." if en
                  else f"承認しました：協力者 {reached} 人に配信します（{within}）。")
        return {"notice": notice, "warning": lifecycle.reach_warning(session, alert, reached)}
    notices = {
        "widened": (f"範囲を広げました：協力者 {count} 人に追加で配信します。", f"Widened: {count} more cooperators."),
        "found": ("見つかったことを記録し、未送信の配信を止めました。", "Marked found; pending messages stopped."),
        "cancelled": ("お知らせを取り下げました。", "The alert was withdrawn."),
        "text": ("文面を保存しました。", "The text was saved."),
        "family": ("家族の連絡先をつなぎました。", "The family member is linked."),
        "confirmed": ("目撃情報を確認済みにしました。", "The sighting is confirmed."),
        "forwarded": (f"目撃情報を転送しました（{count} 件）。", f"The sighting was forwarded ({count} messages)."),
    }
    if done not in notices:
        return {}
    warning = None
    if done == "forwarded" and not count:
        warning = ("Nobody to send it to: no family chat is linked, or no police e-mail address is set." if en
                   else "送り先がありません（家族のチャットが未登録か、警察のメールアドレスが未設定です）。")
    return {"notice": notices[done][1 if en else 0], "warning": warning}


@router.get("/alerts/{alert_id}/sightings", response_class=HTMLResponse)
def sightings_fragment(alert_id: int, request: Request, session: SessionDep, user: AlertDesk) -> HTMLResponse:
    """The sightings section alone (the page's script swaps it in when a sighting arrives)."""
    alert, case = _own_alert(session, user, alert_id)
    audit(session, user, "view", "alert_sightings", alert.id)
    session.commit()
    return _page(request, "alerts/_sightings.html", _alert_context(request, session, alert, case))


@router.get("/alerts/{alert_id}/cap", response_model=None)
def alert_cap(alert_id: int, session: SessionDep, user: AlertDesk) -> Response:
    """The alert's latest CAP 1.2 message exactly as issued (a Draft while pending), to hand to an agency."""
    alert, _ = _own_alert(session, user, alert_id)
    xml = export_cap(session, alert)
    if xml is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no CAP message was issued for this alert, or it was erased")
    audit(session, user, "export_cap", "alert", alert.id)
    session.commit()
    return Response(xml, media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="alert-{alert.id}-cap.xml"',
                             "Cache-Control": "no-store"})


@router.get("/alerts/{alert_id}/events")
def alert_events(alert_id: int, request: Request, session: SessionDep, user: AlertDesk,
                 after: Annotated[int, Query(ge=0)] = 0) -> StreamingResponse:
    """The alert's progress and new sightings as server-sent events (see :func:`progress_events`)."""
    _own_alert(session, user, alert_id)
    # The stream polls with short sessions of its own: the request's session is given back now,
    # not held open as long as the page stays.
    session.close()
    resumed = request.headers.get("last-event-id", "")
    start = max(after, int(resumed) if resumed.isdigit() else 0)
    return StreamingResponse(progress_events(request, alert_id, url=settings.database_url, after_sighting=start),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --------------------------------------------------------------------------- decisions


def _back(alert_id: int, **outcome: object) -> RedirectResponse:
    """Post/redirect/get: back to the alert page, saying what happened."""
    query = "&".join(f"{key}={quote(str(value), safe='')}" for key, value in outcome.items() if value is not None)
    return RedirectResponse(f"/staff/alerts/{alert_id}" + (f"?{query}" if query else ""), status.HTTP_303_SEE_OTHER)


def _start_sending(alert_id: int, queued: int) -> None:
    """After the commit: wake the fan-out (in-process sender, or the workers' queue)."""
    run_effects([Effect(EffectKind.alert_queued, {"alert_id": alert_id, "queued": queued})],
                url=settings.database_url)


@router.post("/alerts/{alert_id}/approve")
def approve(alert_id: int, session: SessionDep, user: AlertDesk,
            force: Annotated[str | None, Form()] = None) -> RedirectResponse:
    """Approve a pending alert: it goes to the first stage, grown to reach enough cooperators.

    Refused (back with the reason) while cooperators in that stage can be reached only on
    channels without settings here, unless the desk ticks "send to the others anyway".
    """
    require(Permission.approve_alerts)(user)
    alert, _ = _own_alert(session, user, alert_id, lock=True)
    if alert.status == AlertStatus.pending and not force:
        unreachable = lifecycle.preview_approval(session, alert).unreachable
        if unreachable:
            session.rollback()
            return _back(alert_id, error="unreachable")
    return _decide(session, user, alert, "approve")


@router.post("/alerts/{alert_id}/widen")
def widen(alert_id: int, session: SessionDep, user: AlertDesk) -> RedirectResponse:
    """Widen the radius to the next stage now (it also widens by itself on a schedule)."""
    alert, _ = _own_alert(session, user, alert_id, lock=True)
    return _decide(session, user, alert, "widen")


@router.post("/alerts/{alert_id}/found")
def found(alert_id: int, session: SessionDep, user: AlertDesk) -> RedirectResponse:
    """The person was found: pending messages stop, those who received the alert are thanked."""
    alert, _ = _own_alert(session, user, alert_id, lock=True)
    return _decide(session, user, alert, "found")


@router.post("/alerts/{alert_id}/cancel")
def cancel(alert_id: int, session: SessionDep, user: AlertDesk) -> RedirectResponse:
    """Withdraw the alert: pending messages stop, those who received it are told."""
    alert, _ = _own_alert(session, user, alert_id, lock=True)
    return _decide(session, user, alert, "cancel")


def _decide(session: Session, user: StaffUser, alert: Alert, decision: Decision) -> RedirectResponse:
    """Run one lifecycle step, audit and commit it, wake the fan-out, and go back saying what happened."""
    try:
        queued = _DECISIONS[decision](session, alert, by=user.username)
    except lifecycle.AlertError:
        session.rollback()
        return _back(alert.id, error="state")
    audit(session, user, decision, "alert", alert.id)
    session.commit()
    _start_sending(alert.id, queued)
    if decision == "approve":
        # One alert message per cooperator: the messages queued are the cooperators reached.
        return _back(alert.id, done="approved", reached=queued)
    return _back(alert.id, done={"widen": "widened", "found": "found", "cancel": "cancelled"}[decision], queued=queued)


@router.post("/alerts/{alert_id}/text")
async def edit_text(alert_id: int, request: Request, session: SessionDep, user: AlertDesk) -> RedirectResponse:
    """Save the public fields, the last-seen time and the consent to share (like ``tsunagu alert text set``)."""
    form = await request.form()
    values = {field: str(form.get(field) or "") for field in (*PUBLIC_FIELDS, *IDENTITY_FIELDS) if field in form}
    seen_text = str(form.get("seen") or "")
    try:
        seen = datetime.strptime(seen_text, "%Y-%m-%dT%H:%M").replace(tzinfo=settings.tz) if seen_text else None
    except ValueError:
        return _back(alert_id, error="time")
    share = form.get("share") == "yes"
    return await run_in_threadpool(_save_text, session, user, alert_id, values, seen, share)


def _save_text(session: Session, user: StaffUser, alert_id: int, values: dict[str, str], seen: datetime | None,
               share: bool) -> RedirectResponse:
    """The text edit's database part (run in a worker thread: the form was read asynchronously)."""
    alert, _ = _own_alert(session, user, alert_id, lock=True)
    try:
        changed = desk.edit_text(session, alert, values, by=user.username, seen=seen, share=share)
    except lifecycle.AlertError:
        session.rollback()
        return _back(alert_id, error="state")
    except ValueError:  # a choice that does not exist, an age that is not one
        session.rollback()
        return _back(alert_id, error="field")
    if changed:
        audit(session, user, "edit_text", "alert", alert.id)
    session.commit()
    return _back(alert_id, done="text")


def _own_sighting(session: Session, user: StaffUser, alert_id: int, sighting_id: int) -> Sighting:
    """A sighting of an alert the user sees; 404 otherwise."""
    _own_alert(session, user, alert_id)
    sighting = session.get(Sighting, sighting_id)
    if sighting is None or sighting.alert_id != alert_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"sighting {sighting_id} not found")
    return sighting


@router.post("/alerts/{alert_id}/sightings/{sighting_id}/confirm")
def confirm_sighting(alert_id: int, sighting_id: int, session: SessionDep, user: AlertDesk) -> RedirectResponse:
    """Confirm a sighting: the next widening says the person was last seen there and then."""
    sighting = _own_sighting(session, user, alert_id, sighting_id)
    try:
        alert_sightings.confirm_sighting(session, sighting, by=user.username)
    except lifecycle.AlertError:
        session.rollback()
        return _back(alert_id, error="state")
    audit(session, user, "confirm_sighting", "sighting", sighting.id)
    session.commit()
    return _back(alert_id, done="confirmed")


@router.post("/alerts/{alert_id}/sightings/{sighting_id}/forward")
def forward_sighting(alert_id: int, sighting_id: int, session: SessionDep, user: AlertDesk,
                     to: Annotated[Literal["family", "police"], Form()]) -> RedirectResponse:
    """Forward a sighting to the family's chat or the police; for the police the page shows the summary too."""
    sighting = _own_sighting(session, user, alert_id, sighting_id)
    try:
        queued = alert_sightings.forward_sighting(session, sighting, to, by=user.username)
    except lifecycle.AlertError:
        session.rollback()
        return _back(alert_id, error="state")
    audit(session, user, f"forward_sighting_{to}", "sighting", sighting.id)
    session.commit()
    _start_sending(alert_id, queued)
    return _back(alert_id, done="forwarded", queued=queued, police=sighting.id if to == "police" else None)


@router.post("/alerts/{alert_id}/family")
def link_family(alert_id: int, session: SessionDep, user: AlertDesk,
                channel: Annotated[Literal["line", "telegram"], Form()],
                user_id: Annotated[str, Form(min_length=1, max_length=128)]) -> RedirectResponse:
    """Link a family member the desk names, by their chat: sightings the desk forwards reach them too."""
    alert, _ = _own_alert(session, user, alert_id)
    try:
        link = lifecycle.link_family(session, alert, channel=channel, user_id=user_id.strip(), by=user.username)
    except lifecycle.AlertError:
        session.rollback()
        return _back(alert_id, error="state")
    audit(session, user, "link_family", "alert", alert.id)
    session.commit()
    return _back(alert_id, done="family", family=link.contact_id)


# --------------------------------------------------------------------------- persons and cooperators


def _person_matches(person: RegisteredPerson, words: str, towns: dict[str, str]) -> bool:
    """Whether the search words appear in the person's town, description or usual places."""
    texts = (towns.get(person.town_id or "", ""), person.town_id or "", person.description, person.usual_places)
    return any(words in text.casefold() for text in texts)


@router.get("/persons", response_class=HTMLResponse)
def persons(request: Request, session: SessionDep, user: AlertDesk,
            q: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
    """Registered persons living where the desk's counters serve, searched by town or description."""
    found = visible_persons(session, user.counter_ids)
    towns = desk.town_labels(session, [person.town_id for person in found])
    words = q.strip().casefold()
    if words:
        found = [person for person in found if _person_matches(person, words, towns)]
    for person in found:  # every person shown is a person viewed
        audit(session, user, "list", "registered_person", person.id)
    session.commit()
    return _page(request, "alerts/persons.html", {"persons": found, "towns": towns, "query": q})


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_page(person_id: int, request: Request, session: SessionDep, user: AlertDesk) -> HTMLResponse:
    """One registration, with its structured features and consent (every view audited)."""
    person = session.get(RegisteredPerson, person_id)
    if person is None or person.id not in {found.id for found in visible_persons(session, user.counter_ids)}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"registration {person_id} not found")
    audit(session, user, "view", "registered_person", person.id)
    session.commit()
    domain = load_domain(settings.domain_path)
    features = [(*_FIELD_LABELS[name], feature_label(domain, name, person.features[name], language(request)))
                for name in (*PUBLIC_FIELDS, *IDENTITY_FIELDS) if (person.features or {}).get(name)]
    town = desk.town_labels(session, [person.town_id]).get(person.town_id or "", person.town_id or "")
    return _page(request, "alerts/person.html", {"person": person, "features": features, "town": town})


@router.get("/cooperators", response_class=HTMLResponse)
def cooperators(request: Request, session: SessionDep, user: AlertDesk,
                q: Annotated[str, Query(max_length=100)] = "", active: str | None = None) -> HTMLResponse:
    """Cooperators by town or channel: area, channels, consent and last confirmation (never addresses)."""
    rows = desk.search_cooperators(session, q, active_only=active == "yes")
    for row in rows:  # a cooperator is a person too: every one shown is audited
        audit(session, user, "list", "cooperator", row.id)
    session.commit()
    return _page(request, "alerts/cooperators.html", {"cooperators": rows, "query": q, "active_only": active == "yes"})

"""The alert desk in the console (issue 13, item 4): roles, review and text edit, approve (reach and
the zero warning), the progress stream, sightings, widen, found with its purge date, persons and
cooperators, audit rows — the real app on both databases, the outbox played by hand."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.requests import Request
from starlette.types import Message

from alerts import desk
from alerts.lifecycle import approve as approve_alert, create_from_case
from alerts.sightings import record_sighting
from bot.console import alerts as console_alerts
from bot.console.auth import CSRF_HEADER
from bot.db import get_engine, session_scope
from bot.models import (
    Alert,
    AlertStatus,
    CaseEvent,
    CaseKind,
    Cooperator,
    CooperatorEndpoint,
    OutboxItem,
    OutboxState,
    RegisteredPerson,
    Sighting,
    utcnow,
)
from bot.models.console import AuditEntry
from bot.models.staff import Role
from bot.settings import settings
from routing.cases import INCOMPLETE, save_draft
from tests.alerts.conftest import Kicks, add_cooperator, kicks, missing_case  # noqa: F401 - kicks: the fan-out is not woken
from tests.bot.console.conftest import StaffAccount, csrf_of
from tests.channels.conftest import served_on_loopback

StaffClient = Callable[..., TestClient]
# Around 本町 (chuo-1-1), where the missing case of tests.alerts.conftest was last seen.
NEAR_TOWNS = ("chuo-1-1", "chuo-1-2", "chuo-1-3")


@pytest.fixture(autouse=True)
def alert_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """LINE and Telegram configured, so approval queues rows; no Redis."""
    monkeypatch.setattr(settings, "line_channel_access_token", "test-line-token")
    monkeypatch.setattr(settings, "telegram_bot_token", "123:test")
    monkeypatch.setattr(settings, "redis_url", None)


@pytest.fixture(autouse=True)
def small_first_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "alert_radius_stages_km", [1.0, 5.0])
    monkeypatch.setattr(settings, "alert_min_first_stage", len(NEAR_TOWNS))


def _pending_alert(db_url: str, *, cooperators: tuple[str, ...] = NEAR_TOWNS, counter_id: str = "mimamori-chuo",
                   channels: tuple[str, ...] = ("line", "telegram")) -> int:
    """A pending alert of a missing case in 本町, and cooperators in the given towns (channels alternate)."""
    with session_scope(db_url) as session:
        for number, town_id in enumerate(cooperators):
            add_cooperator(session, town_id, channel=channels[number % len(channels)])
        case = missing_case(session, counter_id=counter_id, now=utcnow())
        alert = create_from_case(session, case, last_seen_at=utcnow() - timedelta(hours=1))
        alert.public_fields = {"sex": "male", "age": 80, "clothing": "紺色のジャンパー"}
        return alert.id


def _desk(staff_client: StaffClient) -> TestClient:
    return staff_client(Role.alert_desk)


def _audits(db_url: str, account: StaffAccount) -> list[tuple[str, str, str]]:
    with session_scope(db_url) as session:
        return [(entry.action, entry.object_type, entry.object_id) for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.staff_user_id == account.id).order_by(AuditEntry.id))]


def _mark(db_url: str, alert_id: int, state: OutboxState, limit: int | None = None) -> None:
    """Play the sending worker: the first ``limit`` queued rows of the alert reach ``state``."""
    with session_scope(db_url) as session:
        query = select(OutboxItem.id).where(OutboxItem.alert_id == alert_id, OutboxItem.state == OutboxState.queued)
        ids = list(session.scalars(query.order_by(OutboxItem.id).limit(limit)))
        session.execute(update(OutboxItem).where(OutboxItem.id.in_(ids)).values(state=state, sent_at=utcnow()))


# --------------------------------------------------------------------------- the queries


def test_progress_is_counted_per_channel_and_only_for_the_broadcast(db_url: str) -> None:
    alert_id = _pending_alert(db_url)
    with session_scope(db_url) as session:
        assert approve_alert(session, session.get(Alert, alert_id), by="desk") == 3
    _mark(db_url, alert_id, OutboxState.sent, limit=1)
    with session_scope(db_url) as session:
        progress = desk.broadcast_progress(session, alert_id)
        assert [channel.channel for channel in progress.channels] == ["line", "telegram"]
        assert (progress.totals.total, progress.totals.sent, progress.totals.queued) == (3, 1, 2)
        assert progress.totals.percent == 33 and not progress.finished
    _mark(db_url, alert_id, OutboxState.failed)
    with session_scope(db_url) as session:
        progress = desk.broadcast_progress(session, alert_id)
        assert progress.finished and progress.totals.percent == 100 and progress.totals.failed == 2
        as_json = progress.as_json()
        assert as_json["totals"]["done"] == 3 and {row["channel"] for row in as_json["channels"]} == {"line", "telegram"}


def test_reports_put_drafts_and_pending_alerts_first(db_url: str) -> None:
    pending = _pending_alert(db_url, cooperators=())
    with session_scope(db_url) as session:
        active_case = missing_case(session, now=utcnow())
        active = create_from_case(session, active_case)
        active.status = AlertStatus.active
        draft, _ = save_draft(session, draft=None, kind=CaseKind.missing, topic="missing",
                              counter_id=None, area=None, details={"who": "父"}, reason="", channel="line",
                              language="ja", urgent=True, reporter_contact_id=None, now=utcnow())
        other = missing_case(session, counter_id="mimamori-kita", now=utcnow())
        reports = desk.desk_reports(session, ["mimamori-chuo", ""])
        stages = [(report.stage, report.alert.id if report.alert else report.case.id) for report in reports]
        assert stages[:2] == [("draft", draft.id), ("pending", pending)] and stages[2] == ("active", active.id)
        assert other.id not in [report.case.id for report in reports], "another counter's report"
        assert reports[0].draft and draft.details[INCOMPLETE]


def test_edit_text_changes_fields_and_notes_only_their_names(db_url: str) -> None:
    alert_id = _pending_alert(db_url, cooperators=())
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        changed = desk.edit_text(session, alert, {"height": "160_170", "clothing": "", "name": "山田太郎"},
                                 by="desk", share=True)
        assert changed == ["clothing", "height", "name", "share_identity"]
        assert alert.public_fields == {"sex": "male", "age": 80, "height": "160_170", "name": "山田太郎"}
        event = session.scalars(select(CaseEvent).where(CaseEvent.kind == "alert_text_edited")).one()
        assert event.details["fields"] == changed and "山田太郎" not in json.dumps(event.details, ensure_ascii=False)
        with pytest.raises(ValueError):
            desk.edit_text(session, alert, {"height": "tall"}, by="desk")


def test_cooperators_are_searched_by_town_or_channel_without_addresses(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1", channel="line", address="Uline-secret")
        add_cooperator(session, "kita-2-4", channel="telegram", address="99887766")
    with session_scope(db_url) as session:
        assert [row.town for row in desk.search_cooperators(session, "本町")] == ["中央区 本町"]
        assert [row.channels for row in desk.search_cooperators(session, "telegram")] == [("telegram",)]
        assert len(desk.search_cooperators(session)) == 2
        assert "Uline-secret" not in repr(desk.search_cooperators(session))


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", [Role.counter, Role.manager, Role.admin])
def test_other_roles_are_refused(role: Role, staff_client: StaffClient, db_url: str) -> None:
    alert_id = _pending_alert(db_url)
    client = staff_client(role)
    for path in ("/staff/alerts", f"/staff/alerts/{alert_id}", f"/staff/alerts/{alert_id}/events",
                 "/staff/persons", "/staff/cooperators"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/staff/alerts/{alert_id}/approve").status_code == 403
    with session_scope(db_url) as session:
        assert session.get(Alert, alert_id).status == AlertStatus.pending
        assert session.scalars(select(OutboxItem)).all() == []


def test_another_counters_alert_answers_404(staff_client: StaffClient, db_url: str) -> None:
    alert_id = _pending_alert(db_url, counter_id="mimamori-kita")
    client = _desk(staff_client)
    assert client.get(f"/staff/alerts/{alert_id}").status_code == 404
    assert client.post(f"/staff/alerts/{alert_id}/approve").status_code == 404


def test_a_post_without_the_csrf_token_is_refused(staff_client: StaffClient, db_url: str) -> None:
    alert_id = _pending_alert(db_url)
    client = _desk(staff_client)
    del client.headers[CSRF_HEADER]
    assert client.post(f"/staff/alerts/{alert_id}/approve").status_code == 403
    with session_scope(db_url) as session:
        assert session.get(Alert, alert_id).status == AlertStatus.pending


# --------------------------------------------------------------------------- review and approve


def test_the_review_page_shows_the_words_the_composed_text_and_the_consent(staff_client: StaffClient,
                                                                          db_url: str) -> None:
    alert_id = _pending_alert(db_url)
    client = _desk(staff_client)
    listing = client.get("/staff/alerts")
    assert listing.status_code == 200 and f'data-alert="{alert_id}"' in listing.text
    page = client.get(f"/staff/alerts/{alert_id}")
    assert page.status_code == 200
    assert "中央区 本町 2丁目" in page.text, "the family's words, for the desk"
    assert 'id="approve-button"' in page.text and 'data-share="no"' in page.text
    assert 'id="no-cooperators"' not in page.text
    texts = re.findall(r'<pre class="alert-text" lang="(\w+)">(.*?)</pre>', page.text, re.S)
    assert [language for language, _ in texts] == ["ja", "en"]
    assert "紺色のジャンパー" in texts[0][1] and "2丁目" not in texts[0][1], "composed from the fields, town only"
    assert ("view", "alert", str(alert_id)) in _audits(db_url, client.account)  # type: ignore[attr-defined]


def test_the_page_speaks_english_when_asked(staff_client: StaffClient, db_url: str) -> None:
    alert_id = _pending_alert(db_url)
    client = _desk(staff_client)
    page = client.get(f"/staff/alerts/{alert_id}", params={"lang": "en"})
    assert "Approve and send" in page.text and "承認して配信する" not in page.text
    refused = client.get(f"/staff/alerts/{alert_id}", params={"error": "state"})
    assert 'id="desk-error"' in refused.text, "the language stays (cookie) and the refusal is said"
    assert "Not possible now" in refused.text
    assert 'id="desk-error"' not in client.get(f"/staff/alerts/{alert_id}", params={"error": "<b>x"}).text


def test_a_draft_report_is_shown_and_a_report_with_an_alert_leads_to_it(staff_client: StaffClient,
                                                                         db_url: str) -> None:
    alert_id = _pending_alert(db_url, cooperators=())
    with session_scope(db_url) as session:
        draft, _ = save_draft(session, draft=None, kind=CaseKind.missing, topic="missing", counter_id=None,
                              area=None, details={"who": "父です", "callback_phone": "090-0000-0001"}, reason="",
                              channel="phone", language="ja", urgent=True, now=utcnow())
        draft_id, alert_case = draft.id, session.get(Alert, alert_id).case_id
    client = _desk(staff_client)
    listing = client.get("/staff/alerts").text.split('id="running"')[0]
    assert f'data-case="{draft_id}"' in listing, "a draft whose place is not known yet is the desk's to review"
    page = client.get(f"/staff/alerts/reports/{draft_id}")
    assert page.status_code == 200 and "父です" in page.text and "090-0000-0001" in page.text
    leads = client.get(f"/staff/alerts/reports/{alert_case}", follow_redirects=False)
    assert leads.status_code == 303 and leads.headers["location"] == f"/staff/alerts/{alert_id}"
    assert ("view", "case", str(draft_id)) in _audits(db_url, client.account)  # type: ignore[attr-defined]
    assert staff_client(Role.counter).get(f"/staff/alerts/reports/{draft_id}").status_code == 403


def test_the_desk_edits_the_public_text(staff_client: StaffClient, db_url: str) -> None:
    alert_id = _pending_alert(db_url)
    client = _desk(staff_client)
    answer = client.post(f"/staff/alerts/{alert_id}/text", data={
        "sex": "female", "age": "78", "height": "150_160", "build": "", "hair": "白髪", "clothing": "灰色のコート",
        "footwear": "", "belongings": "杖", "marks": "", "landmark": "本町公園", "name": "山田花子", "name_kana": "",
        "diagnosis": "", "seen": "2026-11-30T03:00", "share": "yes"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=text")
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.public_fields["landmark"] == "本町公園" and alert.public_fields["sex"] == "female"
        assert alert.share_identity and alert.last_seen_at == datetime(2026, 11, 30, 3, 0, tzinfo=settings.tz)
    page = client.get(answer.headers["location"])
    assert "本町公園" in page.text and 'data-share="yes"' in page.text
    refused = client.post(f"/staff/alerts/{alert_id}/text", data={"height": "very tall"}, follow_redirects=False)
    assert "error=" in refused.headers["location"]
    assert ("edit_text", "alert", str(alert_id)) in _audits(db_url, client.account)  # type: ignore[attr-defined]


def test_approving_queues_rows_and_says_how_many_were_reached(staff_client: StaffClient, db_url: str,
                                                             kicks: Kicks) -> None:
    alert_id = _pending_alert(db_url)
    client = _desk(staff_client)
    answer = client.post(f"/staff/alerts/{alert_id}/approve", follow_redirects=False)
    assert answer.status_code == 303 and "done=approved" in answer.headers["location"]
    assert "reached=3" in answer.headers["location"]
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.status == AlertStatus.active and alert.approved_by == client.account.username  # type: ignore[attr-defined]
        rows = session.scalars(select(OutboxItem).where(OutboxItem.alert_id == alert_id)).all()
        assert len(rows) == 3 and {row.state for row in rows} == {OutboxState.queued}
    assert kicks.calls == 1, "the fan-out is woken after the commit"
    page = client.get(answer.headers["location"])
    assert 'id="desk-notice"' in page.text and 'id="desk-warning"' not in page.text
    assert re.search(r'id="progress-total">3<', page.text), "the numbers are on the page without script"
    assert ("approve", "alert", str(alert_id)) in _audits(db_url, client.account)  # type: ignore[attr-defined]
    assert client.post(f"/staff/alerts/{alert_id}/approve", follow_redirects=False).headers["location"].count(
        "error=") == 1, "approving twice is refused"


def test_approving_with_nobody_to_reach_warns(staff_client: StaffClient, db_url: str) -> None:
    alert_id = _pending_alert(db_url, cooperators=())
    client = _desk(staff_client)
    assert 'id="no-cooperators"' in client.get(f"/staff/alerts/{alert_id}").text, "said before approving"
    answer = client.post(f"/staff/alerts/{alert_id}/approve", follow_redirects=False)
    assert "reached=0" in answer.headers["location"]
    page = client.get(answer.headers["location"])
    assert 'id="desk-warning"' in page.text


def test_approving_stops_when_cooperators_are_on_unconfigured_channels(staff_client: StaffClient, db_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    alert_id = _pending_alert(db_url, channels=("line", "sms"))
    client = _desk(staff_client)
    answer = client.post(f"/staff/alerts/{alert_id}/approve", follow_redirects=False)
    assert "error=" in answer.headers["location"]
    with session_scope(db_url) as session:
        assert session.get(Alert, alert_id).status == AlertStatus.pending
    forced = client.post(f"/staff/alerts/{alert_id}/approve", data={"force": "yes"}, follow_redirects=False)
    assert "done=approved" in forced.headers["location"]


# --------------------------------------------------------------------------- the progress stream


class _Client:
    """An ASGI ``receive`` for a streaming request: connected until ``leave()``."""

    def __init__(self) -> None:
        self.left = False

    async def receive(self) -> Message:
        if self.left:
            return {"type": "http.disconnect"}
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b"", "more_body": False}

    def leave(self) -> None:
        self.left = True


def _request(client: _Client) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""},
                   client.receive)


def _events(chunks: list[str]) -> list[tuple[str, dict[str, object]]]:
    parsed = []
    for chunk in chunks:
        name = re.search(r"^event: (\w+)$", chunk, re.M)
        data = re.search(r"^data: (.*)$", chunk, re.M)
        if name and data:
            parsed.append((name.group(1), json.loads(data.group(1))))
    return parsed


def test_the_stream_ends_when_the_client_leaves_and_holds_no_connection(db_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_alerts, "POLL_SECONDS", 0.01)
    alert_id = _pending_alert(db_url)
    with session_scope(db_url) as session:
        approve_alert(session, session.get(Alert, alert_id), by="desk")
    pool = get_engine(db_url).pool

    async def watch() -> list[str]:
        client = _Client()
        stream = console_alerts.progress_events(_request(client), alert_id, url=db_url)
        chunks = [await anext(stream), await anext(stream)]  # the reconnect delay, then the numbers
        assert pool.checkedout() == 0, "no connection is held while the stream waits"
        _mark(db_url, alert_id, OutboxState.sent, limit=2)
        chunks.append(await anext(stream))
        client.leave()
        chunks.extend([chunk async for chunk in stream])
        return chunks

    chunks = asyncio.run(asyncio.wait_for(watch(), 10))
    events = _events(chunks)
    assert [name for name, _ in events] == ["progress", "progress"]
    assert [data["totals"]["sent"] for _, data in events] == [0, 2]  # type: ignore[index]


def test_a_stream_lasts_a_while_then_asks_the_browser_to_reconnect(db_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_alerts, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(console_alerts, "STREAM_SECONDS", 0.2)
    alert_id = _pending_alert(db_url)
    with session_scope(db_url) as session:
        approve_alert(session, session.get(Alert, alert_id), by="desk")

    async def watch() -> list[str]:
        stream = console_alerts.progress_events(_request(_Client()), alert_id, url=db_url, after_sighting=7)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(asyncio.wait_for(watch(), 10))
    assert chunks[0].startswith("retry: ") and [name for name, _ in _events(chunks)] == ["progress"]
    assert "id: 7\n" in chunks[1], "the reconnect resumes from the sightings already shown"


def test_the_stream_ends_itself_once_the_alert_is_over(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_alerts, "POLL_SECONDS", 0.01)
    alert_id = _pending_alert(db_url)
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        approve_alert(session, alert, by="desk")
        alert.status = AlertStatus.found
    _mark(db_url, alert_id, OutboxState.sent)

    async def watch() -> list[str]:
        return [chunk async for chunk in console_alerts.progress_events(_request(_Client()), alert_id, url=db_url)]

    events = _events(asyncio.run(asyncio.wait_for(watch(), 10)))
    assert [name for name, _ in events] == ["progress", "end"]


@pytest.fixture
def live_console(console_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(console_alerts, "POLL_SECONDS", 0.05)
    with served_on_loopback(console_app) as url:
        yield url


def test_the_event_stream_reports_progress_and_sightings_as_they_happen(live_console: str, db_url: str,
                                                                        staff_account: Callable[..., StaffAccount]) -> None:
    alert_id = _pending_alert(db_url)
    with session_scope(db_url) as session:
        approve_alert(session, session.get(Alert, alert_id), by="desk")
    account = staff_account(Role.alert_desk)
    with httpx.Client(base_url=live_console, timeout=10) as client:
        form = client.get("/staff/login")
        client.post("/staff/login", data={"username": account.username, "password": account.password,
                                          "csrf_token": csrf_of(form.text), "next": "/staff/alerts"})
        with client.stream("GET", f"/staff/alerts/{alert_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            seen: list[tuple[str, dict[str, object]]] = []

            def next_event() -> tuple[str, dict[str, object]]:
                block: list[str] = []
                for line in lines:
                    if not line:
                        events = _events(["\n".join(block)])
                        if events:
                            seen.append(events[0])
                            return events[0]
                        block = []
                    else:
                        block.append(line)
                raise AssertionError("the stream ended")

            assert next_event()[1]["totals"]["queued"] == 3  # type: ignore[index]
            assert get_engine(db_url).pool.checkedout() == 0, "the open stream holds no database connection"
            _mark(db_url, alert_id, OutboxState.sent, limit=1)
            assert next_event()[1]["totals"]["sent"] == 1  # type: ignore[index]
            with session_scope(db_url) as session:
                sighting = record_sighting(session, session.get(Alert, alert_id), contact_id=None, text=None,
                                           town_id="chuo-1-2", point=None, seen_at=utcnow(), photo_ref=None,
                                           where_label="本町2", when_text="いま", channel="line",
                                           conversation_id=None)
                sighting_id = sighting.id
            name, data = next_event()
            assert (name, data["sighting_id"]) == ("sighting", sighting_id)


# --------------------------------------------------------------------------- sightings, widen, found


def _active_with_sighting(db_url: str) -> tuple[int, int]:
    alert_id = _pending_alert(db_url)
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        approve_alert(session, alert, by="desk")
        sighting = record_sighting(session, alert, contact_id=None, text="公園のベンチ", town_id="chuo-1-2",
                                   point=None, seen_at=utcnow(), photo_ref=None, where_label="本町2",
                                   when_text="いま", channel="line", conversation_id=None)
        return alert_id, sighting.id


def test_sightings_show_place_time_distance_and_the_map(staff_client: StaffClient, db_url: str) -> None:
    alert_id, sighting_id = _active_with_sighting(db_url)
    client = _desk(staff_client)
    fragment = client.get(f"/staff/alerts/{alert_id}/sightings")
    assert fragment.status_code == 200 and not fragment.text.lstrip().startswith("<!doctype")
    row = re.search(rf'<tr data-sighting="{sighting_id}">(.*?)</tr>', fragment.text, re.S)
    assert row is not None and "中央区" in row.group(1) and "公園のベンチ" in row.group(1)
    distance = re.search(r'data-distance="(\d+)"', row.group(1))
    assert distance is not None and 0 < int(distance.group(1)) < 5000
    assert "<svg" in fragment.text and "tsunagu-map-point-sighting" in fragment.text
    assert client.post(f"/staff/alerts/{alert_id}/sightings/{sighting_id}/confirm",
                       follow_redirects=False).status_code == 303
    police = client.post(f"/staff/alerts/{alert_id}/sightings/{sighting_id}/forward", data={"to": "police"},
                         follow_redirects=False)
    page = client.get(police.headers["location"])
    assert 'id="police-title"' in page.text and 'id="desk-warning"' in page.text, "no police e-mail is set"
    with session_scope(db_url) as session:
        sighting = session.get(Sighting, sighting_id)
        assert sighting.confirmed_by == client.account.username and sighting.forwarded_police_at  # type: ignore[attr-defined]
    audits = _audits(db_url, client.account)  # type: ignore[attr-defined]
    assert ("confirm_sighting", "sighting", str(sighting_id)) in audits
    assert ("forward_sighting_police", "sighting", str(sighting_id)) in audits


def test_widen_then_found_ends_the_alert_and_shows_the_purge_date(staff_client: StaffClient, db_url: str) -> None:
    alert_id, _ = _active_with_sighting(db_url)
    client = _desk(staff_client)
    widened = client.post(f"/staff/alerts/{alert_id}/widen", follow_redirects=False)
    assert "done=widened" in widened.headers["location"]
    with session_scope(db_url) as session:
        assert session.get(Alert, alert_id).radius_km == 5.0
    found = client.post(f"/staff/alerts/{alert_id}/found", follow_redirects=False)
    assert "done=found" in found.headers["location"]
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.status == AlertStatus.found and alert.purge_after is not None
        purge_after = alert.purge_after
        cancelled = session.scalars(select(OutboxItem).where(
            OutboxItem.alert_id == alert_id, OutboxItem.kind.in_(("alert", "update")))).all()
        assert {row.state for row in cancelled} == {OutboxState.cancelled}, "nothing was sent: all stopped"
    page = client.get(found.headers["location"])
    purge = re.search(r'id="purge-date" data-purge="([^"]+)"', page.text)
    assert purge is not None and datetime.fromisoformat(purge.group(1)) == purge_after
    assert 'id="found-button"' not in page.text and 'id="approve-button"' not in page.text
    listing = client.get("/staff/alerts")
    ended = listing.text.split('id="ended"')[1]
    assert f'data-alert="{alert_id}"' in ended and 'data-sightings="1"' in ended
    cap = client.get(f"/staff/alerts/{alert_id}/cap")
    assert cap.headers["content-type"].startswith("application/xml") and "<msgType>Cancel</msgType>" in cap.text
    audits = _audits(db_url, client.account)  # type: ignore[attr-defined]
    assert [action for action, kind, _ in audits if kind == "alert" and action != "view"] == [
        "widen", "found", "export_cap"]


def test_the_desk_links_a_family_member_and_forwards_a_sighting_to_them(staff_client: StaffClient,
                                                                        db_url: str) -> None:
    alert_id, sighting_id = _active_with_sighting(db_url)
    client = _desk(staff_client)
    linked = client.post(f"/staff/alerts/{alert_id}/family", data={"channel": "telegram", "user_id": "424242"},
                         follow_redirects=False)
    assert "done=family" in linked.headers["location"]
    page = client.get(linked.headers["location"])
    assert page.text.count("data-family=") == 1, "the member the desk named (the test's report has no reporter chat)"
    assert "424242" not in page.text, "the chat id is not shown back"
    forwarded = client.post(f"/staff/alerts/{alert_id}/sightings/{sighting_id}/forward", data={"to": "family"},
                            follow_redirects=False)
    assert "done=forwarded" in forwarded.headers["location"] and "queued=" in forwarded.headers["location"]
    with session_scope(db_url) as session:
        rows = session.scalars(select(OutboxItem).where(OutboxItem.kind == f"family:{sighting_id}")).all()
        assert "424242" in {row.address for row in rows}
    assert ("link_family", "alert", str(alert_id)) in _audits(db_url, client.account)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- persons and cooperators


def test_persons_are_listed_searched_and_every_view_audited(staff_client: StaffClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        near = RegisteredPerson(town_id="chuo-1-1", description="白髪の男性、杖", features={"sex": "male"},
                                share_identity=True)
        far = RegisteredPerson(town_id="kita-2-4", description="北区の方")
        session.add_all([near, far])
        session.flush()
        near_id, far_id = near.id, far.id
    client = _desk(staff_client)
    listing = client.get("/staff/persons", params={"q": "本町"})
    assert f'data-person="{near_id}"' in listing.text and f'data-person="{far_id}"' not in listing.text
    assert client.get("/staff/persons", params={"q": "北区"}).text.count("data-person=") == 0, "not the desk's area"
    page = client.get(f"/staff/persons/{near_id}")
    assert page.status_code == 200 and "白髪の男性" in page.text
    assert client.get(f"/staff/persons/{far_id}").status_code == 404
    audits = _audits(db_url, client.account)  # type: ignore[attr-defined]
    assert ("view", "registered_person", str(near_id)) in audits
    assert ("list", "registered_person", str(near_id)) in audits


def test_cooperators_page_shows_consent_and_confirmation_not_addresses(staff_client: StaffClient,
                                                                      db_url: str) -> None:
    with session_scope(db_url) as session:
        cooperator = add_cooperator(session, "chuo-1-1", channel="line", address="Usecret-line-id")
        cooperator.reconfirm_due = utcnow() + timedelta(days=300)
        cooperator.night_alerts = False
    client = _desk(staff_client)
    page = client.get("/staff/cooperators", params={"q": "中央区"})
    assert page.status_code == 200 and "data-cooperator=" in page.text
    assert "Usecret-line-id" not in page.text
    with session_scope(db_url) as session:
        cooperator_id = session.scalars(select(Cooperator.id)).one()
        assert session.scalars(select(CooperatorEndpoint)).one().address == "Usecret-line-id"
    assert ("list", "cooperator", str(cooperator_id)) in _audits(db_url, client.account)  # type: ignore[attr-defined]
    assert 'data-cooperator=' not in client.get("/staff/cooperators", params={"q": "北区"}).text

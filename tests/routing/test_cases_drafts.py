"""Reports saved from their first answer (routing.cases.save_draft) and where places go (issue 16).

A draft is one case row, updated in place, marked incomplete; an urgent one is queued for
its desk once its counter is known, a worry one only when the report is complete; the same
row becomes the complete case. And a place never moves to another ward: 「南区の旭町」 is
asked, 「南区の あさひまち」 is 南区 朝日町 (the ``route`` command's answer).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bot.db import session_scope
from bot.housekeeping import run_due_jobs
from bot.models import Case, CaseKind, Delivery
from routing.areas import resolve_town_id
from routing.cases import INCOMPLETE, case_facts, open_case, save_draft, send_abandoned_drafts
from routing.commands import register, route_text
from tests.routing.test_commands import FakeClassification, FakeClassifier

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def _deliveries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Delivery)) or 0


def _draft(session: Session, draft: Case | None, counter_id: str | None, *, urgent: bool,
           kind: CaseKind = CaseKind.missing) -> tuple[Case, bool]:
    area = resolve_town_id(session, "chuo-1-1") if counter_id else None
    return save_draft(session, draft=draft, kind=kind, topic="missing", counter_id=counter_id, area=area,
                      details={"who": "父"}, reason="test", channel="voice", language="ja", urgent=urgent,
                      reporter_contact_id=None, now=NOW)


def test_an_urgent_draft_is_one_row_sent_once_its_counter_is_known_then_completed(db_url: str) -> None:
    with session_scope(db_url) as session:
        draft, queued = _draft(session, None, None, urgent=True)
        assert not queued and draft.counter_id == "" and draft.details[INCOMPLETE]
        assert draft.first_contact_due - NOW == timedelta(hours=1)
        again, queued = _draft(session, draft, "mimamori-chuo", urgent=True)
        assert again.id == draft.id and queued and again.town_id == "chuo-1-1"
        assert _draft(session, draft, "mimamori-chuo", urgent=True)[1] is False, "queued once"
        sent = _deliveries(session)
        case, linked = open_case(session, kind=CaseKind.missing, topic="missing", counter_id="mimamori-chuo",
                                 area=resolve_town_id(session, "chuo-1-1"), details={"who": "父 80歳"},
                                 reason="test", channel="voice", language="ja", urgent=True, now=NOW, draft=draft)
        assert (case.id, linked, INCOMPLETE in case.details) == (draft.id, False, False)
        assert [event.kind for event in case.events] == ["created", "report_completed"]
        assert _deliveries(session) == sent * 2
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_a_worry_draft_waits_for_the_complete_report(db_url: str) -> None:
    with session_scope(db_url) as session:
        draft, queued = _draft(session, None, "mimamori-chuo", urgent=False, kind=CaseKind.worry)
        assert not queued and _deliveries(session) == 0 and draft.first_contact_due - NOW == timedelta(hours=24)


def test_a_report_with_no_place_at_all_is_a_case_with_no_counter_yet(db_url: str) -> None:
    with session_scope(db_url) as session:
        case, _ = open_case(session, kind=CaseKind.missing, topic="missing", counter_id="", area=None,
                            details={"who": "父", "place_unknown": True}, reason="test", channel="voice",
                            language="ja", urgent=True, now=NOW)
        assert case.counter_id == "" and _deliveries(session) == 0


def test_route_never_moves_a_town_to_another_ward(db_url: str) -> None:
    texts = ("南区の旭町の隣の人を見かけない", "えーと 南区の あさひまちの 公園 あたり 隣の人を見かけない")
    classifier = FakeClassifier({text: FakeClassification("report_worry", None) for text in texts})
    with session_scope(db_url) as session:
        conflict, sound_alike = (route_text(session, classifier, text) for text in texts)
    assert conflict["area"] is None and "北区旭町 / 南区朝日町" in conflict["reason"], "asked, never 北区 旭町"
    assert (sound_alike["area"]["town_id"], sound_alike["counter_id"]) == ("minami-1-2", "mimamori-minami")


def test_staff_see_a_draft_as_incomplete_and_one_without_a_counter(db_url: str) -> None:
    app = typer.Typer()
    register(app)
    with session_scope(db_url) as session:
        draft, _ = _draft(session, None, None, urgent=True)
        draft_id = draft.id
        facts = case_facts(draft)
    assert facts["incomplete"] is True and facts["urgent"] is True
    listed = CliRunner().invoke(app, ["cases", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and f"│ {draft_id} " in listed.stdout
    assert "new (incomplete)" in listed.stdout


def test_a_worry_draft_nobody_finished_is_sent_once_by_housekeeping(db_url: str) -> None:
    with session_scope(db_url) as session:
        _draft(session, None, "mimamori-chuo", urgent=False, kind=CaseKind.worry)
        waiting, _ = _draft(session, None, None, urgent=False, kind=CaseKind.worry)
        assert send_abandoned_drafts(session, NOW + timedelta(minutes=5), timedelta(minutes=30)) == 0, "still answering"
        assert send_abandoned_drafts(session, NOW + timedelta(hours=1), timedelta(minutes=30)) == 1
        assert send_abandoned_drafts(session, NOW + timedelta(hours=2), timedelta(minutes=30)) == 0, "sent once"
        assert _deliveries(session) > 0 and waiting.counter_id == "", "no counter: it waits, listed for staff"


def test_housekeeping_sends_the_reports_left_half_way(db_url: str) -> None:
    with session_scope(db_url) as session:
        _draft(session, None, "mimamori-chuo", urgent=False, kind=CaseKind.worry)
    report = run_due_jobs(db_url, NOW + timedelta(hours=1))
    assert report["abandoned reports sent"] == 1

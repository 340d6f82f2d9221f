"""Alert lifecycle on SQLite and PostgreSQL: pending → approved (nearest first) → widened →
found / cancelled → purged after retention, leaving only anonymous statistics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.domain import load_domain
from bot.models import (
    Alert,
    AlertFamily,
    AlertStatus,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Contact,
    Conversation,
    Message,
    MessageDirection,
    OutboxState,
    RegisteredPerson,
    Sighting,
)
from bot.privacy import purge_expired
from bot.settings import settings
from alerts.lifecycle import AlertError, approve, cancel, create_from_case, found, link_family, widen, widen_due
from alerts.retention import PURGED_REASON, purge_alert, purge_expired_alerts
from alerts.sightings import confirm_sighting, record_sighting
from alerts.texts import latest_confirmed, render_alert_message, sighting_place
from routing.cases import InvalidTransition, cases_for_counter, open_case, overdue_cases, transition
from tests.alerts.conftest import MORNING, add_cooperator, mark_sent, missing_case, outbox

# Sample-city towns by distance from 中央区 本町 (chuo-1-1)'s centroid: 0, ~1.7, ~1.8, ~2.5, ~7 km.
HONMACHI, MOTOMACHI, NISHIKICHO, OTEMACHI, ASAHIMACHI = "chuo-1-1", "chuo-1-3", "chuo-1-2", "chuo-1-4", "kita-2-4"


@pytest.fixture(autouse=True)
def stages_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests follow the radius schedule itself: the first stage does not grow here
    (its growth to ``alert_min_first_stage`` cooperators has tests of its own below)."""
    monkeypatch.setattr(settings, "alert_min_first_stage", 0)


def _network(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """One cooperator per town, plus a second one in 本町 on Telegram."""
    ids = {town: add_cooperator(session, town).id for town in (ASAHIMACHI, OTEMACHI, NISHIKICHO, MOTOMACHI, HONMACHI)}
    ids["honmachi-telegram"] = add_cooperator(session, HONMACHI, channel="telegram", address="777").id
    return ids


def test_nothing_is_queued_before_a_staff_decision(db_url: str) -> None:
    with session_scope(db_url) as session:
        _network(session)
        case = missing_case(session)
        alert = create_from_case(session, case, now=MORNING)
        assert alert.status == AlertStatus.pending
        assert (alert.latitude, alert.longitude) == (34.6975, 135.47), "the town's centroid"
        assert alert.description == "80歳の男性 白髪 背が低い" and alert.clothing == "紺色のジャンパー"
        assert outbox(session, alert) == []
        assert alert.approved_by is None


def test_approve_queues_the_first_radius_nearest_first(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with session_scope(db_url) as session:
        ids = _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        queued = approve(session, alert, by="tanaka", now=MORNING)
        rows = outbox(session, alert)
        assert queued == 2
        assert {row.cooperator_id for row in rows} == {ids[HONMACHI], ids["honmachi-telegram"]}
        assert {row.channel for row in rows} == {"line", "telegram"}
        assert alert.status == AlertStatus.active and alert.radius_km == 1.0 and alert.stage == 0
        assert alert.approved_by == "tanaka" and alert.approved_at == MORNING
        assert alert.next_widen_at == MORNING + timedelta(minutes=settings.alert_widen_minutes)
        events = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == alert.case_id)).all()
        assert "alert_approved" in events

    # With a wider first stage the order is visible: 本町, 元町, 錦町, 大手町.
    monkeypatch.setattr(settings, "alert_radius_stages_km", [3.0])
    with session_scope(db_url) as session:
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        order = [row.cooperator_id for row in outbox(session, alert)]
        assert order[2:] == [ids[MOTOMACHI], ids[NISHIKICHO], ids[OTEMACHI]]
        assert set(order[:2]) == {ids[HONMACHI], ids["honmachi-telegram"]}
        assert ids[ASAHIMACHI] not in order


def test_approve_is_a_one_time_decision(db_url: str) -> None:
    with session_scope(db_url) as session:
        _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        with pytest.raises(AlertError, match="not pending"):
            approve(session, alert, by="suzuki", now=MORNING)
        assert alert.approved_by == "tanaka"


def test_widen_goes_1km_then_3km_then_the_whole_city_to_new_cooperators_only(db_url: str) -> None:
    with session_scope(db_url) as session:
        ids = _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        later = MORNING + timedelta(minutes=5)
        assert widen(session, alert, by="tanaka", now=later) == 3
        assert alert.stage == 1 and alert.radius_km == 3.0
        updates = outbox(session, alert, "update")
        assert [row.cooperator_id for row in updates] == [ids[MOTOMACHI], ids[NISHIKICHO], ids[OTEMACHI]]
        assert widen(session, alert, by="tanaka", now=later) == 1
        assert alert.radius_km is None and alert.next_widen_at is None
        assert [row.cooperator_id for row in outbox(session, alert, "update")][-1] == ids[ASAHIMACHI]
        assert len(outbox(session, alert)) == 6, "every cooperator exactly once"
        with pytest.raises(AlertError, match="whole city"):
            widen(session, alert, by="tanaka", now=later)


def test_widen_due_follows_the_clock(db_url: str) -> None:
    with session_scope(db_url) as session:
        _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        pending = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        step = timedelta(minutes=settings.alert_widen_minutes)
        assert widen_due(session, MORNING + step - timedelta(seconds=1)) == []
        assert widen_due(session, MORNING + step) == [alert.id]
        assert alert.stage == 1 and alert.next_widen_at == MORNING + 2 * step
        assert widen_due(session, MORNING + 2 * step) == [alert.id]
        assert alert.radius_km is None
        assert widen_due(session, MORNING + 10 * step) == [], "the whole city is the last stage"
        assert pending.stage == 0 and pending.status == AlertStatus.pending, "never widened before approval"


def test_found_cancels_pending_and_thanks_only_those_who_received_it(db_url: str) -> None:
    with session_scope(db_url) as session:
        ids = _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        widen(session, alert, by="tanaka", now=MORNING)
        sent = [row for row in outbox(session, alert) if row.cooperator_id in (ids[HONMACHI], ids[MOTOMACHI])]
        mark_sent(session, sent)
        ended = MORNING + timedelta(hours=2)
        assert found(session, alert, by="tanaka", now=ended) == 2
        states = {(row.cooperator_id, row.kind): row.state for row in outbox(session, alert)}
        assert states[(ids[NISHIKICHO], "update")] == OutboxState.cancelled
        assert states[(ids["honmachi-telegram"], "alert")] == OutboxState.cancelled
        thanked = {row.cooperator_id for row in outbox(session, alert, "found")}
        assert thanked == {ids[HONMACHI], ids[MOTOMACHI]}
        assert alert.status == AlertStatus.found and alert.ended_at == ended
        assert alert.purge_after == ended + timedelta(days=settings.missing_retention_days)
        assert alert.stats["minutes_to_found"] == 120
        with pytest.raises(AlertError, match="already ended"):
            found(session, alert, by="tanaka", now=ended)


def test_cancel_tells_only_those_who_received_it(db_url: str) -> None:
    with session_scope(db_url) as session:
        ids = _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        mark_sent(session, [row for row in outbox(session, alert) if row.cooperator_id == ids[HONMACHI]])
        assert cancel(session, alert, by="tanaka", now=MORNING) == 1
        [notice] = outbox(session, alert, "cancelled")
        assert notice.cooperator_id == ids[HONMACHI] and notice.state == OutboxState.queued
        assert alert.status == AlertStatus.cancelled and alert.purge_after is not None


def test_a_pending_alert_can_be_cancelled_without_any_message(db_url: str) -> None:
    with session_scope(db_url) as session:
        _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        assert cancel(session, alert, by="tanaka", now=MORNING) == 0
        assert outbox(session, alert) == []


def test_purge_after_retention_keeps_only_anonymous_statistics(db_url: str) -> None:
    with session_scope(db_url) as session:
        _network(session)
        family = Contact(channel="line", channel_user_id="U-family")
        session.add(family)
        session.flush()
        person = RegisteredPerson(family_contact_id=family.id, town_id=HONMACHI, description="82歳 女性",
                                  photo_ref="line-image:123", emergency_contacts="長男 090-1111-2222")
        reporter = Conversation(contact_id=family.id, slots={"missing_who": "82歳 女性"})
        session.add_all([person, reporter])
        session.flush()
        session.add(Message(contact_id=family.id, conversation_id=reporter.id, direction=MessageDirection.inbound,
                            channel="line", text="母が帰ってこない"))
        case = missing_case(session)
        case.details = {**case.details, "conversation_id": reporter.id}
        alert = create_from_case(session, case, person=person, now=MORNING)
        assert alert.photo_ref == "line-image:123"
        approve(session, alert, by="tanaka", now=MORNING)
        mark_sent(session, outbox(session, alert))
        for minute in (0, 4):
            record_sighting(session, alert, contact_id=None, text="駅前で見た", town_id=HONMACHI,
                            point=(34.698, 135.471), seen_at=None, photo_ref="line-image:9", where_label="本町 駅前",
                            when_text="いま", channel="line", conversation_id=None,
                            now=MORNING + timedelta(minutes=30 + minute))
        found(session, alert, by="tanaka", now=MORNING + timedelta(hours=1))
        alert_id, case_id, person_id, family_id = alert.id, case.id, person.id, family.id

    retention = timedelta(days=settings.missing_retention_days)
    with session_scope(db_url) as session:
        assert purge_expired_alerts(session, MORNING + retention) == 0, "not before the retention has passed"
    with session_scope(db_url) as session:
        report = purge_expired(session, MORNING + timedelta(hours=1) + retention)
    assert report["ended alerts purged"] == 1

    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.purged
        assert (alert.description, alert.clothing, alert.photo_ref) == (None, None, None)
        assert (alert.latitude, alert.longitude, alert.town_id, alert.person_id) == (None, None, None, None)
        assert alert.stats["minutes_to_found"] == 60
        assert alert.stats["sightings"] == 2 and alert.stats["sighting_groups"] == 1
        assert alert.stats["messages"]["alert_sent"] == 2
        assert alert.stats["messages"]["found_queued"] == 2
        assert alert.stats["pre_registered"] is True and alert.stats["outcome"] == "found"
        for sighting in session.scalars(select(Sighting).where(Sighting.alert_id == alert_id)):
            assert (sighting.text, sighting.photo_ref, sighting.latitude, sighting.town_id) == (None, None, None, None)
        case = session.get(Case, case_id)
        assert "who" not in case.details and "clothing" not in case.details and "last_seen_where" not in case.details
        for event in case.events:
            assert "where" not in event.details
        assert session.scalars(select(Message.text).where(Message.contact_id == family_id)).all() == [None]
        # The family's own pre-registration stays until they delete it.
        assert session.get(RegisteredPerson, person_id).description == "82歳 女性"


def test_message_texts_come_from_the_domain_in_each_language(db_url: str) -> None:
    domain = load_domain()
    with session_scope(db_url) as session:
        alert = create_from_case(session, missing_case(session), now=MORNING)
        # The alert and its widenings are composed from structured fields: tests/alerts/test_texts.py.
        found_text = render_alert_message(domain, alert, "found", "ja")
        assert found_text == domain.text("utter_alert_found", "ja", alert_id=alert.id)
        assert render_alert_message(domain, alert, "cancelled", "en") == domain.text("utter_alert_cancelled", "en",
                                                                                     alert_id=alert.id)
        with pytest.raises(KeyError):
            render_alert_message(domain, alert, "reminder", "ja")


# --------------------------------------------------------------------------- issue 17: reach, case, family, sightings


def test_the_first_stage_grows_until_it_reaches_enough_cooperators(db_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "alert_min_first_stage", 4)
    with session_scope(db_url) as session:
        ids = _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        assert approve(session, alert, by="tanaka", now=MORNING) == 4, "1 km reaches 2: grown to the 4th nearest"
        assert 1.7 <= alert.radius_km <= 1.9
        assert {row.cooperator_id for row in outbox(session, alert)} == {
            ids[HONMACHI], ids["honmachi-telegram"], ids[MOTOMACHI], ids[NISHIKICHO]}
        assert widen(session, alert, by="tanaka", now=MORNING) == 1 and alert.radius_km == 3.0

    monkeypatch.setattr(settings, "alert_min_first_stage", 20)
    monkeypatch.setattr(settings, "alert_first_stage_max_km", 5.0)
    with session_scope(db_url) as session:
        alert = create_from_case(session, missing_case(session), now=MORNING)
        assert approve(session, alert, by="tanaka", now=MORNING) == 5, "never beyond the maximum (朝日町 is 7 km)"
        assert alert.radius_km == 5.0
        widen(session, alert, by="tanaka", now=MORNING)
        assert alert.radius_km is None, "the 3 km stage is passed over: the first already covered it"
        assert ids[ASAHIMACHI] in {row.cooperator_id for row in outbox(session, alert, "update")}


def test_a_missing_case_has_its_own_ending_then_closes_when_purged(db_url: str) -> None:
    with session_scope(db_url) as session:
        _network(session)
        ended_at = MORNING + timedelta(hours=3)
        for end, ending in ((found, CaseStatus.found), (cancel, CaseStatus.cancelled)):
            alert = create_from_case(session, missing_case(session), now=MORNING)
            approve(session, alert, by="tanaka", now=MORNING)
            case = session.get(Case, alert.case_id)
            assert case in overdue_cases(session, ended_at)
            end(session, alert, by="desk", now=ended_at)
            assert case.status == ending, "the search's own ending, not a first contact"
            assert case.contacted_at is None, "found is not the counter's first contact (the KGI)"
            assert case not in overdue_cases(session, ended_at + timedelta(hours=1))
            assert case in cases_for_counter(session, [case.counter_id]), "open until the desk or the purge closes it"
            status = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                             CaseEvent.kind == "status")).one()
            assert (status.actor, status.details["to"]) == ("desk", ending.value)
            purge_alert(session, alert, ended_at + timedelta(days=1))
            assert case.status == CaseStatus.closed and case.closed_at is not None
            assert case.close_reason == PURGED_REASON


def test_only_a_missing_case_can_be_found_or_cancelled(db_url: str) -> None:
    with session_scope(db_url) as session:
        worry, _ = open_case(session, kind=CaseKind.worry, topic="elderly_watch", counter_id="mimamori-chuo",
                             area=None, details={}, reason="test", channel="line", language="ja", now=MORNING)
        for ending in (CaseStatus.found, CaseStatus.cancelled):
            with pytest.raises(InvalidTransition):
                transition(session, worry, ending, actor="desk", now=MORNING)
        missing = missing_case(session)
        transition(session, missing, CaseStatus.found, actor="desk", now=MORNING)
        with pytest.raises(InvalidTransition):
            transition(session, missing, CaseStatus.contacted, actor="desk", now=MORNING)
        transition(session, missing, CaseStatus.closed, actor="desk", reason="spoke to the family", now=MORNING)


def test_the_reporting_family_is_linked_and_the_desk_may_name_more(db_url: str) -> None:
    with session_scope(db_url) as session:
        reporter = Contact(channel="line", channel_user_id="U-family")
        session.add(reporter)
        session.flush()
        case = missing_case(session)
        case.reporter_contact_id = reporter.id
        alert = create_from_case(session, case, now=MORNING)
        link = link_family(session, alert, channel="telegram", user_id="4242", by="tanaka", now=MORNING)
        assert link_family(session, alert, channel="telegram", user_id="4242", by="tanaka", now=MORNING) is link
        rows = session.scalars(select(AlertFamily).where(AlertFamily.alert_id == alert.id)
                               .order_by(AlertFamily.id)).all()
        assert [(row.contact_id, row.role) for row in rows] == [(reporter.id, "reporter"), (link.contact_id, "named")]
        named = session.get(Contact, link.contact_id)
        assert (named.channel, named.channel_user_id) == ("telegram", "4242")


def test_the_desk_confirms_sightings_and_the_newest_confirmed_one_counts(db_url: str) -> None:
    with session_scope(db_url) as session:
        _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)

        def seen(town_id: str, minutes: int) -> Sighting:
            return record_sighting(session, alert, contact_id=None, text=None, town_id=town_id, point=None,
                                   seen_at=MORNING + timedelta(minutes=minutes), photo_ref=None, where_label=town_id,
                                   when_text=None, channel="line", conversation_id=None, now=MORNING)

        early, late, unconfirmed = seen(MOTOMACHI, 10), seen(NISHIKICHO, 40), seen(OTEMACHI, 50)
        assert latest_confirmed(session, alert) is None
        confirm_sighting(session, late, by="tanaka", now=MORNING)
        confirm_sighting(session, early, by="tanaka", now=MORNING)
        assert latest_confirmed(session, alert) is late, "by when the person was seen, not when confirmed"
        domain = load_domain()
        place = sighting_place(session, late)
        assert place and place in render_alert_message(domain, alert, "update", "ja"), "the widening says it"
        assert place not in render_alert_message(domain, alert, "alert", "ja")
        assert sighting_place(session, unconfirmed) not in render_alert_message(domain, alert, "update", "en")
        assert unconfirmed.confirmed_at is None
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == alert.case_id)).all()
        assert kinds.count("sighting_confirmed") == 2 and kinds.count("details_added") == 3, "each pushed to the desk"
        found(session, alert, by="tanaka", now=MORNING)
        with pytest.raises(AlertError, match="ended"):
            confirm_sighting(session, unconfirmed, by="tanaka", now=MORNING)


def test_the_desks_found_withdraws_what_telegram_can_delete(db_url: str) -> None:
    with session_scope(db_url) as session:
        ids = _network(session)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        mark_sent(session, outbox(session, alert))
        assert found(session, alert, by="tanaka", now=MORNING) == 3, "two thanks and one withdrawal"
        assert {row.cooperator_id for row in outbox(session, alert, "withdraw")} == {ids["honmachi-telegram"]}
        assert {row.cooperator_id for row in outbox(session, alert, "found")} == {
            ids[HONMACHI], ids["honmachi-telegram"]}

"""The cooperator register and the small readers it relies on: e-mail, mobile numbers,
quiet hours, times of day; one-message unsubscribe and the yearly re-confirmation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Cooperator, CooperatorEndpoint, OutboxState
from bot.settings import settings
from alerts.lifecycle import approve, create_from_case
from alerts.cooperators import (
    EndpointSpec,
    due_for_reconfirmation,
    lapse_unconfirmed,
    parse_email,
    parse_mobile,
    parse_quiet_hours,
    reconfirm,
    NIGHT_HOURS,
    register_cooperator,
    stop_night_alerts,
    unsubscribe_endpoint,
)
from tests.alerts.conftest import MORNING, missing_case, outbox


@pytest.mark.parametrize("text,expected", [
    ("name@example.jp", "name@example.jp"),
    ("ｎａｍｅ＠ｅｘａｍｐｌｅ．ｊｐ", "name@example.jp"),
    ("name@example", None),
    ("なし", None),
    ("a b@example.jp", None),
])
def test_parse_email(text: str, expected: str | None) -> None:
    assert parse_email(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("090-1234-5678", "+819012345678"),
    ("０８０１２３４５６７８", "+818012345678"),
    ("+81 70 1234 5678", "+817012345678"),
    ("03-1234-5678", None),  # a landline cannot receive SMS
    ("12345", None),
])
def test_parse_mobile(text: str, expected: str | None) -> None:
    assert parse_mobile(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("22:00-07:00", ("22:00", "07:00")),
    ("２２：３０〜６：００", ("22:30", "06:00")),
    ("22時から7時", ("22:00", "07:00")),
    ("23-6", ("23:00", "06:00")),
    ("22:00-22:00", None),
    ("25:00-07:00", None),
    ("夜", None),
])
def test_parse_quiet_hours(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_quiet_hours(text) == expected


def _register(session, endpoints: list[EndpointSpec], town_id: str = "kita-2-2") -> Cooperator:  # type: ignore[no-untyped-def]
    return register_cooperator(session, endpoints=endpoints, town_id=town_id, latitude=34.7275, longitude=135.53,
                               quiet_hours=("22:00", "07:00"), language="ja", now=MORNING)


def test_registering_again_updates_the_same_cooperator(db_url: str) -> None:
    line = EndpointSpec("line", "U1")
    with session_scope(db_url) as session:
        first = _register(session, [line, EndpointSpec("email", "a@example.jp")])
        assert [(e.channel, e.priority) for e in first.endpoints] == [("line", 0), ("email", 1)]
        assert first.reconfirm_due == MORNING + timedelta(days=settings.cooperator_reconfirm_days)
        again = _register(session, [line, EndpointSpec("sms", "+819012345678")], town_id="kita-2-1")
        assert again.id == first.id and again.town_id == "kita-2-1"
        session.expire_all()
        endpoints = session.scalars(select(CooperatorEndpoint).order_by(CooperatorEndpoint.priority)).all()
        assert [(e.channel, e.address) for e in endpoints] == [("line", "U1"), ("sms", "+819012345678")]
        assert session.scalar(select(Cooperator.quiet_start)) == "22:00"


def test_an_address_belongs_to_one_cooperator(db_url: str) -> None:
    with session_scope(db_url) as session:
        first = _register(session, [EndpointSpec("telegram", "42"), EndpointSpec("email", "shared@example.jp")])
        second = _register(session, [EndpointSpec("email", "shared@example.jp")])
        assert second.id == first.id, "the e-mail address identifies the registration"
        with pytest.raises(ValueError):
            _register(session, [])


def test_unsubscribe_stops_everything_including_queued_alerts(db_url: str) -> None:
    with session_scope(db_url) as session:
        endpoints = [EndpointSpec("line", "U1"), EndpointSpec("email", "a@x.jp")]
        cooperator = register_cooperator(session, endpoints=endpoints,
                                         town_id="chuo-1-1", latitude=34.6975, longitude=135.47, quiet_hours=None,
                                         language="ja", now=MORNING)
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        [row] = outbox(session, alert)
        assert row.cooperator_id == cooperator.id and row.channel == "line"
        assert unsubscribe_endpoint(session, [EndpointSpec("line", "U1")]) is cooperator
        assert not cooperator.active and not any(e.active for e in cooperator.endpoints)
        session.refresh(row)
        assert row.state == OutboxState.cancelled
        assert unsubscribe_endpoint(session, [EndpointSpec("line", "U1")]) is None, "already stopped"
        assert unsubscribe_endpoint(session, [EndpointSpec("line", "U-unknown")]) is None


def test_stopping_night_alerts_keeps_the_registration_and_its_queued_alerts(db_url: str) -> None:
    with session_scope(db_url) as session:
        cooperator = register_cooperator(session, endpoints=[EndpointSpec("line", "U-night")], town_id="chuo-1-1",
                                         latitude=34.6975, longitude=135.47, quiet_hours=None, language="ja",
                                         now=MORNING)
        assert cooperator.night_alerts and cooperator.quiet_start is None, "alerts come at night by default"
        alert = create_from_case(session, missing_case(session), now=MORNING)
        approve(session, alert, by="tanaka", now=MORNING)
        assert stop_night_alerts(session, [EndpointSpec("line", "U-night")]) is cooperator
        assert (cooperator.active, cooperator.night_alerts) == (True, False)
        assert (cooperator.quiet_start, cooperator.quiet_end) == NIGHT_HOURS, "a night to hold them in"
        [row] = outbox(session, alert)
        assert row.state == OutboxState.queued, "the fan-out holds it at night, nothing is cancelled"
        assert stop_night_alerts(session, [EndpointSpec("line", "U-unknown")]) is None


def test_registering_without_night_alerts_keeps_own_quiet_hours(db_url: str) -> None:
    with session_scope(db_url) as session:
        own = register_cooperator(session, endpoints=[EndpointSpec("line", "U-own")], town_id="chuo-1-1",
                                  latitude=34.6975, longitude=135.47, quiet_hours=("23:00", "06:00"), language="ja",
                                  night_alerts=False, now=MORNING)
        assert (own.night_alerts, own.quiet_start, own.quiet_end) == (False, "23:00", "06:00")


def test_yearly_reconfirmation(db_url: str) -> None:
    with session_scope(db_url) as session:
        kept = _register(session, [EndpointSpec("line", "U-kept")])
        silent = _register(session, [EndpointSpec("line", "U-silent")])
        year = timedelta(days=settings.cooperator_reconfirm_days)
        assert due_for_reconfirmation(session, MORNING + year - timedelta(days=1)) == []
        assert {c.id for c in due_for_reconfirmation(session, MORNING + year)} == {kept.id, silent.id}
        reconfirm(kept, MORNING + year)
        assert [c.id for c in due_for_reconfirmation(session, MORNING + year)] == [silent.id]
        grace = timedelta(days=settings.cooperator_reconfirm_grace_days)
        assert lapse_unconfirmed(session, MORNING + year + grace) == 0, "the grace period is not over"
        assert lapse_unconfirmed(session, MORNING + year + grace + timedelta(days=1)) == 1
        assert kept.active and not silent.active
        assert not silent.endpoints[0].active

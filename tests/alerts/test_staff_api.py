"""The staff JSON API on both databases: bearer tokens (hash only stored), counters see only
their own cases and alerts, approving needs the right, CAP export, pre-registrations by ward."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree as ET

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Alert, AlertFamily, AlertStatus, Contact, OutboxItem, RegisteredPerson, StaffUser
from bot.settings import settings
from bot.staff_api import create_staff_user, hash_token, router
from alerts.cap import CAP_NAMESPACE
from alerts.lifecycle import create_from_case
from alerts.sightings import record_sighting
from bot.app import build_engine
from tests.bot.conftest import Resident
from tests.alerts.conftest import MORNING, Kicks, add_cooperator, missing_case


@pytest.fixture(autouse=True)
def first_stage_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first stage keeps its configured 1 km unless a test is about its growth."""
    monkeypatch.setattr(settings, "alert_min_first_stage", 0)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def world(db_url: str) -> dict[str, object]:
    """Staff of 中央区 (approver and not) and 北区, a case and an alert of each ward, registrations."""
    with session_scope(db_url) as session:
        chuo_approver, chuo_token = create_staff_user(session, "sato", ["mimamori-chuo"], can_approve_alerts=True)
        _, chuo_clerk_token = create_staff_user(session, "suzuki", ["mimamori-chuo"])
        _, kita_token = create_staff_user(session, "kato", ["mimamori-kita"], can_approve_alerts=True)
        add_cooperator(session, "chuo-1-1")
        chuo_case = missing_case(session, "chuo-1-1")
        kita_case = missing_case(session, "kita-2-2", counter_id="mimamori-kita")
        chuo_alert = create_from_case(session, chuo_case, now=MORNING)
        kita_alert = create_from_case(session, kita_case, now=MORNING)
        family = Contact(channel="line", channel_user_id="U-family")
        session.add(family)
        session.flush()
        chuo_person = RegisteredPerson(family_contact_id=family.id, town_id="chuo-2-3", description="中央区の方")
        kita_person = RegisteredPerson(family_contact_id=family.id, town_id="kita-1-1", description="北区の方")
        session.add_all([chuo_person, kita_person])
        session.flush()
        return {
            "chuo": chuo_token, "chuo_clerk": chuo_clerk_token, "kita": kita_token, "approver_id": chuo_approver.id,
            "chuo_case": chuo_case.id, "kita_case": kita_case.id, "chuo_alert": chuo_alert.id,
            "kita_alert": kita_alert.id, "chuo_person": chuo_person.id, "kita_person": kita_person.id,
        }


def _auth(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_only_a_hash_of_the_token_is_stored(db_url: str, world: dict[str, object]) -> None:
    with session_scope(db_url) as session:
        user = session.get(StaffUser, world["approver_id"])
        assert user.token_hash == hash_token(str(world["chuo"]))
        assert user.token_hash != world["chuo"] and len(user.token_hash) == 64


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2F0bzp4"}])
def test_no_valid_token_is_401(client: TestClient, world: dict[str, object], headers: dict[str, str]) -> None:
    for path in ("/api/staff/cases", f"/api/staff/alerts/{world['chuo_alert']}", "/api/staff/persons"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_deactivated_account_is_401(client: TestClient, db_url: str, world: dict[str, object]) -> None:
    with session_scope(db_url) as session:
        session.get(StaffUser, world["approver_id"]).active = False
    assert client.get("/api/staff/cases", headers=_auth(world["chuo"])).status_code == 401


def test_staff_see_only_their_counters_cases(client: TestClient, world: dict[str, object]) -> None:
    listed = client.get("/api/staff/cases", headers=_auth(world["chuo"])).json()
    assert [case["id"] for case in listed] == [world["chuo_case"]]
    own = client.get(f"/api/staff/cases/{world['chuo_case']}", headers=_auth(world["chuo"]))
    assert own.status_code == 200 and own.json()["details"]["clothing"] == "紺色のジャンパー"
    assert [event["kind"] for event in own.json()["events"]][:2] == ["created", "alert_created"]
    other = client.get(f"/api/staff/cases/{world['kita_case']}", headers=_auth(world["chuo"]))
    assert other.status_code == 404
    assert client.get("/api/staff/cases/999999", headers=_auth(world["chuo"])).status_code == 404


def test_alerts_are_scoped_like_cases(client: TestClient, world: dict[str, object]) -> None:
    listed = client.get("/api/staff/alerts", headers=_auth(world["kita"])).json()
    assert [alert["id"] for alert in listed] == [world["kita_alert"]]
    assert client.get(f"/api/staff/alerts/{world['chuo_alert']}", headers=_auth(world["kita"])).status_code == 404
    response = client.post(f"/api/staff/alerts/{world['chuo_alert']}/approve", headers=_auth(world["kita"]))
    assert response.status_code == 404, "another counter's alert cannot even be approved"


def test_approving_needs_the_right(client: TestClient, db_url: str, world: dict[str, object], kicks: Kicks) -> None:
    path = f"/api/staff/alerts/{world['chuo_alert']}/approve"
    denied = client.post(path, headers=_auth(world["chuo_clerk"]))
    assert denied.status_code == 403
    with session_scope(db_url) as session:
        assert session.scalars(select(OutboxItem)).all() == [], "nothing sent without a staff decision"
    assert kicks.calls == 0

    approved = client.post(path, headers=_auth(world["chuo"]))
    assert approved.status_code == 200
    body = approved.json()
    assert body["status"] == "active" and body["approved_by"] == "sato" and body["queued"] == 1
    assert kicks.calls == 1, "the fan-out is woken after the commit"
    assert client.post(path, headers=_auth(world["chuo"])).status_code == 409

    widened = client.post(f"/api/staff/alerts/{world['chuo_alert']}/widen", headers=_auth(world["chuo_clerk"]))
    assert widened.status_code == 200 and widened.json()["radius_km"] == 3.0
    ended = client.post(f"/api/staff/alerts/{world['chuo_alert']}/found", headers=_auth(world["chuo_clerk"]))
    assert ended.status_code == 200 and ended.json()["status"] == "found" and ended.json()["purge_after"]
    again = client.post(f"/api/staff/alerts/{world['chuo_alert']}/cancel", headers=_auth(world["chuo"]))
    assert again.status_code == 409
    unknown = client.post(f"/api/staff/alerts/{world['chuo_alert']}/launch", headers=_auth(world["chuo"]))
    assert unknown.status_code == 422


def test_alert_detail_has_progress_and_sightings(client: TestClient, db_url: str, world: dict[str, object]) -> None:
    client.post(f"/api/staff/alerts/{world['chuo_alert']}/approve", headers=_auth(world["chuo"]))
    with session_scope(db_url) as session:
        alert = session.get(Alert, world["chuo_alert"])
        record_sighting(session, alert, contact_id=None, text="駅前で見かけた", town_id="chuo-1-1", point=None,
                        seen_at=MORNING, photo_ref=None, where_label="中央区 本町", when_text="10時",
                        channel="line", conversation_id=None, now=MORNING)
    detail = client.get(f"/api/staff/alerts/{world['chuo_alert']}", headers=_auth(world["chuo_clerk"])).json()
    assert detail["progress"]["queued"] == 1 and detail["progress"]["sent"] == 0
    assert detail["last_seen_place"] == "中央区 本町"
    [sighting] = detail["sightings"]
    assert sighting["text"] == "駅前で見かけた" and sighting["group_id"] == sighting["id"]
    case = client.get(f"/api/staff/cases/{world['chuo_case']}", headers=_auth(world["chuo"])).json()
    noted, pushed = case["events"][-2:]
    assert noted["kind"] == "sighting" and noted["details"]["where"] == "中央区 本町"
    assert pushed["kind"] == "details_added", "sent to the desk as an update of the case"


def test_cap_export(client: TestClient, world: dict[str, object]) -> None:
    response = client.get(f"/api/staff/alerts/{world['chuo_alert']}/cap", headers=_auth(world["chuo"]))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    # Pending: a Draft, not stored (alerts/cap.py); nothing was issued that a Cancel could follow.
    assert root.find(f"{{{CAP_NAMESPACE}}}msgType").text == "Alert"
    assert root.find(f"{{{CAP_NAMESPACE}}}status").text == "Draft"
    assert root.find(f".//{{{CAP_NAMESPACE}}}areaDesc").text.startswith("中央区 本町 周辺")
    cancel = client.get(f"/api/staff/alerts/{world['chuo_alert']}/cap?msg_type=Cancel", headers=_auth(world["chuo"]))
    assert cancel.status_code == 404
    assert client.get(f"/api/staff/alerts/{world['kita_alert']}/cap", headers=_auth(world["chuo"])).status_code == 404


def test_registered_persons_by_the_wards_the_counters_cover(client: TestClient, world: dict[str, object]) -> None:
    chuo = client.get("/api/staff/persons", headers=_auth(world["chuo"])).json()
    assert [person["id"] for person in chuo] == [world["chuo_person"]]
    assert chuo[0]["description"] == "中央区の方"
    kita = client.get("/api/staff/persons", headers=_auth(world["kita"])).json()
    assert [person["id"] for person in kita] == [world["kita_person"]]


def test_creating_staff_checks_counters_and_names(db_url: str) -> None:
    with session_scope(db_url) as session:
        with pytest.raises(ValueError, match="not counters"):
            create_staff_user(session, "x", ["no-such-counter"])
        with pytest.raises(ValueError, match="at least one"):
            create_staff_user(session, "x", [])
        create_staff_user(session, "x", ["mimamori-kita"])
        with pytest.raises(ValueError, match="already exists"):
            create_staff_user(session, "x", ["mimamori-kita"])


# --------------------------------------------------------------------------- issue 17: reach, family, sightings


def test_approval_says_how_many_were_reached_and_warns_at_zero(client: TestClient, db_url: str,
                                                               world: dict[str, object],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "alert_min_first_stage", 5)
    reached = client.post(f"/api/staff/alerts/{world['chuo_alert']}/approve", headers=_auth(world["kita"]))
    assert reached.status_code == 404, "another counter's alert"
    reached = client.post(f"/api/staff/alerts/{world['chuo_alert']}/approve", headers=_auth(world["chuo"])).json()
    assert (reached["reached"], reached["warning"]) == (1, None)
    assert reached["radius_km"] == settings.alert_first_stage_max_km, "grown as far as allowed for want of five"
    nobody = client.post(f"/api/staff/alerts/{world['kita_alert']}/approve", headers=_auth(world["kita"]))
    assert nobody.status_code == 200 and nobody.json()["reached"] == 0 and nobody.json()["warning"]


def test_approval_refuses_to_skip_unconfigured_channels_unless_forced(client: TestClient, db_url: str,
                                                                      world: dict[str, object],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "line_channel_access_token", "")
    path = f"/api/staff/alerts/{world['chuo_alert']}/approve"
    refused = client.post(path, headers=_auth(world["chuo"]))
    assert refused.status_code == 409 and "force" in refused.json()["detail"]
    with session_scope(db_url) as session:
        assert session.get(Alert, world["chuo_alert"]).status == AlertStatus.pending
    forced = client.post(path, params={"force": "true"}, headers=_auth(world["chuo"]))
    assert forced.status_code == 200 and forced.json()["reached"] == 0 and forced.json()["warning"]


def test_the_desk_links_family_confirms_and_forwards_sightings(client: TestClient, db_url: str,
                                                               world: dict[str, object], kicks: Kicks,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    alert_id = world["chuo_alert"]
    client.post(f"/api/staff/alerts/{alert_id}/approve", headers=_auth(world["chuo"]))
    with session_scope(db_url) as session:
        sighting = record_sighting(session, session.get(Alert, alert_id), contact_id=None, text="公園のベンチ",
                                   town_id="chuo-1-3", point=None, seen_at=MORNING, photo_ref=None,
                                   where_label="中央区 元町", when_text="いま", channel="line", conversation_id=None,
                                   now=MORNING)
        sighting_id = sighting.id
    base = f"/api/staff/alerts/{alert_id}"
    linked = client.post(f"{base}/family", json={"channel": "telegram", "user_id": "8080"},
                         headers=_auth(world["chuo_clerk"]))
    assert linked.status_code == 200 and linked.json()["role"] == "named"
    assert client.post(f"{base}/family", json={"channel": "fax", "user_id": "1"},
                       headers=_auth(world["chuo"])).status_code == 422
    assert client.post(f"/api/staff/alerts/{world['kita_alert']}/sightings/{sighting_id}/confirm",
                       headers=_auth(world["kita"])).status_code == 404, "another counter's sighting"

    confirmed = client.post(f"{base}/sightings/{sighting_id}/confirm", headers=_auth(world["chuo_clerk"]))
    assert confirmed.status_code == 200 and confirmed.json()["confirmed_by"] == "suzuki"
    family = client.post(f"{base}/sightings/{sighting_id}/forward", json={"to": "family"},
                         headers=_auth(world["chuo"]))
    assert family.status_code == 200 and family.json()["queued"] == 1 and family.json()["forwarded_family_at"]
    monkeypatch.setattr(settings, "alert_police_email", "seian@police.example.jp")
    police = client.post(f"{base}/sightings/{sighting_id}/forward", json={"to": "police"},
                         headers=_auth(world["chuo"])).json()
    assert police["queued"] == 1 and "公園のベンチ" in police["summary"]
    assert kicks.calls >= 2
    detail = client.get(base, headers=_auth(world["chuo"])).json()
    assert detail["sightings"][0]["confirmed_at"] and detail["sightings"][0]["forwarded_police_at"]
    with session_scope(db_url) as session:
        links = session.scalars(select(AlertFamily).where(AlertFamily.alert_id == alert_id)).all()
        assert [link.role for link in links] == ["named"]
        assert session.scalars(select(OutboxItem.channel).where(OutboxItem.sighting_id == sighting_id)
                               .order_by(OutboxItem.id)).all() == ["telegram", "email"]
    client.post(f"{base}/found", headers=_auth(world["chuo"]))
    assert client.post(f"{base}/sightings/{sighting_id}/forward", json={"to": "family"},
                       headers=_auth(world["chuo"])).status_code == 409, "the alert has ended"


def test_the_alert_desk_sees_a_report_whose_place_is_not_known_yet(
    client: TestClient, world: dict[str, object], db_url: str
) -> None:
    # The family said only who is missing, then hung up to call 110 as they were told.
    Resident(build_engine(db_url), channel="voice", user_id="+819011112222").send("認知症の父がいなくなりました")
    desk = {case["id"]: case for case in client.get("/api/staff/cases", headers=_auth(world["chuo"])).json()}
    clerk = client.get("/api/staff/cases", headers=_auth(world["chuo_clerk"])).json()
    [draft] = [case for case in desk.values() if case["id"] not in {world["chuo_case"]}]
    assert draft["kind"] == "missing" and draft["urgent"]
    assert client.get(f"/api/staff/cases/{draft['id']}", headers=_auth(world["chuo"])).status_code == 200
    assert draft["id"] not in {case["id"] for case in clerk}, "a counter's clerk sees only their counter's"
    assert client.get(f"/api/staff/cases/{draft['id']}", headers=_auth(world["chuo_clerk"])).status_code == 404

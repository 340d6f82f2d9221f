"""CAP 1.2 messages, stored as issued, on SQLite and PostgreSQL: the Alert at approval, an Update
per widening referencing every earlier message, the Cancel when found; each valid against the
project's CAP 1.2 schema (alerts/schema/cap12.xsd) and the rules XML Schema cannot state; the
area is the alert's area, the description public fields only, with instruction and contact."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from alerts.cap import CAP_NAMESPACE, cap_messages, export_cap, record_cap_message
from alerts.lifecycle import approve, create_from_case, found, widen
from bot.db import session_scope
from bot.models import Alert, CapMessage
from bot.settings import settings
from tests.alerts.conftest import MORNING, add_cooperator, missing_case

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parents[2] / "alerts" / "schema" / "cap12.xsd")))
NS = {"cap": CAP_NAMESPACE}
PUBLIC = {"sex": "male", "age": 82, "hair": "white", "clothing": "紺色のジャンパー", "footwear": "白い運動靴",
          "landmark": "本町公園", "name": "山田太郎", "name_kana": "やまだたろう", "diagnosis": "アルツハイマー型認知症"}


def _valid(xml: str) -> etree._Element:
    """The message, checked against the schema and the CAP 1.2 rules the schema cannot express."""
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = etree.fromstring(xml.encode("utf-8"))
    assert SCHEMA.validate(root), SCHEMA.error_log
    # 3.2.1: a Restricted message says who may see it; an Update or Cancel says what it follows.
    if root.findtext("cap:scope", namespaces=NS) == "Restricted":
        assert root.findtext("cap:restriction", namespaces=NS)
    if root.findtext("cap:msgType", namespaces=NS) in ("Update", "Cancel"):
        assert root.findtext("cap:references", namespaces=NS)
    # 3.2.4: a polygon is closed (its first and last pairs are the same) and has four pairs or more.
    for polygon in root.iterfind(".//cap:polygon", NS):
        pairs = polygon.text.split()
        assert len(pairs) >= 4 and pairs[0] == pairs[-1]
    return root


def _text(element: etree._Element, path: str) -> str:
    found_text = element.findtext(path, namespaces=NS)
    assert found_text, path
    return found_text


@pytest.fixture
def first_stage_1km(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stages of 1 and 3 km, then the city; the first stage is not grown."""
    monkeypatch.setattr(settings, "alert_radius_stages_km", [1.0, 3.0])
    monkeypatch.setattr(settings, "alert_min_first_stage", 0)


def _approved(session) -> Alert:  # type: ignore[no-untyped-def]
    add_cooperator(session, "chuo-1-1")
    alert = create_from_case(session, missing_case(session), now=MORNING)
    alert.public_fields = dict(PUBLIC)
    alert.share_identity = True  # shown to cooperators, never in a CAP message
    alert.last_seen_at = MORNING - timedelta(hours=2)
    approve(session, alert, by="tanaka", now=MORNING + timedelta(minutes=5))
    return alert


def test_the_approved_alert_is_stored_as_an_alert_message(db_url: str, first_stage_1km: None) -> None:
    with session_scope(db_url) as session:
        alert = _approved(session)
        [message] = cap_messages(session, alert.id)
        assert message.msg_type == "Alert" and message.xml == export_cap(session, alert)
        root = _valid(message.xml)
        assert _text(root, "cap:msgType") == "Alert" and _text(root, "cap:status") == "Actual"
        assert _text(root, "cap:sent") == "2026-11-24T10:05:00+09:00", "issued at the approval"
        assert root.find("cap:references", NS) is None
        ja, en = root.findall("cap:info", NS)
        assert (_text(ja, "cap:language"), _text(en, "cap:language")) == ("ja-JP", "en-US")
        assert _text(ja, "cap:area/cap:areaDesc") == "中央区 本町 周辺 半径1km"
        # The last-seen point rounded to about 500 m (34.6975, 135.47 → 34.695 / 34.700, 135.470).
        lat_lon, radius = _text(ja, "cap:area/cap:circle").split()
        assert radius == "1" and re.fullmatch(r"34\.(695|700),135\.470", lat_lon)
        description = _text(ja, "cap:description")
        assert "紺色のジャンパー" in description and "本町公園" in description and "80代前半" in description
        for private in ("山田", "やまだ", "アルツハイマー", "80歳の男性"):
            assert private not in message.xml, "no name, reading, diagnosis or free text in a CAP message"
        assert _text(ja, "cap:instruction") and _text(en, "cap:instruction")
        assert str(alert.case_id) in _text(ja, "cap:contact"), "the case number to quote"
        assert _text(ja, "cap:onset") == "2026-11-24T08:00:00+09:00", "when last seen"


def test_each_widening_is_an_update_referencing_every_earlier_message(db_url: str, first_stage_1km: None) -> None:
    with session_scope(db_url) as session:
        alert = _approved(session)
        widen(session, alert, by="schedule", now=MORNING + timedelta(minutes=35))
        widen(session, alert, by="schedule", now=MORNING + timedelta(minutes=65))  # the whole city
        found(session, alert, by="tanaka", now=MORNING + timedelta(hours=2))
        messages = cap_messages(session, alert.id)
        assert [(m.msg_type, m.stage) for m in messages] == [("Alert", 0), ("Update", 1), ("Update", 2),
                                                             ("Cancel", 2)]
        roots = [_valid(m.xml) for m in messages]
        identifiers = [_text(root, "cap:identifier") for root in roots]
        assert len(set(identifiers)) == 4
        for index, root in enumerate(roots[1:], start=1):
            references = [ref.split(",") for ref in _text(root, "cap:references").split()]
            assert [identifier for _, identifier, _ in references] == identifiers[:index]
            assert [sent for _, _, sent in references] == [_text(r, "cap:sent") for r in roots[:index]]
        first_update = roots[1].find("cap:info", NS)
        assert _text(first_update, "cap:area/cap:areaDesc") == "中央区 本町 周辺 半径3km"
        city = roots[2].find("cap:info/cap:area", NS)
        assert _text(city, "cap:areaDesc") == "あおば市 全域"
        assert city.find("cap:circle", NS) is None, "a city-wide stage has no circle"
        assert len(city.findall("cap:polygon", NS)) >= 3, "one outline per ward"
        assert roots[3].find("cap:info", NS) is None and _text(roots[3], "cap:note") == "Person found"
        assert _text(roots[3], "cap:sent") == "2026-11-24T12:00:00+09:00"


def test_a_message_once_issued_never_changes(db_url: str, first_stage_1km: None) -> None:
    with session_scope(db_url) as session:
        alert = _approved(session)
        widen(session, alert, by="schedule", now=MORNING + timedelta(minutes=35))
        update = export_cap(session, alert, "Update")
        alert.public_fields = {**alert.public_fields, "clothing": "赤いセーター"}  # the desk edits later
        again = record_cap_message(session, alert, now=MORNING + timedelta(hours=1))
        assert again.xml == update and export_cap(session, alert, "Update") == update
        original = export_cap(session, alert, "Alert")
        assert original is not None and "半径1km" in original, "the Alert still describes its own area"
        assert session.scalar(select(CapMessage.sent).where(CapMessage.msg_type == "Update")) == \
            MORNING + timedelta(minutes=35)


def test_a_pending_alert_exports_as_an_unstored_draft(db_url: str) -> None:
    with session_scope(db_url) as session:
        alert = create_from_case(session, missing_case(session), now=MORNING)
        root = _valid(export_cap(session, alert) or "")
        assert _text(root, "cap:status") == "Draft"
        assert cap_messages(session, alert.id) == []
        assert export_cap(session, alert, "Cancel") is None


@pytest.mark.parametrize("change", [
    ("<sent>2026-11-24T10:05:00+09:00</sent>", "<sent>2026-11-24T01:05:00Z</sent>"),
    ("<urgency>Immediate</urgency>", "<urgency>Now</urgency>"),
    ("<msgType>Alert</msgType><scope>", "<scope>"),
    ("<status>Actual</status><msgType>Alert</msgType>", "<msgType>Alert</msgType><status>Actual</status>"),
])
def test_the_schema_refuses_what_cap_forbids(db_url: str, first_stage_1km: None, change: tuple[str, str]) -> None:
    with session_scope(db_url) as session:
        xml = export_cap(session, _approved(session)) or ""
    assert change[0] in xml
    assert not SCHEMA.validate(etree.fromstring(xml.replace(*change).encode("utf-8")))

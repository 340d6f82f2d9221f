"""CAP 1.2 export: well-formed XML in the CAP namespace, required elements in schema order,
Restricted scope with its restriction, and Alert / Update / Cancel following the alert's life."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import pytest

from bot.models import Alert, AlertStatus
from alerts.cap import CAP_NAMESPACE, cap_msg_type, to_cap
from tests.alerts.conftest import MORNING

NS = {"cap": CAP_NAMESPACE}
# OASIS CAP 1.2, 3.2: the <alert> and <info> children in their required sequence.
ALERT_SEQUENCE = ("identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
                  "addresses", "code", "note", "references", "incidents", "info")
INFO_SEQUENCE = ("language", "category", "event", "responseType", "urgency", "severity", "certainty", "audience",
                 "eventCode", "effective", "onset", "expires", "senderName", "headline", "description",
                 "instruction", "web", "contact", "parameter", "resource", "area")
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
CATEGORIES = {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE",
              "Other"}


def _alert(**changes: object) -> Alert:
    values: dict[str, object] = {
        "id": 7, "case_id": 3, "status": AlertStatus.active, "ward": "chuo", "town_id": "chuo-1-1",
        "latitude": 34.6975, "longitude": 135.47, "description": "80歳の男性 白髪", "clothing": "紺色のジャンパー",
        "radius_km": 1.0, "stage": 0, "created_at": MORNING, "approved_at": MORNING + timedelta(minutes=5),
        "approved_by": "tanaka", "stats": {},
    }
    values.update(changes)
    return Alert(**values)


def _parse(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == f"{{{CAP_NAMESPACE}}}alert"
    return root


def _names(element: ET.Element) -> list[str]:
    names = []
    for child in element:
        namespace, _, name = child.tag[1:].partition("}")
        assert namespace == CAP_NAMESPACE, child.tag
        names.append(name)
    return names


def _in_sequence(names: list[str], sequence: tuple[str, ...]) -> bool:
    positions = [sequence.index(name) for name in names]
    return positions == sorted(positions)


def _text(element: ET.Element, path: str) -> str:
    found = element.find(path, NS)
    assert found is not None and found.text, path
    return found.text


def test_alert_message_has_every_required_element_in_order() -> None:
    root = _parse(to_cap(_alert(), area_desc="中央区 本町"))
    names = _names(root)
    assert _in_sequence(names, ALERT_SEQUENCE), names
    for required in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        assert required in names
    assert _text(root, "cap:status") == "Actual"
    assert _text(root, "cap:msgType") == "Alert"
    assert _text(root, "cap:scope") == "Restricted"
    assert _text(root, "cap:restriction")
    assert CAP_TIME.match(_text(root, "cap:sent")) and not _text(root, "cap:sent").endswith("Z")
    assert _text(root, "cap:sent") == "2026-11-24T10:05:00+09:00", "the approval is when the alert was issued"
    for value in (_text(root, "cap:identifier"), _text(root, "cap:sender")):
        assert not re.search(r"[\s,<&]", value)

    [info] = root.findall("cap:info", NS)
    info_names = _names(info)
    assert _in_sequence(info_names, INFO_SEQUENCE), info_names
    assert _text(info, "cap:category") in CATEGORIES and _text(info, "cap:category") == "Rescue"
    assert _text(info, "cap:event")
    assert _text(info, "cap:urgency") == "Immediate"
    assert _text(info, "cap:severity") == "Severe"
    assert _text(info, "cap:certainty") == "Observed"
    assert "紺色のジャンパー" in _text(info, "cap:description")
    assert _text(info, "cap:area/cap:areaDesc") == "中央区 本町"
    assert _text(info, "cap:area/cap:circle") == "34.69750,135.47000 1"


def test_update_references_the_original_alert_and_whole_city_has_no_circle() -> None:
    alert = _alert(stage=2, radius_km=None)
    assert cap_msg_type(alert) == "Update"
    root = _parse(to_cap(alert, sent=datetime(2026, 11, 24, 2, 0, tzinfo=MORNING.tzinfo)))
    assert _text(root, "cap:msgType") == "Update"
    original = _parse(to_cap(_alert()))
    sender, identifier, sent = _text(root, "cap:references").split(",")
    assert (sender, identifier, sent) == (_text(original, "cap:sender"), _text(original, "cap:identifier"),
                                          _text(original, "cap:sent"))
    assert _text(root, "cap:identifier") != identifier, "every CAP message has its own identifier"
    area = root.find("cap:info/cap:area", NS)
    assert area is not None and area.find("cap:circle", NS) is None and _text(area, "cap:areaDesc")


@pytest.mark.parametrize("status,note", [(AlertStatus.found, "found"), (AlertStatus.cancelled, "withdrawn")])
def test_an_ended_alert_exports_as_cancel(status: AlertStatus, note: str) -> None:
    alert = _alert(status=status, ended_at=MORNING + timedelta(hours=3))
    root = _parse(to_cap(alert))
    names = _names(root)
    assert _in_sequence(names, ALERT_SEQUENCE)
    assert _text(root, "cap:msgType") == "Cancel"
    assert note in _text(root, "cap:note")
    assert _text(root, "cap:references").count(",") == 2
    assert "info" not in names
    assert _text(root, "cap:sent") == "2026-11-24T13:00:00+09:00"


def test_a_purged_alert_exports_without_personal_data() -> None:
    alert = _alert(status=AlertStatus.found, description=None, clothing=None, latitude=None, longitude=None,
                   ended_at=MORNING)
    xml = to_cap(alert, "Alert")
    info = _parse(xml).find("cap:info", NS)
    assert info is not None and info.find("cap:description", NS) is None
    assert info.find("cap:area/cap:circle", NS) is None

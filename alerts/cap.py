"""Missing-person alerts as OASIS CAP 1.2 messages, for agencies and partner systems.

The message type follows the alert: ``Alert`` when approved, ``Update`` once widened,
``Cancel`` when found or withdrawn. Every message is ``Restricted``: it describes a real
person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from xml.etree import ElementTree as ET

from bot.models import Alert, AlertStatus, utcnow
from bot.settings import settings

__all__ = ["CAP_NAMESPACE", "CapMsgType", "cap_msg_type", "to_cap"]

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
CapMsgType = Literal["Alert", "Update", "Cancel"]
# Who may see a CAP export of an alert: it describes a real person.
CAP_RESTRICTION = "Registered missing-person alert cooperators and public agencies only"


def cap_msg_type(alert: Alert) -> CapMsgType:
    """The CAP message type that describes the alert now: Alert, Update (widened) or Cancel (ended)."""
    if alert.status in (AlertStatus.found, AlertStatus.cancelled):
        return "Cancel"
    return "Update" if alert.stage > 0 else "Alert"


def _cap_time(moment: datetime) -> str:
    # CAP forbids "Z"; UTC itself is written -00:00.
    text = moment.astimezone(settings.tz).isoformat(timespec="seconds")
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def _cap_identifier(alert: Alert, msg_type: CapMsgType) -> str:
    base = f"{settings.cap_sender.replace('@', '.')}.alert.{alert.id}"
    if msg_type == "Alert":
        return base
    if msg_type == "Update":
        return f"{base}.update.{alert.stage}"
    return f"{base}.cancel"


def to_cap(
    alert: Alert,
    msg_type: CapMsgType | None = None,
    *,
    sent: datetime | None = None,
    area_desc: str | None = None,
) -> str:
    """The alert as an OASIS CAP 1.2 message (``scope`` Restricted, ``status`` Actual).

    An Update or Cancel references the original Alert message. A Cancel carries no
    ``info`` block (nothing is asked of the recipients any more); its ``note`` says
    whether the person was found.

    Args:
        alert: the alert.
        msg_type: ``Alert``, ``Update`` or ``Cancel``; by default the one matching the
            alert's state (see ``cap_msg_type``).
        sent: when this message is issued; by default the approval (Alert), the end
            (Cancel) or now (Update).
        area_desc: the area's name ("北区 柳町 周辺"); by default the town id or ward code.

    Returns:
        The XML document (UTF-8 declaration included).
    """
    msg_type = msg_type or cap_msg_type(alert)
    original_sent = alert.approved_at or alert.created_at
    if sent is None:
        sent = {"Alert": original_sent, "Cancel": alert.ended_at or utcnow()}.get(msg_type) or utcnow()

    ET.register_namespace("", CAP_NAMESPACE)

    def child(parent: ET.Element, tag: str, text: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NAMESPACE}}}{tag}")
        element.text = text
        return element

    root = ET.Element(f"{{{CAP_NAMESPACE}}}alert")
    child(root, "identifier", _cap_identifier(alert, msg_type))
    child(root, "sender", settings.cap_sender)
    child(root, "sent", _cap_time(sent))
    child(root, "status", "Actual")
    child(root, "msgType", msg_type)
    child(root, "scope", "Restricted")
    child(root, "restriction", CAP_RESTRICTION)
    if msg_type == "Cancel":
        child(root, "note", "Person found" if alert.status == AlertStatus.found else "Alert withdrawn")
    if msg_type != "Alert":
        child(root, "references",
              f"{settings.cap_sender},{_cap_identifier(alert, 'Alert')},{_cap_time(original_sent)}")
    if msg_type != "Cancel":
        info = ET.SubElement(root, f"{{{CAP_NAMESPACE}}}info")
        child(info, "language", "ja-JP")
        child(info, "category", "Rescue")
        child(info, "event", "Missing person")
        child(info, "responseType", "Monitor")
        child(info, "urgency", "Immediate")
        child(info, "severity", "Severe")
        child(info, "certainty", "Observed")
        child(info, "headline", f"Missing person alert {alert.id}")
        description = "\n".join(part for part in (alert.description, alert.clothing) if part)
        if description:
            child(info, "description", description)
        area = ET.SubElement(info, f"{{{CAP_NAMESPACE}}}area")
        child(area, "areaDesc", area_desc or alert.town_id or alert.ward or "city")
        if alert.radius_km is not None and alert.latitude is not None and alert.longitude is not None:
            child(area, "circle", f"{alert.latitude:.5f},{alert.longitude:.5f} {alert.radius_km:g}")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")

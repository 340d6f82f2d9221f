"""Missing-person alerts as OASIS CAP 1.2 messages, stored exactly as they were issued.

Each step of an alert is a CAP message of its own, built and stored when it happens
(``record_cap_message``, called by ``alerts.lifecycle``): the ``Alert`` at approval, an
``Update`` at each widening that references every message before it, the ``Cancel`` when
the person is found or the alert withdrawn. Exports return the stored XML: an identifier
always describes the same area, and a message's ``sent`` never changes. An alert not yet
approved exports as a ``Draft`` that is not stored.

What a message says:

- ``areaDesc`` is the alert's area as it was when issued: 「南区 泉町 周辺 半径2km」 with its
  ``circle`` around the last-seen point rounded to about 500 m; a city-wide stage is the
  city, described by the polygons of its wards (never a circle).
- ``description`` is composed from the alert's public fields (``alerts.texts``: sex, age
  band, clothing, the last-seen town and landmark, the time) — never the name, the
  reading or the diagnosis, whatever the family consented to show cooperators.
- ``instruction`` says what to do (call, do not hold the person back), ``contact`` whom to
  call and which number to quote.
- One ``info`` block in Japanese and one in English. Every message is ``Restricted``: it
  describes a real person.

``alerts/schema/cap12.xsd`` is the schema the tests validate every message against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from xml.etree import ElementTree as ET

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.texts import PUBLIC_FIELDS, describe, last_seen_label
from bot.domain import Domain, load_domain
from bot.messages import coarse_point
from bot.models import Alert, AlertStatus, CapMessage, Case, utcnow
from bot.settings import settings
from routing.snapshot import Directory, get_directory

__all__ = [
    "CAP_NAMESPACE",
    "CAP_RESPONSES",
    "CapArea",
    "CapMsgType",
    "alert_area",
    "build_cap",
    "cap_messages",
    "cap_msg_type",
    "export_cap",
    "record_cap_message",
]

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
CapMsgType = Literal["Alert", "Update", "Cancel"]
# Who may see a CAP export of an alert: it describes a real person.
CAP_RESTRICTION = "Registered missing-person alert cooperators and public agencies only"
# The info blocks: CAP language code and the domain.yml language.
CAP_LANGUAGES = (("ja-JP", "ja"), ("en-US", "en"))

CAP_RESPONSES = (
    "utter_cap_event",
    "utter_cap_headline",
    "utter_cap_instruction",
    "utter_cap_contact",
    "utter_cap_area_radius",
    "utter_cap_area_city",
    "utter_cap_note_found",
    "utter_cap_note_cancelled",
    "utter_alert_line_description",
    "utter_alert_line_clothing",
    "utter_alert_line_footwear",
    "utter_alert_line_belongings",
    "utter_alert_line_place",
    "utter_alert_line_time",
    "utter_alert_place_landmark",
)
"""The domain.yml responses CAP messages are written from."""


@dataclass(frozen=True)
class CapArea:
    """A CAP ``area``: its description and either a circle ("lat,lon km") or polygons."""

    description: str
    circle: str | None = None
    polygons: tuple[str, ...] = ()


def cap_msg_type(alert: Alert) -> CapMsgType:
    """The CAP message type that describes the alert now: Alert, Update (widened) or Cancel (ended)."""
    if alert.status in (AlertStatus.found, AlertStatus.cancelled):
        return "Cancel"
    return "Update" if alert.stage > 0 else "Alert"


def _cap_time(moment: datetime) -> str:
    # CAP forbids "Z"; UTC itself is written -00:00.
    text = moment.astimezone(settings.tz).isoformat(timespec="seconds")
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def _cap_identifier(alert: Alert, msg_type: CapMsgType | Literal["Draft"]) -> str:
    base = f"{settings.cap_sender.replace('@', '.')}.alert.{alert.id}"
    if msg_type == "Alert":
        return base
    if msg_type == "Update":
        return f"{base}.update.{alert.stage}"
    if msg_type == "Draft":
        return f"{base}.draft"
    return f"{base}.cancel"


# Ward outlines by directory token: computed once per directory.
_WARD_POLYGONS: dict[str, tuple[str, ...]] = {}


def _ward_polygons(directory: Directory) -> tuple[str, ...]:
    """Each ward's outline (the union of its towns' polygons) as CAP polygons, in the directory's order."""
    if directory.token in _WARD_POLYGONS:
        return _WARD_POLYGONS[directory.token]
    # shapely (with numpy) loads only when a city-wide message is built: importing the alert
    # lifecycle, as every flow process does, stays light.
    import shapely
    from shapely.geometry import shape

    polygons: list[str] = []
    for ward_code in directory.wards:
        shapes = [shape(geometry) for town_id, record in directory.towns.items()
                  if record.option.ward_code == ward_code and (geometry := directory.geometries.get(town_id))]
        if not shapes:
            continue
        outline = shapely.union_all(shapes)
        for part in getattr(outline, "geoms", [outline]):
            # CAP pairs are latitude first; GeoJSON is longitude first. A closed ring.
            polygons.append(" ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in part.exterior.coords))
    _WARD_POLYGONS[directory.token] = tuple(polygons)
    return _WARD_POLYGONS[directory.token]


def alert_area(session: Session, alert: Alert, language: str = "ja", domain: Domain | None = None) -> CapArea:
    """The area the alert covers now: around the last-seen place within its radius, or the whole city.

    Args:
        session: a session (the directory is read through it).
        alert: the alert.
        language: the language of the description.
        domain: the loaded domain (default: the bundled one).

    Returns:
        「南区 泉町 周辺 半径2km」 with a circle, or 「あおば市 全域」 with the ward polygons.
    """
    domain = domain or load_domain()
    if alert.radius_km is not None and alert.latitude is not None and alert.longitude is not None:
        place = last_seen_label(session, alert) or domain.text("utter_unknown_label", language)
        # The centre rounded to about 500 m: an area is searched, not a house.
        latitude, longitude = coarse_point(alert.latitude, alert.longitude)
        return CapArea(
            domain.text("utter_cap_area_radius", language, place=place, radius=f"{alert.radius_km:g}"),
            circle=f"{latitude:.3f},{longitude:.3f} {alert.radius_km:g}",
        )
    return CapArea(domain.text("utter_cap_area_city", language), polygons=_ward_polygons(get_directory(session)))


def _description(session: Session, domain: Domain, alert: Alert, language: str) -> str | None:
    """What the person looks like and where and when they were last seen, from public fields only."""
    fields = {key: value for key, value in (alert.public_fields or {}).items() if key in PUBLIC_FIELDS}
    lines = []
    if looks := describe(domain, fields, language):
        lines.append(domain.text("utter_alert_line_description", language, value=looks))
    lines.extend(domain.text(f"utter_alert_line_{field}", language, value=fields[field])
                 for field in ("clothing", "footwear", "belongings") if fields.get(field))
    if town := last_seen_label(session, alert):
        place = (domain.text("utter_alert_place_landmark", language, town=town, landmark=fields["landmark"])
                 if fields.get("landmark") else town)
        lines.append(domain.text("utter_alert_line_place", language, value=place))
    if alert.last_seen_at is not None:
        local = alert.last_seen_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        lines.append(domain.text("utter_alert_line_time", language, value=local))
    return "\n".join(lines) or None


def _contact(session: Session, domain: Domain, alert: Alert, language: str) -> str:
    """Whom to call and the number to quote: the case's counter, its phone, the case number."""
    case = session.get(Case, alert.case_id) if alert.case_id else None
    service = get_directory(session).services.get(case.counter_id) if case is not None and case.counter_id else None
    return domain.text(
        "utter_cap_contact", language,
        counter=service.name if service is not None else "110",
        phone=service.phone if service is not None and service.phone else "110",
        reference=str(case.id if case is not None else alert.id),
    )


def build_cap(
    session: Session,
    alert: Alert,
    msg_type: CapMsgType | Literal["Draft"],
    *,
    sent: datetime,
    references: list[CapMessage] | tuple[CapMessage, ...] = (),
    domain: Domain | None = None,
) -> str:
    """The alert as an OASIS CAP 1.2 message (``scope`` Restricted).

    Args:
        session: a session to read the directory, the case and its counter with.
        alert: the alert, in the state the message describes.
        msg_type: ``Alert``, ``Update`` or ``Cancel`` (``status`` Actual), or ``Draft``
            (``status`` Draft, ``msgType`` Alert) for an alert not approved yet.
        sent: when the message is issued.
        references: the messages this one follows (every earlier one of the alert).
        domain: the loaded domain (default: the bundled one).

    Returns:
        The XML document (UTF-8 declaration included). A Cancel has no ``info`` block
        (nothing is asked of the recipients any more); its ``note`` says why it ended.
    """
    domain = domain or load_domain()
    ET.register_namespace("", CAP_NAMESPACE)

    def child(parent: ET.Element, tag: str, text: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NAMESPACE}}}{tag}")
        element.text = text
        return element

    root = ET.Element(f"{{{CAP_NAMESPACE}}}alert")
    child(root, "identifier", _cap_identifier(alert, msg_type))
    child(root, "sender", settings.cap_sender)
    child(root, "sent", _cap_time(sent))
    child(root, "status", "Draft" if msg_type == "Draft" else "Actual")
    child(root, "msgType", "Alert" if msg_type == "Draft" else msg_type)
    child(root, "scope", "Restricted")
    child(root, "restriction", CAP_RESTRICTION)
    if msg_type == "Cancel":
        ending = "utter_cap_note_found" if alert.status == AlertStatus.found else "utter_cap_note_cancelled"
        child(root, "note", domain.text(ending, "en"))
    if references:
        child(root, "references", " ".join(
            f"{settings.cap_sender},{message.identifier},{_cap_time(message.sent)}" for message in references))
    if msg_type != "Cancel":
        for cap_language, language in CAP_LANGUAGES:
            info = ET.SubElement(root, f"{{{CAP_NAMESPACE}}}info")
            child(info, "language", cap_language)
            child(info, "category", "Rescue")
            child(info, "event", domain.text("utter_cap_event", language))
            child(info, "responseType", "Monitor")
            child(info, "urgency", "Immediate")
            child(info, "severity", "Severe")
            child(info, "certainty", "Observed")
            if alert.last_seen_at is not None:
                child(info, "onset", _cap_time(alert.last_seen_at))
            child(info, "headline", domain.text("utter_cap_headline", language, alert_id=alert.id))
            if description := _description(session, domain, alert, language):
                child(info, "description", description)
            child(info, "instruction", domain.text("utter_cap_instruction", language))
            child(info, "contact", _contact(session, domain, alert, language))
            area = alert_area(session, alert, language, domain)
            element = ET.SubElement(info, f"{{{CAP_NAMESPACE}}}area")
            child(element, "areaDesc", area.description)
            for polygon in area.polygons:
                child(element, "polygon", polygon)
            if area.circle:
                child(element, "circle", area.circle)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def cap_messages(session: Session, alert_id: int) -> list[CapMessage]:
    """The CAP messages issued for an alert, in the order they were issued."""
    return list(session.scalars(
        select(CapMessage).where(CapMessage.alert_id == alert_id).order_by(CapMessage.sent, CapMessage.id)))


def record_cap_message(session: Session, alert: Alert, *, now: datetime | None = None) -> CapMessage:
    """Store the CAP message of the step the alert has just taken (approved, widened, ended).

    The message type follows the alert (``cap_msg_type``); an Update or Cancel references
    every message before it. Recording the same step again returns the stored message
    unchanged: a message, once issued, is never rebuilt.

    Args:
        session: the caller's session (the caller commits with the step itself).
        alert: the alert, just approved, widened or ended.
        now: when the step was taken (aware); defaults to now.

    Returns:
        The stored message.
    """
    msg_type = cap_msg_type(alert)
    identifier = _cap_identifier(alert, msg_type)
    existing = session.scalar(select(CapMessage).where(CapMessage.identifier == identifier))
    if existing is not None:
        return existing
    sent = now or utcnow()
    earlier = cap_messages(session, alert.id)
    message = CapMessage(
        alert_id=alert.id, identifier=identifier, msg_type=msg_type, stage=alert.stage, sent=sent,
        xml=build_cap(session, alert, msg_type, sent=sent, references=earlier),
    )
    session.add(message)
    session.flush()
    return message


def export_cap(session: Session, alert: Alert, msg_type: CapMsgType | None = None) -> str | None:
    """A CAP message of the alert as it was issued: the latest, or the latest of a type.

    Args:
        session: a session.
        alert: the alert.
        msg_type: ``Alert``, ``Update`` or ``Cancel``; by default the latest message.

    Returns:
        The stored XML; for an alert never issued (pending) a ``Draft`` built now; None
        when no message of that type was issued, or its content was erased at the purge.
    """
    messages = [message for message in cap_messages(session, alert.id)
                if msg_type is None or message.msg_type == msg_type]
    if messages:
        return messages[-1].xml
    if msg_type in (None, "Alert") and alert.status == AlertStatus.pending:
        return build_cap(session, alert, "Draft", sent=utcnow())
    return None

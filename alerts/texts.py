"""The texts the alert network sends outside a conversation, from domain.yml.

Every outbox message is rendered here in the cooperator's language: the alert itself
and its widening, the closing notices, and the yearly re-confirmation request.
:data:`RESPONSES` lists every response these use, so start-up can check that domain.yml
has each of them.

An alert's text (each widening's too) is *composed* from structured fields, never from
the family's own free text (which may hold a name, a diagnosis, a street address or
「2時間くらい前」): the alert's public fields (:data:`PUBLIC_FIELDS`: sex, age band,
height, build, hair, clothing, footwear, belongings, a landmark), the last-seen town
(never a 丁目 or street) and the absolute date and time in the city's zone. Name, kana
reading and diagnosis (:data:`IDENTITY_FIELDS`) and the photo go out only when the family
consented (``Alert.share_identity``, default no). Every version says whom to call and
which number to quote (the case's counter, its phone, the case number), asks not to hold
the person back, and carries a 「見かけた」 button whose payload (``sighting:<alert id>``)
starts the sighting flow. Enumerated fields are translated (``utter_feature_*``); what the
family wrote in Japanese (clothing, a landmark) stays as given, with a note for readers of
other languages. Dates and lists follow what the reader reads (``routing.readers``).

A sighting forwarded to the police is for the police's staff: it is always in Japanese.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from alerts.fanout.enqueue import sighting_distance_m
from alerts.fanout.items import RECONFIRM_KIND, parse_forward_kind
from alerts.sensors import RESPONSES as SENSOR_RESPONSES
from alerts.sensors import parse_check_kind, render_check_message
from alerts.media import photo_url
from bot.domain import Domain
from bot.messages import Choice
from bot.models import Alert, Case, Sighting
from bot.settings import settings
from intents.phone import without_phone_numbers
from routing.areas import town_name
from routing.partners import NOTICE_RESPONSES, outbox_notice
from routing.readers import reads_japanese, reads_kanji, reads_romaji
from routing.snapshot import get_directory

__all__ = [
    "ALERT_KINDS",
    "CHOICE_VALUES",
    "FORWARD_RESPONSES",
    "IDENTITY_FIELDS",
    "KIND_RESPONSES",
    "PUBLIC_FIELDS",
    "RESPONSES",
    "SIGHTING_BUTTON_PREFIX",
    "AlertMessage",
    "clean_fields",
    "compose_alert",
    "describe",
    "distance_label",
    "feature_label",
    "height_band",
    "last_seen_label",
    "latest_confirmed",
    "render_alert_message",
    "render_forwarded_sighting",
    "render_message",
    "render_outbox_message",
    "sighting_place",
]

KIND_RESPONSES: dict[str, str] = {
    "alert": "utter_alert_broadcast",
    "update": "utter_alert_update",
    "found": "utter_alert_found",
    "cancelled": "utter_alert_cancelled",
    RECONFIRM_KIND: "utter_helper_reconfirm_request",
}
"""The response each outbox message kind is rendered from."""

FORWARD_RESPONSES: dict[str, str] = {"family": "utter_family_sighting", "police": "utter_police_sighting"}
"""The response of a sighting the desk forwards, by recipient (``alerts.fanout.items.forward_kind``)."""

ALERT_KINDS = ("alert", "update")
"""The kinds that describe the person (and so carry the button, and the photo with consent)."""

# The values of the enumerated fields; each has its label ``utter_feature_<field>_<value>``.
CHOICE_VALUES: dict[str, tuple[str, ...]] = {
    "sex": ("male", "female"),
    "height": ("under_150", "150_160", "160_170", "170_180", "over_180"),
    "build": ("small", "slim", "medium", "heavy"),
    "hair": ("white", "grey", "black", "brown", "thin"),
}
"""Enumerated fields and their values (hair may also be the family's words)."""

PUBLIC_FIELDS = ("sex", "age", "height", "build", "hair", "clothing", "footwear", "belongings", "marks", "landmark")
"""Fields a public alert text is composed from (``age`` is a number, shown as a band;
``marks`` — other features searchers can see, 「腰が曲がっている」 — is written by the desk)."""
IDENTITY_FIELDS = ("name", "name_kana", "diagnosis")
"""Fields shown to cooperators only with the family's consent (``share_identity``)."""

# The description line, in this order: who they look like.
_LOOKS = ("sex", "age", "height", "build", "hair")
# Fields of free words, kept as the family gave them (in English texts with a note).
_FREE = ("hair", "clothing", "footwear", "belongings", "marks", "landmark", "name", "name_kana", "diagnosis")
# Lines of the text after the description, each shown only when its field is known.
_OPTIONAL_LINES = ("footwear", "belongings", "marks")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# The prefix of the 「見かけた」 button's payload: flows.sighting starts on it.
SIGHTING_BUTTON_PREFIX = "sighting:"

_FEATURE_RESPONSES = tuple(f"utter_feature_{field}_{value}" for field, values in CHOICE_VALUES.items()
                           for value in values)
_LINE_RESPONSES = tuple(f"utter_alert_line_{line}" for line in (
    "description", "name", "diagnosis", "clothing", "footwear", "belongings", "marks", "place", "time"))

RESPONSES: tuple[str, ...] = (
    *KIND_RESPONSES.values(), "utter_unknown_label", "utter_choice_saw_them", "utter_alert_report_sighting",
    "utter_alert_place_landmark",
    "utter_alert_japanese_note", "utter_feature_age_early", "utter_feature_age_late", *_FEATURE_RESPONSES,
    *_LINE_RESPONSES, *FORWARD_RESPONSES.values(), "utter_alert_line_sighting", *NOTICE_RESPONSES,
    *SENSOR_RESPONSES,
)
"""Every response the alert network can send outside a conversation (checked at start-up)."""


@dataclass(frozen=True)
class AlertMessage:
    """One outbox message: its text, its buttons (「見かけた」) and the photo to send with it."""

    text: str
    choices: tuple[Choice, ...] = ()
    # A media reference (``telegram:photo:<file id>``, ``line:message:<id>``), only with consent.
    photo_ref: str | None = None
    # The photo's public copy (``alerts.media``), for platforms that fetch it by address.
    photo_url: str | None = None


def height_band(centimetres: int) -> str:
    """The height band (a :data:`CHOICE_VALUES` ``height`` value) of a height in cm."""
    for limit, band in ((150, "under_150"), (160, "150_160"), (170, "160_170"), (180, "170_180")):
        if centimetres < limit:
            return band
    return "over_180"


def clean_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The known, non-empty fields of ``values``: enumerations checked, age a number, words
    stripped (of any phone number too).

    Args:
        values: field name → value (from the family's answers or the desk's edit).

    Returns:
        Only :data:`PUBLIC_FIELDS` and :data:`IDENTITY_FIELDS` with a usable value.

    Raises:
        ValueError: for an enumerated value that does not exist or an age that is not one.
    """
    cleaned: dict[str, Any] = {}
    for field in (*PUBLIC_FIELDS, *IDENTITY_FIELDS):
        value = values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if field == "age":
            age = int(value)
            if not 0 < age < 130:
                raise ValueError(f"age {value!r} is not an age")
            cleaned[field] = age
        elif field in CHOICE_VALUES and field not in _FREE and value not in CHOICE_VALUES[field]:
            raise ValueError(f"{field} must be one of {', '.join(CHOICE_VALUES[field])}, not {value!r}")
        elif isinstance(value, str):
            # A family's number typed where a place or clothes were asked never goes out.
            words = without_phone_numbers(value).strip() if field in _FREE else value.strip()
            if words:
                cleaned[field] = words
        else:
            cleaned[field] = value
    return cleaned


def feature_label(domain: Domain, field: str, value: Any, language: str) -> str:
    """One field's value as cooperators read it: a translated label, an age band, or the words as given."""
    if field == "age":
        age = int(value)
        half = "early" if age % 10 < 5 else "late"
        return domain.text(f"utter_feature_age_{half}", language, decade=age // 10 * 10)
    if field in CHOICE_VALUES and value in CHOICE_VALUES[field]:
        return domain.text(f"utter_feature_{field}_{value}", language)
    return str(value)


def describe(domain: Domain, fields: Mapping[str, Any], language: str) -> str:
    """What the person looks like, from the structured fields only (「男性、70代後半、白髪」); "" when nothing is known."""
    # 「、」 as Japanese and Chinese write a list.
    separator = "、" if reads_kanji(language) else ", "
    return separator.join(feature_label(domain, field, fields[field], language) for field in _LOOKS if field in fields)


def last_seen_label(session: Session | None, alert: Alert) -> str:
    """"北区 柳町": the alert's last-seen place at town precision (or ward), "" when unknown."""
    if session is not None and alert.town_id:
        record = get_directory(session).towns.get(alert.town_id)
        if record is not None:
            return f"{record.option.ward} {record.option.town}"
    if session is not None and alert.ward:
        return get_directory(session).wards.get(alert.ward, alert.ward)
    return ""


def _town(session: Session | None, alert: Alert, language: str) -> str:
    """The last-seen town for a cooperator: for a Latin-script reader its romaji with the kanji
    on the signs ("Chuo-ku Honmachi (中央区 本町)")."""
    label = last_seen_label(session, alert)
    record = get_directory(session).towns.get(alert.town_id) if session is not None and alert.town_id else None
    if not reads_romaji(language) or record is None:
        return label
    romaji = town_name(session, record.option, language, with_ward=True)
    return f"{romaji} ({label})" if romaji != label else label


def _format_time(moment: datetime, language: str) -> str:
    """An absolute date and time in the city's zone, as approximate as the family's words are:
    in Japanese phrasing for a Japanese reader, else in English (「午後2時ごろ」 is Japanese
    even to a Chinese reader; digits and "p.m." are read by all)."""
    local = moment.astimezone(settings.tz)
    if not reads_japanese(language):
        clock = local.strftime("%I:%M").lstrip("0") + (" a.m." if local.hour < 12 else " p.m.")
        return f"around {clock} on {local.day} {local.strftime('%b')}"
    noon = "午前" if local.hour < 12 else "午後"
    minutes = f"{local.minute}分" if local.minute else ""
    return f"{local.month}月{local.day}日 {noon}{local.hour % 12}時{minutes}ごろ"


def _contact(session: Session | None, alert: Alert) -> tuple[str, str, str]:
    """Whom a cooperator calls: the case's counter, its phone, and the number to quote (the case's)."""
    case = session.get(Case, alert.case_id) if session is not None and alert.case_id else None
    service = get_directory(session).services.get(case.counter_id) if case is not None and case.counter_id else None
    counter = service.name if service is not None else ""
    phone = service.phone if service is not None and service.phone else "110"
    return counter, phone, str(case.id if case is not None else alert.id)


def _details(domain: Domain, session: Session | None, alert: Alert, language: str, *, widening: bool = False) -> str:
    """The lines describing the person and where and when they were last seen (for a
    widening, also the newest sighting the desk confirmed)."""
    fields = alert.public_fields or {}
    unknown = domain.text("utter_unknown_label", language)
    lines = [domain.text("utter_alert_line_description", language, value=describe(domain, fields, language) or unknown)]
    shown = set(PUBLIC_FIELDS)
    if alert.share_identity:
        shown |= set(IDENTITY_FIELDS)
        if fields.get("name"):
            name = fields["name"] + (f"（{fields['name_kana']}）" if fields.get("name_kana") else "")
            lines.append(domain.text("utter_alert_line_name", language, value=name))
        if fields.get("diagnosis"):
            lines.append(domain.text("utter_alert_line_diagnosis", language, value=fields["diagnosis"]))
    lines.append(domain.text("utter_alert_line_clothing", language, value=fields.get("clothing") or unknown))
    lines.extend(domain.text(f"utter_alert_line_{field}", language, value=fields[field])
                 for field in _OPTIONAL_LINES if fields.get(field))
    town = _town(session, alert, language)
    place = (domain.text("utter_alert_place_landmark", language, town=town or unknown, landmark=fields["landmark"])
             if fields.get("landmark") else town or unknown)
    lines.append(domain.text("utter_alert_line_place", language, value=place))
    when = _format_time(alert.last_seen_at, language) if alert.last_seen_at else unknown
    lines.append(domain.text("utter_alert_line_time", language, value=when))
    sighting = latest_confirmed(session, alert) if session is not None and widening else None
    if sighting is not None:
        # A widening says where the person was seen last, as the desk confirmed it.
        lines.append(domain.text("utter_alert_line_sighting", language,
                                 place=sighting_place(session, sighting) or unknown,
                                 time=_format_time(sighting.seen_at or sighting.created_at, language)))
    if not reads_japanese(language) and any(_JAPANESE.search(str(fields[field])) for field in _FREE
                                if field in fields and field in shown):
        lines.append(domain.text("utter_alert_japanese_note", language))
    return "\n".join(lines)


def compose_alert(domain: Domain, alert: Alert, kind: str, language: str, channel: str | None = None) -> AlertMessage:
    """One outbox message of an alert, from domain.yml in the cooperator's language.

    Args:
        domain: the loaded domain.
        alert: the alert (attached to a session, so its case and town can be read).
        kind: ``alert``, ``update``, ``found`` or ``cancelled``.
        language: ``ja`` or ``en``.
        channel: the channel it goes out on: its ``channel:`` variation is preferred
            (e-mail and SMS have no button to press).

    Returns:
        The text; for ``alert`` and ``update`` also the 「見かけた」 button and, with the
        family's consent, the photo.

    Raises:
        KeyError: for an unknown kind.
    """
    response = KIND_RESPONSES[kind]
    if kind not in ALERT_KINDS:
        return AlertMessage(domain.text(response, language, alert_id=alert.id))
    session = object_session(alert)
    counter, phone, reference = _contact(session, alert)
    details = _details(domain, session, alert, language, widening=kind == "update")
    report = domain.text("utter_alert_report_sighting", language, channel, counter=counter, phone=phone,
                         reference=reference)
    text = domain.text(response, language, alert_id=alert.id, details=details, report=report)
    button = Choice(domain.text("utter_choice_saw_them", language), f"{SIGHTING_BUTTON_PREFIX}{alert.id}")
    if not alert.share_identity:
        return AlertMessage(text, (button,))
    return AlertMessage(text, (button,), alert.photo_ref, photo_url(session, alert, settings))


def render_alert_message(domain: Domain, alert: Alert, kind: str, language: str) -> str:
    """The text of one outbox message of an alert (see :func:`compose_alert`)."""
    return compose_alert(domain, alert, kind, language).text


def distance_label(metres: float | None, domain: Domain, language: str) -> str:
    """"350 m", "1.2 km" (rounded for a reader), or the unknown label."""
    if metres is None:
        return domain.text("utter_unknown_label", language)
    return f"{round(metres, -1):.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def latest_confirmed(session: Session, alert: Alert) -> Sighting | None:
    """The newest sighting of an alert the desk confirmed (by when the person was seen), if any."""
    return session.scalar(
        select(Sighting).where(Sighting.alert_id == alert.id, Sighting.confirmed_at.is_not(None))
        .order_by(func.coalesce(Sighting.seen_at, Sighting.created_at).desc(), Sighting.id.desc()).limit(1))


def sighting_place(session: Session, sighting: Sighting) -> str:
    """"北区 柳町": the town a sighting was in, "" when unknown (its exact point is for staff only)."""
    record = get_directory(session).towns.get(sighting.town_id or "")
    return f"{record.option.ward} {record.option.town}" if record is not None else ""


def render_forwarded_sighting(session: Session, domain: Domain, target: str, sighting_id: int, language: str) -> str:
    """The text of a sighting the desk forwards: to the family (their chat) or the police (e-mail).

    The family reads where (town) and when, how far from the last-seen place, and what to do
    when the person is found; the police also the description and the exact position.

    Raises:
        LookupError: when the sighting (or its alert) no longer exists.
    """
    sighting = session.get(Sighting, sighting_id)
    alert = session.get(Alert, sighting.alert_id) if sighting is not None else None
    if sighting is None or alert is None:
        raise LookupError(f"sighting {sighting_id} no longer exists")
    if target == "police":
        # Read by the police's staff, whatever language the desk or the family use.
        language = "ja"
    unknown = domain.text("utter_unknown_label", language)
    counter, phone, reference = _contact(session, alert)
    values: dict[str, Any] = {
        "case_id": reference, "alert_id": alert.id, "counter": counter or unknown, "phone": phone,
        "seen_where": sighting_place(session, sighting) or unknown,
        "seen_when": _format_time(sighting.seen_at or sighting.created_at, language),
        "distance": distance_label(sighting_distance_m(session, alert, sighting), domain, language),
    }
    if target == "police":
        fields = alert.public_fields or {}
        point = (f"{sighting.latitude:.5f},{sighting.longitude:.5f}"
                 if sighting.latitude is not None and sighting.longitude is not None else unknown)
        values |= {"description": describe(domain, fields, language) or alert.description or unknown,
                   "clothing": fields.get("clothing") or alert.clothing or unknown,
                   "last_seen_where": last_seen_label(session, alert) or unknown, "point": point,
                   "note": sighting.text or unknown}
    return domain.text(FORWARD_RESPONSES[target], language, **values)


def render_outbox_message(
    session: Session, domain: Domain, alert_id: int | None, kind: str, language: str, *, channel: str | None = None
) -> AlertMessage:
    """One outbox message: an alert's (text, button, photo), or the re-confirmation request.

    Args:
        session: a session to read the alert (and its case) with.
        domain: the loaded domain.
        alert_id: the alert, for every kind but ``reconfirm``.
        kind: the outbox row's kind.
        language: ``ja`` or ``en``.
        channel: the channel it goes out on (see :func:`compose_alert`).

    Returns:
        The message.

    Raises:
        LookupError: when the alert no longer exists.
    """
    if kind == RECONFIRM_KIND:
        return AlertMessage(domain.text(KIND_RESPONSES[kind], language, days=settings.cooperator_reconfirm_grace_days))
    forwarded = parse_forward_kind(kind)
    if forwarded is not None:
        return AlertMessage(render_forwarded_sighting(session, domain, *forwarded, language))
    # A sensor's 安否確認 to the household's family (alerts.sensors).
    check = parse_check_kind(kind)
    if check is not None:
        return AlertMessage(*render_check_message(session, domain, *check, language))
    # A partner reporter's 「対応しました」 or re-confirmation request (routing.partners).
    notice = outbox_notice(kind)
    if notice is not None:
        return AlertMessage(domain.text(notice[0], language, **notice[1]))
    alert = session.get(Alert, alert_id) if alert_id is not None else None
    if alert is None:
        raise LookupError(f"alert {alert_id} no longer exists")
    return compose_alert(domain, alert, kind, language, channel)


def render_message(session: Session, domain: Domain, alert_id: int | None, kind: str, language: str) -> str:
    """The text of one outbox message (see :func:`render_outbox_message`)."""
    return render_outbox_message(session, domain, alert_id, kind, language).text

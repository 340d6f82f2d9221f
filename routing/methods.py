"""Delivery methods, as plug-ins: how a case reaches a counter's target.

A method is a function ``(target, message, connections) -> None`` registered under a
name with ``@delivery_method("name")``; it raises ``DeliveryFailure`` (or any error)
when the target did not take the message, and the delivery is retried later.
:class:`Connections` holds what the deliveries of one batch share. Built in:

* ``console``: the staff console inbox reads cases from the database — nothing to send.
* ``email``: a plain-text e-mail through the SMTP server in the settings
  (:class:`channels.email.EmailSender`: one connection per batch).
* ``webhook``: ``POST`` of the JSON payload, signed with HMAC-SHA256 of the raw body
  under the target's secret, hex-encoded in ``X-Tsunagu-Signature``.

The message carries only what the case holds and the counter needs: case id,
kind, topic, place, the report's details (what was noticed, since when, a call-back
number if the reporter gave one), the call-back consent and the deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.models import Case, CaseEvent, DeliveryTarget
from bot.settings import settings
from channels.email import EmailSender

__all__ = [
    "METHODS",
    "SIGNATURE_HEADER",
    "CaseMessage",
    "Connections",
    "DeliveryFailure",
    "build_message",
    "delivery_method",
    "sign",
]

SIGNATURE_HEADER = "X-Tsunagu-Signature"
TIMEOUT_SECONDS = 10.0
KIND_JA = {"consult": "相談の折り返し依頼", "worry": "見守りの気づき", "missing": "行方不明の届出", "callback": "折り返し依頼"}
# Labels for the detail keys the flows store; other keys are shown as they are.
DETAIL_LABELS = {
    "noticed": "気づいた内容",
    "where": "場所",
    "since_when": "いつから",
    "first_report": "最初の連絡",
    "who": "対象の方",
    "last_seen_where": "最後に見かけた場所",
    "last_seen_when": "最後に見かけた時刻",
    "last_seen_time": "最後に見かけた時刻（読み取り）",
    "conversation_id": "会話番号",
    "clothing": "服装",
    "callback_phone": "折り返し先電話番号",
    "added": "追加の内容",
    "questions": "住民からの質問",
    "guidance": "住民に伝えた緊急の案内",
    # What flows.steps.place_flags adds about a place read from the resident's words.
    "landmark": "目印（住民の言葉）",
    "town_unknown": "町名不明",
    "place_unknown": "場所不明",
    "place_unconfirmed": "場所（未確認）",
}


class DeliveryFailure(Exception):
    """The target did not accept the message; the reason is recorded on the delivery."""


@dataclass(frozen=True)
class CaseMessage:
    """What one delivery sends: the JSON payload and its plain-text rendering."""

    delivery_id: int
    payload: dict[str, Any]
    subject: str
    body: str


class Connections:
    """What the deliveries of one batch share: one SMTP connection, opened with the first e-mail."""

    def __init__(self) -> None:
        self.mail = EmailSender.from_settings(settings)

    def close(self) -> None:
        """Close what was opened (``contextlib.closing(Connections())`` does it for a batch)."""
        self.mail.close()


Method = Callable[[DeliveryTarget, CaseMessage, Connections], None]
METHODS: dict[str, Method] = {}


def delivery_method(name: str) -> Callable[[Method], Method]:
    """Register a delivery method under ``name`` (the ``method`` column of a target).

    Args:
        name: the method name used in delivery target configuration.

    Returns:
        A decorator that registers the function and returns it unchanged.
    """

    def register(function: Method) -> Method:
        METHODS[name] = function
        return function

    return register


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(settings.tz).isoformat(timespec="minutes") if value else None


def build_message(
    *, delivery_id: int, case: Case, event: CaseEvent, counter_name: str, area_label: str | None
) -> CaseMessage:
    """Compose the payload and e-mail text for one delivery of a case event.

    Args:
        delivery_id: the delivery row id (lets a receiver drop a repeated delivery).
        case: the case.
        event: the ``created`` or ``repeat_report`` event being delivered.
        counter_name: the receiving counter's name.
        area_label: the place in words (ward and town), if known.

    Returns:
        The message.
    """
    # A linked repeat report, or details the resident added later (routing.cases.add_details).
    update = event.details.get("details") if event.kind in ("repeat_report", "details_added") else None
    payload: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": event.kind,
        "case": {
            "id": case.id,
            "kind": case.kind.value,
            "topic": case.topic,
            "urgent": case.urgent,
            "counter_id": case.counter_id,
            "area": {"town_id": case.town_id, "sphere": case.sphere, "ward": case.ward, "label": area_label},
            "details": case.details,
            "callback_consent": case.callback_consent,
            "report_count": case.report_count,
            "created_at": _iso(case.created_at),
            "first_contact_due": _iso(case.first_contact_due),
            "routing_reason": case.routing_reason,
        },
    }
    if update is not None:
        payload["update"] = {
            "details": update,
            "reported_at": _iso(event.created_at),
            "callback_consent": bool(event.details.get("callback_consent")),
        }
    kind = KIND_JA.get(case.kind.value, case.kind.value)
    place = area_label or case.ward or "場所不明"
    urgent = "【至急】" if case.urgent else ""
    if update is not None:
        subject = f"[tsunagu] {urgent}{kind} #{case.id} に追加の報告（{place}・{case.report_count}件目）"
    else:
        subject = f"[tsunagu] {urgent}新しい{kind} #{case.id}（{place}）"

    def lines(details: dict[str, Any]) -> list[str]:
        return [f"  {DETAIL_LABELS.get(key, key)}: {value}" for key, value in details.items() if value not in (None, "")]

    body = [
        f"{counter_name} 御中",
        "",
        f"ケース番号: {case.id}",
        f"種別: {kind}（{case.kind.value} / {case.topic}）",
        f"場所: {place}" + (f"（{case.town_id}）" if case.town_id else ""),
        f"初回連絡の期限: {_iso(case.first_contact_due) or '-'}",
        f"報告者への折り返し: {'可' if case.callback_consent else '不可'}",
        "内容:",
        *lines(case.details),
    ]
    if update is not None:
        body += [
            "",
            f"追加の報告（{_iso(event.created_at)}、折り返し{'可' if payload['update']['callback_consent'] else '不可'}）:",
            *lines(update),
        ]
    body += ["", f"詳細: tsunagu cases show {case.id}", f"振り分けの理由: {case.routing_reason}"]
    return CaseMessage(delivery_id, payload, subject, "\n".join(body) + "\n")


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret`` (the ``X-Tsunagu-Signature`` value).

    Args:
        secret: the target's shared secret.
        body: the exact bytes of the request body.

    Returns:
        The lowercase hex digest.
    """
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _secret(target: DeliveryTarget) -> str:
    secret = target.secret or ""
    if secret.startswith("env:"):
        secret = os.environ.get(secret.removeprefix("env:"), "")
    if not secret:
        raise DeliveryFailure(f"target {target.id} has no secret (or its environment variable is not set)")
    return secret


@delivery_method("console")
def send_console(target: DeliveryTarget, message: CaseMessage, connections: Connections) -> None:
    """The staff console shows cases straight from the database: nothing to send."""


@delivery_method("email")
def send_email(target: DeliveryTarget, message: CaseMessage, connections: Connections) -> None:
    """Send the case as a plain-text e-mail through ``settings.smtp_host:smtp_port``."""
    mail = connections.mail
    email = mail.compose(to=target.address, subject=message.subject, body=message.body,
                         idstring=f"tsunagu-delivery-{message.delivery_id}")
    try:
        mail.send(email)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailure(f"SMTP {mail.host}:{mail.port}: {error}") from error


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    return _client


@delivery_method("webhook")
def send_webhook(target: DeliveryTarget, message: CaseMessage, connections: Connections) -> None:
    """POST the JSON payload to the target URL, signed with the target's secret."""
    body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: sign(_secret(target), body),
        "X-Tsunagu-Delivery": str(message.delivery_id),
    }
    try:
        response = _http().post(target.address, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise DeliveryFailure(f"webhook {target.address}: {type(error).__name__}: {error}") from error
    if not response.is_success:
        raise DeliveryFailure(f"webhook {target.address}: HTTP {response.status_code}")

"""``POST /sensors/events``: the ingestion endpoint of household sensors.

A device (smart meter, motion sensor, call button) sends one JSON event per request::

    POST /sensors/events
    X-Sensor-Device: meter-0001
    X-Sensor-Timestamp: 1795999200            (Unix seconds, when the request was signed)
    X-Sensor-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, with the device's key>

    {"device_id": "meter-0001", "event_id": "7f3c…", "event": "no_power_use",
     "observed_at": "2026-11-30T06:00:00+09:00", "hours": 14}

Like every channel, it verifies before it reads: the timestamp must be within
``settings.sensor_max_skew_seconds`` of now, and the signature must match the key of an
active device; an unknown device, a wrong signature and a stale timestamp get the same
401 (nothing tells an attacker which device ids exist; for an unknown id an HMAC is
still computed, with a throw-away key, so the answer takes as long). Only then is the
body parsed. The device id is a header so that the key is known before the body is
read; the body must name the same device.

Then a per-device token bucket (``settings.sensor_events_per_minute``) answers 429 to a
flood — counted after the signature, so that forged requests in a device's name cannot
silence the real device. The event goes to the handler this channel was given (in a
worker thread), which commits it before this endpoint answers 202: an accepted event is
never lost. The handler says when the (device, ``event_id``) pair was seen before: 409,
a replay. This module decides nothing about what an event means (``alerts.sensors``).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bot.models import utcnow
from bot.settings import Settings

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = [
    "DEVICE_HEADER",
    "EVENTS",
    "PATH",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeviceBuckets",
    "SensorEndpoint",
    "SensorReport",
    "Verdict",
    "sign",
]

log = logging.getLogger(__name__)

PATH = "/sensors/events"
DEVICE_HEADER = "X-Sensor-Device"
TIMESTAMP_HEADER = "X-Sensor-Timestamp"
SIGNATURE_HEADER = "X-Sensor-Signature"
EVENTS = ("no_power_use", "no_motion", "call_button", "offline")
"""What a device may report (which device type may report which: ``alerts.sensors.RULES``)."""

_ID_MAX = 64
# The same answer for every authentication failure: which one it was is for the log only.
_UNAUTHORIZED = {"error": "unauthorized"}
# An HMAC is computed with this for an unknown device, so it answers as slowly as a known one.
_THROWAWAY_KEY = hashlib.sha256(b"tsunagu-sensor-unknown-device").digest()


class Verdict(enum.Enum):
    """What the handler made of a verified event."""

    accepted = "accepted"
    replay = "replay"
    # Well signed but meaningless for this device (a motion sensor reporting a call button).
    rejected = "rejected"


@dataclass(frozen=True)
class SensorReport:
    """A verified, parsed event, as the handler receives it."""

    device_id: str
    event_id: str
    event: str
    observed_at: datetime
    received_at: datetime
    # The device's other figures (hours without use, battery…), JSON values only.
    details: dict[str, Any] = field(default_factory=dict)


KeyLookup = Callable[[str], bytes | None]
"""The key of an active device by its id, None for an unknown or disabled one."""
ReportHandler = Callable[[SensorReport], Verdict]
"""Records the event (committed before it returns) and says what became of it."""
Clock = Callable[[], datetime]


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Sensor-Signature`` value of a request (for devices, simulators and tests).

    Args:
        key: the device's key.
        timestamp: the ``X-Sensor-Timestamp`` value (Unix seconds).
        body: the exact request body.

    Returns:
        ``sha256=<hex>``.
    """
    digest = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class DeviceBuckets:
    """A token bucket per device in this process: ``per_minute`` events a minute, bursts of as many.

    At most ``max_devices`` buckets are kept (the least recently used go first): a city's
    devices report rarely, and a forgotten bucket is simply full again.
    """

    def __init__(self, per_minute: int, max_devices: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self._max = max_devices
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, device_id: str) -> float:
        """Take a token; 0 when there was one, else the seconds until there is."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(device_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[device_id] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return wait


class SensorEndpoint:
    """Verifies and parses sensor events, and hands them to the handler it was given."""

    def __init__(self, keys: KeyLookup, handler: ReportHandler, *, max_skew_seconds: int = 300,
                 events_per_minute: int = 30, clock: Clock = utcnow) -> None:
        self._keys = keys
        self._handler = handler
        self._max_skew = max_skew_seconds
        self._buckets = DeviceBuckets(events_per_minute)
        self._clock = clock

    @staticmethod
    def is_configured(settings: Settings) -> bool:
        """Mounted only with a secret to derive the device keys from."""
        return bool(settings.sensor_secret)

    @classmethod
    def from_settings(cls, settings: Settings, keys: KeyLookup, handler: ReportHandler,
                      clock: Clock = utcnow) -> SensorEndpoint:
        return cls(keys, handler, max_skew_seconds=settings.sensor_max_skew_seconds,
                   events_per_minute=settings.sensor_events_per_minute, clock=clock)

    def router(self) -> APIRouter:
        # why: the web stack loads only where the endpoint is mounted; alerts.sensors (and so the
        # flows and the CLI) import this module for SensorReport and Verdict
        from fastapi import APIRouter, Request
        from fastapi.responses import JSONResponse
        from starlette.concurrency import run_in_threadpool

        router = APIRouter()

        async def receive(request: Request) -> JSONResponse:
            body = await request.body()
            device_id = request.headers.get(DEVICE_HEADER, "")
            now = self._clock()
            refusal = self._check_timestamp(request.headers.get(TIMESTAMP_HEADER, ""), now)
            if refusal is None:
                key = await run_in_threadpool(self._keys, device_id) if 0 < len(device_id) <= _ID_MAX else None
                refusal = self._check_signature(key, request.headers.get(TIMESTAMP_HEADER, ""), body,
                                                request.headers.get(SIGNATURE_HEADER, ""))
            if refusal is not None:
                log.info("sensor event refused: %s", refusal)
                return JSONResponse(_UNAUTHORIZED, status_code=401)
            wait = self._buckets.take(device_id)
            if wait > 0:
                log.warning("sensor event refused: device over its rate")
                return JSONResponse({"error": "too many events"}, status_code=429,
                                    headers={"Retry-After": str(max(1, round(wait)))})
            report = _parse(body, device_id, now)
            if isinstance(report, str):
                return JSONResponse({"error": report}, status_code=422)
            verdict = await run_in_threadpool(self._handler, report)
            if verdict is Verdict.replay:
                return JSONResponse({"error": "event already received"}, status_code=409)
            if verdict is Verdict.rejected:
                return JSONResponse({"error": "event not reported by this kind of device"}, status_code=422)
            return JSONResponse({"status": "accepted"}, status_code=202)

        # A plain route: the request is read raw (the signature covers its exact bytes).
        router.add_route(PATH, receive, methods=["POST"])
        return router

    def _check_timestamp(self, value: str, now: datetime) -> str | None:
        if not value.isdigit() or len(value) > 12:
            return "no timestamp"
        if abs(now.timestamp() - int(value)) > self._max_skew:
            return "stale timestamp"
        return None

    @staticmethod
    def _check_signature(key: bytes | None, timestamp: str, body: bytes, given: str) -> str | None:
        expected = sign(key or _THROWAWAY_KEY, timestamp, body)
        matches = hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
        if key is None:
            return "unknown device"
        return None if matches else "bad signature"


def _parse(body: bytes, device_id: str, now: datetime) -> SensorReport | str:
    """The report in a verified body, or what is wrong with it."""
    try:
        data = json.loads(body)
    except ValueError:
        return "the body is not JSON"
    if not isinstance(data, dict):
        return "the body is not a JSON object"
    if data.get("device_id") != device_id:
        return "device_id differs from the signed header"
    event_id, event, observed = data.get("event_id"), data.get("event"), data.get("observed_at")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= _ID_MAX:
        return "event_id: a string of 1 to 64 characters"
    if event not in EVENTS:
        return f"event: one of {', '.join(EVENTS)}"
    try:
        observed_at = datetime.fromisoformat(observed) if isinstance(observed, str) else None
    except ValueError:
        observed_at = None
    if observed_at is None or observed_at.tzinfo is None:
        return "observed_at: an ISO 8601 time with its offset"
    details = {name: value for name, value in data.items()
               if name not in ("device_id", "event_id", "event", "observed_at")}
    return SensorReport(device_id, event_id, event, observed_at.astimezone(timezone.utc), now, details)

"""Security of ``POST /sensors/events`` (channels.sensors) in the app as ``bot.app`` mounts it:
bad signature, unknown device, stale timestamp, replay, flood — and nothing lost once accepted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts.sensors import device_key, new_event_id
from bot.app import build_engine, create_app
from bot.db import session_scope
from bot.models.sensors import SafetyCheck, SensorDevice, SensorEvent
from bot.settings import settings
from channels.sensors import DEVICE_HEADER, PATH, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.alerts.test_sensors import household
from tests.channels.conftest import channel_settings

SECRET = "sensor-secret-for-tests-0123456789"
PER_MINUTE = 5


@pytest.fixture
def client(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app with the sensor endpoint mounted (no chat channel), on a household with three devices."""
    monkeypatch.setattr(settings, "sensor_secret", SECRET)
    # The fan-out is not woken: the queued family messages stay in the outbox.
    monkeypatch.setattr("alerts.fanout.runner.kick", lambda *args: None)
    with session_scope(db_url) as session:
        household(session)
    app = create_app(channel_settings(db_url, sensor_secret=SECRET, sensor_events_per_minute=PER_MINUTE),
                     handler=build_engine(db_url).handle, channel_names=[], init_database=False)
    yield TestClient(app)


def signed(device_id: str, event: str = "call_button", *, event_id: str | None = None, key: bytes | None = None,
           timestamp: int | None = None, body_device: str | None = None, **extra: object) -> dict[str, object]:
    """The request a device sends: the body, and the headers signed with its key."""
    body = json.dumps({"device_id": body_device or device_id, "event_id": event_id or new_event_id(), "event": event,
                       "observed_at": datetime.now(timezone.utc).isoformat(), **extra}).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    key = device_key(device_id, 1) if key is None else key
    return {"content": body, "headers": {DEVICE_HEADER: device_id, TIMESTAMP_HEADER: stamp,
                                         SIGNATURE_HEADER: sign(key, stamp, body),
                                         "Content-Type": "application/json"}}


def stored_events(db_url: str) -> list[str]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(SensorEvent.event_id).order_by(SensorEvent.id)))


def test_a_signed_event_is_committed_before_it_is_accepted(client: TestClient, db_url: str) -> None:
    request = signed("button-1", event_id="evt-1")
    answer = client.post(PATH, **request)
    assert answer.status_code == 202
    # Read on a session of its own: the row was committed before the 202.
    assert stored_events(db_url) == ["evt-1"]
    with session_scope(db_url) as session:
        assert session.scalar(select(SafetyCheck.case_id)) is not None


def test_a_bad_signature_is_refused(client: TestClient, db_url: str) -> None:
    answer = client.post(PATH, **signed("button-1", key=b"not the device's key"))
    assert answer.status_code == 401
    assert stored_events(db_url) == []


def test_a_tampered_body_is_refused(client: TestClient, db_url: str) -> None:
    request = signed("meter-1", "no_power_use", hours=20)
    request["content"] = request["content"].replace(b"20", b"99")  # type: ignore[union-attr]
    assert client.post(PATH, **request).status_code == 401
    assert stored_events(db_url) == []


def test_an_unknown_device_gets_the_same_answer_as_a_bad_signature(client: TestClient, db_url: str) -> None:
    unknown = client.post(PATH, **signed("meter-999", "no_power_use"))
    forged = client.post(PATH, **signed("meter-1", "no_power_use", key=b"guess"))
    assert unknown.status_code == forged.status_code == 401
    assert unknown.json() == forged.json()
    assert stored_events(db_url) == []


def test_a_disabled_device_is_unknown(client: TestClient, db_url: str) -> None:
    with session_scope(db_url) as session:
        session.scalars(select(SensorDevice).where(SensorDevice.device_id == "button-1")).one().active = False
    assert client.post(PATH, **signed("button-1")).status_code == 401


@pytest.mark.parametrize("age_seconds", [310, -310, 86_400])
def test_a_stale_or_future_timestamp_is_refused(client: TestClient, db_url: str, age_seconds: int) -> None:
    answer = client.post(PATH, **signed("button-1", timestamp=int(time.time()) - age_seconds))
    assert answer.status_code == 401
    assert stored_events(db_url) == []


def test_missing_headers_are_refused(client: TestClient) -> None:
    request = signed("button-1")
    for header in (DEVICE_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        sent: dict[str, str] = request["headers"]  # type: ignore[assignment]
        headers = {name: value for name, value in sent.items() if name != header}
        assert client.post(PATH, content=request["content"], headers=headers).status_code == 401


def test_a_replayed_request_is_refused(client: TestClient, db_url: str) -> None:
    request = signed("button-1", event_id="evt-once")
    assert client.post(PATH, **request).status_code == 202
    assert client.post(PATH, **request).status_code == 409
    # Signed again with a new timestamp, the same event id is still the same event.
    assert client.post(PATH, **signed("button-1", event_id="evt-once")).status_code == 409
    assert stored_events(db_url) == ["evt-once"]
    with session_scope(db_url) as session:
        assert len(session.scalars(select(SafetyCheck.id)).all()) == 1


def test_a_flood_is_answered_429_and_other_devices_go_on(client: TestClient, db_url: str) -> None:
    answers = [client.post(PATH, **signed("motion-1", "no_motion", hours=1)).status_code for _ in range(PER_MINUTE + 3)]
    assert answers == [202] * PER_MINUTE + [429] * 3
    flooded = client.post(PATH, **signed("motion-1", "no_motion", hours=1))
    assert flooded.status_code == 429 and int(flooded.headers["Retry-After"]) >= 1
    assert client.post(PATH, **signed("meter-1", "no_power_use", hours=1)).status_code == 202
    assert len(stored_events(db_url)) == PER_MINUTE + 1


def test_forged_requests_do_not_use_up_a_devices_budget(client: TestClient) -> None:
    for _ in range(PER_MINUTE * 2):
        assert client.post(PATH, **signed("button-1", key=b"forged")).status_code == 401
    assert client.post(PATH, **signed("button-1")).status_code == 202


@pytest.mark.parametrize(("change", "status"), [
    ({"body_device": "meter-1"}, 422),  # signed for one device, naming another
    ({"event": "exploded"}, 422),
    ({"event": "no_power_use"}, 422),  # a call button has no meter
])
def test_a_signed_but_wrong_event_is_refused(client: TestClient, db_url: str, change: dict[str, str],
                                             status: int) -> None:
    assert client.post(PATH, **signed("button-1", **change)).status_code == status  # type: ignore[arg-type]
    assert stored_events(db_url) == []


def test_without_a_secret_the_endpoint_is_not_mounted(db_url: str) -> None:
    app = create_app(channel_settings(db_url), handler=build_engine(db_url).handle, channel_names=[],
                     init_database=False)
    assert TestClient(app).post(PATH, **signed("button-1", key=b"x")).status_code == 404

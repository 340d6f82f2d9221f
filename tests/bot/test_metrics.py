"""``/metrics``: turns, urgent guidance, requests and the database's counts, counted for real
through the app and the engine — and nothing a resident said."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_app
from bot.db import session_scope
from bot.metrics import REGISTRY
from bot.models import InboxEvent, InboxState, utcnow
from bot.settings import Settings, settings

EMERGENCY = "隣のおじいさんが倒れていて息をしていない"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_turn_is_counted_with_its_urgent_guidance_and_nothing_personal(sqlite_url: str) -> None:
    app = create_app(Settings(database_url=sqlite_url, data_dir=settings.data_dir), channel_names=["webchat"],
                     init_database=False)
    turns = sum(sample("tsunagu_turns_total", channel="webchat", flow=flow) for flow in ("none", "emergency"))
    urgent = sample("tsunagu_emergency_guidance_total", channel="webchat")
    answered = sample("tsunagu_http_requests_total", route="webhooks/webchat", status="200")
    with TestClient(app) as client:
        reply = client.post("/webhooks/webchat/messages", json={"id": "m1", "text": EMERGENCY})
        assert reply.status_code == 200 and reply.json()["replies"][0]["urgent"]
        scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert sum(sample("tsunagu_turns_total", channel="webchat", flow=flow)
               for flow in ("none", "emergency")) == turns + 1
    assert sample("tsunagu_emergency_guidance_total", channel="webchat") == urgent + 1
    assert sample("tsunagu_http_requests_total", route="webhooks/webchat", status="200") == answered + 1
    assert sample("tsunagu_turn_seconds_count", channel="webchat") >= 1
    # The database's gauges are in the same scrape.
    assert re.search(r"^# TYPE tsunagu_cases gauge$", scraped.text, re.MULTILINE)
    assert re.search(r"^# TYPE tsunagu_case_deliveries gauge$", scraped.text, re.MULTILINE)
    assert "倒れて" not in scraped.text and "息" not in scraped.text


def test_a_refused_body_is_counted_by_its_route_group_only(sqlite_url: str) -> None:
    app = create_app(Settings(database_url=sqlite_url, max_request_bytes=2048), handler=lambda message: None,
                     channel_names=["webchat"], init_database=False)
    refused = sample("tsunagu_http_requests_total", route="webhooks/webchat", status="413")
    client = TestClient(app)
    assert client.post("/webhooks/webchat/messages", content=b"x" * 4096,
                       headers={"Content-Type": "application/json"}).status_code == 413
    assert sample("tsunagu_http_requests_total", route="webhooks/webchat", status="413") == refused + 1
    assert "/webhooks/webchat/messages" not in client.get("/metrics").text


def test_unanswered_webhook_events_and_the_oldest_wait_are_scraped(sqlite_url: str) -> None:
    """With turn workers that are not running, the backlog shows on /metrics."""
    with session_scope(sqlite_url) as session:
        for number, (state, minutes) in enumerate([(InboxState.pending, 5), (InboxState.processing, 1),
                                                   (InboxState.done, 60)]):
            session.add(InboxEvent(channel="line", event_id=f"e{number}", resident="U1", payload={}, state=state,
                                   attempts=0, received_at=utcnow() - timedelta(minutes=minutes)))
    app = create_app(Settings(database_url=sqlite_url, data_dir=settings.data_dir), handler=lambda message: None,
                     channel_names=["webchat"], init_database=False)
    with TestClient(app) as client:
        scraped = client.get("/metrics")
    values = {(found.name, tuple(sorted(found.labels.items()))): found.value
              for family in text_string_to_metric_families(scraped.text) for found in family.samples}
    assert values[("tsunagu_inbox_unanswered", (("channel", "line"), ("state", "pending")))] == 1
    assert values[("tsunagu_inbox_unanswered", (("channel", "line"), ("state", "processing")))] == 1
    assert ("tsunagu_inbox_unanswered", (("channel", "line"), ("state", "done"))) not in values
    assert 5 * 60 <= values[("tsunagu_inbox_oldest_unanswered_seconds", (("channel", "line"),))] < 60 * 60

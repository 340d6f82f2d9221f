"""Prometheus metrics of this process: what an operator watches to know residents are served.

Counted where they happen — webhooks at the edge (``bot/app.py``), turns and emergency guidance
in the engine, classification time in the classifier — and exposed at ``GET /metrics`` with the
database's own gauges (cases by status, alert messages by state, failed case deliveries) read
at scrape time by ``bot.health.DatabaseCollector``. Labels are channels, flows, paths and
states only: never a resident, a message or an address.

Each ``serve`` process has its own registry: scrape every process (each listens on its own
port behind the proxy, docs/deploy.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram

if TYPE_CHECKING:  # the classifier counts here too: its start-up does not load the ORM for a type
    from bot.messages import TurnResult

__all__ = ["CLASSIFY_SECONDS", "EMERGENCY_GUIDANCE", "REGISTRY", "TURNS", "TURN_SECONDS", "WEBHOOKS", "count_turn"]

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter(
    "tsunagu_http_requests", "HTTP requests answered, by route group and status code.",
    ["route", "status"], registry=REGISTRY,
)
TURNS = Counter(
    "tsunagu_turns", "Conversation turns completed (committed), by channel and the flow they ended in.",
    ["channel", "flow"], registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "tsunagu_turn_seconds", "Time of one conversation turn, classification and commit included.",
    ["channel"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EMERGENCY_GUIDANCE = Counter(
    "tsunagu_emergency_guidance",
    "Turns that gave urgent guidance (119, 110, the crisis lines, 110 for a missing person), by channel.",
    ["channel"], registry=REGISTRY,
)
CLASSIFY_SECONDS = Histogram(
    "tsunagu_classify_seconds", "Time to classify one batch of messages (usually one message).",
    registry=REGISTRY, buckets=(0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.5, 1.0),
)


def count_turn(channel: str, result: TurnResult, seconds: float) -> None:
    """Count one committed turn (duplicates of an event already handled are not turns)."""
    if result.duplicate:
        return
    TURNS.labels(channel, result.flow or "none").inc()
    TURN_SECONDS.labels(channel).observe(seconds)
    if any(reply.urgent for reply in result.replies):
        EMERGENCY_GUIDANCE.labels(channel).inc()

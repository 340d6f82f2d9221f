"""Schemathesis against the app's own OpenAPI schema: whatever a client sends to any endpoint —
webhooks, web chat, the staff API with a valid token — the answer is never a 5xx and always
conforms to the schema's status codes (issue 15, item 4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from bot.app import create_app
from bot.db import session_scope
from bot.settings import Settings
from bot.settings import settings as app_settings
from bot.staff_api import create_staff_user
from tests.channels.conftest import channel_settings

# PostgreSQL: the stricter engine (an id above 2³¹, a NUL byte) is where a 500 would hide.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]


@pytest.fixture
def staff_token(db_url: str) -> str:
    with session_scope(db_url) as session:
        _, token = create_staff_user(session, "sato", ["mimamori-chuo", "mimamori-kita"], can_approve_alerts=True)
    return token


@pytest.fixture
def api_schema(db_url: str) -> Iterator[schemathesis.schemas.BaseSchema]:
    app_config: Settings = channel_settings(db_url, data_dir=app_settings.data_dir)
    # Telegram asks its API for the bot at start-up; its webhook is covered by tests/channels.
    app = create_app(app_config, init_database=False, channel_names=["line", "voice", "webchat"])
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=20, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                            HealthCheck.filter_too_much])
def test_no_request_makes_the_app_fail(case: schemathesis.Case, staff_token: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {staff_token}"})
    case.validate_response(response, checks=[not_a_server_error])

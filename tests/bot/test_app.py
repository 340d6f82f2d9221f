"""The web app mounts the staff API next to the channels, behind its token check."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bot.app import create_app


def test_staff_api_is_mounted_and_refuses_anonymous_requests(sqlite_url: str) -> None:
    client = TestClient(create_app(init_database=False, handler=lambda message: None))
    response = client.get("/api/staff/cases")
    assert response.status_code == 401
    assert client.get("/api/staff/cases", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get("/healthz").json()["status"] == "ok"

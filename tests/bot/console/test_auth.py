"""Console accounts and sessions (issue 13, item 1): login and its throttle, the session cookie,
CSRF, idle time-out, disabled accounts, roles — the real app over ASGI on both databases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.app import create_app
from bot.console.auth import CSRF_HEADER, SESSION_COOKIE, WeakPassword, check_password_strength
from bot.db import session_scope
from bot.models import StaffUser
from bot.models.console import AuditEntry, StaffSession
from bot.models.staff import Role
from bot.settings import settings
from tests.bot.console.conftest import PASSWORD, StaffAccount, csrf_of, log_in_client

StaffClient = Callable[..., TestClient]
MakeAccount = Callable[..., StaffAccount]


def test_login_opens_the_console_and_is_audited(console_app: FastAPI, staff_account: MakeAccount,
                                                db_url: str) -> None:
    account = staff_account(Role.counter)
    client = TestClient(console_app)
    assert client.get("/staff/account", follow_redirects=False).status_code == 303, "not logged in yet"
    answer = log_in_client(client, account.username, PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/account"
    page = client.get("/staff/account")
    assert page.status_code == 200 and account.username in page.text
    with session_scope(db_url) as session:
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.staff_user_id, entry.action, entry.object_type) == (account.id, "login", "staff_user")
        assert session.get(StaffUser, account.id).last_login_at is not None


def test_a_wrong_password_is_refused_and_logged_with_the_address_only(
        console_app: FastAPI, staff_account: MakeAccount, caplog: pytest.LogCaptureFixture) -> None:
    account = staff_account(Role.counter)
    client = TestClient(console_app)
    with caplog.at_level(logging.WARNING, logger="bot.console.auth"):
        answer = log_in_client(client, account.username, "not the password at all")
    assert answer.status_code == 401
    assert SESSION_COOKIE not in answer.cookies
    assert client.get("/staff/account", follow_redirects=False).status_code == 303
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "testclient" in logged, "the address is logged"
    assert "not the password" not in logged and account.username not in logged


def test_logins_are_throttled_per_username(console_app: FastAPI, staff_account: MakeAccount) -> None:
    account = staff_account(Role.counter)
    client = TestClient(console_app)
    codes = [log_in_client(client, account.username, "wrong password here").status_code for _ in range(5)]
    assert codes == [401] * 5
    throttled = log_in_client(client, account.username, PASSWORD)
    assert throttled.status_code == 429, "even the right password waits once the limit is reached"
    assert "Retry-After" in throttled.headers


def test_logins_are_throttled_per_address(console_app: FastAPI, staff_account: MakeAccount) -> None:
    account = staff_account(Role.counter)
    client = TestClient(console_app)
    for number in range(20):
        assert log_in_client(client, f"guess{number}", "wrong password here").status_code == 401
    assert log_in_client(client, account.username, PASSWORD).status_code == 429


def test_the_login_form_needs_its_csrf_token(console_app: FastAPI, staff_account: MakeAccount) -> None:
    account = staff_account(Role.counter)
    client = TestClient(console_app)
    client.get("/staff/login")
    answer = client.post("/staff/login", data={"username": account.username, "password": PASSWORD,
                                               "csrf_token": "forged"}, follow_redirects=False)
    assert answer.status_code == 403 and SESSION_COOKIE not in answer.cookies


def test_the_session_cookie_is_httponly_strict_and_scoped(console_app: FastAPI, staff_account: MakeAccount) -> None:
    account = staff_account(Role.counter)
    answer = log_in_client(TestClient(console_app), account.username, PASSWORD)
    cookie = next(value for value in answer.headers.get_list("set-cookie") if value.startswith(SESSION_COOKIE))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= attributes and "secure" not in attributes
    assert "samesite=strict" in cookie.lower() and "path=/staff" in cookie.lower()


def test_the_session_cookie_is_secure_behind_https(db_url: str, staff_account: MakeAccount) -> None:
    account = staff_account(Role.counter)
    app = create_app(settings.model_copy(update={"public_base_url": "https://console.example.jp"}),
                     init_database=False, handler=lambda message: None, channel_names=[])
    answer = log_in_client(TestClient(app, base_url="https://testserver"), account.username, PASSWORD)
    cookie = next(value for value in answer.headers.get_list("set-cookie") if value.startswith(SESSION_COOKIE))
    assert "secure" in cookie.lower()


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(staff_client: StaffClient, db_url: str) -> None:
    client = staff_client(Role.counter)
    token = client.headers.pop(CSRF_HEADER)
    assert client.post("/staff/logout", follow_redirects=False).status_code == 403
    assert client.post("/staff/logout", data={"csrf_token": "0" * 64}, follow_redirects=False).status_code == 403
    assert client.post("/staff/logout", headers={CSRF_HEADER: "wrong"}, follow_redirects=False).status_code == 403
    assert client.get("/staff/account").status_code == 200, "still logged in: the forged logouts did nothing"
    assert client.post("/staff/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303


def test_a_csrf_token_of_another_session_is_refused(staff_client: StaffClient) -> None:
    first = staff_client(Role.counter)
    second = staff_client(Role.counter)
    answer = second.post("/staff/logout", headers={CSRF_HEADER: first.headers[CSRF_HEADER]}, follow_redirects=False)
    assert answer.status_code == 403


def test_logout_ends_the_session_even_for_a_kept_cookie(staff_client: StaffClient, db_url: str) -> None:
    client = staff_client(Role.counter)
    kept = client.cookies.get(SESSION_COOKIE)
    assert client.post("/staff/logout", follow_redirects=False).status_code == 303
    client.cookies.set(SESSION_COOKIE, kept, path="/staff")
    assert client.get("/staff/account", follow_redirects=False).status_code == 303
    with session_scope(db_url) as session:
        assert session.scalars(select(StaffSession)).all() == []


def test_an_idle_session_ends(staff_client: StaffClient, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "staff_idle_minutes", 30)
    client = staff_client(Role.counter)

    def idle_for(minutes: int) -> None:
        with session_scope(db_url) as session:
            row = session.scalars(select(StaffSession)).one()
            row.last_seen_at = row.last_seen_at - timedelta(minutes=minutes)

    idle_for(29)
    assert client.get("/staff/account", follow_redirects=False).status_code == 200, "a request keeps it alive"
    idle_for(31)
    answer = client.get("/staff/account", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/staff/login?next=")
    htmx = client.get("/staff/account", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/staff/login")


def test_a_disabled_account_is_out_at_once(staff_client: StaffClient, db_url: str) -> None:
    client = staff_client(Role.counter)
    with session_scope(db_url) as session:
        session.get(StaffUser, client.account.id).active = False  # type: ignore[attr-defined]
    assert client.get("/staff/account", follow_redirects=False).status_code == 303
    with session_scope(db_url) as session:
        session.get(StaffUser, client.account.id).active = True  # type: ignore[attr-defined]
    assert client.get("/staff/account", follow_redirects=False).status_code == 303, "its session stays ended"


def test_a_password_change_ends_other_sessions(staff_client: StaffClient, console_app: FastAPI) -> None:
    client = staff_client(Role.counter)
    other = TestClient(console_app)
    log_in_client(other, client.account.username, PASSWORD)  # type: ignore[attr-defined]
    assert other.get("/staff/account", follow_redirects=False).status_code == 200
    new = "another long passphrase"
    answer = client.post("/staff/account/password", data={"current": PASSWORD, "new": new}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/staff/account", follow_redirects=False).status_code == 200, "this browser stays in"
    assert other.get("/staff/account", follow_redirects=False).status_code == 303, "the other session ended"
    assert log_in_client(TestClient(console_app), client.account.username, new).status_code == 303  # type: ignore[attr-defined]


def test_weak_passwords_are_refused() -> None:
    with pytest.raises(WeakPassword, match="12"):
        check_password_strength("sato", "short")
    with pytest.raises(WeakPassword, match="username"):
        check_password_strength("sato.hanako.x", "Sato.Hanako.X")
    check_password_strength("sato", PASSWORD)


@pytest.mark.parametrize("role", [Role.counter, Role.alert_desk, Role.manager])
def test_only_admins_open_the_admin_pages(staff_client: StaffClient, role: Role) -> None:
    client = staff_client(role)
    assert client.get("/staff/admin/users").status_code == 403
    assert client.get("/staff/admin/audit").status_code == 403
    assert client.get("/staff/admin/audit.csv").status_code == 403
    assert client.post("/staff/admin/users", data={"username": "x", "role": "admin",
                                                    "password": PASSWORD}).status_code == 403


@pytest.mark.parametrize(("role", "first"), [(Role.counter, "/staff/cases"), (Role.alert_desk, "/staff/cases"),
                                             (Role.manager, "/staff/cases"), (Role.admin, "/staff/dashboard")])
def test_the_navigation_shows_what_the_role_may_open(staff_client: StaffClient, role: Role, first: str) -> None:
    client = staff_client(role)
    assert client.get("/staff/", follow_redirects=False).headers["location"] == first
    page = client.get("/staff/account").text
    assert ('href="/staff/admin/users"' in page) is (role == Role.admin)
    assert ('href="/staff/alerts"' in page) is (role == Role.alert_desk)
    assert ('href="/staff/dashboard"' in page) is (role in {Role.manager, Role.admin})
    assert f'data-role="{role.value}"' in page


def test_english_on_request_and_kept(staff_client: StaffClient) -> None:
    client = staff_client(Role.counter)
    assert '<html lang="ja">' in client.get("/staff/account").text
    assert '<html lang="en">' in client.get("/staff/account?lang=en").text
    assert '<html lang="en">' in client.get("/staff/account").text, "the choice is kept in a cookie"
    assert 'href="/staff/account?x=1&amp;lang=ja"' in client.get("/staff/account?x=1").text, "the switch keeps the query"


def test_after_login_the_page_asked_for_opens(console_app: FastAPI, staff_account: MakeAccount) -> None:
    account = staff_account(Role.admin)
    client = TestClient(console_app)
    asked = client.get("/staff/admin/audit?action=login", follow_redirects=False)
    assert asked.status_code == 303
    form = client.get(asked.headers["location"])
    assert 'name="next" value="/staff/admin/audit?action=login"' in form.text
    answer = client.post("/staff/login", data={"username": account.username, "password": PASSWORD,
                                               "csrf_token": csrf_of(form.text), "next": "https://evil.example/"},
                         follow_redirects=False)
    assert answer.headers["location"] == "/staff/", "never to another site"


def test_static_files_are_served_and_contained(console_app: FastAPI) -> None:
    client = TestClient(console_app)
    assert client.get("/staff/static/htmx.min.js").status_code == 200
    assert client.get("/staff/static/console.css").status_code == 200
    assert client.get("/staff/static/..%2F..%2Fsettings.py").status_code == 404


def test_the_cli_adds_accounts_with_a_role_and_a_password(db_url: str, console_app: FastAPI) -> None:
    from typer.testing import CliRunner

    from bot.cli import app as cli

    weak = CliRunner().invoke(cli, ["staff", "add", "sato", "--counter", "mimamori-chuo", "--password-stdin"],
                              input="short\n")
    assert weak.exit_code == 1 and "12" in weak.stderr
    added = CliRunner().invoke(cli, ["staff", "add", "sato", "--role", "alert_desk", "--counter", "mimamori-chuo",
                                     "--password-stdin"], input=f"{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert "\n" not in token and len(token) >= 40, "stdout is the API token alone, as before"
    boss = CliRunner().invoke(cli, ["staff", "add", "boss", "--role", "manager"], input="")
    assert boss.exit_code == 0 and "staff passwd boss" in boss.stderr, "no password without a terminal: it says how"
    assert CliRunner().invoke(cli, ["staff", "add", "x", "--role", "wizard"]).exit_code == 1
    with session_scope(db_url) as session:
        roles = {user.username: (user.role, user.password_hash is not None)
                 for user in session.scalars(select(StaffUser))}
    assert roles == {"sato": (Role.alert_desk, True), "boss": (Role.manager, False)}
    assert log_in_client(TestClient(console_app), "sato", PASSWORD).status_code == 303
    new = "the boss's long password"
    assert CliRunner().invoke(cli, ["staff", "passwd", "boss", "--password-stdin"], input=f"{new}\n").exit_code == 0
    assert log_in_client(TestClient(console_app), "boss", new).status_code == 303
    listing = CliRunner().invoke(cli, ["staff", "list"]).stdout.splitlines()
    assert [line.split("\t")[:3] for line in listing] == [["boss", "enabled", "manager"],
                                                          ["sato", "enabled", "alert_desk"]]


def test_the_staff_api_asks_the_same_permission_table(db_url: str, console_app: FastAPI,
                                                      staff_account: MakeAccount) -> None:
    from alerts.lifecycle import create_from_case
    from tests.alerts.conftest import missing_case

    manager, admin = staff_account(Role.manager), staff_account(Role.admin)
    clerk = staff_account(Role.counter, ["mimamori-kita"])
    with session_scope(db_url) as session:
        chuo = missing_case(session, "chuo-1-1")
        kita = missing_case(session, "kita-2-2", counter_id="mimamori-kita")
        alert = create_from_case(session, chuo)
        ids = {"chuo": chuo.id, "kita": kita.id, "alert": alert.id}
    client = TestClient(console_app)

    def api(method: str, path: str, account: StaffAccount) -> httpx.Response:
        return client.request(method, f"/api/staff{path}", headers={"Authorization": f"Bearer {account.api_token}"})

    seen = {case["id"] for case in api("GET", "/cases", manager).json()}
    assert seen == {ids["chuo"], ids["kita"]}, "a manager reads every counter's cases"
    assert {case["id"] for case in api("GET", "/cases", clerk).json()} == {ids["kita"]}
    assert api("GET", f"/cases/{ids['chuo']}", clerk).status_code == 404
    assert api("POST", f"/alerts/{ids['alert']}/cancel", manager).status_code == 403, "and changes nothing"
    assert api("POST", f"/alerts/{ids['alert']}/approve", manager).status_code == 403
    assert api("GET", "/cases", admin).status_code == 403, "an admin runs accounts, not cases"


def test_a_browser_gets_an_error_page_and_the_api_json(staff_client: StaffClient) -> None:
    client = staff_client(Role.counter)
    page = client.get("/staff/admin/users", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 403 and 'data-status="403"' in page.text and 'data-role="counter"' in page.text
    missing = client.get("/staff/no-such-page", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and 'data-status="404"' in missing.text
    assert client.get("/staff/admin/users").json()["detail"], "no HTML asked: JSON as before"
    assert client.get("/api/staff/cases", headers={"Accept": "text/html"}).json()["detail"]

"""The admin pages (issue 13, item 1): staff accounts added, disabled and given a new password
through the console, each change audited; one through a real browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.app import create_app
from bot.db import session_scope
from bot.models import StaffUser
from bot.models.console import AuditEntry
from bot.models.staff import Role
from tests.bot.console.conftest import PASSWORD, StaffAccount, log_in, log_in_client
from tests.channels.conftest import served_on_loopback
from tests.channels.test_webchat import CHROMIUM, CHROMIUM_ARGS

StaffClient = Callable[..., TestClient]


def _audited(db_url: str, admin_id: int) -> list[tuple[str, str]]:
    with session_scope(db_url) as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.staff_user_id == admin_id,
                                                        AuditEntry.object_type == "staff_user")
                               .order_by(AuditEntry.id))
        return [(row.action, row.object_id) for row in rows]


def test_an_admin_adds_a_counter_user_who_can_then_log_in(staff_client: StaffClient, db_url: str) -> None:
    admin = staff_client(Role.admin)
    added = admin.post("/staff/admin/users", data={"username": "tanaka", "role": "counter",
                                                   "counter": ["mimamori-chuo", "mimamori-kita"],
                                                   "password": PASSWORD}, follow_redirects=False)
    assert added.status_code == 303
    with session_scope(db_url) as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == "tanaka")).one()
        assert (user.role, user.counter_ids) == (Role.counter, ["mimamori-chuo", "mimamori-kita"])
        assert user.password_hash and PASSWORD not in user.password_hash and user.password_hash.startswith("$argon2id$")
        new_id = user.id
    assert ("create", str(new_id)) in _audited(db_url, admin.account.id)  # type: ignore[attr-defined]
    assert log_in_client(TestClient(admin.app), "tanaka", PASSWORD).status_code == 303


@pytest.mark.parametrize(("form", "reason"), [
    ({"username": "tanaka", "role": "counter", "password": PASSWORD}, "counter"),
    ({"username": "tanaka", "role": "counter", "counter": "mimamori-chuo", "password": "short"}, "12"),
    ({"username": "tanaka", "role": "counter", "counter": "nowhere", "password": PASSWORD}, "nowhere"),
])
def test_a_bad_new_account_is_refused_with_the_reason(staff_client: StaffClient, db_url: str,
                                                       form: dict[str, str], reason: str) -> None:
    admin = staff_client(Role.admin)
    answer = admin.post("/staff/admin/users", data=form)
    assert answer.status_code == 400 and reason in answer.text
    with session_scope(db_url) as session:
        assert session.scalar(select(StaffUser).where(StaffUser.username == "tanaka")) is None


def test_disabling_ends_the_users_session_and_api_token(staff_client: StaffClient, db_url: str) -> None:
    admin = staff_client(Role.admin)
    clerk = staff_client(Role.counter)
    token = clerk.account.api_token  # type: ignore[attr-defined]
    assert clerk.get("/api/staff/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    user_id = clerk.account.id  # type: ignore[attr-defined]
    assert admin.post(f"/staff/admin/users/{user_id}/active", data={"active": "false"},
                      follow_redirects=False).status_code == 303
    assert clerk.get("/staff/account", follow_redirects=False).status_code == 303
    assert clerk.get("/api/staff/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert admin.post(f"/staff/admin/users/{user_id}/active", data={"active": "true"},
                      follow_redirects=False).status_code == 303
    assert _audited(db_url, admin.account.id)[-2:] == [("disable", str(user_id)), ("enable", str(user_id))]  # type: ignore[attr-defined]


def test_an_admin_cannot_disable_themselves(staff_client: StaffClient) -> None:
    admin = staff_client(Role.admin)
    answer = admin.post(f"/staff/admin/users/{admin.account.id}/active", data={"active": "false"})  # type: ignore[attr-defined]
    assert answer.status_code == 400
    assert admin.get("/staff/admin/users").status_code == 200


def test_a_reset_password_replaces_the_old_one(staff_client: StaffClient, db_url: str) -> None:
    admin = staff_client(Role.admin)
    clerk = staff_client(Role.counter)
    user_id = clerk.account.id  # type: ignore[attr-defined]
    assert admin.post(f"/staff/admin/users/{user_id}/password", data={"password": "tiny"}).status_code == 400
    new = "a fresh long passphrase"
    assert admin.post(f"/staff/admin/users/{user_id}/password", data={"password": new},
                      follow_redirects=False).status_code == 303
    assert clerk.get("/staff/account", follow_redirects=False).status_code == 303, "their session ended"
    username = clerk.account.username  # type: ignore[attr-defined]
    assert log_in_client(TestClient(admin.app), username, PASSWORD).status_code == 401
    assert log_in_client(TestClient(admin.app), username, new).status_code == 303
    assert ("reset_password", str(user_id)) in _audited(db_url, admin.account.id)  # type: ignore[attr-defined]


def test_admin_forms_need_the_csrf_token(staff_client: StaffClient, db_url: str) -> None:
    admin = staff_client(Role.admin)
    clerk = staff_client(Role.counter)
    del admin.headers["X-CSRF-Token"]
    answer = admin.post(f"/staff/admin/users/{clerk.account.id}/active", data={"active": "false"})  # type: ignore[attr-defined]
    assert answer.status_code == 403
    with session_scope(db_url) as session:
        assert session.get(StaffUser, clerk.account.id).active  # type: ignore[attr-defined]


@pytest.fixture
def live_console(db_url: str) -> Iterator[str]:
    with served_on_loopback(create_app(init_database=False, handler=lambda message: None,
                                       channel_names=[])) as url:
        yield url


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)")
async def test_an_admin_adds_and_disables_an_account_in_the_browser(
        live_console: str, staff_account: Callable[..., StaffAccount], db_url: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    admin = staff_account(Role.admin)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="ja-JP", viewport={"width": 1024, "height": 768})
            await log_in(page, live_console, admin.username)
            await page.goto(f"{live_console}/staff/admin/users")
            await expect(page.get_by_test_id("current-user")).to_have_text(admin.username)
            await page.get_by_label("ユーザー名（半角英数字）").fill("tanaka")
            await page.get_by_label("役割").select_option("counter")
            await page.get_by_label("担当窓口", exact=False).select_option(["mimamori-chuo"])
            await page.get_by_label("初期パスワード（12文字以上）").fill(PASSWORD)
            await page.get_by_role("button", name="追加する").click()
            row = page.locator('tr[data-user="tanaka"]')
            await expect(row).to_contain_text("mimamori-chuo")
            await row.get_by_role("button", name="無効にする").click()
            await expect(page.locator('tr[data-user="tanaka"]')).to_contain_text("無効")
            await page.get_by_role("button", name="ログアウト").click()
            await expect(page.locator("#username")).to_be_visible()
        finally:
            await browser.close()
    with session_scope(db_url) as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == "tanaka")).one()
        assert not user.active and user.counter_ids == ["mimamori-chuo"]

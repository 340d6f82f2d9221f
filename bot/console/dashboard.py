"""The managers' dashboard page (``/staff/dashboard``) and the CSV export of each of its tables.

Managers and admins (``Permission.dashboard``) see the first-contact KGI against the 24 h line
by week and by counter, cases by topic and town, a city map of open cases per town, the
missing-person alerts with their time to found, and what failed to be delivered. The figures
come from :mod:`bot.console.dashboard_figures`, the charts from :mod:`bot.console.charts`, the
map from :mod:`bot.console.maps`: all SVG drawn on the server, nothing fetched by the browser.

Every table has its CSV at ``/staff/dashboard/<table>.csv`` (UTF-8 with a byte-order mark, so a
spreadsheet in Japan reads the names; ``?weeks=`` as on the page). The page shows counts only,
no resident's data, so viewing it is not audited; an export is (action ``export``).
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from bot.console.audit import audit
from bot.console.auth import DashboardViewer
from bot.console.charts import first_contact_weeks_chart, hours_by_counter_chart, topics_chart
from bot.console.dashboard_figures import TARGET_HOURS, Table, build_dashboard
from bot.console.maps import town_map_svg
from bot.console.web import language, render
from bot.staff_api import SessionDep
from routing.delivery import RESEND_COMMAND
from routing.snapshot import get_directory

__all__ = ["COLUMN_LABELS", "router", "table_csv"]

router = APIRouter()

Weeks = Annotated[int, Query(ge=1, le=52)]

# The tables' column names (the CSV header) as the page shows them: (日本語, English).
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "key": ("キー", "Key"),
    "label": ("区分", "Group"),
    "counted": ("集計件数", "Counted"),
    "contacted": ("接触済み", "Contacted"),
    "late_not_contacted": ("24時間超・未接触", "Over 24 h, not contacted"),
    "waiting_under_24h": ("24時間以内・未接触", "Under 24 h, waiting"),
    "median_hours": ("中央値（時間）", "Median (h)"),
    "p90_hours": ("90%値（時間）", "90th percentile (h)"),
    "within_24h_percent": ("24時間以内（%）", "Within 24 h (%)"),
    "closed_without_contact": ("接触なしで終了", "Closed without contact"),
    "topic": ("分野コード", "Topic"),
    "cases": ("件数", "Cases"),
    "open": ("対応中", "Open"),
    "from_residents": ("住民から", "From residents"),
    "from_partners": ("協力機関から", "From partners"),
    "from_sensors": ("センサーから", "From sensors"),
    "town_id": ("町コード", "Town id"),
    "ward": ("区", "Ward"),
    "town": ("町", "Town"),
    "worry_cases": ("見守りの通報", "Worry reports"),
    "open_now": ("現在対応中", "Open now"),
    "alert": ("警報番号", "Alert"),
    "status": ("状態", "Status"),
    "created": ("受付", "Created"),
    "approved": ("承認", "Approved"),
    "ended": ("終了", "Ended"),
    "hours_to_found": ("発見までの時間", "Hours to found"),
    "sightings": ("目撃情報", "Sightings"),
    "messages_sent": ("送信済み", "Messages sent"),
    "messages_failed": ("送信失敗", "Messages failed"),
    "queue": ("種類", "Queue"),
    "counter_or_kind": ("窓口／種別", "Counter or kind"),
    "method_or_channel": ("方法／チャネル", "Method or channel"),
    "state": ("状態", "State"),
    "count": ("件数", "Count"),
    "last_attempt": ("最終試行", "Last attempt"),
}


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, session: SessionDep, user: DashboardViewer, weeks: Weeks = 8) -> HTMLResponse:
    """The dashboard for the last ``weeks`` weeks (8 by default)."""
    directory = get_directory(session)
    board = build_dashboard(session, directory, weeks=weeks)
    english = language(request) == "en"
    charts = {
        "weeks": first_contact_weeks_chart(board.by_week),
        "counters": hours_by_counter_chart(board.by_counter),
        "topics": topics_chart(board.tables["topics"]),
        "map": town_map_svg(
            directory, title="対応中の案件（町別） / Open cases by town", values=board.open_by_town,
            value_label="Open cases" if english else "対応中の件数"),
    }
    return render(request, "dashboard.html", {"board": board, "charts": charts, "columns": COLUMN_LABELS,
                                              "target_hours": TARGET_HOURS, "weeks": weeks,
                                              "resend_command": RESEND_COMMAND})


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ would run as a formula."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return f"'{value}"
    return value


def table_csv(table: Table) -> str:
    """A table as CSV text with its header line."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows([_cell(value) for value in row] for row in table.rows)
    return out.getvalue()


@router.get("/dashboard/{name}.csv")
def dashboard_csv(name: str, session: SessionDep, user: DashboardViewer, weeks: Weeks = 8) -> Response:
    """One table of the page as CSV (404 for a table the page does not have)."""
    board = build_dashboard(session, get_directory(session), weeks=weeks)
    table = board.tables.get(name)
    if table is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dashboard table {name!r}")
    audit(session, user, "export", "dashboard", name)
    session.commit()
    filename = f"tsunagu-{name}-{board.now:%Y%m%d}.csv"
    return Response("\ufeff" + table_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})

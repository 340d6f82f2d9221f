"""The isolation risk map page (``/staff/risk-map``) and its table as CSV (``/staff/risk-map.csv``).

The newest computation of :mod:`routing.riskmap`: the towns coloured by score with a legend
(:func:`bot.console.maps.town_map_svg`), the ranked table with every indicator, and when and
with which weights it was computed. It is for planning outreach: managers, admins and the alert
desk (the 見守り hub) see it, counter staff do not. Towns only, small counts already shown as
``<k``: viewing is not audited, an export is (action ``export``), as for the dashboard.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from bot.console.audit import audit
from bot.console.auth import RiskMapReader
from bot.console.maps import town_map_svg
from bot.console.web import language, render
from bot.staff_api import SessionDep
from routing.riskmap import (
    INDICATORS,
    MAP_VALUE_LABEL,
    latest_computation,
    map_title,
    map_values,
    ranked_towns,
    ranking_csv,
)
from routing.snapshot import get_directory

__all__ = ["router"]

router = APIRouter()


@router.get("/risk-map", response_class=HTMLResponse)
def risk_map_page(request: Request, session: SessionDep, user: RiskMapReader) -> HTMLResponse:
    """The map and the ranked table of the newest computation (or how to make the first one)."""
    computation = latest_computation(session)
    if computation is None:
        return render(request, "riskmap.html", {"computation": None})
    towns = ranked_towns(session, computation)
    svg = town_map_svg(get_directory(session), title=map_title(computation), values=map_values(towns),
                       value_label="Risk (0–100)" if language(request) == "en" else MAP_VALUE_LABEL)
    return render(request, "riskmap.html", {"computation": computation, "towns": towns, "map": svg,
                                            "indicators": INDICATORS})


@router.get("/risk-map.csv")
def risk_map_csv(session: SessionDep, user: RiskMapReader) -> Response:
    """The ranked table as CSV (UTF-8 with a byte-order mark, so a spreadsheet in Japan reads the names)."""
    computation = latest_computation(session)
    if computation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no risk map computed yet")
    text = ranking_csv(ranked_towns(session, computation))
    audit(session, user, "export", "risk_map", computation.id)
    session.commit()
    filename = f"tsunagu-risk-map-{computation.computed_at:%Y%m%d}.csv"
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})

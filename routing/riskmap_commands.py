"""The ``tsunagu risk-map`` commands, added to the CLI by ``register``.

``tsunagu risk-map import-stats FILE`` replaces the town statistics (all or nothing) and
computes the scores; ``tsunagu risk-map`` prints the ranked towns; ``tsunagu risk-map --out
map.svg|map.geojson|ranking.csv`` writes the map or the table of the newest computation
(computing one first if there is none, or with ``--recompute``). The SVG is drawn by the
console's map drawer, which the CLI hands in (``routing`` cannot import the console).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Protocol

import typer

from bot.console_io import database_session, err, fail, local_time, out, table
from bot.models import utcnow
from bot.models.community import RiskComputation
from routing.directory import prepare_database
from routing.riskmap import (
    MAP_VALUE_LABEL,
    RankedTown,
    StatsError,
    compute_risk,
    import_stats,
    latest_computation,
    map_title,
    map_values,
    ranked_towns,
    ranking_csv,
    risk_geojson,
)
from routing.snapshot import Directory, get_directory

__all__ = ["MapDrawer", "register"]


class MapDrawer(Protocol):
    """The console's town map drawer (``bot.console.maps.town_map_svg``): a choropleth with a legend."""

    def __call__(self, directory: Directory, *, title: str, values: Mapping[str, float] | None = None,
                 value_label: str = "") -> str: ...

FORMATS = (".svg", ".geojson", ".json", ".csv")


def import_stats_command(
    path: Annotated[Path, typer.Argument(help="CSV: town_id, population, aged_65_plus, single_elderly_households, "
                                              "care_certifications, lone_deaths (other columns are ignored).")],
) -> None:
    """Replace the per-town statistics with FILE (checked first, all or nothing) and compute the scores."""
    prepare_database()
    now = utcnow()
    try:
        with database_session() as session:
            towns = import_stats(session, path, now)
            compute_risk(session, now)
    except StatsError as error:
        fail(f"{path}: {error}")
    except ValueError as error:
        fail(str(error))
    err.print(f"[green]imported[/green] statistics of {towns} towns from {path}; risk scores computed",
              highlight=False)


def _risk_map_command(draw_map: MapDrawer) -> Callable[..., None]:
    def risk_map(
        context: typer.Context,
        destination: Annotated[Path | None, typer.Option(
            "--out", help="Write the map: .svg (choropleth with a legend), .geojson (town polygons with score, "
                          "rank and indicators) or .csv (the ranked table).")] = None,
        recompute: Annotated[bool, typer.Option("--recompute", help="Compute the scores now first.")] = False,
    ) -> None:
        """The isolation risk map: the ranked towns, or with --out the map or table of the newest computation."""
        if context.invoked_subcommand is not None:
            return
        if destination is not None and destination.suffix.lower() not in FORMATS:
            raise typer.BadParameter(f"--out must end in {', '.join(FORMATS)}")
        prepare_database()
        try:
            with database_session() as session:
                computation = None if recompute else latest_computation(session)
                if computation is None:
                    computation = compute_risk(session, utcnow())
                towns = ranked_towns(session, computation)
                if destination is None:
                    _print_ranking(computation, towns)
                    return
                suffix = destination.suffix.lower()
                if suffix == ".svg":
                    text = draw_map(get_directory(session), title=map_title(computation),
                                    values=map_values(towns), value_label=MAP_VALUE_LABEL)
                elif suffix == ".csv":
                    text = ranking_csv(towns)
                else:
                    text = json.dumps(risk_geojson(computation, towns), ensure_ascii=False, indent=1)
                computed_at = computation.computed_at
        except ValueError as error:
            fail(str(error))
        destination.write_text(text, encoding="utf-8")
        err.print(f"wrote {destination} (computed {local_time(computed_at)})", highlight=False)

    return risk_map


def _print_ranking(computation: RiskComputation, towns: Sequence[RankedTown]) -> None:
    listing = table(f"isolation risk, computed {local_time(computation.computed_at)} "
                    f"(signals over {computation.window_days} days, counts below {computation.k_threshold} hidden)",
                    ["rank", "town_id", "ward", "town", "score"], whole=["town_id"])
    for town in towns:
        listing.add_row(str(town.rank or "-"), town.town_id, town.ward, town.town,
                        "no data" if town.score is None else f"{town.score:.1f}")
    out.print(listing)


def register(app: typer.Typer, *, draw_map: MapDrawer) -> None:
    """Add ``risk-map`` (and ``risk-map import-stats``) to the ``tsunagu`` CLI.

    Args:
        app: the top-level Typer application.
        draw_map: draws the town map as SVG (the console's map drawer).
    """
    risk_app = typer.Typer(help="The isolation risk map (孤立リスクマップ): towns to visit first.",
                           invoke_without_command=True)
    risk_app.callback()(_risk_map_command(draw_map))
    risk_app.command("import-stats")(import_stats_command)
    app.add_typer(risk_app, name="risk-map")

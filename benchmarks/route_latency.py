"""Latency of place → counter (resolve_area + choose_counter) on a generated 2,000-town directory.

Generates a city of ``--towns`` towns (grid polygons; 10 wards of 4 care areas each,
with the sample city's kinds of counters) in a temporary folder, imports it into a
fresh database (a temporary SQLite file unless ``--database-url`` is given),
and times resolving places given by town name, by postal code and by coordinates,
then choosing the counter for a random topic (within a transaction, and as the first
lookup of a new transaction, which checks the directory's import token). Prints
p50/p99 per kind; the target
is p99 <= 5 ms. When ``intents.places`` is available, text → counter (with place
extraction) is timed as well.

    python benchmarks/route_latency.py [--towns 2000] [--samples 5000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.db import migrate, session_scope
from bot.settings import BUNDLED_DIRECTORY
from routing.areas import resolve_area
from routing.counters import choose_counter
from routing.directory import import_directory
from routing.snapshot import get_directory

TARGET_P99_MS = 5.0
WARDS = 10
SPHERES_PER_WARD = 4
WARD_DESKS = {"mimamori": "watch", "kikan": "disability", "kodomo": "child", "kurashi": "money",
              "sougou": "complex", "seishin": "mental"}
CITY_DESKS = {"jisou": "child_abuse", "dv": "dv", "hikikomori": "hikikomori", "shohi": "consumer"}
TOPICS = ("elderly", "disability", "child", "child_abuse", "dv", "money", "mental", "hikikomori", "consumer",
          "complex")
CELL = 0.01  # degrees; a town is about 1 km across
ORIGIN = (34.5, 135.3)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def _write(folder: Path, name: str, header: list[str], rows: list[list[Any]]) -> None:
    with (folder / name).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def generate_city(folder: Path, towns: int) -> list[dict[str, Any]]:
    """Write a directory of ``towns`` grid towns to ``folder``; returns the towns."""
    columns = math.ceil(math.sqrt(towns))
    per_ward = math.ceil(towns / WARDS)
    per_sphere = math.ceil(per_ward / SPHERES_PER_WARD)
    town_rows, features, generated = [], [], []
    for index in range(towns):
        row, column = divmod(index, columns)
        ward = index // per_ward + 1
        sphere = f"w{ward}-{(index % per_ward) // per_sphere + 1}"
        south, west = ORIGIN[0] + row * CELL, ORIGIN[1] + column * CELL
        town = {
            "town_id": f"{sphere}-{index}", "ward": f"第{ward}区", "town": f"町{index}", "sphere": sphere,
            "postal_code": f"5{index // 10000:02d}-{index % 10000:04d}",
            "latitude": south + CELL / 2, "longitude": west + CELL / 2,
        }
        generated.append(town)
        town_rows.append([town["town_id"], town["ward"], town["town"], sphere, town["postal_code"],
                          f"{town['latitude']:.5f}", f"{town['longitude']:.5f}", f"だい{ward}く", f"まち{index}",
                          f"Dai{ward}-ku", f"Machi{index}"])
        ring = [[west, south], [west + CELL, south], [west + CELL, south + CELL], [west, south + CELL], [west, south]]
        features.append({"type": "Feature", "properties": {"town_id": town["town_id"]},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    _write(folder, "towns.csv", ["town_id", "ward", "town", "sphere", "postal_code", "latitude", "longitude",
                                 "ward_kana", "town_kana", "ward_romaji", "town_romaji"], town_rows)
    (folder / "towns.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                                          encoding="utf-8")

    # Counters: a 地域包括 per care area, the ward desks, the city desks, and the sample city's national lines.
    services: list[tuple[str, str, str, str]] = []  # id, organization, topic, area
    for ward in range(1, WARDS + 1):
        for sphere in range(1, SPHERES_PER_WARD + 1):
            services.append((f"houkatsu-w{ward}-{sphere}", "org-city", "elderly", f"w{ward}-{sphere}"))
        services += [(f"{desk}-w{ward}", "org-city", topic, f"w{ward}") for desk, topic in WARD_DESKS.items()]
    services += [(f"{desk}-city", "org-city", topic, "city") for desk, topic in CITY_DESKS.items()]
    with (BUNDLED_DIRECTORY / "attributes.csv").open(encoding="utf-8") as handle:
        services += [(row["link_id"], "org-national", row["taxonomy_term_id"], "japan")
                     for row in csv.DictReader(handle) if row["link_id"].startswith("tel-")]
    ids = list(dict.fromkeys(service[0] for service in services))
    _write(folder, "organizations.csv", ["id", "name", "description"],
           [["org-city", "ベンチ市", ""], ["org-national", "全国", ""]])
    _write(folder, "services.csv", ["id", "organization_id", "name", "description", "status", "languages"],
           [[s, next(o for i, o, _, _ in services if i == s), s, "", "active", "ja"] for s in ids])
    _write(folder, "attributes.csv", ["id", "link_id", "link_type", "taxonomy_term_id"],
           [[f"at-{n}", s, "service", topic] for n, (s, _, topic, _) in enumerate(services)])
    areas = list(dict.fromkeys((s, area) for s, _, _, area in services))
    _write(folder, "service_areas.csv", ["id", "service_id", "name", "area_code"],
           [[f"sa-{n}", s, area, area] for n, (s, area) in enumerate(areas)])
    _write(folder, "phones.csv", ["id", "service_id", "number", "type", "language"],
           [[f"ph-{s}", s, f"06-1000-{n:04d}", "voice", "ja"] for n, s in enumerate(ids)])
    always = {"tel-119", "tel-110", "tel-189", "tel-dvplus", "tel-yorisoi", "jisou-city"}
    _write(folder, "schedules.csv", ["id", "service_id", "freq", "byday", "opens_at", "closes_at", "notes"],
           [[f"sch-{s}", s, "WEEKLY", "MO,TU,WE,TH,FR,SA,SU" if s in always else "MO,TU,WE,TH,FR",
             "00:00" if s in always else "09:00", "24:00" if s in always else "17:30", ""] for s in ids])
    _write(folder, "locations.csv", ["id", "name", "latitude", "longitude"],
           [[f"loc-{s}", s, ORIGIN[0], ORIGIN[1]] for s in ids])
    _write(folder, "addresses.csv", ["id", "location_id", "address_1", "city", "state_province", "postal_code",
                                     "country"], [[f"adr-{s}", f"loc-{s}", "1-1", "ベンチ市", "", "599-0000", "JP"]
                                                  for s in ids])
    _write(folder, "services_at_location.csv", ["id", "service_id", "location_id"],
           [[f"sal-{s}", s, f"loc-{s}"] for s in ids])
    with (BUNDLED_DIRECTORY / "taxonomy_terms.csv").open(encoding="utf-8") as handle:
        terms = [[row["id"], row["code"], row["name"], row["taxonomy"]] for row in csv.DictReader(handle)]
    _write(folder, "taxonomy_terms.csv", ["id", "code", "name", "taxonomy"], terms)
    return generated


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _measure(
    samples: list[Any], route: Callable[[Any], Any], before: Callable[[], Any] | None = None
) -> tuple[float, float, float]:
    timings = []
    for sample in samples:
        if before is not None:
            before()
        start = time.perf_counter_ns()
        route(sample)
        timings.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(timings), _percentile(timings, 0.99), max(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from intents.places import Place

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "city"
        folder.mkdir()
        towns = generate_city(folder, args.towns)
        url = args.database_url or f"sqlite:///{Path(temp) / 'bench.db'}"
        migrate(url)
        started = time.perf_counter()
        with session_scope(url) as session:
            import_directory(session, folder)
        imported = time.perf_counter() - started
        with session_scope(url) as session:
            started = time.perf_counter()
            get_directory(session)
            loaded = time.perf_counter() - started
            picks = [rng.choice(towns) for _ in range(args.samples)]
            topics = [rng.choice(TOPICS) for _ in range(args.samples)]
            kinds: dict[str, list[Any]] = {
                "name": [Place(town_ids=(t["town_id"],), ward=None, postal_code=None, latitude=None, longitude=None,
                               detail=None, matched=t["town"]) for t in picks],
                "postal code": [Place(town_ids=(), ward=None, postal_code=t["postal_code"], latitude=None,
                                      longitude=None, detail=None, matched=t["postal_code"]) for t in picks],
                "coordinates": [Place(town_ids=(), ward=None, postal_code=None,
                                      latitude=t["latitude"] + rng.uniform(-0.0045, 0.0045),
                                      longitude=t["longitude"] + rng.uniform(-0.0045, 0.0045), detail=None,
                                      matched="") for t in picks],
            }

            def route(pair: tuple[Any, str]) -> Any:
                area = resolve_area(session, pair[0])
                return choose_counter(session, intent="ask_where", topic=pair[1], area=area, now=NOW)

            # Warm-up: coverage maps and geometry are built on first use.
            for places in kinds.values():
                for pair in list(zip(places, topics))[:200]:
                    route(pair)
            results = {kind: _measure(list(zip(places, topics)), route) for kind, places in kinds.items()}
            # A resident's turn is a new transaction: the first lookup checks the directory's import token.
            results["name, new transaction"] = _measure(list(zip(kinds["name"], topics)), route, session.commit)
            text_result = None
            try:
                from intents.places import extract_place
                from routing.directory import load_gazetteer
            except ImportError:
                pass
            else:
                gazetteer = load_gazetteer(session)
                texts = [f"{t['ward']}{t['town']}に住んでいます" for t in picks]

                def route_text(pair: tuple[str, str]) -> Any:
                    return route((extract_place(pair[0], gazetteer, None, None), pair[1]))

                for pair in list(zip(texts, topics))[:200]:
                    route_text(pair)
                text_result = _measure(list(zip(texts, topics)), route_text)

    print(f"directory: {args.towns} towns; import {imported:.2f} s; in-memory load {loaded * 1000:.0f} ms; "
          f"{args.samples} samples per kind; database {url.split(':')[0]}")
    print(f"{'place → counter':<28}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    worst = 0.0
    for kind, (p50, p99, top) in results.items():
        worst = max(worst, p99)
        print(f"{kind:<28}{p50:>10.3f}{p99:>10.3f}{top:>10.3f}")
    if text_result is not None:
        p50, p99, top = text_result
        print(f"{'text (with extract_place)':<28}{p50:>10.3f}{p99:>10.3f}{top:>10.3f}")
    verdict = "OK" if worst <= TARGET_P99_MS else "TOO SLOW"
    print(f"target p99 <= {TARGET_P99_MS} ms: {verdict} (worst p99 {worst:.3f} ms)")
    return 0 if worst <= TARGET_P99_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())

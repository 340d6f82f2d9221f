"""Command-line commands for household sensors, added to ``tsunagu`` by :func:`register`.

``sensors register`` (a household with its consent and family contacts, and its devices;
each new device's key is printed once), ``sensors list``, ``sensors disable``,
``sensors rekey`` (a new key for one device), ``sensors simulate`` (signed events for
demos and ``benchmarks/sensors.py``, sent through the real endpoint: in this process,
or to a running server with ``--url``) and ``sensors report`` (the confirmation rate and
time to confirmation). ``bot/cli.py`` hands in the effects dispatcher that starts the
deliveries and the fan-out once an event is committed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.sensors import (
    DEVICE_TYPES,
    RULES,
    SensorDesk,
    SensorError,
    device_key,
    new_event_id,
    register_device,
    register_household,
    sensor_report,
)
from bot.console_io import database_session, fail, local_time, out, table
from bot.messages import Effect
from bot.models.sensors import SensorDevice, SensorFamilyContact, SensorHousehold
from bot.settings import settings
from channels.sensors import DEVICE_HEADER, PATH, SIGNATURE_HEADER, TIMESTAMP_HEADER, SensorEndpoint, sign
from routing.directory import prepare_database
from routing.snapshot import get_directory

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["Simulation", "ensure_demo_households", "register", "simulate_events"]

EffectsRunner = Callable[[Sequence[Effect]], None]
"""Starts the background work of committed effects (``bot.effects.run_effects``)."""

# What each device type reports when a demo asks for its "alarm" event.
_ALARM = {device_type: next(event for event in RULES[device_type] if event != "offline") for device_type in RULES}
DEMO_PREFIX = "SIM-"


# --------------------------------------------------------------------------- register, list, disable


def _parse_contact(value: str) -> tuple[str, str, str]:
    channel, *parts = value.split(":")
    language = parts.pop() if len(parts) > 1 and parts[-1] in ("ja", "en") else "ja"
    address = ":".join(parts)
    if not channel or not address:
        raise typer.BadParameter(f"a contact is CHANNEL:ADDRESS[:LANG], not {value!r}")
    return channel, address, language


def _parse_device(value: str) -> tuple[str, str, int | None]:
    parts = value.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1] or (len(parts) == 3 and not parts[2].isdigit()):
        raise typer.BadParameter(f"a device is ID:TYPE[:HOURS], not {value!r}")
    return parts[0], parts[1], int(parts[2]) if len(parts) == 3 else None


def register_command(
    reference: Annotated[str, typer.Argument(help="The city's reference of the household (a file number, no name).")],
    town: Annotated[str | None, typer.Option("--town", help="Town id (a new household).")] = None,
    consent: Annotated[str, typer.Option("--consent", help="Who consented: person or family.")] = "family",
    person: Annotated[int | None, typer.Option(
        "--person", help="The person's pre-registration for missing-person alerts (its id), if any.")] = None,
    contact: Annotated[list[str] | None, typer.Option(
        "--contact",
        help="A family contact CHANNEL:ADDRESS[:LANG] (line, telegram, sms, email; ja or en); repeat.")] = None,
    device: Annotated[list[str] | None, typer.Option(
        "--device", help=f"A device ID:TYPE[:HOURS] ({', '.join(DEVICE_TYPES)}; HOURS: its inactivity threshold); "
                         "repeat.")] = None,
) -> None:
    """Register a household (with --town, --consent, --contact) and/or add devices to it; prints each new key once."""
    prepare_database()
    contacts = [_parse_contact(value) for value in contact or []]
    devices = [_parse_device(value) for value in device or []]
    with database_session() as session:
        household = session.scalar(select(SensorHousehold).where(SensorHousehold.reference == reference))
        try:
            if household is None:
                if town is None:
                    fail(f"no household {reference}: give --town, --consent and --contact to register it")
                household = register_household(session, reference=reference, town_id=town, consent_by=consent,
                                               contacts=contacts, person_id=person)
                out.print(f"household {reference} registered ({len(contacts)} family contacts)")
            elif contacts or town or person is not None:
                fail(f"household {reference} exists: only --device may be added")
            keys = [(device_id, register_device(session, household, device_id=device_id, device_type=device_type,
                                                threshold_hours=hours)[1]) for device_id, device_type, hours in devices]
        except SensorError as error:
            fail(str(error))
    for device_id, key in keys:
        # The key is shown once, for the vendor to provision; it is never stored (alerts.sensors).
        typer.echo(f"{device_id}\tkey {key.hex()}")


def list_command() -> None:
    """Households (reference, town, family contacts) and their devices (type, threshold, state, last event)."""
    prepare_database()
    with database_session() as session:
        towns = get_directory(session).towns
        listing = table(None, ("household", "town", "family", "device", "type", "hours", "state", "last event"),
                        whole=("household", "device", "type"))
        contacts = dict(session.execute(select(SensorFamilyContact.household_id, func.count())
                                        .where(SensorFamilyContact.active.is_(True))
                                        .group_by(SensorFamilyContact.household_id)).all())
        for household in session.scalars(select(SensorHousehold).order_by(SensorHousehold.reference)):
            town = towns.get(household.town_id)
            for number, device in enumerate(household.devices or [None]):
                first = number == 0
                listing.add_row(household.reference if first else "",
                                (town.option.town if town else household.town_id) if first else "",
                                str(contacts.get(household.id, 0)) if first else "",
                                device.device_id if device else "-", device.device_type if device else "",
                                str(device.threshold_hours or "-") if device else "",
                                ("active" if device.active and household.active else "disabled") if device else "",
                                local_time(device.last_event_at) if device else "")
        out.print(listing)


def disable_command(
    device_id: Annotated[str | None, typer.Argument(help="The device to disable.")] = None,
    household: Annotated[str | None, typer.Option("--household", help="Disable a whole household instead.")] = None,
) -> None:
    """Disable a device (its events are refused as from an unknown device), or a whole household."""
    prepare_database()
    with database_session() as session:
        if household is not None:
            record = session.scalar(select(SensorHousehold).where(SensorHousehold.reference == household))
            if record is None:
                fail(f"no household {household}")
            record.active = False
            typer.echo(f"household {household} disabled")
            return
        if device_id is None:
            fail("name a device, or --household")
        _device(session, device_id).active = False
    typer.echo(f"device {device_id} disabled")


def rekey_command(device_id: Annotated[str, typer.Argument(help="The device.")]) -> None:
    """Give a device a new key (the old one stops working at once); prints it once."""
    prepare_database()
    with database_session() as session:
        device = _device(session, device_id)
        device.key_version += 1
        key = device_key(device.device_id, device.key_version)
    typer.echo(f"{device_id}\tkey {key.hex()}")


def _device(session: Session, device_id: str) -> SensorDevice:
    device = session.scalar(select(SensorDevice).where(SensorDevice.device_id == device_id))
    if device is None:
        fail(f"no device {device_id}")
    return device


def report_command(
    since: Annotated[datetime | None, typer.Option("--since", help="Only checks started since (YYYY-MM-DD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """How many 安否確認 ended confirmed (by the family, or the hub's first contact) and how fast."""
    prepare_database()
    start = since.replace(tzinfo=settings.tz) if since is not None and since.tzinfo is None else since
    with database_session() as session:
        figures = sensor_report(session, since=start)
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    rate = figures["confirmation_rate"]
    triggers = ", ".join(f"{trigger} {number}" for trigger, number in figures["by_trigger"].items()) or "-"
    typer.echo(f"checks: {figures['checks']} ({triggers})")
    typer.echo(f"confirmed: {figures['confirmed']} ({'-' if rate is None else f'{rate:.1%}'}); by the family "
               f"{figures['confirmed_by_family']}, first contact by the hub {figures['first_contact_by_hub']}; "
               f"within 24 h {figures['confirmed_within_24h']}")
    typer.echo(f"escalated to the hub: {figures['escalated_to_hub']}; still waiting for the family: "
               f"{figures['still_waiting_for_family']}; offline notices: {figures['offline_notices']}")
    for label, key in (("family confirmation", "minutes_to_family_confirmation"),
                       ("hub first contact", "minutes_to_hub_first_contact")):
        spread = figures[key]
        typer.echo(f"minutes to {label}: " + ("-" if spread is None else
                                              f"median {spread['median']:g}, p90 {spread['p90']:g}"))


# --------------------------------------------------------------------------- simulate


@dataclass
class Simulation:
    """What a simulated burst did: the endpoint's answers and how long each took."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0

    def summary(self) -> str:
        answers = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        median = statistics.median(self.latencies_ms) if self.latencies_ms else 0.0
        return (f"{sum(self.statuses.values())} events in {self.seconds:.1f} s ({answers}); latency ms: "
                f"median {median:.1f}, p99 {self.percentile(0.99):.1f}, max {max(self.latencies_ms, default=0):.1f}")


def _demo_address(channel: str, number: int) -> str:
    return {"line": f"sim-family-{number:05d}", "telegram": str(900_000_000 + number),
            "email": f"sim-family-{number:05d}@example.jp", "sms": f"+8190{number:08d}"}[channel]


def ensure_demo_households(session: Session, count: int, channels: Sequence[str] = ("line",)) -> list[tuple[str, str]]:
    """``count`` demo households (``SIM-00001``…) in the city's towns in turn, with one device
    each (types in turn) and one family contact each (on ``channels`` in turn); existing ones are kept.

    Returns:
        ``(device id, its alarm event)`` of each.
    """
    towns = sorted(get_directory(session).towns)
    existing = set(session.scalars(select(SensorDevice.device_id).where(SensorDevice.device_id.like("sim-%"))))
    devices: list[tuple[str, str]] = []
    for number in range(1, count + 1):
        device_type = DEVICE_TYPES[(number - 1) % len(DEVICE_TYPES)]
        device_id = f"sim-{number:05d}"
        devices.append((device_id, _ALARM[device_type]))
        if device_id in existing:
            continue
        household = register_household(session, reference=f"{DEMO_PREFIX}{number:05d}",
                                       town_id=towns[(number - 1) % len(towns)], consent_by="family",
                                       contacts=[(channel := channels[(number - 1) % len(channels)],
                                                  _demo_address(channel, number), "ja")])
        register_device(session, household, device_id=device_id, device_type=device_type)
    return devices


def _request(device_id: str, event: str, hours: int | None) -> tuple[bytes, dict[str, str]]:
    body = {"device_id": device_id, "event_id": new_event_id(), "event": event,
            "observed_at": datetime.now(timezone.utc).isoformat()}
    if hours is not None:
        body["hours"] = hours
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    key = device_key(device_id, 1)
    return raw, {DEVICE_HEADER: device_id, TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(key, stamp, raw),
                 "Content-Type": "application/json"}


def sensor_app(after_commit: EffectsRunner) -> FastAPI:
    """The endpoint alone, as ``bot.app`` mounts it, on the settings' database (for an in-process run)."""
    from fastapi import FastAPI  # why: the web stack loads when a simulation runs, not for --help

    app = FastAPI()
    desk = SensorDesk(settings.database_url, after_commit)
    app.include_router(SensorEndpoint.from_settings(settings, desk.key_for, desk.receive).router())
    return app


async def simulate_events(devices: Sequence[tuple[str, str]], events: int, within: float, *,
                          after_commit: EffectsRunner, url: str | None = None, event: str | None = None,
                          concurrency: int = 16) -> Simulation:
    """Send ``events`` signed events from ``devices`` (in turn) spread over ``within`` seconds.

    Args:
        devices: ``(device id, event)`` pairs (keys are derived from the settings' secret).
        events: how many events.
        within: spread over this many seconds (0: as fast as possible).
        after_commit: the effects dispatcher, for the in-process endpoint.
        url: a running server's base URL; None sends to the endpoint in this process.
        event: the event to send instead of each device's own.
        concurrency: requests in flight at most.

    Returns:
        The answers and latencies.
    """
    import httpx  # why: the HTTP client loads when a simulation runs, not for --help

    transport = httpx.ASGITransport(app=sensor_app(after_commit)) if url is None else None
    result = Simulation()
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(client: httpx.AsyncClient, number: int) -> None:
        device_id, alarm = devices[number % len(devices)]
        name = event or alarm
        await asyncio.sleep(max(0.0, started + within * number / max(events, 1) - time.perf_counter()))
        async with gate:
            body, headers = _request(device_id, name, 24 if name in ("no_power_use", "no_motion") else None)
            sent = time.perf_counter()
            answer = await client.post(PATH, content=body, headers=headers)
            result.latencies_ms.append((time.perf_counter() - sent) * 1000)
            result.statuses[answer.status_code] += 1

    async with httpx.AsyncClient(transport=transport, base_url=url or "http://sensors.local", timeout=30) as client:
        await asyncio.gather(*(one(client, number) for number in range(events)))
    result.seconds = time.perf_counter() - started
    return result


def _simulate_command(after_commit: EffectsRunner) -> Callable[..., None]:
    def simulate(
        devices: Annotated[int, typer.Option("--devices", help="Demo households with one device each (SIM-…).")] = 3,
        events: Annotated[int, typer.Option("--events", help="How many events to send.")] = 3,
        within: Annotated[float, typer.Option("--within", help="Spread the events over this many seconds.")] = 0.0,
        event: Annotated[str | None, typer.Option("--event", help="Send this event (default: each device's alarm: "
                                                                  "no_power_use, no_motion, call_button).")] = None,
        url: Annotated[str | None, typer.Option("--url", help="A running tsunagu (default: this process).")] = None,
    ) -> None:
        """Send signed sensor events from demo households through the endpoint (demos, the benchmark)."""
        if not settings.sensor_secret:
            fail("set TSUNAGU_SENSOR_SECRET first: device keys are derived from it")
        if event is not None and event not in {name for rules in RULES.values() for name in rules}:
            fail(f"unknown event {event}")
        prepare_database()
        with database_session() as session:
            device_ids = ensure_demo_households(session, devices)
        result = asyncio.run(simulate_events(device_ids, events, within, after_commit=after_commit, url=url,
                                             event=event))
        typer.echo(result.summary())
        if url is None:
            typer.echo("see the checks with: tsunagu sensors report")

    return simulate


def register(app: typer.Typer, *, after_commit: EffectsRunner) -> None:
    """Add the ``sensors`` command group to the ``tsunagu`` app.

    Args:
        app: the top-level Typer application.
        after_commit: starts the deliveries and the fan-out for committed events.
    """
    sensors = typer.Typer(help="Sensors in registered households and their 安否確認.", no_args_is_help=True)
    sensors.command("register")(register_command)
    sensors.command("list")(list_command)
    sensors.command("disable")(disable_command)
    sensors.command("rekey")(rekey_command)
    sensors.command("simulate")(_simulate_command(after_commit))
    sensors.command("report")(report_command)
    app.add_typer(sensors, name="sensors")

"""Delivery targets: where each counter receives its cases, configured from a CSV or YAML file.

Every counter always has a ``console`` target (the staff console inbox), created the
first time it gets a case, so a case is never lost for want of configuration. A
city adds e-mail and webhook targets in a file and imports it with
``tsunagu targets import FILE``::

    counter_id,method,address,secret
    mimamori-kita,email,mimamori-kita@city.example.jp,
    mimamori-kita,webhook,https://cases.city.example.jp/tsunagu,env:MIMAMORI_KITA_SECRET

or the same as YAML (a list of mappings, optionally under a ``targets:`` key). A
secret written ``env:NAME`` is read from the environment at send time, so the
file and the database need not hold it. The file is the whole configuration: e-mail
and webhook targets missing from it are deactivated (kept, since deliveries refer
to them).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import DeliveryTarget
from routing.hsds import DirectoryError
from routing.snapshot import get_directory

__all__ = ["METHODS_WITH_ADDRESS", "TargetRow", "TargetsError", "ensure_console_target", "import_targets", "read_targets"]

CONSOLE = "console"
COLUMNS = ("counter_id", "method", "address", "secret")
METHODS_WITH_ADDRESS = {"email", "webhook"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_RE = re.compile(r"^https?://[^\s/]+(?:/\S*)?$")
ENV_RE = re.compile(r"^env:[A-Za-z_][A-Za-z0-9_]*$")


class TargetsError(DirectoryError):
    """A delivery targets file that cannot be imported, naming file, line and column."""


@dataclass(frozen=True)
class TargetRow:
    """One configured target, as read from the file."""

    counter_id: str
    method: str
    address: str
    secret: str | None
    line: int


def ensure_console_target(session: Session, counter_id: str) -> DeliveryTarget:
    """The counter's console target, created (active) if it has none.

    Args:
        session: the caller's session.
        counter_id: a service id of the directory.

    Returns:
        The console target.
    """
    target = session.scalar(
        select(DeliveryTarget).where(DeliveryTarget.counter_id == counter_id, DeliveryTarget.method == CONSOLE)
    )
    if target is None:
        target = DeliveryTarget(counter_id=counter_id, method=CONSOLE, address="", active=True)
        session.add(target)
        session.flush()
    elif not target.active:
        target.active = True
    return target


def _check(row: TargetRow, file: str, counters: set[str]) -> None:
    def fail(column: str, problem: str) -> None:
        raise TargetsError(file, row.line, column, problem)

    if row.counter_id not in counters:
        fail("counter_id", f"'{row.counter_id}' is not an active service of the loaded directory")
    if row.method not in METHODS_WITH_ADDRESS | {CONSOLE}:
        fail("method", f"'{row.method}' is not one of console, email, webhook")
    if row.method == "email" and not EMAIL_RE.match(row.address):
        fail("address", f"'{row.address}' is not an e-mail address")
    if row.method == "webhook":
        if not URL_RE.match(row.address):
            fail("address", f"'{row.address}' is not an http(s) URL")
        if not row.secret:
            fail("secret", "a webhook needs a secret to sign its requests")
    if row.secret and row.secret.startswith("env:") and not ENV_RE.match(row.secret):
        fail("secret", f"'{row.secret}' must be env:VARIABLE_NAME")


def _read_csv(path: Path) -> list[TargetRow]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in COLUMNS[:3] if column not in (reader.fieldnames or [])]
        if missing:
            raise TargetsError(path.name, 1, missing[0], "column is missing from the header")
        rows = []
        for raw in reader:
            if None in raw:
                raise TargetsError(path.name, reader.line_num, None, "row has more fields than the header")
            values = {column: (raw.get(column) or "").strip() for column in COLUMNS}
            rows.append(TargetRow(values["counter_id"], values["method"], values["address"], values["secret"] or None, reader.line_num))
    return rows


def _read_yaml(path: Path) -> list[TargetRow]:
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        line = error.problem_mark.line + 1 if getattr(error, "problem_mark", None) else None
        raise TargetsError(path.name, line, None, f"invalid YAML: {error}") from None
    if isinstance(root, yaml.MappingNode):
        root = next((value for key, value in root.value if key.value == "targets"), None)
    if not isinstance(root, yaml.SequenceNode):
        raise TargetsError(path.name, None, None, "expected a list of targets (or a 'targets:' list)")
    rows = []
    for node in root.value:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            raise TargetsError(path.name, line, None, "each target must be a mapping")
        values: dict[str, Any] = {key.value: value.value for key, value in node.value if isinstance(value, yaml.ScalarNode)}
        for column in COLUMNS[:3]:
            if column not in values and not (column == "address" and values.get("method") == CONSOLE):
                raise TargetsError(path.name, line, column, "missing")
        rows.append(
            TargetRow(
                str(values["counter_id"]).strip(),
                str(values["method"]).strip(),
                str(values.get("address") or "").strip(),
                str(values["secret"]).strip() if values.get("secret") else None,
                line,
            )
        )
    return rows


def read_targets(session: Session, path: Path) -> list[TargetRow]:
    """Read and validate a targets file against the loaded directory.

    Args:
        session: a session on the database holding the directory.
        path: a ``.csv`` or ``.yml``/``.yaml`` file.

    Returns:
        The rows, in file order.

    Raises:
        TargetsError: naming the file, line and column of the first problem.
    """
    path = Path(path)
    if not path.is_file():
        raise TargetsError(str(path), None, None, "file not found")
    rows = _read_yaml(path) if path.suffix.lower() in {".yml", ".yaml"} else _read_csv(path)
    counters = set(get_directory(session).services)
    seen: dict[tuple[str, str, str], int] = {}
    for row in rows:
        _check(row, path.name, counters)
        key = (row.counter_id, row.method, row.address)
        if key in seen:
            raise TargetsError(path.name, row.line, "address", f"duplicate target (first on line {seen[key]})")
        seen[key] = row.line
    return rows


def import_targets(session: Session, path: Path) -> list[DeliveryTarget]:
    """Make the file the configuration of e-mail and webhook targets (inside the caller's transaction).

    Args:
        session: the caller's session; the caller commits.
        path: the targets file.

    Returns:
        The active targets after the import.

    Raises:
        TargetsError: nothing is changed when the file has a problem.
    """
    rows = read_targets(session, path)
    existing = {(t.counter_id, t.method, t.address): t for t in session.scalars(select(DeliveryTarget))}
    wanted = set()
    for row in rows:
        if row.method == CONSOLE:
            ensure_console_target(session, row.counter_id)
            continue
        key = (row.counter_id, row.method, row.address)
        wanted.add(key)
        target = existing.get(key)
        if target is None:
            session.add(DeliveryTarget(counter_id=row.counter_id, method=row.method, address=row.address, secret=row.secret))
        else:
            target.secret, target.active = row.secret, True
    for key, target in existing.items():
        if target.method != CONSOLE and key not in wanted:
            target.active = False
    session.flush()
    return list(session.scalars(select(DeliveryTarget).where(DeliveryTarget.active).order_by(DeliveryTarget.counter_id, DeliveryTarget.id)))

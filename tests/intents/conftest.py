"""Fixtures of the intents tests: a fake Rasa server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.rasa import FakeRasa


@pytest.fixture
def fake_rasa() -> Iterator[FakeRasa]:
    with FakeRasa() as server:
        yield server

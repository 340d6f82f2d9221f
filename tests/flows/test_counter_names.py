"""A counter's name for each language's readers (flows.steps.counter_name): the Japanese name on
the sign, and for every other language the translated gloss of what it is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.domain import load_domain
from flows.steps import counter_name

NAME = "南区見守り相談室"


def _name(session: Session, language: str) -> str:
    domain = load_domain()
    ctx: Any = SimpleNamespace(lang=language, session=session,
                               t=lambda response, **values: domain.text(response, language, **values))
    return counter_name(ctx, "mimamori-minami", NAME)


def test_japanese_readers_get_the_name_as_it_is(db_url: str) -> None:
    with session_scope(db_url) as session:
        assert _name(session, "ja") == NAME


@pytest.mark.parametrize("language", ["pt", "vi", "tl", "es", "zh", "zh-Hant", "ko", "ne"])
def test_every_other_reader_gets_the_japanese_name_and_a_gloss(db_url: str, language: str) -> None:
    gloss = load_domain().text("utter_counter_kind_watch", language)
    with session_scope(db_url) as session:
        name = _name(session, language)
    assert name.startswith(NAME) and name != NAME, "the name on the sign, then what it is"
    assert gloss in name


@pytest.mark.parametrize("language", ["pt", "vi", "tl", "es"])
def test_latin_script_readers_get_the_ward_in_romaji(db_url: str, language: str) -> None:
    with session_scope(db_url) as session:
        assert "Minami-ku" in _name(session, language)
        assert "Minami-ku" not in _name(session, "zh")

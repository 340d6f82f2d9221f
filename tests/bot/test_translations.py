"""The shipped translations (``responses/``): every resident-facing response in every
resident language and in やさしい日本語, with the same placeholders as the Japanese."""

from __future__ import annotations

import pytest

from bot.domain import EASY, RESIDENT_LANGUAGES, load_domain

# Not for residents to read in their language: CAP feeds are Japanese and English by
# design (alerts/cap.py), notes for staff and the police are Japanese (flows/ways_out.py,
# flows/handoff.py, alerts/texts.py), and the notice of a missing translation is for languages without one.
NOT_TRANSLATED = ("utter_cap_", "utter_untranslated_notice", "utter_found_by_family_note",
                  "utter_callback_number_note", "utter_police_sighting")
# LINE cuts a quick-reply label at 20 characters.
LABEL_LIMIT = 20

DOMAIN = load_domain()
RESIDENT_FACING = sorted(name for name in DOMAIN.response_names if not name.startswith(NOT_TRANSLATED))
OTHER_LANGUAGES = [language for language in RESIDENT_LANGUAGES if language not in ("ja", "en")]


def _is_label(name: str) -> bool:
    return name.startswith("utter_choice_") or name.endswith("_label")


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_resident_facing_response_is_translated(language: str) -> None:
    missing = [name for name in RESIDENT_FACING if language not in DOMAIN.languages(name)]
    assert not missing, f"{len(missing)} responses not in {language}: {missing[:10]}"


@pytest.mark.parametrize("language", [*OTHER_LANGUAGES, EASY])
def test_translations_keep_every_placeholder(language: str) -> None:
    # A dropped {phone} would leave a resident without the number to call.
    lost = []
    for name in RESIDENT_FACING:
        japanese = DOMAIN.placeholders(name, language="ja")
        register = EASY if language == EASY else None
        text = DOMAIN.text(name, "ja" if language == EASY else language, None, register=register,
                           **{field: f"<{field}>" for field in japanese})
        lost += [f"{name}:{field}" for field in japanese if f"<{field}>" not in text]
    assert not lost, lost[:20]


@pytest.mark.parametrize("language", [*OTHER_LANGUAGES, EASY])
def test_button_labels_fit_on_line(language: str) -> None:
    long_labels = []
    for name in RESIDENT_FACING:
        if not _is_label(name) or DOMAIN.placeholders(name):
            continue
        text = DOMAIN.text(name, "ja", None, register=EASY) if language == EASY else DOMAIN.text(name, language)
        if len(text) > LABEL_LIMIT:
            long_labels.append(f"{name}: {text}")
    assert not long_labels, long_labels


def test_easy_japanese_for_every_resident_facing_response() -> None:
    missing = [name for name in RESIDENT_FACING
               if DOMAIN.text(name, "ja", None, register=EASY, **_dummy(name))
               == DOMAIN.text(name, "ja", None, **_dummy(name))]
    assert not missing, f"{len(missing)} responses without an easy variation: {missing[:10]}"


def _dummy(name: str) -> dict[str, str]:
    return {field: "X" for field in DOMAIN.placeholders(name)}

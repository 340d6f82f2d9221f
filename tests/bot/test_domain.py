"""domain.yml is validated at start-up: schema, taxonomy intents, forms, and every response the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerts.texts import RESPONSES as ALERT_RESPONSES
from bot.domain import Domain, DomainError, load_domain, parse_domain
from bot.engine import ENGINE_RESPONSES
from bot.responses import check_domain, sendable_responses
from bot.settings import DEFAULT_DOMAIN
from bot.taxonomy import INTENTS
from flows.base import check_forms, required_responses
from flows.registry import FLOWS

ROOT = Path(__file__).resolve().parents[2]
SOURCE = DEFAULT_DOMAIN.read_text(encoding="utf-8")


def test_real_domain_has_every_response_the_code_needs_in_both_languages() -> None:
    check_domain(load_domain())


def test_every_module_that_sends_is_checked() -> None:
    """Flows, the engine and the alert network outside a conversation (re-confirmation included)."""
    sendable = sendable_responses()
    assert required_responses(FLOWS) <= sendable
    assert set(ENGINE_RESPONSES) <= sendable
    assert set(ALERT_RESPONSES) <= sendable and "utter_helper_reconfirm_request" in sendable


@pytest.mark.parametrize("name", ["utter_alert_found", "utter_helper_reconfirm_request"])
def test_a_missing_alert_response_is_an_error_at_start(name: str) -> None:
    domain = parse_domain(SOURCE.replace(f"  {name}:", f"  {name}_renamed:"))
    with pytest.raises(DomainError, match=name):
        check_domain(domain)


def test_every_response_name_written_in_the_code_exists() -> None:
    """A safety net beyond the flows' declarations: any utter_* literal in the code."""
    names = set()
    for folder in ("bot", "flows", "routing", "alerts", "channels", "intents"):
        for path in (ROOT / folder).rglob("*.py"):
            names.update(re.findall(r"[\"'](utter_[a-z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    missing = names - load_domain().response_names
    assert not missing


def test_missing_response_is_an_error_at_start() -> None:
    domain = parse_domain(SOURCE.replace("  utter_goodbye:", "  utter_goodbye_renamed:"))
    with pytest.raises(DomainError, match="utter_goodbye"):
        domain.check_required(required_responses(FLOWS))


def test_response_without_english_is_an_error() -> None:
    broken = SOURCE.replace(
        '''  utter_cancelled:
    - condition: [{type: slot, name: language, value: en}]
      text: "I have cancelled that. You can start again at any time."
''', "  utter_cancelled:\n")
    assert broken != SOURCE
    with pytest.raises(DomainError, match="utter_cancelled.*'en'"):
        parse_domain(broken).check_required({"utter_cancelled"})


def test_duplicate_key_is_refused() -> None:
    duplicated = SOURCE.replace("responses:\n", 'responses:\n  utter_goodbye:\n    - text: "x"\n', 1)
    with pytest.raises(DomainError, match="duplicate key 'utter_goodbye'"):
        parse_domain(duplicated)


def test_intents_must_be_the_taxonomy() -> None:
    with pytest.raises(DomainError, match="unknown \\['order_pizza'\\]"):
        parse_domain(SOURCE.replace("  - greet\n", "  - greet\n  - order_pizza\n", 1))
    with pytest.raises(DomainError, match="missing \\['greet'\\]"):
        parse_domain(SOURCE.replace("  - greet\n", "", 1))


def test_form_with_undefined_slot_is_refused() -> None:
    with pytest.raises(DomainError, match="worry_form"):
        parse_domain(SOURCE.replace("required_slots: [noticed,", "required_slots: [noticed_typo,"))


def test_schema_error_names_the_place() -> None:
    with pytest.raises(DomainError, match="responses/utter_goodbye"):
        parse_domain(SOURCE.replace("  utter_goodbye:\n", "  utter_goodbye: []\n  utter_goodbye_old:\n"))


def test_render_language_channel_and_placeholders() -> None:
    # Which variation is chosen, on a domain of our own (a city's wording is not the point).
    greet = Domain({"intents": [], "responses": {"utter_greet": [
        {"condition": [{"type": "slot", "name": "language", "value": "en"}], "text": "en"},
        {"channel": "voice", "text": "ja voice"}, {"text": "ja"}]}})
    assert greet.text("utter_greet", "en") == "en" and greet.text("utter_greet", "en", "voice") == "en"
    assert greet.text("utter_greet", "ja", "voice") == "ja voice"
    assert greet.text("utter_greet", "ja", "line") == "ja"
    domain = load_domain()
    text = domain.text("utter_counter", "ja", None, name="X窓口", phone="06-1", address="A", hours="H")
    assert "X窓口" in text and "{" not in text
    assert set(domain.intents) == set(INTENTS)


def test_form_flows_ask_exactly_their_forms_slots() -> None:
    check_forms(load_domain(), FLOWS)
    reordered = SOURCE.replace("required_slots: [noticed, where, since_when, callback_consent]",
                               "required_slots: [where, noticed, since_when, callback_consent]")
    with pytest.raises(DomainError, match="report_worry"):
        check_forms(parse_domain(reordered), FLOWS)


def _greeting_domain() -> Domain:
    language = {"type": "slot", "name": "language"}
    return Domain({"intents": [], "responses": {"utter_greet": [
        {"condition": [{**language, "value": "en"}], "text": "en"},
        {"condition": [{"type": "slot", "name": "register", "value": "easy"}], "text": "ja easy"},
        {"channel": "voice", "text": "ja voice"}, {"text": "ja {name}"}]}})


def test_untranslated_language_gets_easy_japanese_and_english() -> None:
    greet = _greeting_domain()
    assert greet.text("utter_greet", "ja", None, name="A") == "ja A"
    assert greet.text("utter_greet", "ja", None, register="easy") == "ja easy"
    # The phone's own variation wins over the register: it is already short and spoken.
    assert greet.text("utter_greet", "ja", "voice", register="easy") == "ja voice"
    untranslated = greet.text("utter_greet", "vi")
    assert "ja easy" in untranslated and "en" in untranslated.split("ja easy")[1]
    # One voice reads one language on the phone: English.
    assert greet.text("utter_greet", "vi", "voice") == "en"
    assert greet.translated("utter_greet", "en") and not greet.translated("utter_greet", "vi")


def test_translation_files_merge_variation_by_variation(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text(SOURCE, encoding="utf-8")
    translations = tmp_path / "responses"
    translations.mkdir()
    (translations / "vi.yml").write_text(
        'version: "3.1"\nresponses:\n  utter_goodbye:\n'
        '    - condition: [{type: slot, name: language, value: vi}]\n      text: "Tạm biệt"\n', encoding="utf-8")
    domain = load_domain(tmp_path / "domain.yml")
    assert domain.text("utter_goodbye", "vi") == "Tạm biệt"
    assert domain.translated("utter_goodbye", "vi") and not domain.translated("utter_greet", "vi")


@pytest.mark.parametrize(("response", "text", "problem"), [
    ("utter_no_such_response", "x", "not a response"),
    ("utter_goodbye", "{resident_name}", "resident_name"),
])
def test_translation_file_errors_name_the_problem(tmp_path: Path, response: str, text: str, problem: str) -> None:
    (tmp_path / "domain.yml").write_text(SOURCE, encoding="utf-8")
    (tmp_path / "responses").mkdir()
    (tmp_path / "responses" / "ko.yml").write_text(
        f'version: "3.1"\nresponses:\n  {response}:\n'
        f'    - condition: [{{type: slot, name: language, value: ko}}]\n      text: "{text}"\n', encoding="utf-8")
    with pytest.raises(DomainError, match=problem):
        load_domain(tmp_path / "domain.yml")


def test_a_buttons_title_names_its_response_in_its_language() -> None:
    domain = load_domain()
    yes_en, yes_ja = domain.text("utter_choice_yes", "en"), domain.text("utter_choice_yes", "ja")
    assert domain.name_of(yes_en, "en") == "utter_choice_yes" and domain.name_of(yes_ja, "ja") == "utter_choice_yes"
    # Another language's text, a place name, or a text with its values filled in names nothing.
    assert domain.name_of(yes_ja, "en") is None
    assert domain.name_of("Kita-ku", "en") is None

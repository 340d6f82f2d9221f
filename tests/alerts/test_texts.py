"""The public alert text: composed from structured fields by consent and by role, never the family's words."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from alerts.lifecycle import create_from_case
from alerts.texts import (
    AlertMessage,
    clean_fields,
    compose_alert,
    describe,
    render_forwarded_sighting,
    render_message,
    render_outbox_message,
)
from bot.db import session_scope
from bot.domain import Domain, load_domain
from bot.models import Alert, Case, Sighting
from routing.snapshot import get_directory
from tests.alerts.conftest import missing_case

# 03:00 on 30 November in Tokyo (18:00 UTC the day before): a night-time wandering case.
NIGHT = datetime(2026, 11, 29, 18, 0, tzinfo=timezone.utc)
FIELDS = {"sex": "female", "age": 78, "height": "150_160", "build": "slim", "hair": "white",
          "clothing": "紺色のジャンパー、灰色のズボン", "footwear": "白い運動靴", "belongings": "杖",
          "landmark": "本町公園", "name": "山田花子", "name_kana": "やまだはなこ", "diagnosis": "アルツハイマー型認知症"}
# What the family wrote, which must never reach a cooperator as such.
FAMILY_WORDS = {"who": "母の山田花子（やまだはなこ）です。78歳、アルツハイマー型認知症", "last_seen_where": "中央区 本町 2丁目 5-3",
                "last_seen_when": "2時間くらい前", "clothing": "紺色のジャンパー", "callback_phone": "09033334444"}


@pytest.fixture(scope="module")
def domain() -> Domain:
    return load_domain()


def _alert(session: Session, *, share: bool = False, photo: str | None = "telegram:photo:AgAD-face") -> Alert:
    case = missing_case(session)
    case.details = {**case.details, **FAMILY_WORDS}
    alert = create_from_case(session, case, last_seen_at=NIGHT)
    alert.public_fields = clean_fields(FIELDS)
    alert.share_identity = share
    alert.photo_ref = photo
    session.flush()
    return alert


def test_without_consent_name_kana_and_diagnosis_stay_with_staff(db_url: str, domain: Domain) -> None:
    with session_scope(db_url) as session:
        alert = _alert(session)
        for kind in ("alert", "update"):
            for language in ("ja", "en"):
                message = compose_alert(domain, alert, kind, language)
                for private in ("山田花子", "やまだはなこ", "アルツハイマー", "認知症"):
                    assert private not in message.text, (kind, language, private)
                assert domain.text("utter_alert_line_name", language, value="X").split("X")[0] not in message.text
                assert message.photo_ref is None, "the photo goes out only with consent"


def test_with_consent_name_kana_diagnosis_and_photo_go_out(db_url: str, domain: Domain) -> None:
    with session_scope(db_url) as session:
        alert = _alert(session, share=True)
        for kind in ("alert", "update"):
            message = compose_alert(domain, alert, kind, "ja")
            assert domain.text("utter_alert_line_name", "ja", value="山田花子（やまだはなこ）") in message.text
            assert domain.text("utter_alert_line_diagnosis", "ja", value="アルツハイマー型認知症") in message.text
            assert message.photo_ref == "telegram:photo:AgAD-face"


def test_never_the_familys_words_town_and_landmark_absolute_time(db_url: str, domain: Domain) -> None:
    with session_scope(db_url) as session:
        alert = _alert(session)
        text = compose_alert(domain, alert, "alert", "ja").text
        assert "2丁目" not in text and "5-3" not in text, "a street address never goes out"
        assert "2時間くらい前" not in text, "relative time words are never copied"
        assert FAMILY_WORDS["who"] not in text
        place = domain.text("utter_alert_place_landmark", "ja", town="中央区 本町", landmark="本町公園")
        assert domain.text("utter_alert_line_place", "ja", value=place) in text
        # The absolute date and time in the city's zone: 03:00 on 30 November.
        assert domain.text("utter_alert_line_time", "ja", value="11月30日 午前3時ごろ") in text
        assert domain.text("utter_alert_line_time", "en", value="around 3:00 a.m. on 30 Nov") in compose_alert(
            domain, alert, "alert", "en").text
        assert domain.text("utter_alert_line_description", "ja", value=describe(domain, FIELDS, "ja")) in text
        for field in ("footwear", "belongings"):
            assert domain.text(f"utter_alert_line_{field}", "ja", value=FIELDS[field]) in text
        marks = domain.text("utter_alert_line_marks", "ja", value="腰が曲がっている")
        assert marks not in text, "a line only for what is known"
        alert.public_fields = clean_fields({**alert.public_fields, "marks": "腰が曲がっている"})
        assert marks in compose_alert(domain, alert, "alert", "ja").text, "written by the desk"


def test_every_version_says_whom_to_call_with_the_case_number_and_not_to_hold_them_back(
        db_url: str, domain: Domain) -> None:
    with session_scope(db_url) as session:
        alert = _alert(session)
        case = session.get(Case, alert.case_id)
        counter = get_directory(session).services[case.counter_id]
        assert counter.phone
        for kind in ("alert", "update"):
            for language in ("ja", "en"):
                message = compose_alert(domain, alert, kind, language)
                assert counter.phone in message.text and str(case.id) in message.text
                assert counter.name in message.text
                assert [(choice.payload, choice.title) for choice in message.choices] == [
                    (f"sighting:{alert.id}", domain.text("utter_choice_saw_them", language))]
        # The sentence every alert and widening carries, as the city wrote it in domain.yml, on every channel.
        for channel in (None, "line", "telegram", "email", "sms"):
            values = {"counter": counter.name, "phone": counter.phone, "reference": case.id}
            report = {language: domain.text("utter_alert_report_sighting", language, channel, **values)
                      for language in ("ja", "en")}
            assert "無理に引き止めないでください" in report["ja"] and "do not try to hold them back" in report["en"]
            for kind in ("alert", "update"):
                for language in ("ja", "en"):
                    assert report[language] in compose_alert(domain, alert, kind, language, channel).text
        # E-mail and SMS show no button: their text does not ask to press one.
        button = f"「{domain.text('utter_choice_saw_them', 'ja')}」"
        assert button in compose_alert(domain, alert, "alert", "ja", "line").text
        assert button not in compose_alert(domain, alert, "alert", "ja", "email").text
        assert button not in compose_alert(domain, alert, "alert", "ja", "sms").text


def test_english_cooperators_get_translated_fields_and_a_note_for_japanese_words(db_url: str, domain: Domain) -> None:
    with session_scope(db_url) as session:
        alert = _alert(session)
        english = compose_alert(domain, alert, "alert", "en").text
        for field, value in (("sex", "female"), ("height", "150_160"), ("build", "slim"), ("hair", "white")):
            assert domain.text(f"utter_feature_{field}_{value}", "en") in english
        assert domain.text("utter_feature_age_late", "en", decade=70) in english
        assert domain.text("utter_alert_japanese_note", "en") in english
        assert "本町公園" in english, "a landmark stays as given"
        assert "Chuo-ku Honmachi (中央区 本町)" in english, "the town in romaji, with the kanji on the signs"
        japanese = compose_alert(domain, alert, "alert", "ja").text
        assert domain.text("utter_alert_japanese_note", "ja") not in japanese
        alert.public_fields = clean_fields({"sex": "male", "age": 81})
        assert domain.text("utter_alert_japanese_note", "en") not in compose_alert(domain, alert, "alert", "en").text


def test_closing_notices_and_reconfirmation_carry_no_button(db_url: str, domain: Domain) -> None:
    with session_scope(db_url) as session:
        alert = _alert(session, share=True)
        for kind in ("found", "cancelled"):
            message = render_outbox_message(session, domain, alert.id, kind, "ja")
            assert message == AlertMessage(domain.text(f"utter_alert_{kind}", "ja", alert_id=alert.id))
        assert render_outbox_message(session, domain, None, "reconfirm", "en").choices == ()
        assert render_message(session, domain, alert.id, "alert", "ja") == compose_alert(domain, alert, "alert",
                                                                                        "ja").text
        with pytest.raises(LookupError):
            render_message(session, domain, 999_999, "alert", "ja")


def test_an_alert_with_no_fields_yet_says_unknown_not_the_familys_words(db_url: str, domain: Domain) -> None:
    with session_scope(db_url) as session:
        case = missing_case(session)
        case.details = {**case.details, **FAMILY_WORDS}
        alert = create_from_case(session, case)
        text = compose_alert(domain, alert, "alert", "ja").text
        unknown = domain.text("utter_unknown_label", "ja")
        assert domain.text("utter_alert_line_description", "ja", value=unknown) in text
        assert domain.text("utter_alert_line_time", "ja", value=unknown) in text
        assert "山田花子" not in text and "2時間くらい前" not in text


def test_a_phone_number_never_goes_out_in_a_public_field() -> None:
    fields = clean_fields({"landmark": "駅前のベンチ 090-1234-5678", "clothing": "０９０１２３４５６７８", "sex": "male"})
    assert fields == {"landmark": "駅前のベンチ", "sex": "male"}


def test_clean_fields_keeps_known_values_only() -> None:
    assert clean_fields({"sex": "female", "age": "78", "hair": "銀髪", "clothing": " ", "colour": "red"}) == {
        "sex": "female", "age": 78, "hair": "銀髪"}
    for wrong in ({"sex": "other-word"}, {"height": "tall"}, {"age": "old"}, {"age": 300}):
        with pytest.raises(ValueError):
            clean_fields(wrong)


# ---------------------------------------------------------------------------- the residents' languages
def test_a_vietnamese_cooperator_reads_the_town_in_romaji_and_the_time_in_digits(db_url: str,
                                                                               domain: Domain) -> None:
    with session_scope(db_url) as session:
        alert = _alert(session)
        vietnamese = compose_alert(domain, alert, "alert", "vi").text
        japanese = compose_alert(domain, alert, "alert", "ja").text
        assert "Chuo-ku Honmachi (中央区 本町)" in vietnamese, "Latin-script readers get the romaji too"
        assert "午前3時ごろ" in japanese and "午前3時ごろ" not in vietnamese, "no Japanese date phrasing"
        assert "3:00 a.m." in vietnamese
        assert domain.text("utter_alert_japanese_note", "vi") in vietnamese, "the family's Japanese words noted"
        chinese = compose_alert(domain, alert, "alert", "zh").text
        assert "中央区 本町" in chinese and "Chuo-ku" not in chinese, "a kanji reader reads the town as it is"
        assert "午前3時ごろ" not in chinese


def test_a_sighting_forwarded_to_the_police_is_in_japanese_whatever_the_language(db_url: str,
                                                                                domain: Domain) -> None:
    with session_scope(db_url) as session:
        alert = _alert(session)
        sighting = Sighting(alert_id=alert.id, text="駅の東口で見かけました", town_id=alert.town_id,
                            latitude=34.6975, longitude=135.47, seen_at=NIGHT)
        session.add(sighting)
        session.flush()
        japanese = render_forwarded_sighting(session, domain, "police", sighting.id, "ja")
        for language in ("en", "vi", "pt", "zh", "ko"):
            assert render_forwarded_sighting(session, domain, "police", sighting.id, language) == japanese, language
        # The family reads it in their own language.
        assert render_forwarded_sighting(session, domain, "family", sighting.id, "pt") != render_forwarded_sighting(
            session, domain, "family", sighting.id, "ja")

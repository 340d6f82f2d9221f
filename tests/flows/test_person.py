"""register_person, whole conversations: a family pre-registers (事前登録) a relative, then
views, edits and deletes the registration; another family never sees it.
"""

from __future__ import annotations

from alerts.texts import describe
from bot.domain import load_domain
from bot.engine import ConversationEngine
from tests.bot.conftest import Resident
from tests.flows.conftest import Left, effects, left, persons, pre_register, rendered, said

ITEMS = ["edit:person_description", "edit:person_home", "edit:person_photo", "edit:usual_places",
         "edit:emergency_contacts", "edit:share_identity", "delete", "done"]
# What pre_register's description and choices give the alert text.
FEATURES = {"sex": "female", "age": 82, "hair": "white", "height": "150_160"}


def _summary(person_id: int | str, language: str = "ja", **values: str) -> str:
    """The summary as domain.yml words it, for the values of the registration in pre_register."""
    shown = {"description": "82歳 女性 白髪 杖をつく", "home": "南区 朝日町",
             "features": describe(load_domain(), FEATURES, language),
             "sharing": rendered("utter_choice_share_no", language),
             "photo": rendered("utter_photo_yes_label", language), "usual_places": "駅前のスーパー",
             "emergency_contacts": "長男 090-1234-5678", **values}
    return rendered("utter_person_summary", language, "line", person_id=person_id, **shown)


def test_family_pre_registers_views_edits_and_deletes(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-family")
    consent = family.send(postback="intent:register_person")
    assert said(consent) == ["utter_person_consent"]
    assert [c.payload for c in consent.replies[0].choices] == ["agree", "disagree"]
    assert said(family.send(postback="disagree")) == ["utter_registration_declined"]  # a family may say no...

    summary = pre_register(family)  # ...and come back
    assert said(summary) == ["utter_person_summary", "utter_person_confirm"]
    assert summary.replies[0].text == _summary("-"), "the summary shows every answer"
    assert left(db_url, family).step == "confirm"
    assert not persons(db_url), "nothing is stored before the confirmation"
    registered = family.send(postback="register")
    assert said(registered) == ["utter_person_registered"]
    [person] = persons(db_url)
    assert effects(registered) == [("person_registered", {"person_id": person.id})]
    assert (person.town_id, person.photo_ref) == ("minami-1-2", "line-content:photo-1")
    assert person.usual_places == "駅前のスーパー"
    assert person.emergency_contacts == "長男 090-1234-5678"
    assert person.features == FEATURES and person.share_identity is False, "structured; nothing shared by default"

    menu = family.send(postback="intent:register_person")
    assert said(menu) == ["utter_person_menu"]
    assert [c.payload for c in menu.replies[-1].choices] == [f"person:{person.id}", "new"]
    shown = family.send(postback=f"person:{person.id}")
    assert said(shown) == ["utter_person_summary", "utter_person_actions"]
    assert shown.replies[0].text == _summary(person.id)
    assert [c.payload for c in shown.replies[1].choices] == ITEMS
    assert said(family.send(postback="edit:usual_places")) == ["utter_ask_usual_places"]
    edited = family.send("中央図書館")
    assert said(edited) == ["utter_person_updated", "utter_person_summary", "utter_person_actions"]
    assert edited.replies[1].text == _summary(person.id, usual_places="中央図書館")
    family.send(postback="edit:person_photo")
    family.send(postback="none")
    [person] = persons(db_url)
    assert person.usual_places == "中央図書館" and person.photo_ref is None

    # Another family sees nothing of it.
    stranger = Resident(engine, channel="line", user_id="U-other")
    assert [c.payload for c in stranger.send(postback="intent:register_person").replies[-1].choices] == [
        "agree", "disagree"]
    assert stranger.send(postback=f"person:{person.id}").replies[-1].choices[0].payload == "agree"

    assert said(family.send("登録を削除して")) == ["utter_person_delete_confirm"]
    deleted = family.send("はい")
    assert said(deleted) == ["utter_person_deleted"]
    assert effects(deleted) == [("person_deleted", {"person_id": person.id})]
    assert not persons(db_url)


def test_standard_japanese_in_words_and_an_edit_by_digits(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-words")
    assert said(family.send("認知症の母を事前登録しておきたい")) == ["utter_person_consent"]
    assert said(family.send("同意します")) == ["utter_ask_person_description"], "consent in its own word"
    # The description says sex, age and hair: height and build are asked with choices, skippable.
    height = family.send("82歳 女性 白髪 杖をつく")
    assert said(height) == ["utter_ask_feature_height"]
    assert height.replies[0].choices[-1].payload == "feature:height:", "「わからない」 skips it"
    assert said(family.send("わからない")) == ["utter_ask_feature_build"]
    assert said(family.send("やせ型です")) == ["utter_ask_person_home"], "a choice in words"
    assert said(family.send("南区朝日町")) == ["utter_ask_person_photo"]
    features = {"sex": "female", "age": 82, "hair": "white", "build": "slim"}
    assert left(db_url, family).slots == {"person_description": "82歳 女性 白髪 杖をつく", "person_home": "minami-1-2",
                                          "person_features": features, "features_asking": []}
    assert said(family.send("駅前のスーパー")) == ["utter_ask_person_photo"], "a photo or none, nothing else"
    assert said(family.send("写真はありません")) == ["utter_ask_usual_places"], "none, said in a sentence"
    assert said(family.send("特にありません")) == ["utter_ask_emergency_contacts"]
    share = family.send("長男 090-1234-5678")
    assert said(share) == ["utter_ask_share_identity"]
    assert [choice.payload for choice in share.replies[0].choices] == ["share:no", "share:yes"], "no comes first"
    assert said(family.send("どうしようかな")) == ["utter_person_summary", "utter_person_confirm"], \
        "anything but an explicit yes keeps name and photo with staff"
    assert left(db_url, family) == Left("register_person", "confirm", {
        "person_description": "82歳 女性 白髪 杖をつく", "person_home": "minami-1-2", "person_photo": None,
        "usual_places": None, "emergency_contacts": "長男 090-1234-5678", "person_features": features,
        "features_asking": [], "share_identity": False})
    assert said(family.send("はい")) == ["utter_person_registered"]
    [person] = persons(db_url)
    assert (person.photo_ref, person.usual_places) == (None, "")
    assert (person.features, person.share_identity) == (features, False)

    assert said(family.send("事前登録の確認")) == ["utter_person_menu"]
    assert said(family.send("1")) == ["utter_person_summary", "utter_person_actions"]
    assert said(family.send("2")) == ["utter_ask_person_home"]
    assert left(db_url, family).step == "edit:person_home"
    assert said(family.send("北区旭町")) == ["utter_person_updated", "utter_person_summary", "utter_person_actions"]
    assert persons(db_url)[0].town_id == "kita-2-4"


def test_english_with_a_photo_then_deleted_in_words(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="telegram", user_id="5550001", language="en")
    assert said(family.send("I'd like to pre-register my father who has dementia")) == ["utter_person_consent"]
    assert said(family.send("agree")) == ["utter_ask_person_description"]
    assert said(family.send("Dad, 85, tall, walks with a cane")) == ["utter_ask_feature_height"]
    family.send(postback="feature:height:170_180")
    assert said(family.send("I don't know")) == ["utter_ask_person_home"]
    family.send("Chuo-ku Honmachi")
    assert said(family.send(media_ref="tg-photo-1")) == ["utter_ask_usual_places"]
    family.send("the park by the river")
    assert said(family.send("Son 080-1111-2222")) == ["utter_ask_share_identity"]
    # Yes: the name to show is asked, with its reading.
    assert said(family.send(postback="share:yes")) == ["utter_ask_public_name"]
    assert said(family.send("山田太郎 やまだたろう")) == ["utter_person_summary", "utter_person_confirm"]
    assert said(family.send("register")) == ["utter_person_registered"]
    [person] = persons(db_url)
    assert (person.town_id, person.photo_ref, person.description) == ("chuo-1-1", "tg-photo-1",
                                                                      "Dad, 85, tall, walks with a cane")
    assert person.share_identity is True
    assert person.features == {"sex": "male", "age": 85, "height": "170_180", "name": "山田太郎",
                               "name_kana": "やまだたろう"}
    assert said(family.send("I'd like to pre-register my father who has dementia")) == ["utter_person_menu"]
    assert said(family.send("delete this registration")) == ["utter_person_delete_confirm"]
    assert left(db_url, family) == Left("register_person", "delete_confirm", {"person_id": person.id})
    assert said(family.send("no")) == ["utter_person_kept", "utter_person_summary", "utter_person_actions"]
    assert persons(db_url)
    # The family changes its mind: name and photo go back to staff only.
    assert said(family.send(postback="edit:share_identity")) == ["utter_ask_share_identity"]
    assert said(family.send(postback="share:no")) == ["utter_person_updated", "utter_person_summary",
                                                      "utter_person_actions"]
    assert persons(db_url)[0].share_identity is False


def test_an_emergency_mid_flow_comes_first_and_the_question_stays(engine: ConversationEngine,
                                                                  db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-help")
    family.send(postback="intent:register_person")
    family.send(postback="agree")
    family.send("父 80歳")
    turn = family.send("父が家の中で倒れて動かない")
    assert said(turn) == ["utter_emergency_119", "utter_after_emergency_resume", "utter_ask_feature_height"]
    assert effects(turn) == [("emergency_guidance", {"service": "119"})]
    assert left(db_url, family) == Left("register_person", "feature:height", {
        "person_description": "父 80歳", "person_features": {"sex": "male", "age": 80},
        "features_asking": ["height", "build"]})
    family.send(postback="feature:height:")
    family.send(postback="feature:build:")
    assert said(family.send("北区柳町")) == ["utter_ask_person_photo"]


def test_done_after_viewing_a_registration_gets_a_closing_reply(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-done")
    pre_register(family)
    family.send(postback="register")
    [person] = persons(db_url)
    family.send(postback="intent:register_person")
    assert said(family.send(postback=f"person:{person.id}")) == ["utter_person_summary", "utter_person_actions"]
    done = family.send(postback="done")
    assert said(done) == ["utter_anything_else"] and effects(done) == []
    assert left(db_url, family) == Left(None, None, {})
    assert len(persons(db_url)) == 1, "done keeps the registration"


def test_a_new_description_updates_the_alerts_features_and_keeps_the_choices(engine: ConversationEngine,
                                                                            db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-edit")
    pre_register(family)
    family.send(postback="register")
    [person] = persons(db_url)
    family.send(postback="intent:register_person")
    family.send(postback=f"person:{person.id}")
    assert said(family.send(postback="edit:person_description")) == ["utter_ask_person_description"]
    family.send("83歳 女性 黒髪に染めています やせ型")
    [person] = persons(db_url)
    assert person.features == {"sex": "female", "age": 83, "height": "150_160", "hair": "black", "build": "slim"}

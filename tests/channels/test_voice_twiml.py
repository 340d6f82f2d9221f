"""Exact TwiML for each kind of turn (the renderer alone, on hand-made engine results)."""

from __future__ import annotations

from bot.messages import Choice, Handoff, Reply, TurnResult
from channels.voice import TwiMLRenderer, dial_number, place_hints, place_readings

BASE = "https://tsunagu.city.example.jp/webhooks/voice"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
renderer = TwiMLRenderer(BASE + "/gather", BASE + "/recording", {"ja": "Polly.Mizuki", "en": "Polly.Joanna"})


def say(text: str, voice: str = "Polly.Mizuki", language: str = "ja-JP") -> str:
    return f'<Say language="{language}" voice="{voice}">{text}</Say>'


# The phone's short repeat hint after a question that does not name the * key itself.
HINT = say("もう一度聞くときは、米印を押してください。")


def test_menu_is_spoken_with_digits_inside_a_speech_and_dtmf_gather() -> None:
    menu = Reply("ご用件をお選びください。", choices=(
        Choice("相談先を知りたい", "intent:ask_where", "1"),
        Choice("近所の方が心配", "intent:report_worry", "2"),
        Choice("家族が行方不明", "intent:report_missing", "3"),
        Choice("職員と話す", "intent:talk_to_human", "0"),
    ))
    twiml = renderer.render(TurnResult([Reply("つなぐです。"), menu]))
    assert twiml == (
        HEAD + "<Response>"
        f'<Gather action="{BASE}/gather" actionOnEmptyResult="true" '
        'hints="相談先を知りたい, 近所の方が心配, 家族が行方不明, 職員と話す" input="speech dtmf" language="ja-JP" '
        'method="POST" numDigits="1" speechTimeout="auto" timeout="6">'
        + say("つなぐです。") + say("ご用件をお選びください。")
        + say("1番、相談先を知りたい。") + say("2番、近所の方が心配。") + say("3番、家族が行方不明。")
        + say("0番、職員と話す。") + HINT
        + "</Gather></Response>"
    )


def test_a_prompt_that_names_its_keys_is_not_followed_by_the_keys_again() -> None:
    consent = Reply("折り返しご連絡してもよろしいですか。よろしければ1、不要なら2を押してください。",
                    choices=(Choice("はい", "yes", "1"), Choice("いいえ", "no", "2")))
    twiml = renderer.render(TurnResult([consent]))
    assert twiml == (
        HEAD + "<Response>"
        f'<Gather action="{BASE}/gather" actionOnEmptyResult="true" hints="はい, いいえ" input="speech dtmf" '
        'language="ja-JP" method="POST" numDigits="1" speechTimeout="auto" timeout="6">'
        + say(consent.text) + HINT + "</Gather></Response>"
    )
    # A digit inside a phone number is not a key announcement.
    counter = Reply("電話番号は06-0000-1002です。", choices=(Choice("はい", "yes", "1"), Choice("いいえ", "no", "2")))
    assert say("1番、はい。") in renderer.render(TurnResult([counter]))


def test_open_question_takes_free_speech_or_keys_without_a_digit_limit() -> None:
    twiml = renderer.render(TurnResult([Reply("どちらの町ですか。", request_location=True)]))
    # A pause in a free answer (「えーと…」) must not end it: seconds, not "auto".
    assert twiml == (
        HEAD + "<Response>"
        f'<Gather action="{BASE}/gather" actionOnEmptyResult="true" input="speech dtmf" language="ja-JP" '
        'method="POST" speechTimeout="3" timeout="6">'
        + say("どちらの町ですか。") + HINT + "</Gather></Response>"
    )


def test_open_counter_is_dialled_and_a_busy_line_comes_back_to_the_dial_action() -> None:
    handoff = Handoff("houkatsu-kita-2", "北区松原町地域包括支援センター", "06-0000-1002", open_now=True)
    twiml = renderer.render(TurnResult([Reply("おつなぎします。", handoff=handoff)]))
    assert twiml == HEAD + "<Response>" + say("おつなぎします。") + '<Dial timeout="30">+81600001002</Dial></Response>'
    dialling = TwiMLRenderer(BASE + "/gather", BASE + "/recording", {"ja": "Polly.Mizuki"}, dial_url=BASE + "/dial")
    assert dialling.render(TurnResult([Reply("おつなぎします。", handoff=handoff)]), turn=3) == (
        HEAD + "<Response>" + say("おつなぎします。")
        + f'<Dial action="{BASE}/dial?turn=3" method="POST" timeout="30">+81600001002</Dial></Response>')


def test_closed_counter_records_a_message_and_an_empty_one_comes_back_too() -> None:
    handoff = Handoff("sougou-minami", "南区総合相談窓口", "06-0000-3001", open_now=False)
    twiml = renderer.render(TurnResult([Reply("発信音のあとにお話しください。", handoff=handoff, record=True)]), turn=5)
    # Twilio skips the action after an empty recording and goes on: the Redirect brings it back.
    assert twiml == (
        HEAD + "<Response>" + say("発信音のあとにお話しください。")
        + f'<Record action="{BASE}/recording?turn=5" finishOnKey="#" maxLength="120" playBeep="true" timeout="10" />'
        f'<Redirect method="POST">{BASE}/recording?turn=5&amp;empty=1</Redirect>'
        "</Response>"
    )


def test_emergency_end_hangs_up_after_speaking() -> None:
    twiml = renderer.render(TurnResult([Reply("すぐに電話を切って119番に電話してください。", urgent=True, end=True)]))
    assert twiml == HEAD + "<Response>" + say("すぐに電話を切って119番に電話してください。") + "<Hangup /></Response>"


def test_english_turn_uses_the_english_voice() -> None:
    twiml = renderer.render(TurnResult([Reply("Is that right?", choices=(Choice("Yes", "yes", "1"),))], language="en"))
    assert say("Is that right?", "Polly.Joanna", "en-US") + say("Press 1 for Yes.", "Polly.Joanna", "en-US") in twiml
    assert 'language="en-US"' in twiml.split("<Say")[0]


def test_a_reply_the_caller_waited_for_comes_after_a_pause_slowly() -> None:
    question = Reply("どちらの町ですか。", slow=True)
    twiml = renderer.render(TurnResult([Reply("はい、お待ちします。"), question]))
    slow = '<Say language="ja-JP" voice="Polly.Mizuki"><prosody rate="slow">{}</prosody></Say>'
    assert (say("はい、お待ちします。") + '<Pause length="3" />' + slow.format("どちらの町ですか。")
            + slow.format("もう一度聞くときは、米印を押してください。")) in twiml


def test_phone_numbers_are_said_digit_by_digit() -> None:
    twiml = renderer.render(TurnResult([Reply("電話番号は、06-0000-1002です。受付番号は12です。")]))
    assert say("電話番号は、0 6、0 0 0 0、1 0 0 2です。受付番号は12です。") in twiml
    english = renderer.render(TurnResult([Reply("Call 0120-279-338. Open 09:00-17:30.")], language="en"))
    assert say("Call 0 1 2 0, 2 7 9, 3 3 8. Open 09:00-17:30.", "Polly.Joanna", "en-US") in english, "hours stay hours"


def test_a_choice_in_another_language_is_said_in_its_voice() -> None:
    menu = Reply("相談先は1。職員は0。", choices=(Choice("相談先", "intent:ask_where", "1"),
                                                   Choice("職員", "intent:talk_to_human", "0"),
                                                   Choice("For English, press 8.", "language:en", "8", "en")))
    twiml = renderer.render(TurnResult([menu]))
    # The menu names its own keys, so none is read out again; the English choice says itself in English.
    assert say("相談先は1。職員は0。") + say("For English, press 8.", "Polly.Joanna", "en-US") + HINT in twiml
    assert "番、" not in twiml and 'hints="相談先, 職員"' in twiml
    assert 'language="ja-JP" method="POST" numDigits="1"' in twiml
    # A reply in another language is said in its voice too.
    aside = renderer.render(TurnResult([Reply("Hello.", language="en"), Reply("どうぞ。")]))
    assert say("Hello.", "Polly.Joanna", "en-US") + say("どうぞ。") in aside


def test_english_speech_gets_romaji_place_names_and_the_gloss_of_a_counter() -> None:
    readings = place_readings([("南区", "朝日町", "Minami-ku", "Asahicho"), ("北区", "旭町", "Kita-ku", "Asahimachi")])
    city = TwiMLRenderer(BASE + "/gather", BASE + "/recording", {"ja": "Polly.Mizuki", "en": "Polly.Joanna"},
                         readings=readings)
    twiml = city.render(TurnResult([Reply("The right place is 南区見守り相談室 (Minami-ku watch-over office), "
                                          "for 南区 朝日町.")], language="en"))
    assert say("The right place is Minami-ku watch-over office, for Minami-ku Asahicho.", "Polly.Joanna",
               "en-US") in twiml
    aside = city.render(TurnResult([Reply("I will pass this to the area's watch team (見守り相談室).")], language="en"))
    assert say("I will pass this to the area's watch team.", "Polly.Joanna", "en-US") in aside


def test_no_replies_listen_again_so_silence_repeats_the_prompt() -> None:
    assert renderer.render(TurnResult(duplicate=True)) == (
        HEAD + "<Response>"
        f'<Gather action="{BASE}/gather" actionOnEmptyResult="true" input="speech dtmf" language="ja-JP" '
        'method="POST" speechTimeout="3" timeout="6" /></Response>'
    )


def test_japanese_numbers_are_dialled_in_e164() -> None:
    assert dial_number("06-0000-1002") == "+81600001002"
    assert dial_number("+81 6 0000 1002") == "+81600001002"


def test_gather_hints_name_the_city_s_places_in_the_conversation_s_language() -> None:
    hints = place_hints([("南区", "朝日町", "Minami-ku", "Asahicho"), ("南区", "旭町", "Minami-ku", "Asahimachi")])
    assert hints == {"ja": ["南区", "朝日町", "旭町"], "en": ["Minami-ku", "Asahicho", "Asahimachi"]}
    city = TwiMLRenderer(BASE + "/gather", BASE + "/recording", {"ja": "Polly.Mizuki", "en": "Polly.Joanna"}, hints)
    yes_no = (Choice("はい", "yes", "1"), Choice("いいえ", "no", "2"))
    assert 'hints="はい, いいえ, 南区, 朝日町, 旭町"' in city.render(TurnResult([Reply("よろしいですか。", choices=yes_no)]))
    english = city.render(TurnResult([Reply("Which town?")], language="en"))
    assert 'hints="Minami-ku, Asahicho, Asahimachi"' in english


def test_each_answer_posts_to_its_own_turn() -> None:
    twiml = renderer.render(TurnResult([Reply("どちらの町ですか。")]), turn=4)
    assert f'action="{BASE}/gather?turn=4"' in twiml
    handoff = Handoff("sougou-minami", "南区総合相談窓口", "06-0000-3001", open_now=False)
    recorded = renderer.render(TurnResult([Reply("どうぞ。", handoff=handoff, record=True)]), turn=5)
    assert f'action="{BASE}/recording?turn=5"' in recorded

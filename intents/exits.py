"""Ways out in the resident's own words: stop, start again, correct an answer, "we found him".

Residents leave a form the way they talk — 「やっぱりやめとくわ」「もういいです」「中止して」
"never mind" — not with one command word. These matchers read the message folded for
matching (:func:`intents.normalize.fold_for_matching`) and answer *whether the whole
message is that way out*, so the same words inside a description never are: 「やめてと
言っても聞かない」 is what was noticed, 「中止になった行事」 is not a cancel, and
「以前も駅で見つかりました」 describes the person, it does not end the report.

- :func:`is_cancel`: the whole message is "stop / never mind" (a leading やっぱり, もう,
  すみません and a closing です, わ, お願いします may surround it);
- :func:`is_soft_cancel`: words that mean "never mind" only where no yes/no or "none"
  answer is expected (「結構です」「大丈夫です」「やめて」 answer such questions as no or yes);
- :func:`is_restart`: "start again" (「最初から」「やり直したい」 "start over");
- :func:`is_correction`: "that's wrong / I want to correct" (「訂正」「間違えました」
  "that's wrong"); :func:`is_denial` 「違います」 counts only at a confirmation;
- :func:`says_found`: the person was found or came home (「父が見つかりました！」
  "we found him", 「đã tìm thấy」「찾았습니다」「找到了」), not a question, a condition, a
  denial or a past episode.

This module only reads text; what each way out does is ``flows.ways_out``'s.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from intents.normalize import fold_for_matching

__all__ = ["correction", "is_cancel", "is_correction", "is_denial", "is_restart", "is_soft_cancel", "named_item",
           "says_found", "says_not_missing"]

# Longer than this, a message is telling something, not only leaving (folded, without spaces).
_MAX_EXIT_CHARS = 40
_LATIN = re.compile(r"[A-Za-z]{2}")
_KANA_KANJI = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# Where a clause ends: punctuation; in Japanese also a space (a speech recogniser's pause).
_JA_BREAK = re.compile(r"[、。,.!?！？;\n]+\s*|\s+")
_EN_BREAK = re.compile(r"[,.!?;\n]+\s*|\s+-\s+")
# What follows a way out but takes it back or quotes it: 「もういい、と言われた」「やめます。でも…」.
_NOT_A_REASON = re.compile(r"(?:と|って|という|とか|でも|けど|だけど|but|however|though)")

# --------------------------------------------------------------------------- Japanese
# What may come before the way out: second thoughts, apologies, hesitations, "this matter".
_JA_LEAD = (
    r"(?:やっぱり|やっぱ|やはり|あ|あっ|あー|えっと|えーと|すみません|すいません|ごめんなさい|ごめん|"
    r"申し訳ない(?:です)?(?:けど|が)|悪いけど|いや|いえ|うーん|じゃあ|じゃ|では|なら|ほな|ほんなら|ほんじゃ|"
    r"それなら|それでは|ちょっと|とりあえず|今回は|今日は|今は|もう|やっぱりもう|"
    r"(?:この|その|今の)?(?:相談|話|報告|連絡|手続き|登録|申し込み|申込み|届け|届出|入力|質問|通報|お願い)(?:は|を|も)?)*"
)
# What may close it: politeness, a particle, "I'll ask again later", thanks.
_JA_TAIL = (
    r"(?:です|ですわ|ね|よ|わ|や|な|かな|かなあ|ー|ください|下さい|くれ|お願いします|おねがいします|お願い|すみません|"
    r"すいません|ごめんなさい|失礼します|失礼しました|すみませんでした|お騒がせしました|お騒がせしてすみません|"
    r"ありがとう(?:ございました|ございます)?|大丈夫(?:です)?|ええで|ええよ|いいよ|かまへん|かまわん|"
    r"また(?:今度|あとで|後で|にします)?(?:相談します|連絡します|にします|します)?|"
    r"自分で(?:探します|なんとかします|何とかします|します))*"
)
_STOP_STEM = r"(?:取りやめ|とりやめ|やめ|止め|辞め|とめ)"
_JA_CANCEL_CORE = (
    rf"{_STOP_STEM}(?:る|ます|ました|たい|たいです|たいんです|とく|とこ|とこう|とこうかな|ときます|ておきます|"
    r"ておく|よう|ようかな|ましょう|させて|させてください|させていただきます|にします|にする|で|たいのですが|"
    r"たいんですけど)|"
    r"キャンセル(?:する|します|したい|したいです|で|でお願いします|して|してください)?|"
    r"取り?消(?:し|す)(?:ます|たい|たいです|て|てください)?|取消(?:し)?|"
    r"中止(?:する|します|したい|したいです|で|でお願いします|して|してください|にして|にしてください|にします)?|"
    r"(?:終わり|おわり|終了|おしまい)(?:にします|にして|です|で|します)?|"
    r"忘れて(?:ください|下さい|くれ)?|"
    r"もう(?:いい|ええ|けっこう|結構|よろしい|大丈夫|いらない|いりません|いらん)(?:です|でございます|んです|わ|や|よ|っす|って)?|"
    r"(?:やっぱり|やっぱ|やはり)(?:いい|ええ|けっこう|結構|大丈夫|いらない|いりません)(?:です|わ|や)?"
)
_JA_CANCEL = re.compile(rf"\A{_JA_LEAD}(?:(?:{_JA_CANCEL_CORE}){_JA_TAIL})+\Z")
# Words that answer a yes/no or "none" question (flows.base _YES/_NO) but mean "never
# mind" where a free answer is expected.
_JA_SOFT_CANCEL = re.compile(
    rf"\A{_JA_LEAD}(?:結構です|けっこうです|大丈夫です|だいじょうぶです|{_STOP_STEM}て(?:ください|下さい)?|"
    r"いらない|いりません|不要です|なしで)"
    rf"{_JA_TAIL}\Z"
)
_JA_RESTART = re.compile(
    rf"\A{_JA_LEAD}(?:もう(?:一度|いちど|1回|一回|いっかい))?"
    r"(?:(?:最初|はじめ|初め|始め)から(?:やり直(?:し|す|したい|します|して|させて)|やりなおし|"
    r"お願いします|にして|で|言い直します|入力し直します|(?:言い直|いいなお)(?:させて|したい|して|す)(?:ください)?)?|"
    r"(?:やり直|やりなお|言い直|いいなお)(?:し|す|したい|したいです|します|して|させて)(?:ください)?(?:たい)?|"
    r"リセット(?:して|する|します)?)"
    rf"{_JA_TAIL}\Z"
)
_JA_CORRECTION = re.compile(
    rf"\A{_JA_LEAD}(?:(?:さっきの|前の|今の|最初の)?(?:[^\sはがを]{{1,8}}(?:は|が|を|の))?)?"
    r"(?:(?:訂正|修正|変更|直し)(?:したい|したいです|します|して|させて|させてください|お願いします|があります|"
    r"したいところがあります|です)?|"
    r"(?:間違|まちが)(?:え|い|っ)(?:ました|た|です|てます|ている|てる|ていました|ちゃった|ちゃいました)|"
    r"(?:ひとつ|一つ|1つ)?(?:前|まえ)に(?:戻|もど)(?:る|って|りたい|ります|して)|戻る|戻って)"
    rf"{_JA_TAIL}\Z"
    # 「違いました」 alone, "that was wrong", corrects what was said (「昨日とは違いました」 does not);
    # 「違います」 only denies a read-back.
    rf"|\A{_JA_LEAD}(?:ちが|違)(?:いました|ってました|ってた){_JA_TAIL}\Z"
)
_JA_DENIAL = re.compile(r"\A(?:いや|いえ|あ)?(?:ちが|違)(?:います|う|いました|ってます|ってる|うよ|うで)(?:ね|よ|わ)*\Z")

# The person was found, came home, or is in the police's care; the subject may come first
# (「父が」「おばあちゃんは」「無事に」), thanks or a request to stop may follow.
_JA_FOUND = re.compile(
    r"(?:見つかり(?:まし)?た|見つかった|みつかり(?:まし)?た|みつかった|見つけ(?:まし)?た|"
    # Dialects: 「帰ってきよった」「戻ってきとる」「帰ってきはった」「帰ってきてん」.
    r"(?:帰|かえ|戻|もど)って(?:き|来)(?:(?:まし|よっ|とっ|はっ|よりまし|てくれまし)?た|とる|とります|てん|たで)|(?:帰|かえ|戻|もど)ってきてくれました|帰宅し(?:まし)?た|"
    r"保護され(?:まし)?た|保護して(?:もら|いただ)き?(?:まし)?た|"
    # 「家にいました」 alone is as often where the person was last seen (「昼までうちにいました」):
    # found only when it was all along, inside the house, or said with relief.
    r"ずっと(?:家|うち|いえ)(?:の中)?に(?:い|居)(?:まし)?た|(?:家|うち|いえ)の中に(?:い|居)(?:まし)?た|"
    r"(?:家|うち|いえ)に(?:(?:い|居)(?:まし)?た|おった|おりました)(?:よ|わ)?[!！。、]*"
    r"(?:ありがとう|無事|ぶじ|大丈夫|お騒がせ|よかった|すみません|すんません|ごめん|失礼)|"
    # In kanji or, as やさしい日本語 readers write, in kana (「ぶじでした」「ぶじに かえりました」).
    r"(?:無事|ぶじ)(?:でした|です|だった|に(?:見つかり|帰り|戻り|みつかり|かえり|もどり)))"
    # Not a question, a condition or a hearsay of something else: 「見つかりましたか」「見つかったら」.
    r"(?!か|ら|ので連絡|ことがある)"
)
# Words that make a found-sentence not today's news: a denial, a past episode, a wish.
_JA_NOT_FOUND = re.compile(
    r"見つから|みつから|見つかってない|見つかっていない|まだ|帰ってこない|帰って来ない|戻らない|"
    r"前にも|以前|前回|いつも|よく|先月|去年|昔|この前も|たら|れば|ように|"
    # Only until then, or "but…": where the person was last seen, not news that they are back.
    r"(?:さっき|先ほど|朝|昼|夕方|夜|時|分|前|ごろ|頃)まで|のに|けど|けれど|んですが|んだが|ですが"
)

# --------------------------------------------------------------------------- English
_EN_LEAD = r"(?:(?:ok|okay|oh|ah|actually|sorry|um|uh|well|no|thanks|thank you|hmm|please|just|so|then|i think|wait)[ ,]*)*"
_EN_TAIL = r"(?:[ ,]*(?:please|thanks|thank you|sorry|then|for now|actually|after all|i'm sorry))*"
_EN_CANCEL = re.compile(
    rf"\A{_EN_LEAD}(?:cancel(?: (?:it|this|that|the report|my report|everything))?|stop(?: (?:it|this|that|here))?|"
    r"quit|exit|never ?mind|forget (?:it|about it|that)|(?:i(?:'ve| have)? )?changed my mind|"
    r"i(?: want| would like|'d like) to (?:stop|cancel|quit)|i'?ll stop|let'?s stop|don'?t bother|"
    r"i don'?t (?:want|need) (?:to (?:do this|continue|go on|report)|this|it)(?: any ?more)?|"
    r"not (?:needed|necessary) any ?more|no longer needed|no need(?: any ?more)?|that'?s (?:all|enough)|"
    r"i'?m done|we'?re done|leave it|drop it)"
    rf"{_EN_TAIL}\Z"
)
_EN_RESTART = re.compile(
    rf"\A{_EN_LEAD}(?:(?:can i |i want to |i'd like to |let me |let'?s )?"
    r"(?:start (?:over|again|from the (?:beginning|start|top))|restart|begin again|"
    r"from the (?:beginning|start|top)|reset))"
    rf"{_EN_TAIL}\Z"
)
_EN_CORRECTION = re.compile(
    rf"\A{_EN_LEAD}(?:that'?s (?:wrong|not right|incorrect|a mistake)|that is (?:wrong|not right|incorrect)|wrong|"
    r"incorrect|(?:i )?made a mistake|(?:my )?mistake|correction|i (?:want|need|would like|'d like) to "
    r"(?:correct|change|fix|edit) (?:something|that|it|an answer|my answer)|let me (?:correct|change|fix) (?:that|it)|"
    r"(?:go )?back|previous question|i typed (?:it )?wrong)"
    rf"{_EN_TAIL}\Z"
)
_EN_DENIAL = re.compile(r"\A(?:no[ ,]*)?(?:not (?:right|correct)|that'?s not it|not quite)\Z")
_EN_FOUND = re.compile(
    # A bare "found" (「found.」「Found!」): the English texts tell families to write it.
    r"\Afound[.!]*\Z|"
    r"(?:\A|\b(?:we|i|police|they|the police) (?:have |'ve )?)found (?:him|her|them|my|our|the)\b|"
    r"\b(?:(?:he|she|they|my \w+|our \w+|dad|mom|mum|father|mother|grandma|grandpa)(?:'s| is| are| has| have)? "
    r"(?:been )?(?:found|home|back(?: home)?|safe)|"
    # "She was home until two" tells where she was last seen; only "was found/safe" is news.
    r"(?:he|she|they|my \w+|our \w+|dad|mom|mum|father|mother|grandma|grandpa) was (?:found|safe)|"
    r"(?:he|she|they|my \w+|our \w+) (?:came|come|got) (?:back|home)|turned up|has been found|was found)\b"
)
_EN_NOT_FOUND = re.compile(
    r"\b(?:not|never|still|yet|if|when|before|used to|hope|until|till|earlier)\b|n't|last (?:time|month|year)|\?")

# --------------------------------------------------------------------------- the residents' languages
# The translations tell families to write, when the person is found, the words of their own
# language (responses/<lang>.yml: 「đã tìm thấy」「찾았습니다」). Each language's found words are
# read with its own denials, questions, conditions and past episodes, so that Spanish 「no」
# never spoils an English "found him, no need" (a question mark ends none: checked first).
# Latin script (Vietnamese, Tagalog, Portuguese, Spanish), read with spaces.
_VI_FOUND = re.compile(r"\btìm (?:thấy|được)\b|\bđã về\b|\bvề (?:nhà )?rồi\b")
_VI_NOT_FOUND = re.compile(r"\b(?:chưa|không|nếu|khi|vẫn|lần trước|trước đây|hồi trước)\b")
_TL_FOUND = re.compile(r"\b(?:nakita|nahanap|natagpuan|nakauwi|umuwi|bumalik) na\b|\bnasa bahay na\b")
_TL_NOT_FOUND = re.compile(r"\b(?:hindi|wala pa|kapag|kung|pa rin|noong|dati)\b")
# Portuguese and Spanish share their words for "found" (「encontrado」), so one set of denials
# reads both: 「ainda não foi encontrada」 and 「no la encontramos」 are denials in either.
_PT_ES_FOUND = re.compile(
    r"\b(?:encontramos|encontraron|encontrei|achamos|achei|hallamos|encontrad[oa]s?|achad[oa]s?|"
    # 「apareceu」「voltou」 alone may tell of someone else (「um homem apareceu」): only "already" or "home".
    r"(?:já|ja|ya) (?:apareceu|apareci[óo]|voltou|volvi[óo]|regres[óo])|"
    r"(?:voltou|volvi[óo]|regres[óo]) (?:para casa|pra casa|a casa|em casa)|(?:está|esta|estão) em casa|est[áa] en casa)\b")
_PT_ES_NOT_FOUND = re.compile(
    r"\b(?:não|nao|ainda|quando|no|todavía|todavia|aún|aun|cuando|si|nunca|antes|vez|"
    r"se (?:for|forem|encontrar|aparecer|voltar))\b")
# Other scripts, read without spaces (a phone's recogniser puts them anywhere).
_KO_FOUND = re.compile(r"찾았(?!나|니|는지|을|으면|던)|돌아왔(?!나|니|는지|으면)|귀가했|발견(?:됐|되었|했)|무사(?:해요|합니다|히)")
_KO_NOT_FOUND = re.compile(r"못|안찾|아직|으면|면요|지난번|예전|전에도")
_ZH_FOUND = re.compile(r"找到|回来了|回來了|回家了|到家了|平安(?:无事|無事)|被(?:警察)?(?:保护|保護)")
_ZH_NOT_FOUND = re.compile(r"没|沒|还|還|未|如果|的话|的話|吗|嗎|以前|上次|之前")
_NE_FOUND = re.compile(r"भेटियो|भेटिनु\s*भयो|भेट्टायौं|भेट्यौं|फेला\s*पर(?:्यो|्‍यो|े)|(?:फर्कनु|फर्किनु|आउनु)\s*भयो|फर्कियो")
_NE_NOT_FOUND = re.compile(r"छैन|अझै|भने|पहिले|भएन|एन$")

# The person is not missing at all: at home, here, beside the writer (a missing report begun by
# mistake: 「いえ、母は家にいます」 "she's not missing, she's at home"). Not a past or a supposed
# presence (「家にいると思ってた」「家にいたのに」), nor a fear that they are gone
# (「いなくなったんじゃないか」).
_JA_PRESENT = re.compile(
    r"(?:いなくなって|行方不明になって|迷子になって)(?:は|も)?(?:い)?(?:ない|ません|へん|ねえ|ねー)|"
    r"(?:行方不明|迷子|徘徊|いなくなった)(?:ん|の)?(?:じゃ|では|ではあり|とちゃう|ちゃう)(?:ない|ません|なくて|う)(?!か|の?かな|でしょうか)|"
    r"(?:家|うち|いえ|自宅|部屋|ここ|隣|となり|目の前|そば|横)に(?:い|居|お)(?:ます|る|るん|ります|って|て|んねん|るで|るよ)"
    r"(?!と思|はず|つもり|かと|かも|か|のに)"
)
_EN_PRESENT = re.compile(
    r"\b(?:not|isn't|is not|hasn't|has not|wasn't|didn't|did not|never) (?:gone |go |been |really |actually )*missing\b|"
    r"\b(?:he|she|they|my \w+|mom|mum|dad|grandma|grandpa)(?:'s| is| are)(?: right)? (?:here|with me|next to me|"
    r"in (?:his|her|their|the) (?:room|bed))\b")
_OTHER_PRESENT = re.compile(
    r"在家里|在家裡|就在家|(?:没有|沒有|不是)(?:走失|失踪|失蹤|走丢|走丟)|"
    r"집에\s*(?:있어요|있습니다|계세요|계십니다|있어)|실종(?:이|된\s*게)\s*아니|없어진\s*게\s*아니|"
    r"\bđang ở nhà\b|\bkhông (?:phải|bị) (?:mất tích|lạc|đi lạc)\b|"
    r"\bnasa bahay (?:siya|sya|po siya)\b|\bhindi (?:siya |sya )?nawawala\b|"
    r"\bnão (?:está|esta|tá) desaparecid[oa]\b|\bnão sumiu\b|\bno (?:está|esta) desaparecid[oa]\b|\bno se perdi[oó]\b|"
    r"(?:está|esta) aqu[ií] (?:comigo|conmigo)|"
    r"घरमै\s*(?:हुनुहुन्छ|छ|छन्)|हराएको\s*(?:छैन|होइन)"
)


# The writer is with the person right now, talking to them: whatever is wrong, they are not
# missing (「母が朝から様子がおかしくて、話しかけてもぼーっとしてる」 "when I talk to her she just
# stares"). Only the act of speaking to the person: 「呼んでも」 may call after someone gone.
_JA_WITH_THE_PERSON = re.compile(r"(?:話しかけ|はなしかけ|声(?:を)?かけ|こえ(?:を)?かけ|呼びかけ|話(?:を)?して)(?:ても|たら|ると|てる(?:のに|けど))")
_EN_WITH_THE_PERSON = re.compile(
    r"\b(?:when|whenever|if) i (?:talk|speak|try to talk|try to speak) (?:to|with) (?:him|her|them)\b|"
    r"\b(?:he|she|my \w+|mom|mum|dad|grandma|grandpa) (?:just )?(?:stares|keeps staring|doesn't answer me|"
    r"won't answer me|doesn't respond to me)\b", re.IGNORECASE)
# The residents' languages, the same act only: "when I talk to her" (punctuation and, outside
# Latin script, spaces are folded away before matching).
_OTHER_WITH_THE_PERSON = re.compile(
    r"(?:跟|和|对|對)(?:他|她|妈妈|媽媽|妈|媽|爸爸|爸|奶奶|爷爷|爺爺|外婆|外公|老公|老婆)(?:说话|說話|讲话|講話|聊天)|"
    r"말(?:을)?(?:걸어도|걸면|걸었더니|시켜도|시키면)|"
    r"\b(?:nói chuyện với|bắt chuyện với|hỏi chuyện)\b|"
    r"\b(?:kinakausap|kinausap|kausapin)\b|"
    r"\bquando (?:eu )?(?:falo|converso|tento falar|vou falar) com\b|"
    r"\bcuando (?:le |la |lo )?(?:hablo|converso|trato de hablar)\b|\ble hablo y\b|"
    r"कुरा\s*गर्दा|बोल्न\s*खोज्दा"
)


# Or sees them there now, standing or sitting somewhere near (「夜 ずっと 外に 立ってるんです」: a
# confused neighbour out at night is a worry, not a missing report). Present tense only: 「玄関の
# 前に立ってたのが最後」 is where a missing person was last seen.
_JA_THERE_NOW = re.compile(
    r"(?:外|そと|前|まえ|玄関|げんかん|道|みち|廊下|ろうか|庭|にわ|ベランダ|べらんだ)(?:に|で)(?:ずっと|じっと|ひとりで|一人で)?"
    r"(?:立って|たって|座って|すわって|座り込んで|座りこんで|すわりこんで|しゃがんで|しゃがみこんで|うろうろして)"
    r"(?:る|いる|います|おる|おります|はる|ます)(?!と思|はず|かも|のを見|の見)")
_EN_THERE_NOW = re.compile(
    r"\b(?:he|she|they|he's|she's|they're)(?: is| are)? (?:just )?(?:standing|sitting|wandering|pacing) "
    r"(?:outside|out there|in the street|at (?:the|her|his|their|my) (?:door|gate|front door))\b")


def is_with_the_person(text: str) -> bool:
    """Whether the writer describes talking to the person now, or seeing them standing or sitting
    there now (so the person is not missing, however strange they seem), in Japanese, English or
    a resident's language."""
    plain = _squeezed(text)
    if _is_english(plain):
        return bool(_EN_WITH_THE_PERSON.search(plain) or _EN_THERE_NOW.search(plain)
                    or _OTHER_WITH_THE_PERSON.search(plain))
    return bool(_JA_WITH_THE_PERSON.search(plain) or _JA_THERE_NOW.search(plain)
                or _OTHER_WITH_THE_PERSON.search(plain))


def says_not_missing(text: str) -> bool:
    """Whether a family member making a missing report says the person is not missing at all
    (「いえ、母は家にいます」「行方不明じゃないです」 "she's not missing, she's right here").

    A long message is a description (「家にいると思っていたら…」), not a correction.
    """
    plain = _news(text)
    if not plain:
        return False
    if _is_english(plain):
        return bool(_EN_PRESENT.search(plain) or _OTHER_PRESENT.search(plain))
    return bool(_JA_PRESENT.search(plain) or _OTHER_PRESENT.search(plain))


# "Which answer?" answered in words: a word for the kind of answer, and the words of the
# questions that ask for it (「場所」 names 「お住まいはどちらですか」 and 「見かけた場所はどこですか」).
_ITEM_WORDS = (
    (("場所", "住所", "どこ", "町", "place", "address", "where"), ("どこ", "どちら", "場所", "住所", "お住まい", "where")),
    (("いつ", "日にち", "時間", "時刻", "when", "time", "date"), ("いつ", "when")),
    (("電話", "番号", "連絡先", "phone", "number"), ("電話", "番号", "phone", "number")),
    (("服", "服装", "格好", "clothes", "clothing", "wearing"), ("服装", "wearing")),
    (("折り返し", "連絡", "call back", "callback", "contact"), ("折り返し", "contact")),
)


def named_item(text: str, items: dict[str, list[str]]) -> str | None:
    """The one item a "which answer?" reply names in words.

    Args:
        text: the resident's reply (「場所です」「4日前のところ」 "the address").
        items: each item's texts to recognise it by: its question, its current answer.

    Returns:
        The item's key when exactly one item matches, else None.
    """
    plain = _squeezed(text).removesuffix("です").removesuffix("のところ")
    if len(plain) < 2:
        return None
    folded = {key: [_squeezed(t) for t in texts if t] for key, texts in items.items()}
    hits = {key for key, texts in folded.items() if any(plain in t or (len(t) >= 2 and t in plain) for t in texts)}
    if not hits:
        for words, asked_by in _ITEM_WORDS:
            if any(word in plain for word in words):
                hits = {key for key, texts in folded.items() if texts and any(w in texts[0] for w in asked_by)}
                break
    return next(iter(hits)) if len(hits) == 1 else None


def _squeezed(text: str) -> str:
    """Folded for matching, curly apostrophes straight; Japanese without the spaces a
    phone's speech recogniser puts between phrases."""
    plain = fold_for_matching(text).replace("’", "'")
    return plain if _is_english(plain) else plain.replace(" ", "")


def _is_english(text: str) -> bool:
    return bool(_LATIN.search(text)) and not _KANA_KANJI.search(text)


def _short(plain: str) -> bool:
    return 0 < len(plain) <= _MAX_EXIT_CHARS


def _after_leading(text: str, test: Callable[[str], bool]) -> str | None:
    """What follows the message's first clauses when they alone pass ``test`` (「間違えました。
    北区栄町です」 → 「北区栄町です」); None when no leading clauses do, or nothing follows.

    Clauses end at punctuation, and in Japanese at the spaces a speech recogniser puts
    between phrases; an English space never ends one ("stop by the station" is one clause).
    """
    text = unicodedata.normalize("NFKC", text).strip()
    breaks = (_EN_BREAK if _is_english(text) else _JA_BREAK).finditer(text)
    for brk in breaks:
        head, rest = text[:brk.start()], text[brk.end():].strip()
        if rest and test(head):
            return rest
    return None


def _whole_cancel(text: str) -> bool:
    plain = _squeezed(text)
    return _short(plain) and bool(_JA_CANCEL.match(plain) or _EN_CANCEL.match(plain))


def _whole_correction(text: str) -> bool:
    plain = _squeezed(text)
    return _short(plain) and bool(_JA_CORRECTION.match(plain) or _EN_CORRECTION.match(plain))


def is_cancel(text: str) -> bool:
    """Whether the message says "stop / never mind" (「やっぱりやめとくわ」「もういいです」
    「中止して」 "never mind"), whatever question was asked: the whole message, or its first
    clauses followed by a short reason (「やめます、兄が対応するので」 "Cancel please, my
    brother is handling it") — not by a quotation (「もういい、と言われた」) or a "but"."""
    if _whole_cancel(text):
        return True
    rest = _after_leading(text, _whole_cancel)
    return rest is not None and len(rest) <= _MAX_EXIT_CHARS and not _NOT_A_REASON.match(rest.lower())


def is_soft_cancel(text: str) -> bool:
    """Whether the message says "never mind" in words that elsewhere answer a yes/no or
    "none" question (「結構です」「大丈夫です」「やめてください」): a way out only where a
    free answer is expected."""
    plain = _squeezed(text)
    return _short(plain) and bool(_JA_SOFT_CANCEL.match(plain))


def is_restart(text: str) -> bool:
    """Whether the message asks to start again (「最初から」「やり直したいです」 "start over")."""
    plain = _squeezed(text)
    return _short(plain) and bool(_JA_RESTART.match(plain) or _EN_RESTART.match(plain))


def is_correction(text: str) -> bool:
    """Whether the whole message says an answer was wrong or should be changed (「訂正した
    い」「間違えました」「前に戻る」 "that's wrong", "go back")."""
    return _whole_correction(text)


def is_denial(text: str) -> bool:
    """Whether the message is only "that's not it" (「違います」 "not right"): a correction at
    a confirmation, an answer elsewhere."""
    plain = _squeezed(text)
    return _short(plain) and bool(_JA_DENIAL.match(plain) or _EN_DENIAL.match(plain))


def correction(text: str, *, at_confirmation: bool = False) -> str | None:
    """A correction and the new answer it brings, if any.

    Args:
        text: the resident's message (「すみません、間違えました。北区栄町4丁目です」).
        at_confirmation: whether a confirmation is open: 「違います」 corrects only there.

    Returns:
        None when the message is no correction; "" for a correction alone (「訂正」); else
        the words after it, the new answer (「北区栄町4丁目です」).
    """
    def corrects(words: str) -> bool:
        return _whole_correction(words) or (at_confirmation and is_denial(words))

    if corrects(text):
        return ""
    return _after_leading(text, corrects)


def _news(text: str) -> str:
    """The folded message when it is short enough to be news about the person and not a
    question; else "" (a long message is a description)."""
    plain = _squeezed(text)
    if not 0 < len(plain) <= 2 * _MAX_EXIT_CHARS or text.rstrip().endswith(("?", "？")):
        return ""
    return plain


def says_found(text: str) -> bool:
    """Whether the message says the missing person was found or came home (「父が見つかり
    ました！お知らせを止めてください」「やっぱりいいです、見つかりました」 "we found him").

    Not a question (「見つかりましたか」), a condition (「見つかったら」), a denial
    (「まだ見つかりません」) or a past episode in a description (「以前も駅で見つかりました」);
    a long message is a description, not news.
    """
    plain = _news(text)
    if not plain:
        return False
    if _is_english(plain):  # Latin letters only: English, Vietnamese, Tagalog, Portuguese, Spanish
        pairs = ((_EN_FOUND, _EN_NOT_FOUND), (_VI_FOUND, _VI_NOT_FOUND), (_TL_FOUND, _TL_NOT_FOUND),
                 (_PT_ES_FOUND, _PT_ES_NOT_FOUND))
        return any(found.search(plain) and not denied.search(plain) for found, denied in pairs)
    if _JA_FOUND.search(plain) and not _JA_NOT_FOUND.search(plain) and not plain.endswith(("か", "?")):
        return True
    pairs = ((_KO_FOUND, _KO_NOT_FOUND), (_ZH_FOUND, _ZH_NOT_FOUND), (_NE_FOUND, _NE_NOT_FOUND))
    return any(found.search(plain) and not denied.search(plain) for found, denied in pairs)

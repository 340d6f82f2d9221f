"""What a resident's words in a report already say: what was noticed, who is missing, since when.

Reports (flows/worry.py, flows/missing.py) ask only what they do not know yet. A first
message often answers some of their questions (「隣のおばあさんを3日前から見かけない」:
what was noticed and since when), sometimes none (「近所の人のことで気になることがあって」
only says there is a worry). And an answer to one question may instead be more about the
person (「ポストに新聞が4日分くらいたまっています」 when asked where): that is kept, not
taken for a wrong answer. These readings are deliberately plain — patterns of how people
say these things in Japanese (standard, dialects, speech without punctuation) and
English, and who is missing in the residents' other languages too — so that a flow can
explain why it asked again.
"""

from __future__ import annotations

import re
import unicodedata

from intents.normalize import fold_diacritics
from intents.phone import national_phone, without_phone_numbers

__all__ = [
    "AGE_UNITS_OTHER",
    "about_a_neighbour",
    "asks_instead_of_answering",
    "asks_the_bot",
    "asks_whether_to_call_the_police",
    "is_more_about_the_person",
    "is_only_a_phone_number",
    "is_question",
    "missing_person",
    "names_a_spot",
    "says_what_was_noticed",
    "since_when",
    "strip_fillers",
]

# Hesitations said before or between the words (「えーと 父です」「あの、スーパーの 前」):
# a filler only as a word of its own — at the start or after a pause, before a pause —
# so that 「あのスーパー」「その人」 keep their meaning.
_FILLER = re.compile(
    r"(?:(?<=^)|(?<=[\s、,。]))(?:え+ー*っ?と+|ええっと|えー+|ええ|あのう|あのー*|あのね|そのう|そのー*|まあ|まぁ|うーん|うーんと|"
    r"うん|んー+と?|あー+|"
    r"um+|uh+|er+|erm)(?:[\s、,。.]+|$)", re.IGNORECASE)

# Said in any worry report without saying what was noticed: greetings and fillers, the
# person (a neighbour, an old man …), "worried / want to consult", and the glue between.
_GENERIC_JA = re.compile(
    r"もしもし|すみません|すいません|こんにちは|こんばんは|お願いします?|あのー*|あのね|えーと|ええと|えっと|実は|じつは|ちょっと|"
    r"(?:近所|きんじょ|ご近所|隣|となり|お隣|おとなり|向かい|むかい|お向かい|裏|うら|上の階|下の階|近く|同じ(?:アパート|マンション|団地)|"
    r"うち|自宅)の?|"
    r"(?:一人暮らし|ひとり暮らし|独り暮らし|独居|高齢|年配|お年寄り|としより)の?|"
    r"(?:家|いえ|お宅|おうち|部屋|方|かた|人|ひと|住人|おばあさん|おばあちゃん|ばあちゃん|ばあさん|おじいさん|おじいちゃん|じいちゃん|"
    r"じいさん|おばさん|おじさん|男性|女性|男の人|女の人|高齢者|老人|夫婦|ご夫婦|家族|子ども|子供)(?:さん)?|"
    r"(?:の)?(?:こと|件|様子|ようす)(?:で|について|が|を)?|について|に関して|"
    r"気になる(?:こと)?|気になって|気にな[っり]|気がかり|心配(?:な|で|して|してい)?|不安(?:な|で)?|"
    r"相談(?:したい|させて|して|が|を|です|に)?|連絡(?:したい|します)?|見守り|知らせ(?:たい)?|伝えたい|聞いて(?:ほしい|ください)|"
    r"(?:こと|ん|の)?(?:が|も)?(?:あって|あります|ありまして|あるんです|あるんやけど|あるんだけど|あるねん)|"
    r"(?:なん|なの|な|ん)?(?:です|だ|や)(?:が|けど|けれど|けども|ね|よ)?|ます(?:が|けど)?|"
    r"けど|けれど|ですけど|んやけど|ねん|のですが|んですが|んです"
)
_GENERIC_EN = re.compile(
    r"\b(?:hello|hi|excuse me|um+|uh+|sorry|please|i'?m|i am|we'?re|we are|i|we|am|a bit|really|very|"
    r"worried|concerned|concerns?|anxious|about|for|want|wanted|would like|like|to|talk|report|consult|tell you|"
    r"my|our|the|a|an|someone|somebody|person|people|neighbou?rs?|next door|nearby|local|elderly|old|"
    r"lady|woman|man|gentleman|couple|living alone|who lives alone|lives alone|alone)\b"
)
# What is left after removing the generic words: particles and punctuation say nothing.
_NOISE = re.compile(r"[\s\W\d_]|[をがはにでとのもねよなわへやか]")
# At least this many letters left over: something was observed (「見かけない」 is 5).
_OBSERVED = 3

# Who is missing: a family word, possibly with an age and a sex around it.
_FAMILY = (r"(?:うちの|わたしの|私の|僕の|俺の)?(?:認知症の|ぼけた|ボケた)?"
           r"(?:ちち|はは|おとうさん|おかあさん|おっと|むすこ|むすめ|そふ|そぼ|ばっちゃ|じっちゃ|ばあば|じいじ|"
           r"入居者|利用者|入所者|(?:女性|男性)の(?:方|人)|おかん|おとん|かあちゃん|とうちゃん|母ちゃん|父ちゃん|おっかあ|お?父(?:さん|親)?|お?母(?:さん|親)?|祖父|祖母|おじいさん|おじいちゃん|じいちゃん|じいさん|おばあさん|"
           r"おばあちゃん|ばあちゃん|ばあさん|おやじ|親父|おふくろ|お袋|夫|主人|旦那|妻|家内|嫁|息子|娘|兄|弟|姉|妹|"
           r"おじ|おば|叔父|叔母|伯父|伯母)")
_AGE = r"(?:\d{1,3}\s*(?:歳|才|さい)(?:になる)?|[一二三四五六七八九十百]+\s*(?:歳|才))"
_SEX = r"(?:男性|女性|男|女)"
_PERSON_JA = re.compile(rf"(?:{_AGE}の?\s*{_SEX}?の?\s*{_FAMILY}|{_FAMILY}[\s(（、,]*{_AGE}(?:の?{_SEX})?|"
                        rf"{_AGE}の?{_SEX}(?:の方|の人)?)")
_PERSON_EN = re.compile(
    r"\b(?:my |our )?(?:\d{1,3}[- ]year[- ]old |elderly |old )?(?:father|mother|dad|mum|mom|husband|wife|son|daughter|"
    r"grandfather|grandmother|grandpa|grandma|granddad|granny|brother|sister|uncle|aunt|"
    r"oka+-?san|oto+-?san|oba+-?(?:san|chan)|oji+-?(?:san|chan))"
    r"(?:,? (?:aged? )?\d{1,3}(?: years old)?)?", re.IGNORECASE)
_HAS_AGE = re.compile(rf"{_AGE}|\d{{1,3}}[- ]year|aged? \d|, \d{{1,3}}\b|\d{{1,3}} years old", re.IGNORECASE)

# The same in the residents' other languages: a family word as a family says it of their own
# (「我爸爸」 "bố tôi" "tatay ko" "meu pai" "mi padre" 「मेरो बुबा」), and an age with its unit.
# Chinese and Korean write no spaces, so their words are found inside the sentence; in the
# Latin-script languages the possessive makes the kinship word a person (Vietnamese "ba" is
# also "three", "bà" also "you").
_FAMILY_OTHER = re.compile(
    r"(?:我的?|我们|我們|我家)?(?:爸爸|父亲|父親|妈妈|媽媽|母亲|母親|爷爷|爺爺|奶奶|外公|外婆|姥姥|姥爷|姥爺|老公|丈夫|"
    r"妻子|老婆|太太|儿子|兒子|女儿|女兒|岳父|岳母|阿公|阿嬤|阿嬷)"
    r"|(?:(?:저희|우리|제)\s*)?(?:할아버지|할머니|아버지|어머니|아빠|엄마|시아버지|시어머니|장인어른|장모님|남편|아내|와이프|"
    r"아들|딸(?!기))"
    r"|\b(?:(?:bố|ba|cha|mẹ|má|ông|bà|chồng|vợ|con trai|con gái|anh trai|chị gái|em trai|em gái)"
    r"(?:\s+(?:nội|ngoại))?\s+(?:của\s+)?(?:tôi|em|mình|chúng tôi)|(?:ông|bà)\s+(?:nội|ngoại))\b"
    r"|\b(?:(?:yung|ang|si)\s+)?(?:tatay|nanay|itay|inay|ama|ina|lolo|lola|asawa|anak|kuya|ate|tito|tita|papa|mama)"
    r"\s+(?:ko|namin|natin)\b"
    r"|\b(?:meu|minha|nosso|nossa)\s+(?:pai|mãe|mae|avô|avó|avo|marido|esposo|esposa|mulher|filho|filha|irmão|irmao|"
    r"irmã|irma|sogro|sogra)\b"
    r"|\b(?:mi|nuestro|nuestra)\s+(?:padre|papá|papa|madre|mamá|mama|abuelo|abuela|esposo|marido|esposa|mujer|hijo|hija|"
    r"hermano|hermana|suegro|suegra)\b"
    r"|(?:(?:मेरो|मेरी|हाम्रो|हाम्री)\s*)?(?:हजुरबुबा|हजुरबुवा|हजुरआमा|बुबा|बुवा|बाबा|आमा|श्रीमान्|श्रीमान|श्रीमती|छोरा|छोरी)"
    r"|\b(?:mero|hamro)\s+(?:buwa|buba|baba|aama|ama|hajurbuwa|hajuraama)\b",
    re.IGNORECASE)
# "Years (old)" after a number in the residents' languages (「82岁」「85세」「79 tuổi」「82 anos」).
AGE_UNITS_OTHER = r"岁|歲|세|살|tuổi|tuoi|anos|años|taong gulang|taon|वर्ष|बर्ष"
_AGE_OTHER = re.compile(rf"\d{{1,3}}\s*(?:{AGE_UNITS_OTHER})", re.IGNORECASE)
_AGE_SAID = re.compile(rf"{_AGE}|{_AGE_OTHER.pattern}|\d{{1,3}}\s*years?[\s-]*old|\baged?\s+\d{{1,3}}\b", re.IGNORECASE)

# Someone who lives near the resident, not in their household: the person of a worry report
# (TAXONOMY: ask_where is the resident's own household's matter). Japanese says where they
# live (「お向かいの」「アパートの2階の」); the other languages have a word for a neighbour.
_NEIGHBOUR_JA = re.compile(
    r"(?:お?隣|となり|おとなり|お?向かい|むかい|ご?近所|きんじょ|裏|上の階|下の階|同じ(?:アパート|マンション|団地|棟|階)|"
    r"アパート|マンション|団地|長屋|棟)(?:の|に住[むん]で?(?:いる|る|はる)?)\s*(?:(?:\d+\s*階|部屋|家|お?宅)の?\s*)?"
    r"(?:人|ひと|方|かた|お?ばあ|お?じい|おば|おじ|男|女|住人|奥さん|ご主人|旦那|息子|娘|にいちゃん|兄ちゃん|ねえちゃん|"
    r"姉ちゃん|お?兄さん|お?姉さん|子(?!ども食堂|供食堂)|家|お?宅|一人暮らし|ひとり暮らし|独り暮らし|高齢|年寄り|お年寄り|老人|夫婦|ご夫婦)"
    # 「近所に 認知症っぽい 方が いて」: someone who lives near, named after what they are like.
    r"|(?:ご?近所|きんじょ)に[^。]{0,14}?(?:人|ひと|方|かた|お?ばあさん|お?じいさん|お年寄り|老人)が\s*(?:い|お)")
_NEIGHBOUR_OTHER = re.compile(
    r"\bneighbou?rs?\b|\bnext door\b|\bacross the (?:hall|street|road|corridor)\b|\b(?:up|down)stairs\b"
    r"|\bin my (?:building|block)\b|邻居|鄰居|隔壁|对门|對門|楼上|樓上|楼下|樓下|옆집|이웃|윗집|아랫집|앞집"
    r"|\bhàng xóm\b|\bkapitbahay\b|\bkatabi\b|\bvizinh[oa]s?\b|\bvecin[oa]s?\b|छिमेकी|\bchhimeki\b",
    re.IGNORECASE)
# The resident's own family: 「うちの母」「私の父」, or a kinship word of one's own that no one
# else's の owns (「母が」, not 「隣の息子さん」 nor 「お向かいのご主人」).
_OWN_JA = re.compile(
    r"(?:うちの|内の|私の|わたしの|あたしの|僕の|ぼくの|俺の|おれの|自分の|我が家の|実家の)"
    r"|(?:\A|(?<=[\s、,。.!?！？]))(?:母|父|夫|妻|息子|娘|祖母|祖父|母親|父親|旦那|家内|嫁|おかん|おとん|兄|弟|姉|妹)"
    r"(?:が|は|も|の|と|、|\s)")
_OWN_EN = re.compile(
    r"\b(?:my|our)\s+(?:elderly\s+|old\s+|\d+[- ]year[- ]old\s+)?(?:mother|mum|mom|father|dad|husband|wife|partner|son|"
    r"daughter|grand(?:mother|father|ma|pa|mum|mom|dad)|granny|brother|sister|parents?|kids?|child(?:ren)?)\b",
    re.IGNORECASE)
# The other languages' own family, with the possessive they say it with (a bare 할머니 or
# 奶奶 is as often the neighbour's).
_OWN_OTHER = re.compile(
    r"(?:我的?|我们的?|我們的?|我家)(?:爸爸|爸|父亲|父親|妈妈|媽媽|妈|媽|母亲|母親|爷爷|爺爺|奶奶|外公|外婆|老公|丈夫|妻子|"
    r"老婆|太太|儿子|兒子|女儿|女兒)"
    r"|(?:저희|우리|제)\s*(?:할아버지|할머니|아버지|어머니|아빠|엄마|시아버지|시어머니|남편|아내|와이프|아들|딸)"
    r"|\b(?:bố|ba|cha|mẹ|má|ông|bà|chồng|vợ|con trai|con gái)(?:\s+(?:nội|ngoại))?\s+(?:của\s+)?(?:tôi|em|mình)\b"
    r"|\b(?:tatay|nanay|itay|inay|lolo|lola|asawa|anak|kuya|ate)\s+(?:ko|namin)\b"
    r"|\b(?:meu|minha|nosso|nossa|mi|nuestro|nuestra)\s+(?:pai|mãe|mae|avô|avó|avo|marido|esposo|esposa|filho|filha|"
    r"padre|papá|papa|madre|mamá|mama|abuelo|abuela|hijo|hija)\b"
    r"|(?:मेरो|मेरी|हाम्रो|हाम्री)\s*(?:हजुरबुबा|हजुरआमा|बुबा|बुवा|बाबा|आमा|श्रीमान्|श्रीमती|छोरा|छोरी)"
    r"|\b(?:mero|hamro)\s+(?:buwa|buba|baba|aama|ama|hajurbuwa|hajuraama)\b",
    re.IGNORECASE)

# Since when: a number of days/weeks ago or since, or a day said with から.
_NUMBER = r"(?:\d+|[一二三四五六七八九十]+|数|何|なん)"
_SINCE_JA = re.compile(
    rf"{_NUMBER}\s*(?:日|週間|週|か月|ヶ月|カ月|ケ月|ヵ月)(?:間)?(?:くらい|ぐらい|ほど|以上)?(?:前|まえ)?(?:から|も|ほど|くらい)"
    r"|(?:昨日|きのう|おととい|一昨日|先週|先月|今朝|昨夜|ゆうべ|この前|先日|年末|正月)(?:ごろ|頃)?から"
)
_SINCE_EN = re.compile(
    r"\b(?:for|since|about|over)\s+(?:(?:about|over|almost|nearly)\s+)?"
    r"(?:\d+|a few|a couple of|several|two|three|four|five|a|one|yesterday|last \w+|the last \w+(?: \w+)?)"
    r"(?:\s+(?:days?|weeks?|months?))?(?:\s+ago)?\b", re.IGNORECASE)

# The form of a verb or an adjective that tells something (「たまっています」「見かけへん」
# 「曲がっとる」「閉まったまま」 "hasn't been seen"), not a noun phrase naming a place.
_PREDICATE_JA = re.compile(
    r"(?:て|で)(?:いる|いま|いた|る|た|ます|おる|おり|とる|ちょる|へん|ない)|(?:と|ど)(?:る|った|ります)|"
    r"(?:ない|なく|なかった|ません|ました|ます|ったまま|たまま|まま|っぱなし|ぱなし|へん|ひん|ねん|らん|れない|られない|"
    r"った|いた|した|んだ|かった|しい|くて|うて|だし|やし|だけど|やけど|みたい|らしい|っぽい)"
)
# A plain verb ending a clause (「音がする」「においがする」) — but also 「近く」, so not next to a spot.
_PLAIN_VERB_END = re.compile(r"[\u4e00-\u9fffぁ-ゖ](?<![ぁぃぅぇぉっゃゅょゎ])[うくすつぬふむるぐぶ](?:[。、,.!！]|\Z)")
_PREDICATE_EN = re.compile(
    r"\b(?:is|are|was|were|has|have|had|been|seems?|looks?|keeps?|hasn'?t|haven'?t|isn'?t|wasn'?t|not|no)\b"
    r"|\b\w+(?:ing|ed)\b", re.IGNORECASE)
# A spot in the Latin-script languages (diacritics folded): a landmark or "last seen …" makes
# an answer a place, however long ("He was last seen near the station around 9 this morning",
# "lo vi por última vez en la estación Aoba").
_SPOT_LATIN = re.compile(
    r"\b(?:station|eki|park|supermarket|store|shop|konbini|combini|convenience store|hospital|clinic|school|bridge|"
    r"river|temple|shrine|mall|bus stop|corner|street|road|avenue|near|nearby|in front of|outside the|"
    r"last seen|estacion|estacao|parque|supermercado|tienda|loja|escuela|escola|puente|ponte|rio|templo|"
    r"parada|paradero|ponto de onibus|esquina|calle|rua|avenida|plaza|praca|cerca de|perto d[aoe]|junto a|"
    r"en frente|em frente|por ultima vez|pela ultima vez|istasyon|palengke|simbahan|tindahan|malapit sa|"
    r"huling nakita|nha ga|ga tau|cong vien|sieu thi|benh vien|truong hoc|gan|lan cuoi)\b",
    re.IGNORECASE)
# A landmark is said in a few words (「駅前のスーパーの裏」); prose this long is more than that.
_PROSE = 15
# Words that name a spot or an address (a landmark answer), and how long a casual detail is at least.
_SPOT = re.compile(
    r"近く|前|裏|横|隣|となり|そば|付近|あたり|辺|向かい|駅|公園|交差点|角|筋|通り|沿い|ビル|店|スーパー|コンビニ|"
    r"学校|病院|神社|寺|橋|川|団地|マンション|アパート|\d+\s*(?:丁目|番|号|-)|ちょうめ|[町区市村]")
# The same in the residents' languages written in their own scripts: 「공원 옆」「车站附近」「पार्क नजिक」.
_SPOT_OTHER = re.compile(
    r"공원|역\b|역\s*앞|옆|앞|뒤|근처|맞은편|건너편|아파트|빌라|가게|마트|편의점|병원|학교|다리|교회|"
    r"公园|公園|车站|車站|旁边|旁邊|附近|前面|对面|對面|后面|後面|超市|便利店|医院|醫院|学校|學校|公寓|大楼|大樓|"
    r"पार्क|नजिक|नजीक|अगाडि|पछाडि|छेउ|स्टेसन|स्टेशन|पसल|अस्पताल|विद्यालय|स्कूल|पुल|मन्दिर")
_SHORT_DETAIL = 6
_MIN_DETAIL = 5
_PROSE_WORDS = 7
_MIN_WORDS = 3


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _letters(text: str) -> int:
    return len(_NOISE.sub("", text))


def about_a_neighbour(text: str) -> bool:
    """Whether the words are about someone living near the resident, not in their household.

    「お向かいのご主人が、奥さんを亡くしてからずっと家にこもって」「アパートの2階のにいちゃん」
    "the man across the hall" are; 「うちの母が」「隣の人に勧められて、母の介護のことで」 and
    "my dad" are not: the resident's own family is named.
    """
    plain = _plain(text)
    if not (_NEIGHBOUR_JA.search(plain) or _NEIGHBOUR_OTHER.search(plain)):
        return False
    return not (_OWN_JA.search(plain) or _OWN_EN.search(plain) or _OWN_OTHER.search(plain))


def says_what_was_noticed(text: str, place: str = "") -> bool:
    """Whether a worry report's words say what was noticed, not only that there is a worry.

    「隣のおばあさんを最近見かけない」 does; 「近所の人のことで気になることがあって」 and
    "I'm worried about my elderly neighbour" do not. The words without what every worry
    report says (the person, "worried", "I want to consult", a greeting) and without the
    place must leave something.

    Args:
        text: the resident's words.
        place: the place the words name (its matched surface), which is no observation.
    """
    rest = _plain(text)
    for surface in sorted((part for part in place.split(" ") if part), key=len, reverse=True):
        rest = rest.replace(surface, " ")
    rest = re.sub(r"\d+\s*(?:丁目|番地?|号室?|-\d+)+", " ", rest)
    rest = _GENERIC_EN.sub(" ", _GENERIC_JA.sub(" ", rest.lower()))
    return _letters(rest) >= _OBSERVED


def missing_person(text: str) -> str | None:
    """Who a missing-person report's words name: a family word, with the age when said
    (「認知症の父」「85歳の母」「おやじ 85さい」 "my father, 82", 「我爸爸 82岁」 "bố tôi").

    Returns:
        The words naming the person, or None.
    """
    plain = _plain(text)
    match = _PERSON_JA.search(plain) or _PERSON_EN.search(plain)
    if match is not None and _HAS_AGE.search(match.group(0)):
        return match.group(0).strip(" 、,")
    family = re.search(_FAMILY, plain) or _PERSON_EN.search(plain) or _FAMILY_OTHER.search(plain)
    if family is None:
        return None
    # Said apart (「おやじが おらんように なった 85さい」): the family word and the age.
    age = re.search(_AGE, plain) or _AGE_OTHER.search(plain)
    return f"{family.group(0)} {age.group(0)}" if age else family.group(0).strip(" 、,")


# The residents' languages, as a first message says it (「며칠째 안 보여요」「好几天没看到」「mấy hôm
# nay không thấy」「ilang araw ko na pong hindi nakikita」「há dias」): a number of days, weeks or
# months, or since yesterday / last week.
_SINCE_OTHER = re.compile(
    r"(?:며칠|몇\s*일|\d+\s*(?:일|주일?|개월|달)|일주일|이틀|사흘|나흘|한\s*달)\s*(?:째|전부터|동안|정도)|"
    r"지난\s*(?:주|달)부터|어제부터|"
    r"(?:好几|好幾|这几|這幾|几|幾|\d+|[一二三四五六七八九十两兩]+)\s*(?:天|个?星期|個?星期|周|週|个?月|個?月)|"
    r"\b(?:mấy|may|vài|vai|\d+|một|mot|hai|ba|bốn|bon|năm)\s+(?:hôm|hom|ngày|ngay|tuần|tuan|tháng|thang)\b(?:\s+nay)?|"
    r"\b(?:từ|tu)\s+(?:hôm qua|hom qua|tuần trước|tuan truoc)\b|"
    r"\b(?:ilang|mga\s+\d+|\d+|isang|dalawang|tatlong)\s+(?:na\s+)?(?:araw|linggo|buwan)\b|"
    r"\b(?:h[aá]|faz|hace|desde hace)\s+(?:\d+\s+|uns\s+|umas\s+|alguns\s+|algumas\s+|v[aá]rios\s+|unos\s+|unas\s+|"
    r"varias\s+|una?\s+|duas\s+|dos\s+|tr[eê]s\s+)?(?:d[ií]as|semanas?|mes(?:es)?|meses)\b|"
    r"\bdesde\s+(?:ontem|ayer|a semana passada|la semana pasada|semana passada|o m[eê]s passado|el mes pasado)\b|"
    r"(?:\d+|केही|धेरै|एक|दुई|तीन)\s*(?:दिन|हप्ता|महिना)\s*(?:देखि|भयो|अघिदेखि)|"
    r"\b(?:\d+|kehi|dherai|ek|dui|tin)\s+(?:din|hapta|mahina)\s*(?:dekhi|bhayo|agadi)\b",
    re.IGNORECASE)


def since_when(text: str) -> str | None:
    """Since when, when the words say it (「3日前から」「一週間も」「昨日から」 "for three days"
    「며칠째」「há dias」)."""
    plain = _plain(text)
    match = _SINCE_JA.search(plain) or _SINCE_EN.search(plain) or _SINCE_OTHER.search(plain)
    return match.group(0).strip() if match else None


def is_more_about_the_person(text: str) -> bool:
    """Whether an answer that names no place is prose telling more (a detail), not a landmark.

    「ポストに新聞が4日分くらいたまっています」「85歳の男じゃ。背は低うて、腰が曲がっとる」
    tell something; 「駅前のスーパーの裏」「near the station」 name a spot.
    """
    plain = _plain(text)
    if _AGE_SAID.search(plain):
        # 「82歳です」 "she's 82 years old" 「82岁」: short, but about the person.
        return True
    folded = fold_diacritics(plain)
    if folded.isascii() and _SPOT_LATIN.search(folded):
        return False
    if plain.isascii():
        words = len(re.findall(r"[A-Za-z']+", plain))
        return words >= _PROSE_WORDS or (words >= _MIN_WORDS and _PREDICATE_EN.search(plain) is not None)
    letters = len(re.findall(r"[^\W\d_]", plain))
    if letters >= _PROSE or (letters >= _MIN_DETAIL and _PREDICATE_JA.search(plain) is not None):
        return True
    if _SPOT.search(plain):
        return False
    # Short and casual (「郵便受けパンパンだし」「変な音がする」): a detail, unless it reads like a
    # spot — or is kana only, as a town name the directory did not know may be (「やなぎちょう」).
    if letters >= _SHORT_DETAIL and re.search(r"[\u4e00-\u9fff\u30a0-\u30ff]", plain):
        return True
    return letters >= _MIN_DETAIL and _PLAIN_VERB_END.search(plain) is not None


# What is said around a number given as the one to call (「私の電話番号は…です」 "my number is …"
# 「số điện thoại của tôi là …」): none of it is a place, a description or a time.
_AROUND_A_NUMBER = re.compile(
    r"電話番号|電話|でんわ|番号|ばんごう|携帯|けいたい|スマホ|連絡先|れんらくさき|自宅|家|うち|私|わたし|わたくし|僕|ぼく|俺|おれ|"
    r"です|でございます|になります|まで|お願いします|おねがいします|お願い|ください|下さい|よろしく|[のはがへにでをね]|"
    r"\b(?:my|our|phone|telephone|tel|mobile|cell|number|no|is|it's|its|call|me|us|at|on|here|please|the|"
    r"meu|minha|o|numero|número|telefone|celular|mi|es|teléfono|telefono|"
    r"so|số|dien|điện|thoai|thoại|cua|của|toi|tôi|la|là|"
    r"ang|aking|ko|ay|po|telepono|"
    r"mero|nambar|ho)\b|"
    r"전화번호|전화|번호|제|저의|내|입니다|이에요|예요|"
    r"我的|我|电话号码|電話號碼|电话|號碼|号码|是|"
    r"मेरो|फोन|नम्बर|हो",
    re.IGNORECASE)


def is_only_a_phone_number(text: str) -> bool:
    """Whether the words are a phone number and what one says around it, nothing more
    (「私の電話番号は090-1234-5678です」 "my number is 090 1234 5678"; not 「南区旭町、電話は…」)."""
    if national_phone(text) is None:
        return False
    rest = _AROUND_A_NUMBER.sub("", without_phone_numbers(text))
    return _letters(rest) <= 1


def names_a_spot(text: str) -> bool:
    """Whether the words name a spot to look for (「公園の横の青い家」 "by the park" 「공원 옆」),
    in any of the residents' languages."""
    plain = _plain(text)
    folded = fold_diacritics(plain)
    return bool(_SPOT.search(plain) or _SPOT_OTHER.search(plain) or (folded.isascii() and _SPOT_LATIN.search(folded)))


_QUESTION_END = re.compile(r"(?:[?？]|ですか|ますか|でしょうか|ですかね|んですか|のですか|かな|かしら)\s*[。．.!！]*\s*\Z")
_ENGLISH_QUESTION = re.compile(
    r"\A(?:what|where|when|who|whom|whose|why|how|which|can|could|is|are|do|does|did|will|would|should|may|shall)\b",
    re.IGNORECASE)


def is_question(text: str) -> bool:
    """Whether the words ask the bot something (「日本語でいいですか」 "who will contact me"),
    so they are no detail about the person."""
    return bool(_QUESTION_END.search(text) or _ENGLISH_QUESTION.match(text))


# 「先週からだったかな」「何時だったっけ」: the resident unsure of their own answer, asking nobody.
_SELF_DOUBT_END = re.compile(r"(?:かな|かしら|ですかね|っけ)\s*[。．.!！?？]*\s*\Z")


def asks_the_bot(text: str) -> bool:
    """Whether the words put a question to the bot or the counter (「いつ連絡をもらえますか」
    "can I send a photo?"), not a resident wondering aloud about their own answer."""
    return is_question(text) and not _SELF_DOUBT_END.search(text)


# The police named in a question (「警察にも電話したほうがいいですか」 "should I call the police?").
_POLICE = re.compile(
    r"警察|けいさつ|110|ひゃくとおばん|\bpolice\b|\bcops?\b|polic[ií]a|pol[ií]cia|경찰|报警|報警|"
    r"c[aả]nh s[aá]t|c[oô]ng an|\bpulis|प्रहरी|\bprahari",
    re.IGNORECASE)
# 「警察にはもう電話しました」 "I already called the police": told, not asked.
_POLICE_ALREADY_TOLD = re.compile(
    r"もう|すでに|既に|電話しました|通報しました|届けました|\balready\b|\b(?:i|we) (?:have |'ve )?(?:called|reported)\b|"
    r"\bya\b|llam[eé]|\bj[aá]\b|liguei|했|已经|已經|\bđã\b|\bda goi\b|\bna po\b|\bna ako\b|सकें|saken",
    re.IGNORECASE)


def asks_whether_to_call_the_police(text: str) -> bool:
    """Whether a missing person's family asks if they should call the police too: a question
    the report answers itself (yes, 110 now), unlike one only the staff can answer."""
    views = (text, fold_diacritics(text))  # Vietnamese with or without its marks
    return (asks_the_bot(text) and any(_POLICE.search(view) for view in views)
            and not any(_POLICE_ALREADY_TOLD.search(view) for view in views))


# A courtesy before a question (「すみません、」 "sorry,"), besides the fillers: no answer before it.
_COURTESY = re.compile(
    r"\A\s*(?:すみません|すいません|ちょっと|sorry|excuse me|disculpe|perd[oó]n|desculpe|xin l[oỗ]i|"
    r"pasensya(?: na)?(?: po)?|죄송합니다|저기요|请问|請問|不好意思)\s*[、,，。.!！]?\s*",
    re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[、,，;；]")


def asks_instead_of_answering(text: str) -> bool:
    """At a question whose answer is free words (who, when, what they wore): whether the words
    only ask the bot something (「警察にも電話したほうがいいですか」 "¿Debo llamar a la policía?")
    rather than answer with a question tagged on (「赤いセーターです、それでいいですか？」
    "a blue jacket, is that enough?"), which is an answer."""
    return asks_the_bot(text) and not _CLAUSE_BREAK.search(_COURTESY.sub("", strip_fillers(text), count=1))


# A greeting before the matter ("hello, my neighbour…", 「Xin chào, bà cụ…」): no part of what a
# report keeps. Only at the start, and only with more words after it.
_GREETING_FIRST = re.compile(
    r"\A\s*(?:hello|hi|hey|good (?:morning|afternoon|evening)|もしもし|こんにちは|こんばんは|おはようございます|"
    r"xin ch[aà]o|ch[aà]o (?:anh|ch[iị]|b[aạ]n|em)|안녕하세요|你好|您好|hola|buen(?:os|as) (?:d[ií]as|tardes|noches)|"
    r"ol[aá]|bom dia|boa (?:tarde|noite)|kumusta(?: po)?|magandang (?:umaga|hapon|gabi)(?: po)?|नमस्ते|namaste)"
    r"[\s、,，。.!！]+(?=\S)", re.IGNORECASE)


def strip_fillers(text: str) -> str:
    """The words without hesitations (「えーと 父です」 → 「父です」) or a greeting first ("hello,
    my neighbour…"), as a report keeps them; the words themselves when they are nothing but
    hesitation."""
    stripped = text
    while (shorter := _FILLER.sub("", _GREETING_FIRST.sub("", stripped)).strip()) != stripped:
        stripped = shorter
    return stripped or text.strip()

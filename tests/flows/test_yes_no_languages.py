"""Yes and no in the residents' languages (flows.base is_yes / is_no): whole answers only."""

from __future__ import annotations

import pytest

from flows.base import is_no, is_yes

YES = ["네", "예", "có", "Vâng", "oo", "Opo", "sige po", "Sim!", "sim", "Sí", "si", "de acuerdo", "是", "是的", "对", "對",
       "好的", "हो", "हजुर", "おねがい", "どういします"]
NO = ["아니요", "아니오", "không", "Khong", "hindi", "Hindi po", "não", "Não, obrigado", "no", "No, gracias", "不是",
      "不", "不用了", "होइन", "हैन"]


@pytest.mark.parametrize("answer", YES)
def test_yes_in_the_residents_languages(answer: str) -> None:
    assert is_yes(answer) and not is_no(answer)


@pytest.mark.parametrize("answer", NO)
def test_no_in_the_residents_languages(answer: str) -> None:
    assert is_no(answer) and not is_yes(answer)


@pytest.mark.parametrize("answer", ["sim, mas só amanhã", "hindi ko alam", "có thể", "네 번째", "不是很清楚",
                                    "si puede ser otro día"])
def test_only_the_whole_answer_counts(answer: str) -> None:
    assert not is_yes(answer) and not is_no(answer)

"""national_phone: one form (national digits) for a phone number however it is written."""

from __future__ import annotations

import pytest

from intents.phone import national_phone, without_phone_numbers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0312345678", "0312345678"),  # a fixed line: 10 digits
        ("09012345678", "09012345678"),  # a mobile: 11 digits
        ("090-1234-5678", "09012345678"),
        ("090 1234 5678", "09012345678"),
        ("０９０－１２３４－５６７８", "09012345678"),  # full-width digits and hyphens
        ("03（1234）5678", "0312345678"),
        ("+81312345678", "0312345678"),  # E.164, as Twilio names a caller
        ("+81 90-1234-5678", "09012345678"),
        ("+81 (0)3-1234-5678", "0312345678"),
        ("0081-3-1234-5678", "0312345678"),
        ("819012345678", "09012345678"),
        ("my number is 080-5555-6666", "08055556666"),
        ("長男 090-1234-5678", "09012345678"),
    ],
)
def test_a_number_is_folded_to_its_national_digits(raw: str, expected: str) -> None:
    assert national_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "わかりません",
        "12345",
        "312345678",  # no leading 0
        "031234567",  # too short
        "090123456789",  # too long
        "+1 415 555 0100",  # not Japan
        "3 090-1111-2222",  # a stray digit makes it another number
        "call:CA0a12345678901b2c",  # a withheld caller's id
    ],
)
def test_garbage_is_no_number(raw: str) -> None:
    assert national_phone(raw) is None


def test_without_phone_numbers_leaves_other_numbers() -> None:
    assert without_phone_numbers("私の電話番号は090-1234-5678です") == "私の電話番号はです"
    assert without_phone_numbers("tel (03) 1234-5678, 3丁目 2-5") == "tel , 3丁目 2-5"
    assert without_phone_numbers("〒000-0101 北区柳町 2-3-4、82歳") == "〒000-0101 北区柳町 2-3-4、82歳"

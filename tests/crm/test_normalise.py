"""Identity-bearing values are normalised so that look-alikes become one key."""

from __future__ import annotations

import pytest

from rapport.crm.normalise import normalise_currency, normalise_email, normalise_phone
from rapport.crm.schemas import clean_text


@pytest.mark.parametrize("raw", [
    "mei.chen@example.com", "Mei.Chen@Example.COM", "mei.chen＠example.com",
    "ｍｅｉ.ｃｈｅｎ@ｅｘａｍｐｌｅ.ｃｏｍ", "  mei.chen@example.com\t",
])
def test_email_look_alikes_become_one_address(raw: str) -> None:
    assert normalise_email(raw) == "mei.chen@example.com"


def test_zero_width_characters_are_removed_before_an_email_is_checked() -> None:
    assert normalise_email(clean_text("mei\u200b.chen@exam\u2060ple.com")) == "mei.chen@example.com"


@pytest.mark.parametrize("raw", ["not-an-email", "mei@", "@example.com", "mei chen@example.com"])
def test_invalid_emails_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not a valid email"):
        normalise_email(raw)


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("138 0013 8000", "CN", "+8613800138000"),
    ("１３８００１３８０００", "CN", "+8613800138000"),
    ("+86 (138) 0013-8000", "DE", "+8613800138000"),
    ("030 1234567", "DE", "+49301234567"),
])
def test_phones_become_e164(raw: str, region: str, e164: str) -> None:
    assert normalise_phone(raw, region) == e164


def test_clean_text_refuses_nul_and_normalises_to_nfc() -> None:
    assert clean_text("Cafe\u0301 \ufeff") == "Café"
    with pytest.raises(ValueError, match="NUL"):
        clean_text("a\u0000b")


def test_currencies_are_iso_codes() -> None:
    assert normalise_currency(" eur ") == "EUR"
    with pytest.raises(ValueError, match="ISO 4217"):
        normalise_currency("EURO")

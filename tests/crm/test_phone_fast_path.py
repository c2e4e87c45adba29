"""The mainland-mobile fast path gives exactly what phonenumbers gives."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.crm.normalise import normalise_phone, phone_search_variants

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True).filter(lambda n: not n.startswith("179"))
layouts = st.sampled_from(["{n}", "+86 {n}", "+86-{a}-{b}-{c}", "({a}) {b}{c}", "+86 {a} {b} {c}"])


@settings(max_examples=400)
@given(mobiles, layouts)
def test_fast_path_matches_phonenumbers(number: str, layout: str) -> None:
    written = layout.format(n=number, a=number[:3], b=number[3:7], c=number[7:])
    parsed = phonenumbers.parse(written, "CN")
    expected = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    assert normalise_phone(written, "CN") == expected
    assert phone_search_variants(expected) == [expected[1:], str(parsed.national_number)]


def test_a_bare_mobile_outside_china_is_not_assumed_chinese() -> None:
    assert normalise_phone("+49 30 1234567", "CN") == "+49301234567"
    assert normalise_phone("13800138000", "DE") != "+8613800138000"

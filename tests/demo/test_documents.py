"""The bulk loader's search text is the service's search text, character for character."""

from __future__ import annotations

import random

import phonenumbers

from rapport.crm.normalise import phone_search_variants
from rapport.crm.search import spaced_cjk as service_spaced_cjk
from rapport.demo import names
from rapport.demo.documents import phone_variants, spaced_cjk
from rapport.demo.generate import landline, mobile


def test_cjk_spacing_matches_the_service_for_every_bmp_character() -> None:
    text = "".join(chr(cp) for cp in range(0x20, 0xFFFF) if not 0xD800 <= cp <= 0xDFFF)

    assert spaced_cjk(text) == service_spaced_cjk(text)
    assert spaced_cjk("plain ascii") == "plain ascii"


def test_generated_numbers_are_valid_and_indexed_like_the_service_does() -> None:
    rng = random.Random(3)
    numbers = [mobile(rng, country) for country in names.MOBILE_PLANS for _ in range(300)]
    numbers += [landline(rng, city) for city in (*names.EAST_CHINA, *names.SOUTH_CHINA,
                                                 *names.EMEA_CITIES) for _ in range(100)]

    for number in numbers:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
        assert phone_variants(number) == phone_search_variants(number), number

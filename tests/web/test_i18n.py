"""English and Simplified Chinese: per-user locale, catalogs and locale-aware formatting."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from rapport.crm.registry import OBJECTS, WORK_OBJECTS
from rapport.web import labels
from rapport.web.display import humanise
from rapport.web.formatting import Formatter
from rapport.web.i18n import LOCALE_DIR

WEB = Path(labels.__file__).parent


def test_switching_to_chinese_renders_chinese(admin_browser: TestClient, token: str) -> None:
    admin_browser.post("/api/v1/opportunities", json={"name": "x"})  # no pipeline: ignored
    answer = admin_browser.post("/locale", data={"csrf_token": token, "locale": "zh_CN",
                                                 "next": "/contacts"}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/contacts"
    page = admin_browser.get("/contacts")
    assert '<html lang="zh-CN">' in page.text
    assert "联系人" in page.text
    assert "我的任务" in page.text
    assert admin_browser.get("/api/v1/me").json()["locale"] == "zh_CN"
    form = admin_browser.post("/contacts/new", data={"csrf_token": token, "last_name": ""})
    assert "此字段为必填项" in form.text
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "en"})
    assert "My tasks" in admin_browser.get("/contacts").text


def test_unknown_locale_is_refused(admin_browser: TestClient, token: str) -> None:
    answer = admin_browser.post("/locale", data={"csrf_token": token, "locale": "fr"})
    assert answer.status_code == 422


def test_login_page_follows_the_browser_language(browser: TestClient) -> None:
    page = browser.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in page.text
    assert "Sign in" in browser.get("/login?lang=en").text


@pytest.mark.parametrize(("locale", "currency", "expected"), [
    ("zh_CN", "CNY", "¥1,250,000.00"),
    ("en", "CNY", "CN¥1,250,000.00"),
    ("en", "USD", "$1,250,000.00"),
    ("zh_CN", "USD", "US$1,250,000.00"),
    ("en", "EUR", "€1,250,000.00"),
])
def test_money_is_formatted_for_the_locale(locale: str, currency: str, expected: str) -> None:
    assert Formatter(locale).money(Decimal("1250000"), currency) == expected


def test_dates_counts_and_phones_follow_the_locale() -> None:
    zh = Formatter("zh_CN", timezone="Asia/Shanghai")
    assert zh.date("2026-06-30") == "2026年6月30日"
    assert zh.datetime("2026-01-05T01:00:00+00:00").startswith("2026年1月5日 09:00")
    assert Formatter("en").count(1000, capped=True) == "1,000+"
    assert zh.phone("+8613800138000") == "138 0013 8000"
    assert zh.phone("+14155550123") == "+1 415-555-0123"


def _catalog(locale: str) -> dict[str, str]:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id}


def test_every_ui_string_has_a_chinese_translation() -> None:
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    extracted = {
        msg[2] if isinstance(msg[2], str) else msg[2][0]
        for msg in extract_from_dir(str(WEB), method_map, options_map=options,
                                    keywords={"_": None, "gettext": None, "N_": None})
    }
    zh = _catalog("zh_CN")
    missing = sorted(m for m in extracted if not zh.get(m))
    assert not missing, f"add these to locale/zh_CN/LC_MESSAGES/messages.po: {missing}"


def test_labels_module_covers_the_registry() -> None:
    listed = set(labels.FIELD_LABELS) | set(labels.OPTION_LABELS) | set(labels.OBJECT_LABELS)
    for name in WORK_OBJECTS:
        spec = OBJECTS[name]
        assert spec.label in listed
        assert name in labels.NEW_LABELS
        for field in spec.fields.values():
            assert field.label in listed, field.label
            for option in field.options:
                assert humanise(option) in listed, option

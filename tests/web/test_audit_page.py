"""The audit log page: filters, pages, the verify button, the download link, who may see it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from rapport.bootstrap import Container
from rapport.trust import audit
from rapport.trust.auth import create_user
from rapport.trust.models import AuditEntry
from rapport.trust.roles import set_user_roles
from tests.fixtures.api import PASSWORD, REP_EMAIL
from tests.web.conftest import sign_in


@pytest.fixture
def entries(container: Container, api_tokens: dict[str, str]) -> list[int]:
    ids = []
    with container.uow() as uow:
        for n in range(60):
            ids.append(audit.append(
                uow.session, container.settings.secret_key, "reveal" if n % 3 else "export",
                actor=audit.actor_ref(1), target=f"accounts:{n}", network="trusted",
                details={"fields": ["phone"], "n": n} if n % 3 else
                {"object": "contacts", "count": n, "filters": ["tier:eq"] * 12}).id)
        uow.commit()
    return ids


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td class="muted">(\d+)</td>', html)]


def test_the_page_lists_newest_first_and_pages_to_older_entries(
    admin_browser: TestClient, entries: list[int]
) -> None:
    first = admin_browser.get("/admin/audit")

    assert first.status_code == 200
    ids = row_ids(first.text)
    assert ids[0] == entries[-1]
    assert len(ids) == 50
    older = re.search(r'href="(/admin/audit\?cursor=\d+)" rel="next"', first.text)
    assert older
    second = admin_browser.get(older.group(1).replace("&amp;", "&"))
    assert row_ids(second.text)[0] == ids[-1] - 1
    assert "Ada Admin" in first.text  # user:1 is shown with their name


def test_filters_and_the_download_link_carry_the_same_conditions(
    admin_browser: TestClient, entries: list[int]
) -> None:
    page = admin_browser.get("/admin/audit", params={"action": "export", "from": "2000-01-01"})

    ids = row_ids(page.text)
    assert ids == [i for n, i in enumerate(entries) if n % 3 == 0][::-1]
    link = re.search(r'href="(/api/v1/audit/export\?[^"]+)" download', page.text)
    assert link
    assert "action=export" in link.group(1)
    assert "since=1999-12-31T16%3A00%3A00%2B00%3A00" in link.group(1)  # Asia/Shanghai midnight
    download = admin_browser.get(link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200
    assert len(download.content.splitlines()) == len(ids)


def test_long_details_are_folded(admin_browser: TestClient, entries: list[int]) -> None:
    page = admin_browser.get("/admin/audit", params={"action": "export"})

    assert "<details><summary><code>count=" in page.text
    assert "…</code></summary><pre>" in page.text


def test_bad_filters_are_explained_not_a_500(admin_browser: TestClient,
                                             entries: list[int]) -> None:
    page = admin_browser.get("/admin/audit", params={"action": "nope", "from": "31/01/2026"})

    assert page.status_code == 200
    assert "Dates must look like 2026-01-31." in page.text
    assert "Choose an action from the list." in page.text


def test_the_verify_button_shows_intact_then_tampered(
    admin_browser: TestClient, container: Container, entries: list[int]
) -> None:
    page = admin_browser.get("/admin/audit")
    assert 'hx-get="/admin/audit/verify"' in page.text

    intact = admin_browser.get("/admin/audit/verify", headers={"HX-Request": "true"})
    with container.uow() as uow:
        uow.session.execute(update(AuditEntry).where(AuditEntry.id == entries[10])
                            .values(target="accounts:999"))
        uow.commit()
    tampered = admin_browser.get("/admin/audit/verify", headers={"HX-Request": "true"})
    without_htmx = admin_browser.get("/admin/audit/verify")

    assert "Chain intact" in intact.text
    assert "<html" not in intact.text  # a fragment for HTMX
    assert "Tampered" in tampered.text
    assert f"entry {entries[10]}: content does not match its hash" in tampered.text
    assert "<html" in without_htmx.text
    assert "Tampered" in without_htmx.text


def test_the_page_and_its_link_need_audit_read(browser: TestClient, container: Container,
                                               entries: list[int]) -> None:
    sign_in(browser, REP_EMAIL)

    assert browser.get("/admin/audit").status_code == 403
    assert browser.get("/admin/audit/verify").status_code == 403
    assert 'href="/admin/audit"' not in browser.get("/").text


def test_an_auditor_sees_the_link_under_administration(browser: TestClient, container: Container,
                                                       entries: list[int]) -> None:
    with container.uow() as uow:
        user = create_user(uow.session, "auditor@example.com", PASSWORD, name="Avi Auditor")
        set_user_roles(uow.session, container.settings.secret_key, None, user.user_id, ["auditor"])
        uow.commit()
    sign_in(browser, "auditor@example.com")

    home = browser.get("/").text

    assert 'href="/admin/audit"' in home
    assert "Administration" in home
    assert browser.get("/admin/audit").status_code == 200



def test_the_page_speaks_the_users_language(browser: TestClient, container: Container,
                                            entries: list[int]) -> None:
    with container.uow() as uow:
        user = create_user(uow.session, "shenji@example.com", PASSWORD, name="Shen Ji",
                           locale="zh_CN")
        set_user_roles(uow.session, container.settings.secret_key, None, user.user_id, ["auditor"])
        uow.commit()
    sign_in(browser, "shenji@example.com")

    page = browser.get("/admin/audit").text
    verified = browser.get("/admin/audit/verify", headers={"HX-Request": "true"}).text

    assert "审计日志" in page
    assert "校验哈希链" in page
    assert "可信网络" in page
    assert "哈希链完整" in verified

"""The UI in real headless Chromium: sign in, forms, drag and drop, search, Chinese."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from rapport.crm.service import SYSTEM, Record
from tests.e2e.conftest import PASSWORD, Live, shot

pytestmark = pytest.mark.e2e


def sign_in(page: Page, email: str = "ada@example.com") -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".sidebar")).to_be_visible()


def opportunity(live: Live, record_id: int) -> Record:
    with live.container.session_factory() as session:
        return live.container.records.get(session, "opportunities", record_id, actor=SYSTEM)


def test_sign_in_is_required_and_works(page: Page) -> None:
    page.goto("/contacts")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcontacts$"))
    shot(page, "01-login")
    page.fill("#email", "ada@example.com")
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".alert.error")).to_contain_text("Wrong email or password")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/contacts$"))
    expect(page.locator("h1")).to_contain_text("Contacts")
    shot(page, "02-contacts-empty")


def test_create_a_contact_through_the_form(page: Page, live: Live) -> None:
    sign_in(page)
    page.goto("/contacts/new")
    page.click("button:has-text('Save')")
    expect(page.locator(".form-field.has-error #last_name")).to_be_visible()
    expect(page.locator("#err-last_name")).to_have_text("this field is required")
    shot(page, "03-contact-form-errors")
    page.fill("#first_name", "Mei")
    page.fill("#last_name", "Chen")
    page.fill("#email", "Mei.Chen@Example.com")
    page.fill("#phone", "138 0013 8000")
    page.select_option("#role", "decision_maker")
    page.select_option("#account_id", label="Acme Robotics")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_contain_text("Mei Chen")
    expect(page.locator(".flash")).to_have_text("Created.")
    # sensitive values are masked even for an administrator, who may reveal them
    expect(page.locator("[data-field=email] .value")).to_have_text("m***@example.com")
    expect(page.locator("[data-field=phone] .value")).to_have_text("138****8000")
    expect(page.locator("[data-field=account_id] a")).to_have_text("Acme Robotics")
    shot(page, "04-contact-record-masked")
    page.click("[data-field=phone] .reveal")
    expect(page.locator("[data-field=phone] .value")).to_have_text("138 0013 8000")
    expect(page.locator("[data-field=email] .value")).to_have_text("m***@example.com")
    shot(page, "04b-admin-revealed-phone")

    # Inline edit: a bad email is refused next to the field, a good one is saved.
    page.locator("[data-field=email]").hover()
    page.click("[data-field=email] .icon-btn.edit")
    page.fill("#inline-email", "not-an-email")
    page.click("[data-field=email] button:has-text('Save')")
    expect(page.locator("[data-field=email] .field-error")).to_contain_text("not a valid email")
    shot(page, "05-inline-edit-error")
    page.fill("#inline-email", "mei@example.com")
    page.click("[data-field=email] button:has-text('Save')")
    expect(page.locator("[data-field=email] .value")).to_have_text("m***@example.com")
    page.click("[data-field=email] .reveal")
    expect(page.locator("[data-field=email] .value")).to_have_text("mei@example.com")

    page.goto("/contacts")
    expect(page.locator("table.data")).to_contain_text("Mei Chen")
    shot(page, "06-contacts-list")


def test_drag_a_deal_to_another_stage(page: Page, live: Live) -> None:
    sign_in(page)
    page.goto("/board")
    ids = live.ids
    card = page.locator(f".deal-card[data-id='{ids['deal']}']")
    expect(card).to_be_visible()
    shot(page, "07-board-before")
    card.drag_to(page.locator(f".stage[data-stage-id='{ids['stage_negotiation']}'] .cards"))
    moved = page.locator(
        f".stage[data-stage-id='{ids['stage_negotiation']}'] .deal-card[data-id='{ids['deal']}']"
    )
    expect(moved).to_be_visible()
    expect(page.locator(".stage[data-stage-id='{}'] .badge".format(ids["stage_negotiation"]))
           ).to_have_text("1")
    assert opportunity(live, ids["deal"]).values["stage_id"] == ids["stage_negotiation"]

    # A deal without an amount cannot enter Proposal: the board says why, nothing moves.
    page.locator(f".deal-card[data-id='{ids['no_amount']}']").drag_to(
        page.locator(f".stage[data-stage-id='{ids['stage_proposal']}'] .cards")
    )
    expect(page.locator("#board .alert.error")).to_contain_text(
        "Amount: required to enter stage “Proposal”"
    )
    assert opportunity(live, ids["no_amount"]).values["stage_id"] == ids["stage_qualify"]
    shot(page, "08-board-after")

    # Keyboard: focus the card and press the right arrow to move it one stage on.
    page.locator(f".deal-card[data-id='{ids['deal']}']").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator(
        f".stage[data-stage-id='{ids['stage_won']}'] .deal-card[data-id='{ids['deal']}']"
    )).to_be_visible()
    assert opportunity(live, ids["deal"]).values["status"] == "won"


def test_search_for_a_record_and_open_it(page: Page) -> None:
    sign_in(page)
    page.fill(".global-search input", "Acme")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("Acme")
    shot(page, "09-search")
    page.click(".search-results a:has-text('Acme Robotics')")
    expect(page.locator("h1")).to_contain_text("Acme Robotics")
    expect(page.locator(".record-side")).to_contain_text("Acme line retrofit")
    shot(page, "10-account-record")

    page.goto("/opportunities")
    page.fill(".search-form input[name=q]", "retrofit")
    page.click(".search-form button")
    expect(page.locator("table.data tbody tr")).to_have_count(1)
    page.click("table.data a:has-text('Acme line retrofit')")
    expect(page.locator(".stage-path")).to_be_visible()
    shot(page, "11-opportunity-record")


def test_task_inbox_marks_a_task_done(page: Page) -> None:
    sign_in(page)
    page.goto("/inbox")
    row = page.locator(".task-row", has_text="Send the retrofit proposal")
    expect(row).to_have_class(re.compile("overdue"))
    shot(page, "12-inbox")
    row.locator(".check-btn").click()
    expect(row).to_have_count(0)


def test_switch_to_chinese(page: Page) -> None:
    sign_in(page, "li.lei@example.com")
    page.click(".lang-switch button[value=zh_CN]")
    expect(page.locator(".sidebar")).to_contain_text("我的任务")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.goto("/opportunities")
    expect(page.locator("h1")).to_contain_text("商机")
    expect(page.locator("table.data")).to_contain_text("¥1,250,000.00")
    shot(page, "13-opportunities-zh")
    page.goto("/board")
    expect(page.locator(".page-head h1")).to_have_text("销售管道")
    shot(page, "14-board-zh")
    page.goto("/contacts/new")
    expect(page.locator("label[for=last_name]")).to_contain_text("姓")
    page.click("button:has-text('保存')")
    expect(page.locator("#err-last_name")).to_have_text("此字段为必填项")
    shot(page, "15-form-zh")
    page.click(".lang-switch button[value=en]")
    expect(page.locator(".sidebar")).to_contain_text("My tasks")


def test_a_rep_sees_only_their_contacts_with_contact_data_masked(page: Page, live: Live) -> None:
    sign_in(page, "rep@example.com")
    page.goto("/contacts")
    expect(page.locator("table.data")).to_contain_text("Wang")
    expect(page.locator("table.data")).not_to_contain_text("Elsewhere")
    page.goto(f"/contacts/{live.ids['rep_contact']}")
    expect(page.locator("[data-field=phone] .value")).to_have_text("139****5678")
    expect(page.locator("[data-field=email] .value")).to_have_text("w***@example.com")
    expect(page.locator("body")).not_to_contain_text("wang.fang@example.com")
    expect(page.locator("body")).not_to_contain_text("139 1234 5678")
    shot(page, "16-rep-masked-contact")
    page.goto("/admin/roles")
    expect(page.locator(".status-code")).to_have_text("403")

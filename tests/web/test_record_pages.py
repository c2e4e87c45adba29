"""Lists, record pages, forms, inline edit, saved views, board, inbox and custom fields."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from rapport.bootstrap import Container


def test_list_page_shows_records_and_an_empty_state(admin_browser: TestClient) -> None:
    empty = admin_browser.get("/contacts")
    assert empty.status_code == 200
    assert "No contacts yet" in empty.text
    admin_browser.post("/api/v1/contacts", json={"first_name": "Ana", "last_name": "Lima"})
    page = admin_browser.get("/contacts")
    assert "Ana Lima" in page.text
    nothing = admin_browser.get("/contacts?q=zzzz")
    assert "No matches" in nothing.text


def test_counts_above_the_cap_are_shown_with_a_plus(
    admin_browser: TestClient, container: Container
) -> None:
    admin_browser.post("/api/v1/contacts/bulk",
                       json={"records": [{"last_name": f"P{i}"} for i in range(5)]})
    container.settings.count_cap = 3
    page = admin_browser.get("/contacts")
    assert re.search(r'class="count"[^>]*>3\+<', page.text)


def test_keyset_pages_go_forward_and_back(admin_browser: TestClient) -> None:
    admin_browser.post("/api/v1/contacts/bulk",
                       json={"records": [{"last_name": f"Person{i:02d}"} for i in range(30)]})
    first = admin_browser.get("/contacts?sort=last_name")
    assert "Person00" in first.text
    assert "Person25" not in first.text
    next_href = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert next_href
    second = admin_browser.get(next_href.group(1).replace("&amp;", "&"))
    assert "Person25" in second.text
    assert "Person00" not in second.text
    assert "Showing 26–30 of 30" in second.text
    prev_href = re.search(r'href="([^"]+)" rel="prev"', second.text)
    assert prev_href
    back = admin_browser.get(prev_href.group(1).replace("&amp;", "&"))
    assert "Person00" in back.text


def test_filters_sort_and_columns_come_from_the_url(admin_browser: TestClient) -> None:
    admin_browser.post("/api/v1/accounts/bulk", json={"records": [
        {"name": "Alpha", "tier": "A", "city": "Suzhou"},
        {"name": "Beta", "tier": "B", "city": "Wuxi"},
    ]})
    added = admin_browser.get("/accounts?ff=tier&fo=eq&fv=A", follow_redirects=False)
    assert added.status_code == 303
    page = admin_browser.get(added.headers["location"])
    assert "Alpha" in page.text
    assert "Beta" not in page.text
    assert "Tier is A" in page.text
    columns = admin_browser.get("/accounts?cols=city&sort=-name")
    assert "<th" in columns.text
    assert "Suzhou" in columns.text
    assert columns.text.index("Beta") < columns.text.index("Alpha")
    bad = admin_browser.get("/accounts?filter=nope:eq:1")
    assert bad.status_code == 200
    assert "unknown field" in bad.text


def test_create_a_contact_through_the_form(admin_browser: TestClient, token: str) -> None:
    account = admin_browser.post("/api/v1/accounts", json={"name": "Acme"}).json()
    form = admin_browser.get(f"/contacts/new?account_id={account['id']}")
    assert f'<option value="{account["id"]}" selected>Acme</option>' in form.text
    answer = admin_browser.post("/contacts/new", data={
        "csrf_token": token, "first_name": "Ana", "last_name": "Lima",
        "email": "Ana.Lima@Example.com", "phone": "138 0013 8000", "role": "champion",
        "account_id": str(account["id"]), "notes": "",
    }, follow_redirects=False)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert re.fullmatch(r"/contacts/\d+\?flash=created", location)
    contact = admin_browser.get("/api/v1" + location.split("?")[0]).json()
    assert contact["email"] == "ana.lima@example.com"
    assert contact["phone"] == "+8613800138000"
    assert contact["account_id"] == account["id"]
    page = admin_browser.get(location)
    assert "138 0013 8000" in page.text  # national format for the home region
    assert "Created." in page.text


def test_validation_messages_are_shown_next_to_the_field(
    admin_browser: TestClient, token: str
) -> None:
    answer = admin_browser.post("/contacts/new", data={
        "csrf_token": token, "first_name": "Ana", "last_name": "", "email": "not-an-email",
    })
    assert answer.status_code == 422
    assert re.search(r'id="err-last_name">this field is required<', answer.text)
    assert 'value="Ana"' in answer.text  # what the user typed is kept
    answer = admin_browser.post("/contacts/new", data={
        "csrf_token": token, "last_name": "Lima", "email": "not-an-email",
    })
    assert re.search(r'id="err-email">not a valid email', answer.text)


def test_edit_form_saves_only_changed_fields(admin_browser: TestClient, token: str) -> None:
    deal = admin_browser.post("/api/v1/opportunities", json={"name": "Deal"})
    assert deal.status_code == 422  # no pipeline yet: the form shows the same message
    pipeline = admin_browser.post("/api/v1/pipelines", json={"name": "Sales"}).json()
    admin_browser.post("/api/v1/pipeline_stages",
                       json={"pipeline_id": pipeline["id"], "name": "Qualify", "position": 1})
    deal = admin_browser.post("/api/v1/opportunities", json={"name": "Deal"}).json()
    form = admin_browser.get(f"/opportunities/{deal['id']}/edit")
    assert 'name="version" value="1"' in form.text
    answer = admin_browser.post(f"/opportunities/{deal['id']}/edit", data={
        "csrf_token": token, "version": "1", "name": "Deal", "amount": "1,250,000",
        "currency": "CNY", "close_date": "2026-06-30",
    }, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    saved = admin_browser.get(f"/api/v1/opportunities/{deal['id']}").json()
    assert saved["amount"] == "1250000.00"
    assert saved["close_date"] == "2026-06-30"
    stale = admin_browser.post(f"/opportunities/{deal['id']}/edit", data={
        "csrf_token": token, "version": "1", "name": "Renamed",
    })
    assert stale.status_code == 422
    assert "reload it and try again" in stale.text


def test_inline_edit_saves_or_explains(admin_browser: TestClient, token: str) -> None:
    contact = admin_browser.post("/api/v1/contacts", json={"last_name": "Lima"}).json()
    url = f"/contacts/{contact['id']}/field/email"
    editor = admin_browser.get(url + "/edit", headers={"HX-Request": "true"})
    assert 'id="inline-email"' in editor.text
    bad = admin_browser.post(url, data={"csrf_token": token, "version": "1", "email": "nope"},
                             headers={"HX-Request": "true"})
    assert bad.status_code == 200
    assert 'class="field-error"' in bad.text
    assert "not a valid email" in bad.text
    good = admin_browser.post(url, data={"csrf_token": token, "version": "1",
                                         "email": "Lima@Example.com"},
                              headers={"HX-Request": "true"})
    assert "mailto:lima@example.com" in good.text
    assert "field-row saved" in good.text


def test_record_page_shows_related_records_and_timeline(admin_browser: TestClient) -> None:
    account = admin_browser.post("/api/v1/accounts", json={"name": "Acme"}).json()
    admin_browser.post("/api/v1/contacts", json={"last_name": "Lima", "account_id": account["id"]})
    admin_browser.post("/api/v1/activities", json={
        "type": "call", "subject": "Intro call", "occurred_at": "2026-01-05T09:00:00+08:00",
        "account_id": account["id"],
    })
    admin_browser.patch(f"/api/v1/accounts/{account['id']}", json={"tier": "A"})
    page = admin_browser.get(f"/accounts/{account['id']}")
    assert page.status_code == 200
    assert "Lima" in page.text  # related contacts
    assert "Intro call" in page.text  # activity in the timeline
    assert "Changed by Ada Admin" in page.text
    assert f"/contacts/new?account_id={account['id']}" in page.text


def test_saved_views_are_listed_and_removable(admin_browser: TestClient, token: str) -> None:
    saved = admin_browser.post("/contacts/views", data={
        "csrf_token": token, "name": "Decision makers", "filter": "role:eq:decision_maker",
        "sort": "last_name", "cols": ["email", "role"],
    }, follow_redirects=False)
    assert saved.status_code == 303
    assert "filter=role%3Aeq%3Adecision_maker" in saved.headers["location"]
    page = admin_browser.get("/contacts")
    view_id = re.search(r'/contacts/views/(\d+)/delete', page.text)
    assert view_id
    assert "Decision makers" in page.text
    removed = admin_browser.post(f"/contacts/views/{view_id.group(1)}/delete",
                                 data={"csrf_token": token})
    assert removed.status_code == 200
    assert "Decision makers" not in admin_browser.get("/contacts").text


def test_board_moves_a_card_or_says_why_not(
    admin_browser: TestClient, token: str, sales_pipeline: dict[str, int]
) -> None:
    deal = admin_browser.post("/api/v1/opportunities", json={"name": "Retrofit"}).json()
    board = admin_browser.get("/board", follow_redirects=True)
    assert "Retrofit" in board.text
    assert "Proposal" in board.text
    refused = admin_browser.patch(f"/board/opportunities/{deal['id']}",
                                  data={"stage_id": str(sales_pipeline["proposal"])},
                                  headers={"X-CSRF-Token": token})
    assert refused.status_code == 422
    assert "Amount: required to enter stage “Proposal”" in refused.text
    admin_browser.patch(f"/api/v1/opportunities/{deal['id']}", json={"amount": "5000"})
    moved = admin_browser.patch(f"/board/opportunities/{deal['id']}",
                                data={"stage_id": str(sales_pipeline["proposal"])},
                                headers={"X-CSRF-Token": token})
    assert moved.status_code == 200
    deal = admin_browser.get(f"/api/v1/opportunities/{deal['id']}").json()
    assert deal["stage_id"] == sales_pipeline["proposal"]
    no_token = admin_browser.patch(f"/board/opportunities/{deal['id']}",
                                   data={"stage_id": str(sales_pipeline["won"])})
    assert no_token.status_code == 403


def test_inbox_lists_my_open_tasks_overdue_first(admin_browser: TestClient, token: str) -> None:
    me = admin_browser.get("/api/v1/me").json()
    later = admin_browser.post("/api/v1/tasks", json={
        "title": "Later", "assignee_id": me["user_id"], "due_at": "2999-01-01T09:00:00Z",
    }).json()
    admin_browser.post("/api/v1/tasks", json={
        "title": "Late", "assignee_id": me["user_id"], "due_at": "2020-01-01T09:00:00Z",
    })
    page = admin_browser.get("/inbox")
    assert page.text.index("Late") < page.text.index("Later")
    assert "Overdue" in page.text
    done = admin_browser.post(f"/inbox/{later['id']}/done", data={"csrf_token": token},
                              headers={"HX-Request": "true"})
    assert done.status_code == 200
    assert admin_browser.get(f"/api/v1/tasks/{later['id']}").json()["status"] == "done"
    assert ">Later<" not in admin_browser.get("/inbox").text


def test_custom_fields_are_defined_and_used_on_forms(
    admin_browser: TestClient, token: str
) -> None:
    added = admin_browser.post("/admin/custom-fields", data={
        "csrf_token": token, "object_type": "contacts", "name": "budget", "label": "Budget",
        "field_type": "money",
    }, follow_redirects=False)
    assert added.status_code == 303
    bad = admin_browser.post("/admin/custom-fields", data={
        "csrf_token": token, "object_type": "contacts", "name": "Bad Name", "label": "x",
        "field_type": "text",
    })
    assert bad.status_code == 422
    assert "lower-case letters" in bad.text
    form = admin_browser.get("/contacts/new")
    assert 'name="custom.budget"' in form.text
    created = admin_browser.post("/contacts/new", data={
        "csrf_token": token, "last_name": "Lima", "custom.budget": "abc",
    })
    assert created.status_code == 422
    assert 'id="err-custom-budget"' in created.text
    created = admin_browser.post("/contacts/new", data={
        "csrf_token": token, "last_name": "Lima", "custom.budget": "250000",
    })
    assert "CN¥250,000.00" in created.text
    editor = admin_browser.get("/admin/custom-fields?object=contacts")
    field_id = re.search(r"/admin/custom-fields/(\d+)/delete", editor.text)
    assert field_id
    admin_browser.post(f"/admin/custom-fields/{field_id.group(1)}/delete",
                       data={"csrf_token": token, "object_type": "contacts"})
    assert 'name="custom.budget"' not in admin_browser.get("/contacts/new").text


def test_lead_conversion_from_the_lead_page(admin_browser: TestClient, token: str,
                                            sales_pipeline: dict[str, int]) -> None:
    lead = admin_browser.post("/api/v1/leads",
                              json={"last_name": "Wang", "company": "Globex"}).json()
    assert "Convert lead" in admin_browser.get(f"/leads/{lead['id']}").text
    answer = admin_browser.post(f"/leads/{lead['id']}/convert", data={"csrf_token": token},
                                follow_redirects=False)
    assert re.fullmatch(r"/opportunities/\d+\?flash=converted", answer.headers["location"])


def test_search_finds_records_across_objects(admin_browser: TestClient) -> None:
    admin_browser.post("/api/v1/accounts", json={"name": "Globex Shanghai"})
    admin_browser.post("/api/v1/contacts", json={"last_name": "Globex-Liaison"})
    page = admin_browser.get("/search?q=Globex")
    assert "Globex Shanghai" in page.text
    assert "Globex-Liaison" in page.text


def test_reference_search_box_returns_matching_options(admin_browser: TestClient) -> None:
    admin_browser.post("/api/v1/accounts/bulk", json={"records": [
        {"name": "Acme Robotics"}, {"name": "Globex"},
    ]})
    options = admin_browser.get("/lookup/accounts?q=Acme")
    assert options.status_code == 200
    assert "Acme Robotics</option>" in options.text
    assert "Globex" not in options.text


def test_custom_field_values_are_edited_inline(admin_browser: TestClient, token: str) -> None:
    admin_browser.post("/api/v1/custom-fields", json={
        "object_type": "contacts", "name": "segment", "label": "Segment",
        "field_type": "enum", "options": ["smb", "enterprise"],
    })
    contact = admin_browser.post("/api/v1/contacts", json={"last_name": "Lima"}).json()
    page = admin_browser.get(f"/contacts/{contact['id']}")
    assert 'data-field="custom.segment"' in page.text
    saved = admin_browser.post(f"/contacts/{contact['id']}/field/custom.segment",
                               data={"csrf_token": token, "version": "1",
                                     "custom.segment": "enterprise"},
                               headers={"HX-Request": "true"})
    assert "Enterprise" in saved.text
    stored = admin_browser.get(f"/api/v1/contacts/{contact['id']}").json()
    assert stored["custom"] == {"segment": "enterprise"}

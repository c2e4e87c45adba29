"""A source's settings page (/admin/sources/{id}/edit): its field mapping, webhook signature
check and trait priority, saved through the service the API's PATCH uses; the signing secret
is never sent back to the browser."""

from __future__ import annotations

import html
import re
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.events import sources
from rapport.events.hub_models import Source
from rapport.trust.auth import create_user
from rapport.trust.models import AuditEntry
from rapport.trust.roles import create_role, set_user_roles
from tests.fixtures.api import PASSWORD, REP_EMAIL
from tests.hub.webhook_support import STRIPE_EVENT, STRIPE_MAPPING, STRIPE_SECRET, stripe_header
from tests.web.conftest import sign_in

KEEPER_EMAIL = "keeper@example.com"
BODY = orjson.dumps(STRIPE_EVENT)


def _source(container: Container, mapping: dict[str, Any] | None = None) -> sources.IssuedKey:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, "Billing", "api", mapping,
                                       secret_key=container.settings.secret_key)
        uow.commit()
    return issued


def _stored(container: Container, source_id: int) -> dict[str, Any]:
    with container.session_factory() as session:
        return dict(session.scalar(select(Source.mapping).where(Source.id == source_id)) or {})


def _form(token: str, mapping: dict[str, Any] | str, **fields: str) -> dict[str, str]:
    """The settings form as a browser posts it (an untouched form keeps the hmac defaults)."""
    text = mapping if isinstance(mapping, str) else orjson.dumps(mapping).decode()
    return {"csrf_token": token, "mapping": text, "trait_priority": "", "scheme": "none",
            "tolerance_seconds": "", "header": "", "algorithm": "sha256", "encoding": "hex",
            "prefix": "", "secret": "", **fields}


def _deliver(client: TestClient, key: str, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/v1/webhook", content=BODY, auth=(key, ""),
                       headers=headers).status_code


def _textarea(page: str) -> str:
    match = re.search(r'<textarea id="src-mapping"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "the mapping is editable"
    return html.unescape(match.group(1))


def test_an_admin_edits_a_sources_mapping_and_trait_priority(
    admin_browser: TestClient, token: str, client: TestClient, container: Container
) -> None:
    issued = _source(container, {"event": "$.type", "userId": "$.customer.ref"})
    url = f"/admin/sources/{issued.source.id}/edit"

    page = admin_browser.get(url)
    saved = admin_browser.post(url, data=_form(
        token, {"event": "$.type", "userId": "$.customer.id"}, trait_priority="10"))

    assert page.status_code == 200
    assert orjson.loads(_textarea(page.text)) == {"event": "$.type", "userId": "$.customer.ref"}
    assert f'href="{url}"' in admin_browser.get("/admin/sources").text
    assert saved.status_code == 200, saved.text
    assert "Source settings saved." in saved.text
    assert orjson.loads(_textarea(saved.text)) == {"event": "$.type", "userId": "$.customer.id"}
    assert 'value="10"' in saved.text
    shown = client.get(f"/api/v1/sources/{issued.source.id}").json()["mapping"]
    assert shown == {"event": "$.type", "userId": "$.customer.id", "trait_priority": 10}


def test_a_stripe_signature_set_on_the_page_is_checked_and_its_secret_never_shown(
    admin_browser: TestClient, token: str, client: TestClient, container: Container
) -> None:
    issued = _source(container, STRIPE_MAPPING)
    url = f"/admin/sources/{issued.source.id}/edit"

    saved = admin_browser.post(url, data=_form(token, STRIPE_MAPPING, scheme="stripe",
                                               tolerance_seconds="600", secret=STRIPE_SECRET))

    assert saved.status_code == 200, saved.text
    sealed = _stored(container, issued.source.id)["signature"]["secret_encrypted"]
    for page in (saved.text, admin_browser.get(url).text, admin_browser.get("/admin/sources").text):
        assert STRIPE_SECRET not in page
        assert sealed not in page
    assert "A signing secret is set." in saved.text
    assert client.get(f"/api/v1/sources/{issued.source.id}").json()["mapping"]["signature"] == {
        "scheme": "stripe", "tolerance_seconds": 600, "secret_set": True}
    assert _deliver(client, issued.write_key, stripe_header(BODY)) == 200
    assert _deliver(client, issued.write_key, stripe_header(BODY, "whsec_someone_else")) == 401
    assert _deliver(client, issued.write_key, None) == 401
    with container.session_factory() as session:
        details = session.scalars(select(AuditEntry.details).where(
            AuditEntry.target == f"sources:{issued.source.id}")).all()
    assert {"source": "changed", "signature": "stripe", "signing_secret": "changed"}.items() \
        <= details[-1].items()
    assert STRIPE_SECRET not in orjson.dumps(details).decode()


def test_an_empty_secret_field_keeps_the_stored_secret(
    admin_browser: TestClient, token: str, client: TestClient, container: Container
) -> None:
    issued = _source(container, {**STRIPE_MAPPING, "signature": {
        "scheme": "stripe", "secret": STRIPE_SECRET}})
    url = f"/admin/sources/{issued.source.id}/edit"
    before = _stored(container, issued.source.id)["signature"]["secret_encrypted"]

    page = admin_browser.get(url)
    saved = admin_browser.post(url, data=_form(token, _textarea(page.text), scheme="stripe",
                                               tolerance_seconds="120"))

    assert 'value="stripe" selected' in page.text
    assert "Leave empty to keep the stored secret." in page.text
    assert saved.status_code == 200, saved.text
    after = _stored(container, issued.source.id)["signature"]
    assert after["secret_encrypted"] == before
    assert after["tolerance_seconds"] == 120
    assert _deliver(client, issued.write_key, stripe_header(BODY)) == 200


def test_the_signature_check_is_removed_only_when_asked(
    admin_browser: TestClient, token: str, client: TestClient, container: Container
) -> None:
    issued = _source(container, {**STRIPE_MAPPING, "signature": {
        "scheme": "stripe", "secret": STRIPE_SECRET}})
    url = f"/admin/sources/{issued.source.id}/edit"

    not_asked = admin_browser.post(url, data=_form(token, STRIPE_MAPPING, scheme="none"))
    still_signed = _deliver(client, issued.write_key, None)
    removed = admin_browser.post(url, data=_form(token, STRIPE_MAPPING, scheme="stripe",
                                                 remove_signature="1"))

    assert not_asked.status_code == 422
    assert "To stop checking signatures" in not_asked.text
    assert still_signed == 401
    assert removed.status_code == 200, removed.text
    assert "signature" not in client.get(f"/api/v1/sources/{issued.source.id}").json()["mapping"]
    assert "Remove the signature check" not in removed.text  # nothing left to remove
    assert _deliver(client, issued.write_key, None) == 200


def test_invalid_json_is_shown_with_its_error_and_changes_nothing(
    admin_browser: TestClient, token: str, container: Container
) -> None:
    issued = _source(container, STRIPE_MAPPING)
    url = f"/admin/sources/{issued.source.id}/edit"
    typed = '{"event": "$.type", oops}'

    page = admin_browser.post(url, data=_form(token, typed, scheme="stripe",
                                              secret=STRIPE_SECRET, trait_priority="3"))

    assert page.status_code == 422
    assert re.search(r'<p class="field-error" id="err-mapping">[^<]*not valid JSON', page.text)
    assert _textarea(page.text) == typed  # what was typed, to fix it
    assert STRIPE_SECRET not in page.text
    assert _stored(container, issued.source.id) == STRIPE_MAPPING


def test_a_nul_character_in_the_mapping_is_refused_as_the_api_refuses_it(
    admin_browser: TestClient, token: str, container: Container
) -> None:
    issued = _source(container, STRIPE_MAPPING)

    page = admin_browser.post(f"/admin/sources/{issued.source.id}/edit", data=_form(
        token, '{"event": "a\\u0000b", "userId": "$.id"}'))

    assert page.status_code == 422
    assert 'id="err-mapping">Remove the NUL' in page.text
    assert _stored(container, issued.source.id) == STRIPE_MAPPING


def test_the_services_refusals_are_shown_next_to_their_fields(
    admin_browser: TestClient, token: str, container: Container
) -> None:
    issued = _source(container, STRIPE_MAPPING)
    url = f"/admin/sources/{issued.source.id}/edit"

    no_secret = admin_browser.post(url, data=_form(token, STRIPE_MAPPING, scheme="stripe"))
    bad_hmac = admin_browser.post(url, data=_form(token, STRIPE_MAPPING, scheme="hmac",
                                                  header="Not a header", secret="s3cret-value"))
    bad_priority = admin_browser.post(url, data=_form(token, STRIPE_MAPPING, trait_priority="high"))

    assert no_secret.status_code == 422
    assert re.search(r'id="err-secret">required: the signing secret', no_secret.text)
    assert bad_hmac.status_code == 422
    assert re.search(r'id="err-header">an HTTP header name', bad_hmac.text)
    assert "s3cret-value" not in bad_hmac.text
    assert 'value="Not a header"' in bad_hmac.text  # the rest of the form is kept
    assert bad_priority.status_code == 422
    assert 'id="err-trait_priority"' in bad_priority.text
    assert _stored(container, issued.source.id) == STRIPE_MAPPING


def test_a_post_without_the_csrf_token_is_refused(
    admin_browser: TestClient, token: str, container: Container
) -> None:
    issued = _source(container, STRIPE_MAPPING)
    form = _form(token, {"event": "$.id", "userId": "$.id"})
    del form["csrf_token"]

    posted = admin_browser.post(f"/admin/sources/{issued.source.id}/edit", data=form)

    assert posted.status_code == 403
    assert _stored(container, issued.source.id) == STRIPE_MAPPING


def test_a_user_without_sources_manage_cannot_edit(
    browser: TestClient, container: Container
) -> None:
    issued = _source(container, STRIPE_MAPPING)
    url = f"/admin/sources/{issued.source.id}/edit"
    token = sign_in(browser, REP_EMAIL)

    page = browser.get(url)
    posted = browser.post(url, data=_form(token, {"event": "$.id", "userId": "$.id"},
                                          scheme="stripe", secret="whsec_intruder"))

    assert page.status_code == 403
    assert posted.status_code == 403
    assert "src-mapping" not in page.text
    assert 'href="/admin/sources"' not in browser.get("/inbox").text  # nor offered in the nav
    assert _stored(container, issued.source.id) == STRIPE_MAPPING


def test_sources_manage_is_what_the_page_needs(browser: TestClient, container: Container) -> None:
    issued = _source(container, STRIPE_MAPPING)
    url = f"/admin/sources/{issued.source.id}/edit"
    with container.uow() as uow:
        secret = container.settings.secret_key
        create_role(uow.session, secret, None, name="hub_keeper", label="Hub keeper",
                    description=None, permissions={"capabilities": ["sources.manage"]})
        keeper = create_user(uow.session, KEEPER_EMAIL, PASSWORD, name="Kai Keeper")
        set_user_roles(uow.session, secret, None, keeper.user_id, ["hub_keeper"])
        uow.commit()
    token = sign_in(browser, KEEPER_EMAIL)

    saved = browser.post(url, data=_form(token, STRIPE_MAPPING, trait_priority="2"))

    assert saved.status_code == 200, saved.text
    assert _stored(container, issued.source.id)["trait_priority"] == 2
    # and the navigation leads there: the hub's admin pages, not the admin-only ones
    nav = browser.get("/inbox").text.split("</nav>")[0]
    assert 'href="/admin/sources"' in nav
    assert 'href="/admin/dead-letters"' in nav
    assert "Administration" in nav
    assert 'href="/admin/roles"' not in nav
    assert 'href="/admin/custom-fields"' not in nav


def test_an_unknown_source_is_not_found(admin_browser: TestClient) -> None:
    assert admin_browser.get("/admin/sources/999999/edit").status_code == 404


def test_the_page_is_translated(admin_browser: TestClient, token: str, container: Container) -> None:
    issued = _source(container, STRIPE_MAPPING)
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "zh_CN"})

    page = admin_browser.get(f"/admin/sources/{issued.source.id}/edit").text

    assert "签名" in page
    assert "Webhook signature" not in page

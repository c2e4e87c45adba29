"""An erased person cannot come back: API, bulk, import and a restored backup (RELIABILITY 13, 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from typer.testing import CliRunner

from rapport.bootstrap import Container
from rapport.config import Settings, get_settings
from rapport.crm.models import Contact
from rapport.errors import ErrorCollector
from rapport.trust.models import AuditEntry
from rapport.trust.suppression import SUPPRESSED_MESSAGE, check_not_suppressed

runner = CliRunner()
EMAIL = "mei.lin@example.com"
PHONE = "+86 138 0013 8000"


def _ok(answer: Any, status: int = 201) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _erase(client: TestClient, **person: str) -> dict[str, Any]:
    request = _ok(client.post("/api/v1/privacy/requests", json={"kind": "erasure", **person}))
    return _ok(client.post(f"/api/v1/privacy/requests/{request['id']}/run"), 200)


@pytest.fixture
def erased(client: TestClient) -> dict[str, Any]:
    """Mei Lin (contact and lead) asked to be erased; her data is gone."""
    contact = _ok(client.post("/api/v1/contacts", json={
        "first_name": "Mei", "last_name": "Lin", "email": EMAIL, "phone": PHONE,
        "mobile": "+86 139 0013 9000", "external_id": "crm-77"}))
    _ok(client.post("/api/v1/leads", json={"last_name": "Lin", "email": EMAIL,
                                            "external_id": "web-77"}))
    answer = _erase(client, email=EMAIL)
    assert answer["status"] == "completed"
    return contact


def _errors(answer: Any) -> list[tuple[str, str]]:
    assert answer.status_code == 422, answer.text
    return [(e["field"], e["code"]) for e in answer.json()["errors"]]


def test_creating_the_erased_person_again_is_refused(client: TestClient, erased: dict[str, Any]) -> None:
    # when someone creates a contact with her e-mail, written differently
    answer = client.post("/api/v1/contacts", json={"last_name": "Lin", "email": "MEI.LIN＠example.com"})

    # then it is refused on the e-mail field, with a message that says why
    assert _errors(answer) == [("email", "suppressed")]
    assert answer.json()["errors"][0]["message"] == SUPPRESSED_MESSAGE


def test_each_suppressed_identifier_is_named(client: TestClient, erased: dict[str, Any]) -> None:
    answer = client.post("/api/v1/contacts", json={
        "last_name": "Lin", "phone": "138-0013-8000", "mobile": "+8613900139000",
        "external_id": "crm-77"})

    assert sorted(_errors(answer)) == [("external_id", "suppressed"), ("mobile", "suppressed"),
                                       ("phone", "suppressed")]


def test_a_lead_with_her_e_mail_is_refused_too(client: TestClient, erased: dict[str, Any]) -> None:
    answer = client.post("/api/v1/leads", json={"last_name": "Lin", "email": EMAIL})

    assert _errors(answer) == [("email", "suppressed")]


def test_external_ids_are_suppressed_per_object(client: TestClient, erased: dict[str, Any]) -> None:
    # the contact's external id crm-77 is suppressed for contacts only: a lead may use it
    answer = client.post("/api/v1/leads", json={"last_name": "Other", "external_id": "crm-77"})

    assert answer.status_code == 201, answer.text


def test_a_bulk_call_names_the_row_that_holds_the_erased_person(
    client: TestClient, erased: dict[str, Any]
) -> None:
    answer = client.post("/api/v1/contacts/bulk", json={"records": [
        {"last_name": "Wang", "email": "wang@example.com"},
        {"last_name": "Lin", "phone": PHONE},
    ]})

    assert _errors(answer) == [("records[1].phone", "suppressed")]
    assert client.get("/api/v1/contacts", params={"q": "wang@example.com"}).json()["items"] == []


def test_an_update_cannot_give_someone_her_e_mail(client: TestClient, erased: dict[str, Any]) -> None:
    other = _ok(client.post("/api/v1/contacts", json={"last_name": "Zhao", "email": "zhao@example.com"}))

    answer = client.patch(f"/api/v1/contacts/{other['id']}", json={"email": EMAIL})

    assert _errors(answer) == [("email", "suppressed")]
    # and editing anything else of that contact still works
    assert client.patch(f"/api/v1/contacts/{other['id']}", json={"notes": "ok"}).status_code == 200


def test_a_shared_switchboard_number_is_not_suppressed(client: TestClient) -> None:
    # given two colleagues on one office number
    board = "+86 21 5555 0100"
    ada = _ok(client.post("/api/v1/contacts", json={"last_name": "Ada", "email": "ada@example.com",
                                                    "phone": board}))
    bob = _ok(client.post("/api/v1/contacts", json={"last_name": "Bob", "phone": board}))

    # when one of them is erased
    answer = _erase(client, subject=f"contacts:{ada['id']}")

    # then the other keeps the number and can still be edited with it
    assert answer["report"]["shared_phones_not_suppressed"] == 1
    assert answer["report"]["suppressed"] == {"email": 1, "phone": 0, "external_id": 0}
    assert client.patch(f"/api/v1/contacts/{bob['id']}", json={"phone": board}).status_code == 200


def test_check_not_suppressed_ignores_other_objects_and_unknown_people(
    container: Container, client: TestClient, erased: dict[str, Any]
) -> None:
    secret = container.settings.secret_key
    with container.session_factory() as session:
        errors = ErrorCollector()
        check_not_suppressed(session, secret, "accounts", {"email": EMAIL}, errors, "")
        check_not_suppressed(session, secret, "contacts", {"email": "new@example.com"}, errors, "")
        assert errors.errors == []
        check_not_suppressed(session, secret, "contacts", {"email": EMAIL}, errors, "records[3].")
        assert [(e.field, e.code) for e in errors.errors] == [("records[3].email", "suppressed")]


@pytest.fixture
def cli_database(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads its settings from the environment: point it at the test database."""
    monkeypatch.setenv("RAPPORT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RAPPORT_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("RAPPORT_DEFAULT_PHONE_REGION", settings.default_phone_region)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_an_import_rejects_the_erased_person_and_keeps_the_others(
    client: TestClient, erased: dict[str, Any], cli_database: None, tmp_path: Path
) -> None:
    from rapport.cli import app

    source = tmp_path / "people.csv"
    source.write_text("last_name,email\nHu,hu@example.com\nLin,Mei.Lin@example.com\n", encoding="utf-8")

    result = runner.invoke(app, ["import", "contacts", str(source), "--upsert-on", ""])

    assert result.exit_code == 1, result.output  # one row rejected
    assert "this person asked to be erased" in result.stderr
    rejected = (tmp_path / "people.csv.errors.csv").read_text(encoding="utf-8")
    assert "Mei.Lin@example.com" in rejected
    emails = [c["email"] for c in client.get("/api/v1/contacts").json()["items"]]
    assert emails == ["hu@example.com"]


def test_reapply_erases_people_a_backup_restore_brought_back(
    client: TestClient, container: Container, erased: dict[str, Any], cli_database: None
) -> None:
    from rapport.cli import app

    # given a restore that brought the erased contact back, with her activity
    with container.engine.begin() as conn:
        conn.execute(insert(Contact), [{
            "id": erased["id"], "last_name": "Lin", "email": EMAIL, "phone": "+8613800138000",
            "version": 1, "custom": {}}])
    _ok(client.post("/api/v1/activities", json={
        "type": "call", "subject": "Restored call", "occurred_at": "2026-01-05T10:00:00Z",
        "contact_id": erased["id"]}))
    someone = _ok(client.post("/api/v1/contacts", json={"last_name": "Hu", "email": "hu@example.com"}))

    # when the ledger is applied again
    result = runner.invoke(app, ["dsr", "reapply"])

    # then she is gone again, her activity with her, and the audit log says so
    assert result.exit_code == 0, result.output
    assert "1 people erased again" in result.stderr
    assert client.get(f"/api/v1/contacts/{erased['id']}").status_code == 404
    assert client.get("/api/v1/activities", params={"q": "Restored"}).json()["items"] == []
    assert client.get(f"/api/v1/contacts/{someone['id']}").status_code == 200
    with container.session_factory() as session:
        details = [e.details for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "dsr_erasure").order_by(AuditEntry.id))]
    assert details[-1]["reapplied"] is True
    assert details[-1]["erased"]["activities"] == 1
    # and a second run finds nobody
    assert "no record matches" in runner.invoke(app, ["dsr", "reapply"]).stderr


def test_her_custom_e_mail_and_phone_fields_are_suppressed_in_either_place(
        client: TestClient) -> None:
    for name, field_type in (("work_email", "email"), ("assistant_phone", "phone")):
        _ok(client.post("/api/v1/custom-fields", json={
            "object_type": "contacts", "name": name, "label": name, "field_type": field_type}))
    _ok(client.post("/api/v1/contacts", json={
        "last_name": "Lin", "email": EMAIL,
        "custom": {"work_email": "mei@plant.example.com", "assistant_phone": "+86 139 1111 2222"}}))
    assert _erase(client, email=EMAIL)["status"] == "completed"

    # her work address as someone's main e-mail, and her numbers in the custom fields
    as_main = client.post("/api/v1/contacts", json={"last_name": "Lin",
                                                     "email": "Mei@Plant.example.com"})
    assert _errors(as_main) == [("email", "suppressed")]
    as_custom = client.post("/api/v1/contacts", json={
        "last_name": "Lin", "custom": {"work_email": EMAIL, "assistant_phone": "13911112222"}})
    assert sorted(_errors(as_custom)) == [("custom.assistant_phone", "suppressed"),
                                          ("custom.work_email", "suppressed")]
    # a colleague's own custom values are fine
    _ok(client.post("/api/v1/contacts", json={
        "last_name": "Wang", "custom": {"work_email": "wang@plant.example.com"}}))

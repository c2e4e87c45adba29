"""``rapport source create|update|show|list`` and ``rapport events dead-letters|replay`` (the
commands are mounted here the way rapport.cli mounts them)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import orjson
import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rapport.bootstrap import Container
from rapport.cli import hub
from rapport.config import get_settings
from tests.hub.collector_support import basic, collector_fixture, events  # noqa: F401 - fixture
from tests.hub.webhook_support import STRIPE_EVENT, STRIPE_MAPPING, stripe_header

runner = CliRunner()
cli = typer.Typer()
cli.add_typer(hub.source_app, name="source")
cli.add_typer(hub.events_app, name="events")


@pytest.fixture
def cli_database(container: Container, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    monkeypatch.setenv("RAPPORT_DATABASE_URL", container.settings.database_url)
    get_settings.cache_clear()
    yield container
    get_settings.cache_clear()


def test_source_create_prints_the_write_key_last(cli_database: Container,
                                                 collector: TestClient) -> None:
    created = runner.invoke(cli, ["source", "create", "Point of sale", "--channel", "pos"])

    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("rwk_")
    assert collector.post("/v1/track", json={"userId": "u", "event": "Order Completed"},
                          headers=basic(key)).status_code == 200
    listed = runner.invoke(cli, ["source", "list"])
    assert "Point of sale" in listed.stdout
    assert key not in listed.stdout


def test_source_create_refuses_an_unknown_channel(cli_database: Container) -> None:
    refused = runner.invoke(cli, ["source", "create", "Fax", "--channel", "fax"])

    assert refused.exit_code == 2
    assert "channel must be one of" in refused.output


def test_events_replay_stores_fixed_dead_letters_and_reports_the_rest(
    cli_database: Container, collector: TestClient
) -> None:
    key = runner.invoke(cli, ["source", "create", "Web", "--channel", "web"]).stdout.strip().splitlines()[-1]
    # two dead letters: one is fixed, the other stays broken
    orphan = collector.post("/v1/track", json={"event": "Orphan"}, headers=basic(key))
    collector.post("/v1/track", json={"event": "Bad time", "userId": "u", "timestamp": "x"},
                   headers=basic(key))
    listed = runner.invoke(cli, ["events", "dead-letters"])
    assert "missing_identity" in listed.stdout
    assert "bad_timestamp" in listed.stdout
    from rapport.events import dead_letters

    with cli_database.uow() as uow:
        dead_letters.fix_payload(uow.session, cli_database.settings,
                                 orphan.json()["dead_letter_id"],
                                 '{"type": "track", "event": "Orphan", "userId": "u-1"}')
        uow.commit()

    result = runner.invoke(cli, ["events", "replay", "--source", "Web"])

    assert result.exit_code == 1
    assert "1 replayed, 1 still open" in result.output
    assert [e.user_id for e in events(cli_database)] == ["u-1"]
    only = runner.invoke(cli, ["events", "replay", "--code", "missing_identity"])
    assert only.exit_code == 0
    assert "0 replayed, 0 still open" in only.output


def test_a_webhook_source_gets_its_mapping_and_signature_check_from_the_command_line(
    cli_database: Container, collector: TestClient
) -> None:
    secret = "whsec_cli_4eC39HqLyjWDarjtT1zdp7dc"
    created = runner.invoke(cli, ["source", "create", "Stripe", "--channel", "api",
                                  "--mapping", json.dumps(STRIPE_MAPPING),
                                  "--signature", "stripe", "--signature-tolerance", "120",
                                  "--signing-secret-stdin"], input=secret + "\n")
    key = created.stdout.strip().splitlines()[-1]
    body = orjson.dumps(STRIPE_EVENT)
    signed = collector.post("/v1/webhook", content=body, headers={
        **basic(key), "Stripe-Signature": stripe_header(body, secret)})
    unsigned = collector.post("/v1/webhook", content=body, headers=basic(key))
    shown = runner.invoke(cli, ["source", "show", "Stripe"])

    assert created.exit_code == 0, created.output
    assert "stripe signatures checked (secret set)" in created.output
    assert (signed.status_code, unsigned.status_code) == (200, 401)
    assert json.loads(shown.stdout)["mapping"]["signature"] == {
        "scheme": "stripe", "tolerance_seconds": 120, "secret_set": True}
    assert secret not in created.output + shown.output

    removed = runner.invoke(cli, ["source", "update", "Stripe", "--no-signature"])
    assert removed.exit_code == 0, removed.output
    assert "no signature check" in removed.output
    again = collector.post("/v1/webhook", content=orjson.dumps({**STRIPE_EVENT, "id": "evt_2"}),
                           headers=basic(key))
    assert again.status_code == 200


def test_a_bad_signature_option_names_the_field(cli_database: Container) -> None:
    refused = runner.invoke(cli, ["source", "create", "GitHub", "--channel", "api",
                                  "--mapping", '{"event": "$.action", "userId": "$.sender.id"}',
                                  "--signature", "hmac", "--signing-secret-stdin"],
                            input="s3cret\n")

    assert refused.exit_code == 2
    assert "mapping.signature.header" in refused.output
    assert "s3cret" not in refused.output


def test_events_replay_maps_webhook_dead_letters_again_after_the_mapping_is_fixed(
    cli_database: Container, collector: TestClient
) -> None:
    wrong = {**STRIPE_MAPPING, "anonymousId": "$.data.object.customer_id"}
    key = runner.invoke(cli, ["source", "create", "Stripe", "--channel", "api", "--mapping",
                              json.dumps(wrong)]).stdout.strip().splitlines()[-1]
    refused = collector.post("/v1/webhook", content=orjson.dumps(STRIPE_EVENT), headers=basic(key))
    before = runner.invoke(cli, ["events", "replay", "--source", "Stripe"])

    fixed = runner.invoke(cli, ["source", "update", "Stripe", "--mapping",
                                json.dumps(STRIPE_MAPPING)])
    after = runner.invoke(cli, ["events", "replay", "--source", "Stripe"])

    assert refused.json()["code"] == "unmappable"
    assert before.exit_code == 1
    assert "$.data.object.customer_id" in before.output
    assert fixed.exit_code == 0, fixed.output
    assert after.exit_code == 0, after.output
    assert "1 replayed, 0 still open" in after.output
    assert [e.message_id for e in events(cli_database)] == ["evt_3PabcXYZ"]

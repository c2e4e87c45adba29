"""Private analytics: differentially private counts and sums spent from a per-analyst budget."""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rapport.bootstrap import Container
from rapport.config import Settings
from rapport.crm.models import Account, Lead, Region
from rapport.errors import Forbidden, PrivacyBudgetExhausted
from rapport.trust import private_analytics as pa
from rapport.trust.actor import Actor
from rapport.trust.auth import create_api_token, create_user
from rapport.trust.models import AuditEntry, PrivacyBudget, PrivateQuery
from rapport.trust.roles import policy_for_user, set_user_roles
from tests.fixtures.api import PASSWORD

MARKETER_EMAIL = "mia.marketer@example.com"
LEAD_STATUSES = {"new": 30, "working": 12, "qualified": 5}  # none 'converted': still a group


# ---- helpers -------------------------------------------------------------------------------


def _user(container: Container, email: str, roles: list[str] | None = None,
          *, admin: bool = False) -> int:
    with container.uow() as uow:
        user = create_user(uow.session, email, PASSWORD, name=email.split("@")[0], is_admin=admin)
        if roles:
            set_user_roles(uow.session, container.settings.secret_key, None, user.user_id, roles)
        uow.commit()
    return user.user_id


def _actor(container: Container, user_id: int) -> Actor:
    with container.session_factory() as session:
        return Actor(user_id=user_id, policy=policy_for_user(session, user_id))


def _analyst(container: Container, email: str = "ana.analyst@example.com",
             total: float | None = None) -> Actor:
    """An administrator acting as analyst (every object and field), with a given budget."""
    user_id = _user(container, email, admin=True)
    actor = Actor(user_id=user_id, is_admin=True)
    if total is not None:
        _set_total(container, actor, user_id, total)
    return actor


def _set_total(container: Container, actor: Actor, user_id: int, total: float) -> None:
    with container.uow() as uow:
        pa.set_budget(uow.session, container.settings, actor, user_id, total)
        uow.commit()


def _run(container: Container, actor: Actor, settings: Settings | None = None,
         **query: Any) -> pa.PrivateResult:
    with container.uow() as uow:
        result = pa.run_query(uow.session, settings or container.settings, actor,
                              pa.PrivateQueryIn(**query))
        uow.commit()
    return result


def _add_leads(container: Container, statuses: dict[str, int]) -> None:
    with container.uow() as uow:
        uow.session.add_all([Lead(last_name=f"Lead {status} {i}", status=status, custom={})
                             for status, n in statuses.items() for i in range(n)])
        uow.commit()


def _add_accounts(container: Container, revenues: list[Decimal], tier: str = "A",
                  region_id: int | None = None) -> None:
    with container.uow() as uow:
        uow.session.add_all([Account(name=f"Account {i}", annual_revenue=r, tier=tier,
                                     region_id=region_id, custom={})
                             for i, r in enumerate(revenues)])
        uow.commit()


def _spent(container: Container, user_id: int) -> float:
    with container.session_factory() as session:
        return float(session.scalar(select(PrivacyBudget.epsilon_spent)
                                    .where(PrivacyBudget.user_id == user_id)) or 0.0)


def _queries(container: Container, user_id: int) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(PrivateQuery)
                                  .where(PrivateQuery.user_id == user_id)) or 0)


@pytest.fixture
def marketer(app: FastAPI, container: Container, api_tokens: dict[str, str]) -> Iterator[TestClient]:
    """A marketer (analytics.private; reads leads, contacts, accounts; financial hidden)."""
    _user(container, MARKETER_EMAIL, ["marketer"])
    with container.uow() as uow:
        token = create_api_token(uow.session, MARKETER_EMAIL)
        uow.commit()
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


# ---- answers are right, and noisy ----------------------------------------------------------


def test_with_a_large_epsilon_each_group_count_is_within_a_tight_bound_of_the_truth(
    container: Container,
) -> None:
    # given leads in three statuses and a settings cap that allows a very large ε
    _add_leads(container, LEAD_STATUSES)
    analyst = _analyst(container, total=500)
    loose = container.settings.model_copy(update={"privacy_query_max_epsilon": 100.0})
    # when a count per status is released at ε = 50
    result = _run(container, analyst, loose, object="leads", measure="count", group_by="status",
                  epsilon=50)
    # then every declared status is a group (also those without records), plus one for the rest
    groups = [row.group for row in result.rows]
    assert groups == [*pa.OBJECTS["leads"].fields["status"].options, None]
    values = {row.group: row.value for row in result.rows}
    for status in groups:
        assert abs(values[status] - LEAD_STATUSES.get(status or "", 0)) <= 1, (status, values)
    assert result.mechanism == "discrete_laplace"
    assert result.sensitivity == 1
    assert result.noise_scale == pytest.approx(1 / 50)


def test_repeated_counts_are_unbiased_and_spread_as_the_stated_noise_scale(
    container: Container,
) -> None:
    # given 40 new leads and a large test budget
    _add_leads(container, {"new": 40})
    analyst = _analyst(container, total=1000)
    # when the same count is released 200 times at ε = 1
    results = [_run(container, analyst, object="leads", measure="count",
                    filters=["status:eq:new"], epsilon=1.0) for _ in range(200)]
    values = [float(r.rows[0].value) for r in results]
    stated = results[0]
    # then the noise is discrete Laplace with scale 1/ε: mean ≈ truth, variance ≈ stated
    assert stated.noise_scale == pytest.approx(1.0)
    assert abs(statistics.fmean(values) - 40) < 0.5  # 5 standard errors
    ratio = statistics.variance(values) / stated.noise_std ** 2
    assert 0.45 < ratio < 2.1, ratio  # no noise gives 0, half the scale ~0.2, double ~3.5
    assert len(set(values)) > 3
    # and the 95% bound holds for roughly 95% of the answers
    inside = sum(abs(v - 40) <= stated.error_bound for v in values) / len(values)
    assert inside >= 0.88
    assert _spent(container, analyst.user_id or 0) == pytest.approx(200.0)


def test_repeated_sums_clamp_each_value_and_spread_with_the_bound_over_epsilon(
    container: Container,
) -> None:
    # given ten accounts with revenue 50 and one with 1,000,000
    _add_accounts(container, [Decimal("50")] * 10 + [Decimal("1000000")])
    analyst = _analyst(container, total=1000)
    # when their revenue, clamped to [0, 100], is summed 200 times at ε = 1
    results = [_run(container, analyst, object="accounts", measure="sum", field="annual_revenue",
                    lower=0, upper=100, epsilon=1.0) for _ in range(200)]
    values = [float(r.rows[0].value) for r in results]
    stated = results[0]
    # then the truth is 10 × 50 + 100 (the outlier clamped), the Laplace scale 100 / 1
    assert stated.sensitivity == 100
    assert stated.noise_scale == pytest.approx(100.0)
    assert stated.noise_std == pytest.approx(100 * math.sqrt(2))
    assert abs(statistics.fmean(values) - 600) < 5 * stated.noise_std / math.sqrt(200)
    ratio = statistics.variance(values) / stated.noise_std ** 2
    assert 0.45 < ratio < 2.1, ratio  # no noise gives 0, half the scale 0.25, double 4
    assert stated.error_bound == pytest.approx(100 * math.log(20))


def test_groups_by_region_come_from_the_region_list_not_from_the_data(
    container: Container,
) -> None:
    # given two regions, with accounts in only one of them
    with container.uow() as uow:
        east, west = Region(name="East", code="E", custom={}), Region(name="West", code="W", custom={})
        uow.session.add_all([east, west])
        uow.commit()
    _add_accounts(container, [Decimal("10")] * 8, region_id=east.id)
    analyst = _analyst(container, total=500)
    loose = container.settings.model_copy(update={"privacy_query_max_epsilon": 100.0})
    # when accounts are counted per region
    result = _run(container, analyst, loose, object="accounts", measure="count",
                  group_by="region_id", epsilon=50)
    # then both regions are listed, the empty one too, and the counts are close
    assert [(r.group, r.label) for r in result.rows] == [
        (east.id, "East"), (west.id, "West"), (None, "(none or other)")]
    assert abs(result.rows[0].value - 8) <= 1
    assert result.rows[1].value <= 1


# ---- the budget ----------------------------------------------------------------------------


def test_queries_spend_the_budget_until_it_is_exhausted_then_are_refused_without_spending(
    container: Container,
) -> None:
    # given an analyst with a total budget of 3
    _add_leads(container, LEAD_STATUSES)
    analyst = _analyst(container, total=3.0)
    user_id = analyst.user_id or 0
    # when three queries of ε = 1 are run
    for _ in range(3):
        _run(container, analyst, object="leads", measure="count", epsilon=1.0)
    # then the fourth is refused, and nothing more is spent or recorded
    with pytest.raises(PrivacyBudgetExhausted, match="Nothing was spent"):
        _run(container, analyst, object="leads", measure="count", epsilon=1.0)
    assert _spent(container, user_id) == pytest.approx(3.0)
    assert _queries(container, user_id) == 3


def test_a_query_larger_than_what_is_left_is_refused_but_a_smaller_one_fits(
    container: Container,
) -> None:
    _add_leads(container, {"new": 5})
    analyst = _analyst(container, total=1.5)
    _run(container, analyst, object="leads", measure="count", epsilon=1.0)
    with pytest.raises(PrivacyBudgetExhausted):
        _run(container, analyst, object="leads", measure="count", epsilon=1.0)
    _run(container, analyst, object="leads", measure="count", epsilon=0.5)
    assert _spent(container, analyst.user_id or 0) == pytest.approx(1.5)


def test_many_small_spends_use_the_whole_budget_despite_float_rounding(
    container: Container,
) -> None:
    # given a budget of 1.0: ten queries of 0.1 add up to 0.9999999999999999 in floats
    analyst = _analyst(container, total=1.0)
    for _ in range(10):
        _run(container, analyst, object="leads", measure="count", epsilon=0.1)
    with pytest.raises(PrivacyBudgetExhausted):
        _run(container, analyst, object="leads", measure="count", epsilon=0.1)


def test_racing_queries_cannot_overspend_the_budget(container: Container) -> None:
    # given a budget of 3 and eight analysts' requests released at once, ε = 1 each
    _add_leads(container, {"new": 20})
    analyst = _analyst(container, total=3.0)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            _run(container, analyst, object="leads", measure="count", epsilon=1.0)
            outcome = "ok"
        except PrivacyBudgetExhausted:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # then exactly three are answered and the budget is spent exactly once each
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert _spent(container, analyst.user_id or 0) == pytest.approx(3.0)
    assert _queries(container, analyst.user_id or 0) == 3


def test_a_new_analyst_starts_with_the_default_budget(container: Container) -> None:
    analyst = _analyst(container)
    settings = container.settings.model_copy(update={"privacy_budget_default_epsilon": 2.0})
    _run(container, analyst, settings, object="leads", measure="count", epsilon=1.0)
    _run(container, analyst, settings, object="leads", measure="count", epsilon=1.0)
    with pytest.raises(PrivacyBudgetExhausted):
        _run(container, analyst, settings, object="leads", measure="count", epsilon=1.0)


# ---- the API -------------------------------------------------------------------------------


def test_a_marketer_queries_and_sees_the_spend_in_the_budget_endpoint(
    marketer: TestClient, container: Container,
) -> None:
    _add_leads(container, LEAD_STATUSES)
    # when a marketer counts leads by status at ε = 0.5
    answer = marketer.post("/api/v1/analytics/private", json={
        "object": "leads", "measure": "count", "group_by": "status", "epsilon": 0.5})
    # then the answer carries noisy values, the scale and the 95% bound
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["epsilon"] == 0.5
    assert body["noise_scale"] == pytest.approx(2.0)
    assert body["error_bound"] > 0
    assert body["confidence"] == 0.95
    assert all(isinstance(r["value"], int) and r["value"] >= 0 for r in body["rows"])
    # and the budget endpoint shows what was spent and the query
    budget = marketer.get("/api/v1/analytics/budget").json()
    assert budget["total"] == container.settings.privacy_budget_default_epsilon
    assert budget["spent"] == pytest.approx(0.5)
    assert budget["remaining"] == pytest.approx(budget["total"] - 0.5)
    assert [q["query"]["group_by"] for q in budget["recent"]] == ["status"]


def test_the_api_refuses_an_exhausted_budget_with_409_and_spends_nothing(
    marketer: TestClient, client: TestClient, container: Container,
) -> None:
    me = marketer.get("/api/v1/me").json()
    assert client.put(f"/api/v1/analytics/budgets/{me['user_id']}",
                      json={"epsilon_total": 1.0}).status_code == 200
    query = {"object": "leads", "measure": "count", "epsilon": 0.75}
    assert marketer.post("/api/v1/analytics/private", json=query).status_code == 200
    refused = marketer.post("/api/v1/analytics/private", json=query)
    assert refused.status_code == 409
    assert refused.json()["code"] == "privacy_budget_exhausted"
    assert "0.25" in refused.json()["detail"]
    assert marketer.get("/api/v1/analytics/budget").json()["spent"] == pytest.approx(0.75)


def test_a_retry_with_the_same_idempotency_key_replays_the_answer_without_spending_again(
    marketer: TestClient,
) -> None:
    query = {"object": "leads", "measure": "count", "epsilon": 1.0}
    first = marketer.post("/api/v1/analytics/private", json=query, headers={"Idempotency-Key": "q-1"})
    again = marketer.post("/api/v1/analytics/private", json=query, headers={"Idempotency-Key": "q-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert marketer.get("/api/v1/analytics/budget").json()["spent"] == pytest.approx(1.0)


@pytest.mark.parametrize(("query", "field"), [
    ({"object": "widgets", "measure": "count"}, "object"),
    ({"object": "users", "measure": "count"}, "object"),
    ({"object": "accounts", "measure": "median"}, "measure"),
    ({"object": "accounts", "measure": "sum", "field": "nope", "lower": 0, "upper": 1}, "field"),
    ({"object": "accounts", "measure": "sum", "field": "name", "lower": 0, "upper": 1}, "field"),
    ({"object": "accounts", "measure": "sum", "field": "id", "lower": 0, "upper": 1}, "field"),
    ({"object": "accounts", "measure": "sum", "lower": 0, "upper": 1}, "field"),
    ({"object": "accounts", "measure": "sum", "field": "annual_revenue"}, "lower"),
    ({"object": "accounts", "measure": "sum", "field": "annual_revenue", "lower": 0}, "upper"),
    ({"object": "accounts", "measure": "sum", "field": "annual_revenue", "lower": 5, "upper": 1},
     "upper"),
    ({"object": "accounts", "measure": "sum", "field": "annual_revenue", "lower": 0,
      "upper": 1e15}, "upper"),
    ({"object": "accounts", "measure": "count", "field": "annual_revenue"}, "field"),
    ({"object": "accounts", "measure": "count", "epsilon": 0}, "epsilon"),
    ({"object": "accounts", "measure": "count", "epsilon": -1}, "epsilon"),
    ({"object": "accounts", "measure": "count", "epsilon": 5}, "epsilon"),
    ({"object": "accounts", "measure": "count", "group_by": "name"}, "group_by"),
    ({"object": "accounts", "measure": "count", "group_by": "owner_id"}, "group_by"),
    ({"object": "accounts", "measure": "count", "filters": ["tier"]}, "filters.0"),
    ({"object": "accounts", "measure": "count", "filters": ["name:eq:Acme"]}, "filters.0"),
    ({"object": "accounts", "measure": "count", "filters": ["tier:eq:Z"]}, "filters"),
])
def test_invalid_queries_answer_422_with_the_field_to_fix_and_spend_nothing(
    client: TestClient, query: dict[str, Any], field: str,
) -> None:
    answer = client.post("/api/v1/analytics/private", json={"epsilon": 0.5, **query})
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
    assert client.get("/api/v1/analytics/budget").json()["spent"] == 0


def test_a_rep_without_the_capability_is_refused(rep_client: TestClient) -> None:
    answer = rep_client.post("/api/v1/analytics/private", json={
        "object": "leads", "measure": "count", "epsilon": 0.5})
    assert answer.status_code == 403
    assert rep_client.get("/api/v1/analytics/budget").status_code == 403


def test_a_marketer_cannot_query_an_object_their_roles_do_not_read(marketer: TestClient) -> None:
    answer = marketer.post("/api/v1/analytics/private", json={
        "object": "opportunities", "measure": "count", "epsilon": 0.5})
    assert answer.status_code == 403
    assert marketer.get("/api/v1/analytics/budget").json()["spent"] == 0


def test_a_field_hidden_from_the_role_cannot_be_summed(marketer: TestClient) -> None:
    # marketers' role hides financial data: a sum of it is refused even though it is noisy
    answer = marketer.post("/api/v1/analytics/private", json={
        "object": "accounts", "measure": "sum", "field": "annual_revenue", "lower": 0,
        "upper": 1_000_000, "epsilon": 0.5})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "hidden_field"


def test_budget_managers_set_and_list_budgets_and_others_cannot(
    client: TestClient, marketer: TestClient, container: Container,
) -> None:
    me = marketer.get("/api/v1/me").json()
    # a marketer may not change budgets, not even their own
    assert marketer.put(f"/api/v1/analytics/budgets/{me['user_id']}",
                        json={"epsilon_total": 100}).status_code == 403
    assert marketer.get("/api/v1/analytics/budgets").status_code == 403
    # an administrator may
    answer = client.put(f"/api/v1/analytics/budgets/{me['user_id']}", json={"epsilon_total": 4})
    assert answer.status_code == 200
    assert answer.json() == {"user_id": me["user_id"], "total": 4.0, "spent": 0.0, "remaining": 4.0}
    listed = client.get("/api/v1/analytics/budgets").json()
    assert [(i["email"], i["total"]) for i in listed["items"]] == [(MARKETER_EMAIL, 4.0)]
    assert client.put("/api/v1/analytics/budgets/999999", json={"epsilon_total": 4}).status_code == 404
    bad = client.put(f"/api/v1/analytics/budgets/{me['user_id']}", json={"epsilon_total": -1})
    assert bad.status_code == 422
    assert marketer.get("/api/v1/analytics/budget").json()["total"] == 4.0


def test_queries_and_budget_changes_are_audited_without_results(
    client: TestClient, marketer: TestClient, container: Container,
) -> None:
    me = marketer.get("/api/v1/me").json()
    client.put(f"/api/v1/analytics/budgets/{me['user_id']}", json={"epsilon_total": 5})
    answer = marketer.post("/api/v1/analytics/private", json={
        "object": "leads", "measure": "count", "group_by": "source", "epsilon": 0.25})
    assert answer.status_code == 200
    with container.session_factory() as session:
        entries = {e.action: e for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["private_query", "budget_changed"])))}
    query = entries["private_query"]
    assert query.actor == f"user:{me['user_id']}"
    assert query.target == f"private_queries:{answer.json()['query_id']}"
    assert query.details["object"] == "leads"
    assert query.details["measure"] == "count"
    assert query.details["epsilon"] == 0.25
    assert "rows" not in query.details
    assert "value" not in str(query.details)
    changed = entries["budget_changed"]
    assert changed.target == f"users:{me['user_id']}"
    assert changed.details["epsilon_total"] == 5.0
    assert changed.details["previous_total"] == container.settings.privacy_budget_default_epsilon


def test_the_service_refuses_an_actor_without_the_capability(container: Container) -> None:
    user_id = _user(container, "sam.sales@example.com", ["sales_rep"])
    with pytest.raises(Forbidden), container.uow() as uow:
        pa.run_query(uow.session, container.settings, _actor(container, user_id),
                     pa.PrivateQueryIn(object="leads", measure="count", epsilon=0.5))


def test_custom_money_fields_can_be_summed_and_custom_enums_grouped_by(
    client: TestClient, container: Container,
) -> None:
    # given leads with a custom money field and a custom enum field
    for body in ({"object_type": "leads", "name": "budget", "label": "Budget",
                  "field_type": "money"},
                 {"object_type": "leads", "name": "segment", "label": "Segment",
                  "field_type": "enum", "options": ["smb", "enterprise"]}):
        assert client.post("/api/v1/custom-fields", json=body).status_code == 201
    with container.uow() as uow:
        uow.session.add_all([Lead(last_name=f"Lead {i}", custom={"budget": 40.0, "segment": "smb"})
                             for i in range(5)])
        uow.commit()
    analyst = _analyst(container, total=500)
    loose = container.settings.model_copy(update={"privacy_query_max_epsilon": 100.0})
    # when the budgets are summed per segment with a large ε
    result = _run(container, analyst, loose, object="leads", measure="sum", field="budget",
                  lower=0, upper=50, group_by="segment", epsilon=100)
    # then the smb group holds 5 × 40 and the others about nothing
    values = {row.group: row.value for row in result.rows}
    assert list(values) == ["smb", "enterprise", None]
    assert values["smb"] == pytest.approx(200, abs=5)
    assert values["enterprise"] == pytest.approx(0, abs=5)

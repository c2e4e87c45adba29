"""Deterministic demo data as plain rows: a plan of who exists, then rows rendered per chunk.

``build_plan`` decides the skeleton (accounts, people, deals and how they relate) with one
seeded random stream, keeping only compact per-record facts. ``Renderer.render`` turns one
part of the plan (the reference data, or one chunk of one table) into row dicts with its own
random stream derived from (seed, table, chunk). A chunk therefore renders the same rows whichever
process renders it and in whatever order, and memory stays bounded by the plan, not by the
number of activities.
"""

from __future__ import annotations

import random
import string
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from rapport.demo import names as n
from rapport.demo import texts as tx
from rapport.demo.documents import spaced_cjk

T = TypeVar("T")
Row = dict[str, Any]
Rows = dict[str, list[Row]]  # table name -> rows

DEFAULT_SEED = 2026
CHUNK = 10_000  # rows of the main table per part
BL_NAMES = (n.IA, n.MD)
BL_CODES = ("ia", "md")
CULTURES = ("zh", "de", "en", "sv", "fr", "nl", "it")
CURRENCIES = ("CNY", "EUR", "USD")
CURRENCY_FACTOR = (1.0, 1 / 7.8, 1 / 7.2)
TZ_OFFSET_HOURS = {"CN-E": 8, "CN-S": 8, "EMEA": 1}


def rng_for(seed: int, *parts: object) -> random.Random:
    """A random stream for one purpose; the same (seed, parts) always gives the same stream."""
    return random.Random(":".join(str(p) for p in (seed, *parts)))  # noqa: S311 - demo data


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice`` without its bit-fiddling: one float per pick (demo data, not crypto)."""
    return seq[int(rng.random() * len(seq))]


def span(rng: random.Random, start: int, stop: int | None = None) -> int:
    """``rng.randrange(start, stop)`` from one float."""
    if stop is None:
        start, stop = 0, start
    return start + int(rng.random() * (stop - start))


def randint(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def weighted(pairs: Sequence[tuple[T, int]]) -> tuple[T, ...]:
    """Expand (value, integer weight) pairs so ``pick`` chooses by weight."""
    return tuple(value for value, weight in pairs for _ in range(weight))


@dataclass(frozen=True)
class Volumes:
    """How many records of each kind one scale step adds."""

    accounts: int
    contacts: int
    leads: int
    opportunities: int
    activities: int
    tasks: int
    tickets: int
    quotes: int

    @classmethod
    def for_scale(cls, scale: int) -> Volumes:
        if scale < 1:
            raise ValueError("scale must be at least 1")
        return cls(
            accounts=200 * scale, contacts=1000 * scale, leads=300 * scale,
            opportunities=500 * scale, activities=3000 * scale, tasks=300 * scale,
            tickets=200 * scale, quotes=50 * scale,
        )


# ---- pipelines -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageDef:
    name: str
    probability: int
    required: tuple[str, ...] = ()
    kind: str = "open"  # open, won or lost
    baseline: str | None = None  # variant stages: the baseline stage they map onto


@dataclass(frozen=True)
class PipelineDef:
    key: str
    name: str
    object_type: str
    business_line: str | None
    region: str | None
    baseline: str | None
    is_default: bool
    stages: tuple[StageDef, ...]


_WON = ("amount", "close_date")
PIPELINES: tuple[PipelineDef, ...] = (
    PipelineDef("ia", "Industrial Automation", "opportunity", n.IA, None, None, True, (
        StageDef("Qualify", 10), StageDef("Needs analysis", 20),
        StageDef("Technical evaluation", 40), StageDef("Proposal", 60, ("amount",)),
        StageDef("Negotiation", 80, _WON), StageDef("Won", 100, _WON, "won"),
        StageDef("Lost", 0, ("lost_reason",), "lost"),
    )),
    PipelineDef("md", "Medical Devices", "opportunity", n.MD, None, None, False, (
        StageDef("Qualify", 10), StageDef("Needs analysis", 20),
        StageDef("Product demo & trial", 40), StageDef("Proposal", 60, ("amount",)),
        StageDef("Negotiation", 80, _WON), StageDef("Won", 100, _WON, "won"),
        StageDef("Lost", 0, ("lost_reason",), "lost"),
    )),
    PipelineDef("ia_cn_s", "Industrial Automation - South China 华南", "opportunity", n.IA, "CN-S",
                "ia", False, (
        StageDef("初步接洽 Qualify", 10, baseline="Qualify"),
        StageDef("需求分析 Needs analysis", 20, baseline="Needs analysis"),
        StageDef("送样 Sample request", 30, baseline="Technical evaluation"),
        StageDef("技术评估 Technical evaluation", 45, baseline="Technical evaluation"),
        StageDef("报价 Proposal", 60, ("amount",), baseline="Proposal"),
        StageDef("商务谈判 Negotiation", 80, _WON, baseline="Negotiation"),
        StageDef("赢单 Won", 100, _WON, "won", baseline="Won"),
        StageDef("输单 Lost", 0, ("lost_reason",), "lost", baseline="Lost"),
    )),
    PipelineDef("ia_emea", "Industrial Automation - EMEA", "opportunity", n.IA, "EMEA", "ia",
                False, (
        StageDef("Qualify", 10, baseline="Qualify"),
        StageDef("Needs analysis", 20, baseline="Needs analysis"),
        StageDef("Technical evaluation", 35, baseline="Technical evaluation"),
        StageDef("CE/EMC compliance review", 50, baseline="Technical evaluation"),
        StageDef("Proposal", 60, ("amount",), baseline="Proposal"),
        StageDef("Negotiation", 80, _WON, baseline="Negotiation"),
        StageDef("Won", 100, _WON, "won", baseline="Won"),
        StageDef("Lost", 0, ("lost_reason",), "lost", baseline="Lost"),
    )),
    PipelineDef("md_emea", "Medical Devices - EMEA tenders", "opportunity", n.MD, "EMEA", "md",
                False, (
        StageDef("Qualify", 10, baseline="Qualify"),
        StageDef("Needs analysis", 20, baseline="Needs analysis"),
        StageDef("Product demo & trial", 40, baseline="Product demo & trial"),
        StageDef("Tender submitted", 60, ("amount",), baseline="Proposal"),
        StageDef("Tender evaluation", 75, _WON, baseline="Negotiation"),
        StageDef("Won", 100, _WON, "won", baseline="Won"),
        StageDef("Lost", 0, ("lost_reason",), "lost", baseline="Lost"),
    )),
    PipelineDef("service", "Service desk 服务台", "ticket", None, None, None, False, (
        StageDef("New", 0), StageDef("Open", 0), StageDef("Pending customer", 0),
        StageDef("On hold", 0), StageDef("Solved", 0), StageDef("Closed", 0),
    )),
)
PIPELINE_FOR: dict[tuple[str, str], str] = {
    ("CN-E", "ia"): "ia", ("CN-E", "md"): "md", ("CN-S", "ia"): "ia_cn_s",
    ("CN-S", "md"): "md", ("EMEA", "ia"): "ia_emea", ("EMEA", "md"): "md_emea",
}

CUSTOM_FIELDS: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    # object, name, label, type, category, options
    ("accounts", "segment", "Segment", "enum", "organization.detail",
     ("OEM", "End user", "System integrator", "Distributor", "Hospital", "Clinic")),
    ("contacts", "wechat_id", "WeChat ID", "text", "contact.social", ()),
    ("opportunities", "tender_number", "Tender number", "text", "sales.detail", ()),
    ("tickets", "serial_number", "Serial number", "text", "product.detail", ()),
)

# ---- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserPlan:
    id: int
    email: str
    name: str  # display name as stored
    name_en: str  # how the person signs English mail
    first_en: str
    region: str
    business_line: str | None  # None for service agents
    role: str  # manager, rep, agent
    locale: str
    timezone: str
    team_id: int
    region_id: int
    is_admin: bool = False


@dataclass(frozen=True)
class StagePlan:
    id: int
    name: str
    position: int
    probability: int
    kind: str
    required: tuple[str, ...]


@dataclass(frozen=True)
class PipelinePlan:
    id: int
    key: str
    stages: tuple[StagePlan, ...]

    @property
    def open_stages(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.stages) if s.kind == "open")

    @property
    def won(self) -> int:
        return next(i for i, s in enumerate(self.stages) if s.kind == "won")

    @property
    def lost(self) -> int:
        return next(i for i, s in enumerate(self.stages) if s.kind == "lost")


@dataclass
class AccountFacts:
    region: list[str] = field(default_factory=list)
    bl: array[int] = field(default_factory=lambda: array("B"))
    city: list[n.City] = field(default_factory=list)
    culture: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    legal_name: list[str | None] = field(default_factory=list)
    short: list[str] = field(default_factory=list)
    industry: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)  # company, hospital, clinic, distributor
    domain: list[str] = field(default_factory=list)
    owner: array[int] = field(default_factory=lambda: array("H"))  # index into plan.users
    tier: list[str] = field(default_factory=list)
    parent: array[int] = field(default_factory=lambda: array("i"))  # -1: none
    created_day: array[int] = field(default_factory=lambda: array("H"))
    contact_start: array[int] = field(default_factory=lambda: array("I"))
    contact_count: array[int] = field(default_factory=lambda: array("I"))


@dataclass
class ContactFacts:
    account: array[int] = field(default_factory=lambda: array("I"))
    culture: array[int] = field(default_factory=lambda: array("B"))  # index into CULTURES
    last: array[int] = field(default_factory=lambda: array("H"))
    first: array[int] = field(default_factory=lambda: array("H"))
    job: array[int] = field(default_factory=lambda: array("B"))


@dataclass
class OpportunityFacts:
    account: array[int] = field(default_factory=lambda: array("I"))
    contact: array[int] = field(default_factory=lambda: array("I"))
    pipeline: array[int] = field(default_factory=lambda: array("B"))  # index into plan.pipelines
    stage: array[int] = field(default_factory=lambda: array("B"))  # index into its stages
    product: array[int] = field(default_factory=lambda: array("B"))
    qty: array[int] = field(default_factory=lambda: array("H"))
    created_day: array[int] = field(default_factory=lambda: array("H"))
    end_day: array[int] = field(default_factory=lambda: array("H"))  # last stage change
    currency: array[int] = field(default_factory=lambda: array("B"))
    amount: array[float] = field(default_factory=lambda: array("d"))
    owner: array[int] = field(default_factory=lambda: array("H"))


@dataclass
class LeadFacts:
    culture: array[int] = field(default_factory=lambda: array("B"))
    last: array[int] = field(default_factory=lambda: array("H"))
    first: array[int] = field(default_factory=lambda: array("H"))
    bl: array[int] = field(default_factory=lambda: array("B"))
    region: list[str] = field(default_factory=list)
    owner: array[int] = field(default_factory=lambda: array("H"))
    status: list[str] = field(default_factory=list)
    created_day: array[int] = field(default_factory=lambda: array("H"))
    opportunity: array[int] = field(default_factory=lambda: array("i"))  # converted: opp index
    country: list[str | None] = field(default_factory=list)  # new leads' company country


@dataclass
class TicketFacts:
    account: array[int] = field(default_factory=lambda: array("I"))
    contact: array[int] = field(default_factory=lambda: array("I"))
    product: array[int] = field(default_factory=lambda: array("B"))
    assignee: array[int] = field(default_factory=lambda: array("H"))
    created_day: array[int] = field(default_factory=lambda: array("H"))
    template: array[int] = field(default_factory=lambda: array("B"))  # index into texts.TICKETS


@dataclass
class Plan:
    seed: int
    scale: int
    anchor: datetime  # "now" of the demo; every timestamp is at or before it
    volumes: Volumes
    ids: dict[str, int]  # first id per table
    regions: list[Row]
    teams: list[Row]
    users: list[UserPlan]
    pipelines: list[PipelinePlan]
    pipeline_rows: list[Row]
    stage_rows: list[Row]
    accounts: AccountFacts
    contacts: ContactFacts
    opportunities: OpportunityFacts
    leads: LeadFacts
    tickets: TicketFacts
    quote_opportunities: array[int]
    sales_by_team: dict[tuple[str, int], tuple[int, ...]]  # (region, bl) -> user indexes
    agents_by_region: dict[str, tuple[int, ...]]
    pipeline_index: dict[str, int]
    products_by_bl: tuple[tuple[int, ...], tuple[int, ...]]
    hardware_by_bl: tuple[tuple[int, ...], tuple[int, ...]]  # no consumables or services
    products_by_family: dict[str, tuple[int, ...]]
    price_list_ids: dict[tuple[str, str | None], int]  # (currency, region) -> id
    demo_users: tuple[int, int]  # user indexes of demo@ and demo-zh@
    password_hash: str = ""
    chunk: int = CHUNK  # rows of the main table per part

    def id_of(self, table: str, index: int) -> int:
        return self.ids[table] + index

    def parts(self) -> list[tuple[str, int]]:
        """Every part to render, in an order that respects foreign keys."""
        v = self.volumes
        counts = [
            ("accounts", v.accounts), ("contacts", v.contacts),
            ("opportunities", v.opportunities), ("tickets", v.tickets),
            ("quotes", len(self.quote_opportunities)), ("leads", v.leads),
            ("activities", v.activities), ("tasks", v.tasks),
        ]
        parts: list[tuple[str, int]] = [("reference", 0)]
        for table, count in counts:
            parts.extend((table, c) for c in range((count + self.chunk - 1) // self.chunk))
        return parts


TABLES_IN_ORDER = (
    "regions", "teams", "users", "custom_field_definitions", "pipelines", "pipeline_stages",
    "products", "price_lists", "price_list_items", "accounts", "contacts", "opportunities",
    "change_records", "tickets", "quotes", "quote_lines", "leads", "activities", "tasks",
)


def expected_counts(plan: Plan) -> dict[str, int]:
    """Rows each main table will hold after loading ``plan`` (reference tables included)."""
    v = plan.volumes
    return {
        "regions": len(plan.regions), "teams": len(plan.teams), "users": len(plan.users),
        "pipelines": len(plan.pipeline_rows), "pipeline_stages": len(plan.stage_rows),
        "products": len(n.PRODUCTS), "price_lists": len(n.PRICE_LISTS),
        "price_list_items": len(n.PRODUCTS) * len(n.PRICE_LISTS),
        "custom_field_definitions": len(CUSTOM_FIELDS),
        "accounts": v.accounts, "contacts": v.contacts, "opportunities": v.opportunities,
        "tickets": v.tickets, "quotes": len(plan.quote_opportunities), "leads": v.leads,
        "activities": v.activities, "tasks": v.tasks,
    }


def default_anchor() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def build_plan(
    *,
    scale: int = 1,
    seed: int = DEFAULT_SEED,
    anchor: datetime | None = None,
    ids: dict[str, int] | None = None,
    chunk: int = CHUNK,
) -> Plan:
    """Decide every record's place in the story; ``ids`` gives the first free id per table."""
    volumes = Volumes.for_scale(scale)
    anchor = anchor or default_anchor()
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    anchor = anchor.astimezone(UTC)
    first_ids = dict.fromkeys(TABLES_IN_ORDER, 1)
    first_ids.update(ids or {})
    rng = rng_for(seed, "plan")

    region_id = {code: first_ids["regions"] + i for i, (code, _n, _c) in enumerate(n.REGIONS)}
    regions: list[Row] = [
        {"id": region_id[code], "name": name, "code": code} for code, name, _c in n.REGIONS
    ]
    teams, users, sales_by_team, agents_by_region, demo = _plan_people(
        rng, scale, first_ids, region_id
    )
    pipelines, pipeline_rows, stage_rows = _plan_pipelines(first_ids, region_id)
    pipeline_index = {p.key: i for i, p in enumerate(pipelines)}
    products_by_bl = (
        tuple(i for i, p in enumerate(n.PRODUCTS) if p.business_line == n.IA),
        tuple(i for i, p in enumerate(n.PRODUCTS) if p.business_line == n.MD),
    )
    families = [n.product_family(p.sku) for p in n.PRODUCTS]
    hardware_by_bl = tuple(
        tuple(i for i in group if families[i] not in ("consumable", "service"))
        for group in products_by_bl
    )
    products_by_family: dict[str, tuple[int, ...]] = {}
    for i, family in enumerate(families):
        products_by_family[family] = (*products_by_family.get(family, ()), i)
    price_list_ids = {
        (currency, region): first_ids["price_lists"] + i
        for i, (_name, currency, region, _factor) in enumerate(n.PRICE_LISTS)
    }
    plan = Plan(
        seed=seed, scale=scale, anchor=anchor, volumes=volumes, ids=first_ids,
        regions=regions, teams=teams, users=users, pipelines=pipelines,
        pipeline_rows=pipeline_rows, stage_rows=stage_rows, accounts=AccountFacts(),
        contacts=ContactFacts(), opportunities=OpportunityFacts(), leads=LeadFacts(),
        tickets=TicketFacts(), quote_opportunities=array("I"), sales_by_team=sales_by_team,
        agents_by_region=agents_by_region, pipeline_index=pipeline_index,
        products_by_bl=products_by_bl, hardware_by_bl=hardware_by_bl,  # type: ignore[arg-type]
        products_by_family=products_by_family, price_list_ids=price_list_ids, demo_users=demo,
        chunk=chunk,
    )
    _plan_accounts(plan, rng_for(seed, "plan", "accounts"))
    _plan_contacts(plan, rng_for(seed, "plan", "contacts"))
    _plan_opportunities(plan, rng_for(seed, "plan", "opportunities"))
    _plan_tickets(plan, rng_for(seed, "plan", "tickets"))
    _plan_leads(plan, rng_for(seed, "plan", "leads"))
    return plan


def _zh_person(rng: random.Random) -> tuple[int, int]:
    return pick(rng, _ZH_SURNAME_PICK), span(rng, len(n.ZH_GIVEN))


_ZH_SURNAME_PICK = weighted([(i, w) for i, (_h, _p, w) in enumerate(n.ZH_SURNAMES)])
_REGION_PICK = weighted([("CN-E", 40), ("CN-S", 30), ("EMEA", 30)])
_EMEA_COUNTRY_PICK = weighted(list(n.EMEA_COUNTRY_WEIGHTS))
_TIER_PICK = weighted([("A", 15), ("B", 35), ("C", 50)])
_TIER_WEIGHT = {"A": 5, "B": 2, "C": 1}


def person_name(culture: str, last: int, first: int) -> tuple[str, str]:
    """(first_name, last_name) as stored."""
    if culture == "zh":
        return n.ZH_GIVEN[first][0], n.ZH_SURNAMES[last][0]
    return n.WESTERN_FIRST[culture][first], n.WESTERN_LAST[culture][last]


def person_ascii(culture: str, last: int, first: int) -> tuple[str, str]:
    if culture == "zh":
        return n.ZH_GIVEN[first][1], n.ZH_SURNAMES[last][1]
    return n.ascii_fold(n.WESTERN_FIRST[culture][first]), n.ascii_fold(n.WESTERN_LAST[culture][last])


def _random_person(rng: random.Random, culture: str) -> tuple[int, int]:
    if culture == "zh":
        return _zh_person(rng)
    return span(rng, len(n.WESTERN_LAST[culture])), span(rng, len(n.WESTERN_FIRST[culture]))


def _plan_people(
    rng: random.Random, scale: int, first_ids: dict[str, int], region_id: dict[str, int]
) -> tuple[list[Row], list[UserPlan], dict[tuple[str, int], tuple[int, ...]],
           dict[str, tuple[int, ...]], tuple[int, int]]:
    reps = min(3 * int(scale ** 0.5 + 0.999), 90)
    agents = max(2, reps // 2)
    teams: list[Row] = []
    users: list[UserPlan] = []
    used_emails: set[str] = set()
    sales: dict[tuple[str, int], list[int]] = {}
    service: dict[str, list[int]] = {}
    timezones = {"de": "Europe/Berlin", "en": "Europe/London", "sv": "Europe/Stockholm",
                 "fr": "Europe/Paris", "nl": "Europe/Amsterdam", "it": "Europe/Rome"}

    def add_user(region: str, bl: int | None, role: str, team_id: int, *, email: str | None = None,
                 name: str | None = None, locale: str | None = None, admin: bool = False) -> int:
        culture = "zh" if region != "EMEA" else pick(rng, ("de", "de", "en", "en", "sv", "fr", "nl", "it"))
        last, first = _random_person(rng, culture)
        first_name, last_name = person_name(culture, last, first)
        first_ascii, last_ascii = person_ascii(culture, last, first)
        if culture == "zh":
            display, name_en = f"{last_name}{first_name}", f"{first_ascii.title()} {last_ascii.title()}"
        else:
            display = name_en = f"{first_name} {last_name}"
        first_en = first_ascii.title() if culture == "zh" else first_name
        if email is None:
            local = f"{first_ascii}.{last_ascii}"
            email, k = f"{local}@example.com", 2
            while email in used_emails:
                email, k = f"{local}{k}@example.com", k + 1
        if name is not None:
            display = name_en = name
            first_en = name.split()[0]
        used_emails.add(email)
        user = UserPlan(
            id=first_ids["users"] + len(users), email=email, name=display, name_en=name_en,
            first_en=first_en, region=region, business_line=BL_NAMES[bl] if bl is not None else None,
            role=role, locale=locale or ("zh_CN" if culture == "zh" else "en"),
            timezone="Asia/Shanghai" if region != "EMEA" else timezones[culture],
            team_id=team_id, region_id=region_id[region], is_admin=admin,
        )
        users.append(user)
        return len(users) - 1

    # The two demo users come first so their ids are stable whatever the scale.
    demo_team = first_ids["teams"]
    demo_zh_team = first_ids["teams"] + 4
    demo = add_user("CN-E", 0, "rep", demo_team, email=n.DEMO_EMAIL, name="Demo User",
                    locale="en", admin=True)
    demo_zh = add_user("CN-S", 1, "rep", demo_zh_team, email=n.DEMO_ZH_EMAIL, name="演示用户",
                       locale="zh_CN", admin=True)
    labels = {"CN-E": ("East China", "华东"), "CN-S": ("South China", "华南"), "EMEA": ("EMEA", "")}
    for code, _name, _currency in n.REGIONS:
        en, zh = labels[code]
        for bl, (bl_en, bl_zh) in enumerate((("Automation", "自动化"), ("Medical", "医疗"))):
            team_id = first_ids["teams"] + len(teams)
            team_name = f"{en} {bl_en} Sales" + (f" {zh}{bl_zh}销售" if zh else "")
            teams.append({"id": team_id, "name": team_name, "region_id": region_id[code]})
            members = [add_user(code, bl, "manager", team_id)]
            members += [add_user(code, bl, "rep", team_id) for _ in range(reps)]
            if code == "CN-E" and bl == 0:
                members += [demo] * 4
            if code == "CN-S" and bl == 1:
                members += [demo_zh] * 4
            # managers own fewer accounts than reps
            sales[(code, bl)] = [members[0]] + [m for m in members[1:] for _ in range(2)]
        team_id = first_ids["teams"] + len(teams)
        teams.append({"id": team_id, "name": f"{en} Service" + (f" {zh}技术服务" if zh else ""),
                      "region_id": region_id[code]})
        service[code] = [add_user(code, None, "agent", team_id) for _ in range(agents)]
    return (teams, users, {k: tuple(v) for k, v in sales.items()},
            {k: tuple(v) for k, v in service.items()}, (demo, demo_zh))


def _plan_pipelines(
    first_ids: dict[str, int], region_id: dict[str, int]
) -> tuple[list[PipelinePlan], list[Row], list[Row]]:
    pipelines: list[PipelinePlan] = []
    pipeline_rows: list[Row] = []
    stage_rows: list[Row] = []
    by_key: dict[str, PipelinePlan] = {}
    for p_def in PIPELINES:
        pid = first_ids["pipelines"] + len(pipeline_rows)
        pipeline_rows.append({
            "id": pid, "name": p_def.name, "object_type": p_def.object_type,
            "baseline_pipeline_id": by_key[p_def.baseline].id if p_def.baseline else None,
            "region_id": region_id[p_def.region] if p_def.region else None,
            "business_line": p_def.business_line, "is_default": p_def.is_default,
        })
        stages: list[StagePlan] = []
        for position, s_def in enumerate(p_def.stages, start=1):
            sid = first_ids["pipeline_stages"] + len(stage_rows)
            baseline_stage_id = None
            if s_def.baseline is not None and p_def.baseline is not None:
                base = by_key[p_def.baseline]
                baseline_stage_id = next(s.id for s in base.stages if s.name == s_def.baseline)
            stage_rows.append({
                "id": sid, "pipeline_id": pid, "name": s_def.name, "position": position,
                "probability": s_def.probability, "required_fields": list(s_def.required),
                "baseline_stage_id": baseline_stage_id, "is_won": s_def.kind == "won",
                "is_lost": s_def.kind == "lost",
            })
            stages.append(StagePlan(sid, s_def.name, position, s_def.probability, s_def.kind,
                                    s_def.required))
        plan = PipelinePlan(pid, p_def.key, tuple(stages))
        by_key[p_def.key] = plan
        pipelines.append(plan)
    return pipelines, pipeline_rows, stage_rows


def _company(rng: random.Random, region: str, bl: int, used: dict[str, int] | None,
             country: str | None = None,
             ) -> tuple[n.City, str, str, str | None, str, str, str, str]:
    """(city, culture, name, legal_name, short, industry, kind, domain)"""
    if region == "EMEA":
        country = country or pick(rng, _EMEA_COUNTRY_PICK)
        city = pick(rng, [c for c in n.EMEA_CITIES if c.country == country])
        culture = n.COUNTRY_CULTURE[country]
        prefix = pick(rng, n.WESTERN_PREFIXES[country])
        if bl == 0:
            words, industry = pick(rng, n.WESTERN_INDUSTRIAL[country])
            name, kind = f"{prefix} {words}", "company"
            keyword = words.split()[0]
        else:
            pattern, industry, kind = pick(rng, n.WESTERN_MEDICAL[country])
            name = pattern.format(p=prefix, c=city.name)
            keyword = next(w for w in pattern.split() if "{" not in w)
        short = name
        legal: str | None = name
        slug = "-".join("".join(ch for ch in n.ascii_fold(w) if ch.isalnum()) for w in (prefix, keyword))
        tld = "example.org" if kind in ("hospital", "clinic") else "example.com"
    else:
        city = pick(rng, n.REGION_CITIES[region])
        culture = "zh"
        brand, brand_py = pick(rng, n.ZH_BRANDS)
        if bl == 0:
            full, short_kind, en_kind, token, industry = pick(rng, n.ZH_INDUSTRIAL_KINDS)
            style = rng.random()
            if style < 0.45:
                name = f"{city.name}{brand}{full}有限公司"
            elif style < 0.75:
                name = f"{city.name}市{brand}{full}有限公司"
            elif style < 0.9:
                name = f"{brand}{full}（{city.name}）有限公司"
            else:
                name = f"{city.name}{brand}{full}股份有限公司"
            legal = f"{city.pinyin} {brand_py} {en_kind} Co., Ltd."
            short, kind = f"{brand}{short_kind}", "company"
        else:
            pattern, en_pattern, token, industry, kind = pick(rng, n.ZH_MEDICAL_KINDS)
            name = pattern.format(c=city.name, b=brand)
            legal = en_pattern.format(cp=city.pinyin, bp=brand_py)
            short = name.replace("有限公司", "") if kind == "distributor" else name
        slug = f"{brand_py.lower()}-{token}"
        tld = "example.cn"
    if used is None:
        return city, culture, name, legal, short, industry, kind, f"{slug}.{tld}"
    seen = used.get(slug, 0) + 1  # the second huaxing-auto becomes huaxing-auto2
    used[slug] = seen
    domain = f"{slug}.{tld}" if seen == 1 else f"{slug}{seen}.{tld}"
    return city, culture, name, legal, short, industry, kind, domain


def _plan_accounts(plan: Plan, rng: random.Random) -> None:
    a = plan.accounts
    count = plan.volumes.accounts
    used_domains: dict[str, int] = {}
    for i in range(count):
        region = pick(rng, _REGION_PICK)
        bl = 0 if rng.random() < 0.55 else 1
        parent = -1
        if i >= 20 and rng.random() < 0.04:
            candidate = span(rng, i)
            if a.region[candidate] == region and a.parent[candidate] == -1:
                parent = candidate
        if parent >= 0:
            bl = a.bl[parent]
            country = a.city[parent].country
            city = pick(rng, [c for c in n.REGION_CITIES[region] if c.country == country])
            culture = a.culture[parent]
            base = a.name[parent]
            name = f"{base}{city.name}分公司" if culture == "zh" else f"{base} - {city.name}"
            legal = None
            short, industry, kind = a.short[parent], a.industry[parent], a.kind[parent]
            domain = a.domain[parent]
        else:
            city, culture, name, legal, short, industry, kind, domain = _company(
                rng, region, bl, used_domains
            )
        a.region.append(region)
        a.bl.append(bl)
        a.city.append(city)
        a.culture.append(culture)
        a.name.append(name)
        a.legal_name.append(legal if legal != name else None)
        a.short.append(short)
        a.industry.append(industry)
        a.kind.append(kind)
        a.domain.append(domain)
        a.owner.append(pick(rng, plan.sales_by_team[(region, bl)]))
        a.tier.append(pick(rng, _TIER_PICK))
        a.parent.append(parent)
        a.created_day.append(span(rng, 60, 1100))
    # Contacts: at least one per account, the rest weighted towards bigger accounts.
    counts = [1] * count
    extra = plan.volumes.contacts - count
    if extra > 0:
        cum: list[int] = []
        total = 0
        for tier in a.tier:
            total += _TIER_WEIGHT[tier]
            cum.append(total)
        for chosen in rng.choices(range(count), cum_weights=cum, k=extra):
            counts[chosen] += 1
    start = 0
    for c in counts:
        a.contact_start.append(start)
        a.contact_count.append(c)
        start += c


_WANG, _WEI = 0, 0  # 王 and 伟 head their lists; the first Chinese account has a 王伟


def _plan_contacts(plan: Plan, rng: random.Random) -> None:
    a, c = plan.accounts, plan.contacts
    random_ = rng.random
    surnames, given = _ZH_SURNAME_PICK, len(n.ZH_GIVEN)
    sizes = {culture: (len(n.WESTERN_LAST[culture]), len(n.WESTERN_FIRST[culture]))
             for culture in CULTURES[1:]}
    ia_jobs, md_jobs = len(n.INDUSTRIAL_JOBS), len(n.MEDICAL_JOBS)
    wang_wei = a.culture.index("zh") if "zh" in a.culture else -1
    account, cultures, lasts, firsts, jobs_of = [], [], [], [], []
    for i in range(plan.volumes.accounts):
        account_culture = a.culture[i]
        seen: set[tuple[int, int, int]] = set()
        jobs = ia_jobs if a.bl[i] == 0 else md_jobs
        for k in range(a.contact_count[i]):
            culture = account_culture
            if random_() < 0.08:  # expats and foreign colleagues
                culture = "en" if account_culture != "en" else "de"
            code = CULTURES.index(culture)
            for attempt in range(40):
                if culture == "zh" or attempt >= 20:  # a huge account ran out of names
                    code = 0
                    last = surnames[int(random_() * len(surnames))]
                    first = int(random_() * given)
                else:
                    n_last, n_first = sizes[culture]
                    last, first = int(random_() * n_last), int(random_() * n_first)
                if (code, last, first) not in seen:
                    break
            if i == wang_wei and k == 0:
                code, last, first = 0, _WANG, _WEI
            seen.add((code, last, first))
            account.append(i)
            cultures.append(code)
            lasts.append(last)
            firsts.append(first)
            jobs_of.append(int(random_() * (2 if k == 0 else jobs)))
    c.account.extend(account)
    c.culture.extend(cultures)
    c.last.extend(lasts)
    c.first.extend(firsts)
    c.job.extend(jobs_of)


def _plan_opportunities(plan: Plan, rng: random.Random) -> None:
    a, o = plan.accounts, plan.opportunities
    random_ = rng.random
    count = plan.volumes.accounts
    cum: list[int] = []
    total = 0
    for tier in a.tier:
        total += _TIER_WEIGHT[tier]
        cum.append(total)
    picks = rng.choices(range(count), cum_weights=cum, k=plan.volumes.opportunities)
    shapes = [
        (pl.open_stages, pl.won, pl.lost) if pl.key != "service" else ((), -1, -1)
        for pl in plan.pipelines
    ]
    pipeline_of = {
        (region, bl): plan.pipeline_index[PIPELINE_FOR[(region, BL_CODES[bl])]]
        for region, _name, _currency in n.REGIONS for bl in (0, 1)
    }
    products, by_bl = n.PRODUCTS, plan.products_by_bl
    columns: dict[str, list[Any]] = {name: [] for name in (
        "account", "contact", "pipeline", "stage", "product", "qty", "created_day", "end_day",
        "currency", "amount", "owner")}
    for acc in picks:
        region, bl = a.region[acc], a.bl[acc]
        pipeline_idx = pipeline_of[(region, bl)]
        opens, won, lost = shapes[pipeline_idx]
        r = random_()
        if r < 0.22:
            stage = won
        elif r < 0.40:
            stage = lost
        else:  # early stages hold more deals
            stage = opens[min(int(random_() ** 1.6 * len(opens)), len(opens) - 1)]
        if stage == won or stage == lost:
            created = 20 + int(random_() * 345)
            end = max(0, created - 10 - int(random_() * 140))
        else:
            created = 3 + int(random_() * 297)
            end = int(random_() * (created + 1))
        group = by_bl[bl]
        product = group[int(random_() * len(group))]
        low, high = products[product].typical_qty
        qty = low + int(random_() * (high - low + 1))
        if region == "EMEA":
            currency = 2 if random_() < 0.1 else 1
        else:
            currency = 2 if random_() < 0.08 else 0
        amount = products[product].price_cny * qty * (0.82 + 0.18 * random_())
        amount *= CURRENCY_FACTOR[currency]
        step = 100 if currency == 0 else 10
        owner = a.owner[acc]
        if random_() >= 0.9:
            team = plan.sales_by_team[(region, bl)]
            owner = team[int(random_() * len(team))]
        columns["account"].append(acc)
        columns["contact"].append(a.contact_start[acc] + int(random_() * a.contact_count[acc]))
        columns["pipeline"].append(pipeline_idx)
        columns["stage"].append(stage)
        columns["product"].append(product)
        columns["qty"].append(qty)
        columns["created_day"].append(created)
        columns["end_day"].append(end)
        columns["currency"].append(currency)
        columns["amount"].append(max(step, round(amount / step) * step))
        columns["owner"].append(owner)
    for name, values in columns.items():
        getattr(o, name).extend(values)
    # Quotes go to deals that reached a proposal.
    quotable = [
        frozenset(k for k, st in enumerate(pl.stages) if st.probability >= 60 or st.kind == "lost")
        for pl in plan.pipelines
    ]
    eligible = [
        i for i in range(plan.volumes.opportunities) if o.stage[i] in quotable[o.pipeline[i]]
    ]
    wanted = min(plan.volumes.quotes, len(eligible))
    plan.quote_opportunities = array("I", sorted(rng.sample(eligible, wanted)))


def _plan_tickets(plan: Plan, rng: random.Random) -> None:
    a, t = plan.accounts, plan.tickets
    for _ in range(plan.volumes.tickets):
        acc = span(rng, plan.volumes.accounts)
        t.account.append(acc)
        t.contact.append(a.contact_start[acc] + span(rng, a.contact_count[acc]))
        bl = a.bl[acc]
        template = span(rng, len(tx.TICKET_FAMILIES[BL_CODES[bl]]))
        candidates = [
            i for family in tx.TICKET_FAMILIES[BL_CODES[bl]][template]
            for i in plan.products_by_family[family] if n.PRODUCTS[i].business_line == BL_NAMES[bl]
        ]
        t.template.append(template)
        t.product.append(pick(rng, candidates))
        t.assignee.append(pick(rng, plan.agents_by_region[a.region[acc]]))
        t.created_day.append(min(int(rng.expovariate(1 / 90)), 400))


_LEAD_STATUS_PICK = weighted([("new", 20), ("working", 20), ("nurturing", 15), ("qualified", 15),
                              ("unqualified", 15), ("converted", 15)])


def _plan_leads(plan: Plan, rng: random.Random) -> None:
    lf, o, c = plan.leads, plan.opportunities, plan.contacts
    for _ in range(plan.volumes.leads):
        country: str | None = None
        status = pick(rng, _LEAD_STATUS_PICK)
        opp = -1
        if status == "converted":
            opp = span(rng, plan.volumes.opportunities)
            contact = o.contact[opp]
            acc = o.account[opp]
            culture_code, last, first = c.culture[contact], c.last[contact], c.first[contact]
            region, bl = plan.accounts.region[acc], plan.accounts.bl[acc]
            created = min(o.created_day[opp] + span(rng, 5, 60), 700)
            owner = o.owner[opp]
        else:
            region = pick(rng, _REGION_PICK)
            bl = span(rng, 2)
            country = "CN" if region != "EMEA" else pick(rng, _EMEA_COUNTRY_PICK)
            culture = n.COUNTRY_CULTURE[country]
            if rng.random() < 0.05:
                culture = "en"
            culture_code = CULTURES.index(culture)
            last, first = _random_person(rng, culture)
            created = span(rng, 0, 365)
            owner = pick(rng, plan.sales_by_team[(region, bl)])
        lf.culture.append(culture_code)
        lf.last.append(last)
        lf.first.append(first)
        lf.bl.append(bl)
        lf.region.append(region)
        lf.owner.append(owner)
        lf.status.append(status)
        lf.created_day.append(created)
        lf.opportunity.append(opp)
        lf.country.append(country)


# ---- rendering -------------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock:
    """Business-hour timestamps in UTC, counted in days before the plan's anchor."""

    def __init__(self, anchor: datetime) -> None:
        self.anchor = anchor
        self.anchor_ts = (anchor - _EPOCH) // timedelta(seconds=1)
        self.midnight_ts = self.anchor_ts - self.anchor_ts % 86400

    def at(self, rng: random.Random, days_ago: float, region: str = "CN-E") -> datetime:
        offset = TZ_OFFSET_HOURS[region] * 3600
        day = self.midnight_ts - int(days_ago) * 86400
        weekday = ((day + offset) // 86400 + 3) % 7  # 1970-01-01 was a Thursday
        if weekday >= 5 and rng.random() < 0.9:
            day -= (weekday - 4) * 86400
        value = day + 28800 + 1800 - offset + int(rng.random() * 34200)  # 08:30-18:00 local
        if value >= self.anchor_ts:
            value = self.anchor_ts - 60 - int(rng.random() * 14400)
        return _EPOCH + timedelta(seconds=value, microseconds=1 + int(rng.random() * 999_999))

    def between(self, rng: random.Random, start: datetime, end: datetime) -> datetime:
        if end <= start:
            return start
        return start + (end - start) * rng.random()

    def later(self, rng: random.Random, start: datetime, max_days: float) -> datetime:
        value = start + timedelta(seconds=rng.random() * max_days * 86400)
        return min(value, self.anchor)


def _phone(rng: random.Random, prefix: str, digits: int, first: str = "") -> str:
    head = pick(rng, first) if first else str(span(rng, 10))
    tail = "".join(str(span(rng, 10)) for _ in range(digits - 1))
    return prefix + head + tail


def mobile(rng: random.Random, country: str) -> str:
    prefix, digits = pick(rng, n.MOBILE_PLANS[country])
    if country == "US":
        return prefix + pick(rng, n.US_FICTIONAL_LINES)
    return prefix + "".join(str(span(rng, 10)) for _ in range(digits))


def landline(rng: random.Random, city: n.City) -> str:
    return _phone(rng, city.phone_prefix, city.local_digits, city.first_digits)


def _mobile_country(culture: str, account_country: str) -> str:
    if n.COUNTRY_CULTURE.get(account_country) == culture or account_country in ("AE", "ZA"):
        return account_country
    return {"zh": "CN", "de": "DE", "en": "US", "sv": "SE", "fr": "FR", "nl": "NL",
            "it": "IT"}[culture]


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _format_amount(value: float, currency: int, lang: str) -> str:
    symbol = ("¥", "€", "US$")[currency] if lang == "zh" else ("CNY ", "EUR ", "USD ")[currency]
    return f"{symbol}{value:,.0f}"


def _format_date(value: datetime | date, lang: str) -> str:
    if lang == "zh":
        return f"{value.month}月{value.day}日"
    return f"{value.day} {tx.MONTHS_EN[value.month - 1]}"


class Renderer:
    """Renders parts of one plan; each part draws from its own random stream."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.clock = Clock(plan.anchor)
        self.user_rows = plan.users
        self.job_tables = (n.INDUSTRIAL_JOBS, n.MEDICAL_JOBS)
        self._spaced: dict[str, str] = {}
        self.activity_texts = {
            lang: tuple(_ActivityTexts.of(lang, code) for code in BL_CODES) for lang in ("zh", "en")
        }
        self.open_stages = [pl.open_stages for pl in plan.pipelines]
        self.closed_stages = [
            frozenset(k for k, s in enumerate(pl.stages) if s.kind != "open") for pl in plan.pipelines
        ]

    def spaced(self, template: str) -> str:
        found = self._spaced.get(template)
        if found is None:
            found = self._spaced[template] = spaced_cjk(template)
        return found

    # -- people helpers --------------------------------------------------------------------

    def person(self, j: int) -> tuple[str, str, str, str, str, str]:
        """(first, last, culture, display, addressed-as, e-mail) of contact ``j``."""
        c = self.plan.contacts
        code, last_i, first_i = c.culture[j], c.last[j], c.first[j]
        acc = c.account[j]
        domain = self.plan.accounts.domain[acc]
        if code == 0:
            given, given_py = n.ZH_GIVEN[first_i]
            family, family_py, _weight = n.ZH_SURNAMES[last_i]
            job = self.job_tables[self.plan.accounts.bl[acc]][c.job[j]]
            addressed = f"{family}{job.honorific}" if job.honorific else f"{family}{given}"
            return (given, family, "zh", f"{family}{given}", addressed,
                    f"{given_py}.{family_py}@{domain}")
        culture = CULTURES[code]
        first, last = n.WESTERN_FIRST[culture][first_i], n.WESTERN_LAST[culture][last_i]
        return (first, last, culture, f"{first} {last}", first,
                f"{n.ascii_fold(first)}.{n.ascii_fold(last)}@{domain}")

    def contact_names(self, j: int) -> tuple[str, str, str, str, str]:
        """(first, last, culture, display, addressed-as) of contact ``j``."""
        first, last, culture, display, addressed, _email = self.person(j)
        return first, last, culture, display, addressed

    def contact_email(self, j: int) -> str:
        return self.person(j)[5]

    def _context(self, rng: random.Random, lang: str, bl: int, fields: tuple[str, ...], *,
                 contact: int | None, account: int | None, owner: int, product: int, qty: int,
                 when: datetime, currency: int = 0, amount: float | None = None,
                 person: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The template fields in ``fields``, drawn in that order (so always the same way)."""
        p = self.plan
        ctx: dict[str, Any] = {}
        prod = n.PRODUCTS[product]
        follow: datetime | None = None
        for key in fields:
            if key in _NAME_FIELDS:
                if person is None:
                    person = self.person(contact) if contact is not None else ("",) * 6
                ctx.update(name=person[4], first=person[0], last=person[1], full=person[3])
            elif key == "owner":
                user = p.users[owner]
                ctx[key] = user.name if lang == "zh" else user.name_en
            elif key == "owner_first":
                user = p.users[owner]
                ctx[key] = user.name if lang == "zh" else user.first_en
            elif key == "product":
                ctx[key] = prod.name_zh if lang == "zh" else prod.name
            elif key == "qty":
                ctx[key] = qty
            elif key == "account":
                ctx[key] = p.accounts.short[account] if account is not None else ""
            elif key in ("date", "month"):
                if follow is None:
                    follow = when + timedelta(days=span(rng, 3, 30))
                ctx["date"] = _format_date(follow, lang)
                ctx["month"] = (tx.MONTHS_ZH if lang == "zh" else tx.MONTHS_EN)[follow.month - 1]
            elif key == "weeks":
                ctx[key] = pick(rng, (2, 3, 4, 6, 8, 10))
            elif key in ("amount", "unit_price"):
                unit = prod.price_cny * CURRENCY_FACTOR[currency]
                total = amount if amount is not None else unit * qty
                ctx[key] = _format_amount(total if key == "amount" else unit, currency, lang)
            elif key == "quote_no":
                ctx[key] = f"Q{when.year}-{span(rng, 1000, 99999):05d}"
            elif key == "tracking":
                ctx[key] = str(span(rng, 10**11, 10**12))
            elif key == "fw":
                ctx[key] = f"{span(rng, 1, 4)}.{span(rng, 0, 9)}.{span(rng, 0, 20)}"
            elif key == "sn":
                ctx[key] = f"{'IA' if bl == 0 else 'MD'}{when.year % 100:02d}{span(rng, 10**6, 10**7)}"
            elif key == "code":
                ctx[key] = pick(rng, tx.ALARM_CODES)
            elif key == "dept":
                ctx[key] = pick(rng, tx.DEPARTMENTS[(lang, BL_CODES[bl])])
            elif key == "year":
                ctx[key] = when.year
            else:
                raise KeyError(f"unknown template field {key!r}")
        return ctx

    # -- parts -----------------------------------------------------------------------------

    def render(self, table: str, chunk: int) -> Rows:
        rng = rng_for(self.plan.seed, table, chunk)
        if table == "reference":
            return self.reference()
        size = self.plan.chunk
        method: Callable[[random.Random, range], Rows] = getattr(self, f"_{table}")
        total = len(self.plan.quote_opportunities) if table == "quotes" else getattr(
            self.plan.volumes, table)
        return method(rng, range(chunk * size, min((chunk + 1) * size, total)))

    def reference(self) -> Rows:
        p = self.plan
        rng = rng_for(p.seed, "reference")
        created = self.clock.at(rng, 1200)

        def stamp(row: Row) -> Row:
            return {**row, "created_at": created, "updated_at": created, "version": 1,
                    "custom": {}}

        users = [
            stamp({
                "id": u.id, "email": u.email, "name": u.name, "password_hash": p.password_hash,
                "locale": u.locale, "timezone": u.timezone, "is_admin": u.is_admin,
                "is_active": True, "team_id": u.team_id, "region_id": u.region_id,
                "totp_secret": None, "totp_enabled_at": None, "failed_logins": 0,
                "locked_until": None, "lock_reason": None,
            })
            for u in p.users
        ]
        custom_fields = [
            stamp({
                "id": p.ids["custom_field_definitions"] + i, "object_type": obj, "name": name,
                "label": label, "field_type": kind, "category": category, "required": False,
                "options": list(options), "reference_object": None,
                "max_length": 100 if kind == "text" else None, "currency": None, "position": i,
            })
            for i, (obj, name, label, kind, category, options) in enumerate(CUSTOM_FIELDS)
        ]
        products = [
            stamp({
                "id": p.ids["products"] + i, "sku": d.sku, "name": f"{d.name} / {d.name_zh}",
                "description": d.description, "unit": d.unit,
                "business_line": d.business_line, "active": True,
            })
            for i, d in enumerate(n.PRODUCTS)
        ]
        region_ids = {r["code"]: r["id"] for r in p.regions}
        price_lists = [
            stamp({
                "id": p.ids["price_lists"] + i, "name": name, "currency": currency,
                "region_id": region_ids[region] if region else None, "active": True,
            })
            for i, (name, currency, region, _f) in enumerate(n.PRICE_LISTS)
        ]
        items: list[Row] = []
        for li, (_name, currency, _region, factor) in enumerate(n.PRICE_LISTS):
            step = 1 if currency == "CNY" else 0.5
            for pi, d in enumerate(n.PRODUCTS):
                price = max(step, round(d.price_cny * factor / step) * step)
                items.append(stamp({
                    "id": p.ids["price_list_items"] + len(items),
                    "price_list_id": p.ids["price_lists"] + li,
                    "product_id": p.ids["products"] + pi, "unit_price": _money(price),
                }))
        return {
            "regions": [stamp(r) for r in p.regions],
            "teams": [stamp(t) for t in p.teams],
            "users": users,
            "custom_field_definitions": custom_fields,
            "pipelines": [stamp(r) for r in p.pipeline_rows],
            "pipeline_stages": [stamp(r) for r in p.stage_rows],
            "products": products,
            "price_lists": price_lists,
            "price_list_items": items,
        }

    def _accounts(self, rng: random.Random, indexes: range) -> Rows:
        p, a = self.plan, self.plan.accounts
        rows = []
        sizes = {"A": ("1001-5000", "5000+", "201-1000"), "B": ("201-1000", "51-200", "1001-5000"),
                 "C": ("11-50", "51-200", "1-10")}
        for i in indexes:
            city, culture, region = a.city[i], a.culture[i], a.region[i]
            created = self.clock.at(rng, a.created_day[i], region)
            number = span(rng, 1, 2000)
            if culture == "zh":
                district = pick(rng, city.districts)
                street = f"{district}{pick(rng, city.streets)}{number}号"
                if rng.random() < 0.4:
                    street += f"{span(rng, 1, 12)}栋"
            else:
                street = f"{pick(rng, city.streets)} {number % 250 + 1}"
                if city.country in ("FR", "IT"):
                    street = f"{number % 250 + 1} {pick(rng, city.streets)}"
            tier = a.tier[i]
            revenue_base = {"A": 800_000_000, "B": 120_000_000, "C": 15_000_000}[tier]
            kind = a.kind[i]
            segment = {"hospital": "Hospital", "clinic": "Clinic", "distributor": "Distributor"}.get(
                kind, pick(rng, ("OEM", "End user", "End user", "System integrator")))
            description = None
            if rng.random() < 0.5:
                if culture == "zh":
                    description = pick(rng, (
                        f"{a.industry[i]}客户，{city.name}本地重点账户。",
                        f"主要产品线：{a.industry[i]}。年度采购计划通常在第一季度确定。",
                        "付款及时，关注交期与售后响应。",
                    ))
                else:
                    description = pick(rng, (
                        f"{a.industry[i]} customer based in {city.name}.",
                        "Buys through annual frame agreements; budget fixed in Q1.",
                        "Reliable payer; cares about lead times and service response.",
                    ))
            rows.append({
                "id": p.id_of("accounts", i), "name": a.name[i], "legal_name": a.legal_name[i],
                "industry": a.industry[i], "size": pick(rng, sizes[tier]), "tier": tier,
                "business_line": BL_NAMES[a.bl[i]], "region_id": p.regions[_REGION_INDEX[region]]["id"],
                "owner_id": p.users[a.owner[i]].id,
                "parent_account_id": p.id_of("accounts", a.parent[i]) if a.parent[i] >= 0 else None,
                "website": f"https://www.{a.domain[i]}", "phone": landline(rng, city),
                "email": f"{pick(rng, ('info', 'sales', 'contact', 'office'))}@{a.domain[i]}",
                "street": street, "city": city.name, "state": city.state,
                "postal_code": city.postal, "country": city.country,
                "annual_revenue": _money(round(revenue_base * rng.uniform(0.3, 3.0), -4)),
                "external_id": f"C{p.id_of('accounts', i):07d}", "description": description,
                "created_at": created, "updated_at": self.clock.later(rng, created, 400),
                "version": 1, "custom": {"segment": segment},
            })
        return {"accounts": rows}

    def _contacts(self, rng: random.Random, indexes: range) -> Rows:
        p, a, c = self.plan, self.plan.accounts, self.plan.contacts
        rows = []
        for j in indexes:
            acc = c.account[j]
            culture = CULTURES[c.culture[j]]
            first, last = person_name(culture, c.last[j], c.first[j])
            job = self.job_tables[a.bl[acc]][c.job[j]]
            city = a.city[acc]
            created = self.clock.at(rng, span(rng, 0, a.created_day[acc] + 1), a.region[acc])
            custom: dict[str, Any] = {}
            if culture == "zh" and rng.random() < 0.6:
                fa, la = person_ascii(culture, c.last[j], c.first[j])
                custom["wechat_id"] = f"{la}{fa}{span(rng, 70, 100)}"
            notes = None
            if rng.random() < 0.15:
                notes = pick(rng, ("偏好微信沟通。", "周三上午不方便接电话。", "曾在竞争对手处工作。")
                                   if culture == "zh" else
                                   ("Prefers e-mail.", f"Based at the {city.name} site.",
                                    "Previously worked for a competitor."))
            rows.append({
                "id": p.id_of("contacts", j), "first_name": first, "last_name": last,
                "email": self.contact_email(j),
                "phone": landline(rng, city) if rng.random() < 0.6 else None,
                "mobile": mobile(rng, _mobile_country(culture, city.country)) if rng.random() < 0.85 else None,
                "job_title": job.zh if culture == "zh" else job.en, "role": job.role,
                "department": job.department_zh if culture == "zh" else job.department_en,
                "account_id": p.id_of("accounts", acc), "owner_id": p.users[a.owner[acc]].id,
                "region_id": p.regions[_REGION_INDEX[a.region[acc]]]["id"], "city": city.name,
                "country": city.country, "preferred_language": n.CULTURE_LANGUAGE[culture],
                "external_id": None, "notes": notes, "created_at": created,
                "updated_at": self.clock.later(rng, created, 300), "version": 1, "custom": custom,
            })
        return {"contacts": rows}

    def _opportunities(self, rng: random.Random, indexes: range) -> Rows:
        p, a, o = self.plan, self.plan.accounts, self.plan.opportunities
        rows: list[Row] = []
        changes: list[Row] = []
        for i in indexes:
            acc = o.account[i]
            region = a.region[acc]
            pipeline = p.pipelines[o.pipeline[i]]
            final = o.stage[i]
            stages = pipeline.stages
            opens = self.open_stages[o.pipeline[i]]
            # The path through the pipeline: open stages in order (some skipped), then the end.
            if stages[final].kind == "won":
                last_open = len(opens) - 1
            elif stages[final].kind == "lost":
                last_open = span(rng, len(opens))
            else:
                last_open = opens.index(final)
            path = [opens[0]] + [opens[k] for k in range(1, last_open + 1)
                                 if k == last_open or rng.random() < 0.8]
            if stages[final].kind != "open":
                path.append(final)
            created = self.clock.at(rng, o.created_day[i], region)
            end = self.clock.at(rng, o.end_day[i], region)
            if end < created:
                end = created + timedelta(hours=span(rng, 2, 72))
                end = min(end, p.anchor)
            moments = sorted(self.clock.between(rng, created, end) for _ in range(len(path) - 2))
            if len(path) > 1:
                moments.append(end)
            owner = p.users[o.owner[i]]
            oid = p.id_of("opportunities", i)
            for k, when in enumerate(moments):
                before, after = stages[path[k]], stages[path[k + 1]]
                diff: dict[str, Any] = {"stage_id": [before.id, after.id],
                                        "probability": [before.probability, after.probability]}
                if after.kind != "open":
                    diff["status"] = ["open", after.kind]
                changes.append({
                    "object_type": "opportunities", "record_id": oid, "action": "updated",
                    "changes": diff, "actor_user_id": owner.id, "source": "ui",
                    "occurred_at": when,
                })
            stage = stages[final]
            contact = o.contact[i]
            lang = "zh" if CULTURES[p.contacts.culture[contact]] == "zh" else "en"
            bl = a.bl[acc]
            product = n.PRODUCTS[o.product[i]]
            template = pick(rng, tx.OPPORTUNITY_NAMES[(lang, BL_CODES[bl])])
            name = template.format(account=a.short[acc], qty=o.qty[i],
                                   product=product.name_zh if lang == "zh" else product.name,
                                   year=created.year)
            if stage.kind == "open":
                close = p.anchor.date() + timedelta(days=span(rng, -20, 180))
            else:
                close = end.date()
            has_amount = stage.probability >= 60 or stage.kind != "open" or rng.random() < 0.6
            custom: dict[str, Any] = {}
            if bl == 1 and rng.random() < 0.35:
                if region == "EMEA":
                    custom["tender_number"] = f"{created.year}/S {span(rng, 1, 250):03d}-{span(rng, 100000, 999999)}"
                else:
                    custom["tender_number"] = f"{a.city[acc].pinyin[:2].upper()}ZB-{created.year}-{span(rng, 1, 9999):04d}"
            rows.append({
                "id": oid, "name": name[:200], "account_id": p.id_of("accounts", acc),
                "contact_id": p.id_of("contacts", contact),
                "amount": _money(o.amount[i]) if has_amount else None,
                "currency": CURRENCIES[o.currency[i]], "close_date": close,
                "owner_id": owner.id, "pipeline_id": pipeline.id, "stage_id": stage.id,
                "probability": stage.probability,
                "status": stage.kind,
                "lost_reason": pick(rng, tx.LOST_REASONS[lang]) if stage.kind == "lost" else None,
                "region_id": p.regions[_REGION_INDEX[region]]["id"], "business_line": BL_NAMES[bl],
                "next_step": pick(rng, tx.NEXT_STEPS[(lang, BL_CODES[bl])]) if stage.kind == "open" else None,
                "external_id": None,
                "description": pick(rng, tx.OPPORTUNITY_DESCRIPTIONS[lang]) if rng.random() < 0.5 else None,
                "created_at": created, "updated_at": max(end, created), "version": len(path),
                "custom": custom,
            })
        return {"opportunities": rows, "change_records": changes}

    def _tickets(self, rng: random.Random, indexes: range) -> Rows:
        p, a, t = self.plan, self.plan.accounts, self.plan.tickets
        rows = []
        sla_hours = {"urgent": 4, "high": 8, "normal": 24, "low": 72}
        for i in indexes:
            acc, contact = t.account[i], t.contact[i]
            region, bl = a.region[acc], a.bl[acc]
            lang = "zh" if CULTURES[p.contacts.culture[contact]] == "zh" else "en"
            created = self.clock.at(rng, t.created_day[i], region)
            subject, description = tx.TICKETS[(lang, BL_CODES[bl])][t.template[i]]
            ctx = self._context(rng, lang, bl, (*template_fields(subject, description), "sn"),
                                contact=contact, account=acc, owner=t.assignee[i],
                                product=t.product[i], qty=1, when=created)
            priority = pick(rng, _PRIORITY_PICK)
            channels = _CHANNEL_PICK_ZH if region != "EMEA" else _CHANNEL_PICK_EN
            age = t.created_day[i]
            if age > 14:
                status = pick(rng, ("solved", "closed", "closed", "closed", "solved", "on_hold"))
            else:
                status = pick(rng, ("new", "open", "open", "pending", "on_hold", "solved"))
            resolved = None
            if status in ("solved", "closed"):
                resolved = self.clock.later(rng, created, min(5, max(age, 0.2)))
            rows.append({
                "id": p.id_of("tickets", i), "subject": subject.format_map(ctx)[:300],
                "description": description.format_map(ctx), "priority": priority,
                "status": status, "channel": pick(rng, channels),
                "sla_due_at": created + timedelta(hours=sla_hours[priority]),
                "resolved_at": resolved, "account_id": p.id_of("accounts", acc),
                "contact_id": p.id_of("contacts", contact),
                "assignee_id": p.users[t.assignee[i]].id,
                "product_id": p.ids["products"] + t.product[i], "external_id": None,
                "created_at": created, "updated_at": resolved or self.clock.later(rng, created, 2),
                "version": 1, "custom": {"serial_number": ctx["sn"]},
            })
        return {"tickets": rows}

    def _quotes(self, rng: random.Random, indexes: range) -> Rows:
        p, a, o = self.plan, self.plan.accounts, self.plan.opportunities
        quotes: list[Row] = []
        lines: list[Row] = []
        for q in indexes:
            i = p.quote_opportunities[q]
            acc = o.account[i]
            region = a.region[acc]
            currency = CURRENCIES[o.currency[i]]
            list_region = region if currency == "CNY" else ("EMEA" if currency == "EUR" else None)
            price_list = p.price_list_ids[(currency, list_region)]
            factor = n.PRICE_LISTS[price_list - p.ids["price_lists"]][3]
            stage = p.pipelines[o.pipeline[i]].stages[o.stage[i]]
            created = self.clock.at(rng, min(o.created_day[i], o.end_day[i] + span(rng, 0, 20)), region)
            valid_until = (created + timedelta(days=30)).date()
            if stage.kind == "won":
                status = "accepted"
            elif stage.kind == "lost":
                status = "rejected"
            elif valid_until < p.anchor.date():
                status = "expired"
            else:
                status = "sent" if stage.probability >= 80 or rng.random() < 0.6 else "draft"
            qid = p.id_of("quotes", q)
            products = [o.product[i]]
            extras = [x for x in p.products_by_bl[a.bl[acc]] if x != o.product[i]]
            products += rng.sample(extras, span(rng, 0, 4))
            total = Decimal(0)
            step = 1 if currency == "CNY" else 0.5
            for k, prod in enumerate(products):
                d = n.PRODUCTS[prod]
                qty = o.qty[i] if k == 0 else randint(rng, *d.typical_qty)
                unit = _money(max(step, round(d.price_cny * factor / step) * step))
                discount = Decimal(pick(rng, (0, 0, 3, 5, 8, 10, 12, 15)))
                line_total = (Decimal(qty) * unit * (Decimal(100) - discount) / Decimal(100)).quantize(Decimal("0.01"))
                total += line_total
                lines.append({
                    "quote_id": qid, "product_id": p.ids["products"] + prod,
                    "description": d.name, "quantity": Decimal(qty), "unit_price": unit,
                    "discount_pct": discount, "line_total": line_total, "created_at": created,
                    "updated_at": created, "version": 1, "custom": {},
                })
            quotes.append({
                "id": qid, "number": f"Q{created.year}-{qid:06d}",
                "opportunity_id": p.id_of("opportunities", i),
                "account_id": p.id_of("accounts", acc),
                "contact_id": p.id_of("contacts", o.contact[i]), "price_list_id": price_list,
                "currency": currency, "status": status, "valid_until": valid_until,
                "total": total, "created_at": created,
                "updated_at": self.clock.later(rng, created, 20), "version": 1, "custom": {},
            })
        return {"quotes": quotes, "quote_lines": lines}

    def _leads(self, rng: random.Random, indexes: range) -> Rows:
        p, lf, o = self.plan, self.plan.leads, self.plan.opportunities
        rows = []
        for i in indexes:
            culture = CULTURES[lf.culture[i]]
            first, last = person_name(culture, lf.last[i], lf.first[i])
            region, bl = lf.region[i], lf.bl[i]
            lang = "zh" if culture == "zh" else "en"
            status = lf.status[i]
            opp = lf.opportunity[i]
            created = self.clock.at(rng, lf.created_day[i], region)
            converted_at = None
            converted: dict[str, int | None] = {"contact": None, "account": None, "opportunity": None}
            company: str | None
            if opp >= 0:
                acc = o.account[opp]
                city, company = p.accounts.city[acc], p.accounts.name[acc]
                email: str | None = self.contact_email(o.contact[opp])
                converted_at = self.clock.at(rng, o.created_day[opp], region)
                if created > converted_at:
                    created = converted_at - timedelta(days=span(rng, 3, 40))
                converted = {"contact": p.id_of("contacts", o.contact[opp]),
                             "account": p.id_of("accounts", acc),
                             "opportunity": p.id_of("opportunities", opp)}
            else:
                city, _c, name, _l, _s, _i, _k, domain = _company(
                    rng, region, bl, None, country=lf.country[i])
                company = name if rng.random() < 0.92 else None
                fa, la = person_ascii(culture, lf.last[i], lf.first[i])
                email = f"{fa}.{la}@{domain}" if rng.random() < 0.85 else None
            source = "tender" if status != "converted" and rng.random() < 0.08 else pick(rng, _SOURCE_PICK)
            rating = {"qualified": "hot", "converted": "hot", "unqualified": "cold"}.get(
                status, pick(rng, ("hot", "warm", "warm", "cold")))
            rows.append({
                "id": p.id_of("leads", i), "first_name": first, "last_name": last,
                "email": email,
                "phone": mobile(rng, _mobile_country(culture, city.country)) if rng.random() < 0.8 else None,
                "company": company,
                "job_title": pick(rng, self.job_tables[bl]).zh if lang == "zh" else pick(rng, self.job_tables[bl]).en,
                "source": source, "status": status, "rating": rating,
                "business_line": BL_NAMES[bl], "owner_id": p.users[lf.owner[i]].id,
                "region_id": p.regions[_REGION_INDEX[region]]["id"],
                "converted_at": converted_at, "converted_contact_id": converted["contact"],
                "converted_account_id": converted["account"],
                "converted_opportunity_id": converted["opportunity"], "external_id": None,
                "notes": pick(rng, tx.LEAD_NOTES[(lang, BL_CODES[bl])]) if rng.random() < 0.7 else None,
                "created_at": created,
                "updated_at": converted_at or self.clock.later(rng, created, 30),
                "version": 2 if converted_at else 1, "custom": {},
            })
        return {"leads": rows}

    def _activities(self, rng: random.Random, indexes: range) -> Rows:
        # The hottest loop of a big load (3M rows at scale 1000): names are bound locally.
        p = self.plan
        a, o, t, c = p.accounts, p.opportunities, p.tickets, p.contacts
        v = p.volumes
        random_ = rng.random
        ids = p.ids
        acc_base, contact_base = ids["accounts"], ids["contacts"]
        opp_base, ticket_base, base = ids["opportunities"], ids["tickets"], ids["activities"]
        users, closed, at, spaced = p.users, self.closed_stages, self.clock.at, self.spaced
        products, hardware = n.PRODUCTS, p.hardware_by_bl
        rows = []
        for i in indexes:
            kind = random_()
            opp = ticket = None
            amount: float | None = None
            currency = 0
            if kind < 0.52:  # about a deal
                opp = int(random_() * v.opportunities)
                acc, contact, owner = o.account[opp], o.contact[opp], o.owner[opp]
                product, qty = o.product[opp], o.qty[opp]
                currency, amount = o.currency[opp], o.amount[opp]
                start = o.created_day[opp]
                stop = o.end_day[opp] if o.stage[opp] in closed[o.pipeline[opp]] else 0
            elif kind < 0.77:  # account work outside a deal
                acc = int(random_() * v.accounts)
                contact = a.contact_start[acc] + int(random_() * a.contact_count[acc])
                owner = a.owner[acc]
                product = pick(rng, hardware[a.bl[acc]])
                low, high = products[product].typical_qty
                qty = low + int(random_() * (high - low + 1))
                start, stop = 365, 0
            elif kind < 0.92:  # service
                ticket = int(random_() * v.tickets)
                acc, contact, owner = t.account[ticket], t.contact[ticket], t.assignee[ticket]
                product, qty = t.product[ticket], 1
                start = t.created_day[ticket]
                stop = max(0, start - 10)
            else:  # a lead
                rows.append(self._lead_activity(rng, int(random_() * v.leads), i))
                continue
            bl = a.bl[acc]
            lang = "zh" if c.culture[contact] == 0 else "en"
            texts = self.activity_texts[lang][bl]
            when = at(rng, stop + (start + 0.999 - stop) * random_(), a.region[acc])
            roll = random_()
            direction: str | None = "outbound"
            duration = None
            if ticket is not None and roll < 0.55:
                activity_type, subject, body = pick(rng, texts.ticket)
                direction = "internal" if activity_type == "note" else "outbound"
            elif roll < 0.45:
                activity_type = "email"
                if random_() < 0.38:
                    subject, body = pick(rng, texts.emails_in)
                    direction = "inbound"
                else:
                    subject, core = pick(rng, texts.emails_out)
                    body = f"{pick(rng, texts.greetings)}\n\n{core}\n\n{pick(rng, texts.closings)}"
            elif roll < 0.72:
                activity_type = "call"
                subject, body = pick(rng, texts.calls)
                direction = "inbound" if random_() < 0.3 else "outbound"
                duration = 60 + int(random_() * 1740)
            elif roll < 0.85:
                activity_type = "meeting"
                subject, body = pick(rng, texts.meetings)
                duration = pick(rng, (1800, 2700, 3600, 5400, 7200))
            elif roll < 0.95:
                activity_type = "chat"
                subject, body = pick(rng, texts.chats)
                direction = "inbound" if random_() < 0.5 else "outbound"
            else:
                activity_type = "note"
                subject, body = pick(rng, texts.notes)
                direction = "internal"
            if activity_type == "call" and duration is None:
                duration = 60 + int(random_() * 1740)
            person = self.person(contact)
            ctx = self._context(rng, lang, bl, template_fields(subject, body), contact=contact,
                                account=acc, owner=owner, product=product, qty=qty, when=when,
                                currency=currency, amount=amount, person=person)
            owner_user = users[owner]
            participants = ([owner_user.email] if direction == "internal"
                            else [person[5], owner_user.email])
            # The search document, spaced template by spaced value: the same text as spacing
            # the finished subject and body, for a fraction of the work.
            view = {k: spaced_cjk(x) if isinstance(x, str) else str(x) for k, x in ctx.items()}
            rows.append({
                "_document": f"{spaced(subject).format_map(view)} {spaced(body).format_map(view)}",
                "id": base + i, "type": activity_type, "direction": direction,
                "subject": subject.format_map(ctx), "body": body.format_map(ctx),
                "occurred_at": when, "duration_seconds": duration, "participants": participants,
                "account_id": acc_base + acc, "contact_id": contact_base + contact,
                "lead_id": None,
                "opportunity_id": opp_base + opp if opp is not None else None,
                "ticket_id": ticket_base + ticket if ticket is not None else None,
                "owner_id": owner_user.id, "created_at": when, "updated_at": when,
                "version": 1, "custom": {},
            })
        return {"activities": rows}

    def _lead_activity(self, rng: random.Random, lead: int, i: int) -> Row:
        p, lf = self.plan, self.plan.leads
        culture = CULTURES[lf.culture[lead]]
        lang = "zh" if culture == "zh" else "en"
        first, last = person_name(culture, lf.last[lead], lf.first[lead])
        full = f"{last}{first}" if culture == "zh" else f"{first} {last}"
        product = n.PRODUCTS[pick(rng, p.hardware_by_bl[lf.bl[lead]])]
        start = lf.created_day[lead]
        when = self.clock.at(rng, rng.uniform(max(0, start - 30), start + 0.999), lf.region[lead])
        subject, body = pick(rng, tx.LEAD_ACTIVITIES[lang])
        ctx = {"full": full, "product": product.name_zh if lang == "zh" else product.name}
        owner = p.users[lf.owner[lead]]
        return {
            "id": p.id_of("activities", i), "type": "call", "direction": "outbound",
            "subject": subject, "body": body.format_map(ctx), "occurred_at": when,
            "duration_seconds": span(rng, 120, 1200), "participants": [owner.email],
            "account_id": None, "contact_id": None, "lead_id": p.id_of("leads", lead),
            "opportunity_id": None, "ticket_id": None, "owner_id": owner.id,
            "created_at": when, "updated_at": when, "version": 1, "custom": {},
        }

    def _tasks(self, rng: random.Random, indexes: range) -> Rows:
        p = self.plan
        a, o, t, lf = p.accounts, p.opportunities, p.tickets, p.leads
        v = p.volumes
        rows = []
        anchor = p.anchor
        for i in indexes:
            kind = rng.random()
            links: dict[str, int | None] = {"account": None, "contact": None, "lead": None,
                                            "opportunity": None, "ticket": None}
            if kind < 0.55:
                opp = span(rng, v.opportunities)
                acc, contact, assignee = o.account[opp], o.contact[opp], o.owner[opp]
                product = o.product[opp]
                links.update(opportunity=p.id_of("opportunities", opp))
            elif kind < 0.85:
                acc = span(rng, v.accounts)
                contact = a.contact_start[acc] + span(rng, a.contact_count[acc])
                assignee, product = a.owner[acc], pick(rng, p.hardware_by_bl[a.bl[acc]])
            elif kind < 0.95:
                ticket = span(rng, v.tickets)
                acc, contact, assignee = t.account[ticket], t.contact[ticket], t.assignee[ticket]
                product = t.product[ticket]
                links.update(ticket=p.id_of("tickets", ticket))
            else:
                lead = span(rng, v.leads)
                acc = contact = -1
                assignee, product = lf.owner[lead], pick(rng, p.hardware_by_bl[lf.bl[lead]])
                links.update(lead=p.id_of("leads", lead))
            # A steady share lands in the demo users' inboxes.
            demo_roll = rng.random()
            if demo_roll < 0.08:
                assignee = p.demo_users[0]
            elif demo_roll < 0.12:
                assignee = p.demo_users[1]
            user = p.users[assignee]
            if contact >= 0:
                links.update(account=p.id_of("accounts", acc), contact=p.id_of("contacts", contact))
                lang = "zh" if CULTURES[p.contacts.culture[contact]] == "zh" else "en"
                region, bl = a.region[acc], a.bl[acc]
            else:
                lang = "zh" if user.locale == "zh_CN" else "en"
                region, bl = user.region, 0 if user.business_line != n.MD else 1
            if user.email == n.DEMO_EMAIL:
                lang = "en"
            due_days = rng.uniform(-30, 30)
            due = anchor.replace(minute=0, second=0, microsecond=0) + timedelta(days=due_days)
            due = due.replace(hour=pick(rng, (1, 2, 3, 6, 8, 9)) if region != "EMEA" else pick(rng, (7, 9, 12, 15)))
            if due < anchor:
                status = pick(rng, ("done", "done", "done", "open", "open", "in_progress", "cancelled"))
            else:
                status = pick(rng, ("open", "open", "open", "in_progress", "done"))
            created = min(due - timedelta(days=rng.uniform(1, 20)), anchor - timedelta(hours=1))
            completed = None
            if status == "done":
                completed = min(self.clock.between(rng, created, due), anchor)
            title, description = pick(rng, tx.TASKS[(lang, BL_CODES[bl])])
            ctx = self._context(rng, lang, bl, template_fields(title, description),
                                contact=contact if contact >= 0 else None,
                                account=acc if acc >= 0 else None, owner=assignee,
                                product=product, qty=1, when=created)
            if acc < 0:
                prospect = "客户" if lang == "zh" else "the prospect"
                ctx.update(account=prospect, name=prospect, full=prospect, first=prospect)
            rows.append({
                "id": p.id_of("tasks", i), "title": title.format_map(ctx)[:300],
                "description": description.format_map(ctx) if rng.random() < 0.7 else None,
                "assignee_id": user.id, "due_at": due, "priority": pick(rng, _PRIORITY_PICK),
                "status": status, "completed_at": completed,
                "account_id": links["account"], "contact_id": links["contact"],
                "lead_id": links["lead"], "opportunity_id": links["opportunity"],
                "ticket_id": links["ticket"], "created_at": created,
                "updated_at": completed or created, "version": 2 if completed else 1,
                "custom": {},
            })
        return {"tasks": rows}


@dataclass(frozen=True)
class _ActivityTexts:
    greetings: tuple[str, ...]
    closings: tuple[str, ...]
    emails_in: tuple[tuple[str, str], ...]
    emails_out: tuple[tuple[str, str], ...]
    calls: tuple[tuple[str, str], ...]
    meetings: tuple[tuple[str, str], ...]
    chats: tuple[tuple[str, str], ...]
    notes: tuple[tuple[str, str], ...]
    ticket: tuple[tuple[str, str, str], ...]

    @classmethod
    def of(cls, lang: str, bl: str) -> _ActivityTexts:
        key = (lang, bl)
        return cls(tx.GREETINGS[lang], tx.CLOSINGS[lang], tx.EMAILS_IN[key], tx.EMAILS_OUT[key],
                   tx.CALLS[key], tx.MEETINGS[key], tx.CHATS[key], tx.NOTES[key],
                   tx.TICKET_ACTIVITIES[lang])


_NAME_FIELDS = frozenset(("name", "first", "last", "full"))
_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {}


def template_fields(*templates: str) -> tuple[str, ...]:
    """Field names the templates use, in order of first use."""
    found = _FIELDS.get(templates)
    if found is None:
        names = (
            name for template in templates
            for _text, name, _spec, _conv in string.Formatter().parse(template) if name
        )
        found = _FIELDS[templates] = tuple(dict.fromkeys(names))
    return found


_REGION_INDEX = {code: i for i, (code, _n, _c) in enumerate(n.REGIONS)}
_PRIORITY_PICK = weighted([("low", 15), ("normal", 50), ("high", 25), ("urgent", 10)])
_CHANNEL_PICK_ZH = weighted([("email", 25), ("phone", 30), ("web", 10), ("wechat", 25),
                             ("chat", 5), ("in_person", 5)])
_CHANNEL_PICK_EN = weighted([("email", 45), ("phone", 30), ("web", 15), ("chat", 5),
                             ("in_person", 5)])
_SOURCE_PICK = weighted([("web", 25), ("trade_show", 20), ("referral", 15), ("partner", 10),
                         ("cold_call", 10), ("email_campaign", 10), ("social", 5), ("other", 5)])

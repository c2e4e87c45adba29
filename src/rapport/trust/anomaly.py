"""Exfiltration detection: hourly counts per user, a baseline from the user's own history,
an automatic lock, and the admin review that lifts it.

``observe`` runs on every read path (a list page, a record, an export batch). It adds what
was served to the user's ``access_stats`` row for the current hour, then judges that hour
and the last 24 hours against the user's baseline and the configured ceilings. A lock is
committed in its own short transaction (it must survive the refused request) and the
request gets ``AccountHeld`` (403 ``account_held``), as every later request of the user
does. The rule, and why off-hours and unseen networks never lock on their own, is in
docs/anomaly.md.
"""

from __future__ import annotations

import functools
import math
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.db.base import utcnow
from rapport.errors import Conflict, NotFound, ValidationFailed
from rapport.trust import audit
from rapport.trust.actor import Actor
from rapport.trust.auth import AccountHeld, revoke_user_sessions
from rapport.trust.auth import unlock_user as unlock_account
from rapport.trust.models import AccessStat, SecurityAlert, User

KINDS = ("read", "export")
METRICS = ("reads", "exports", "high_value")
RELATIVE = ("high_value", "exports")  # judged against the user's own history as well
HIGH_VALUE_TIER = "A"
# Objects whose records count as high-value when their account is tier A.
BY_ACCOUNT = frozenset({"contacts", "opportunities", "activities", "tasks", "tickets", "quotes"})

LOCK_REASON = "anomaly"
ALERT_KIND = "exfiltration"
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)

FLOOR_DIVISOR = 10  # the floor under a baseline limit is a tenth of the metric's ceiling
SPREAD = 3.0  # median + 3 robust standard deviations: the peak of a short history
CONTEXT_STEP = 0.25  # each unusual circumstance (off-hours, new network, new object)...
CONTEXT_MAX = 1.5  # ...raises the score by a quarter, at most by half: it never locks alone
MIN_ACTIVE_HOURS = 10  # a baseline needs this many active hours...
MIN_HISTORY_DAYS = 7  # ...spread over at least a week (weekly habits are in it)
CACHE_SECONDS = 60.0  # a process re-reads a user's baseline at least this often


# ---- time ----------------------------------------------------------------------------------

_clock: Callable[[], datetime] = utcnow


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the detector's clock (the benchmark fast-forwards time); ``None`` restores it."""
    global _clock
    _clock = clock or utcnow


def now() -> datetime:
    return _clock()


def hour_of(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (the key of ``access_stats``)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware (UTC) time")
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# ---- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Records read, exported, and high-value among either, over some span of time."""

    reads: int = 0
    exports: int = 0
    high_value: int = 0

    def get(self, metric: str) -> int:
        return int(getattr(self, metric))

    def plus(self, other: Counts) -> Counts:
        return Counts(self.reads + other.reads, self.exports + other.exports,
                      self.high_value + other.high_value)

    def minus(self, other: Counts) -> Counts:
        return Counts(max(0, self.reads - other.reads), max(0, self.exports - other.exports),
                      max(0, self.high_value - other.high_value))

    def as_dict(self) -> dict[str, int]:
        return {m: self.get(m) for m in METRICS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Counts:
        data = data or {}
        return cls(**{m: int(data.get(m) or 0) for m in METRICS})


@dataclass(frozen=True)
class MetricBaseline:
    """One metric of a user's history: per active hour, and per 24 hours."""

    median: float
    mad: float
    p95: float
    peak: int  # the busiest hour in the baseline period
    hour_limit: int  # an hour above this is far above the baseline
    window_peak: int  # the busiest 24 hours in the baseline period
    window_limit: int

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "mad": self.mad, "p95": self.p95, "peak": self.peak,
                "hour_limit": self.hour_limit, "window_peak": self.window_peak,
                "window_limit": self.window_limit}


@dataclass(frozen=True)
class Allowance:
    """What an admin accepted when unlocking: those counts are not held against the user."""

    at: datetime
    hour: datetime
    hour_counts: Counts
    window_counts: Counts

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "hour": self.hour.isoformat(),
                "hour_counts": self.hour_counts.as_dict(),
                "window_counts": self.window_counts.as_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Allowance | None:
        try:
            return cls(datetime.fromisoformat(data["at"]), datetime.fromisoformat(data["hour"]),
                       Counts.from_dict(data.get("hour_counts")),
                       Counts.from_dict(data.get("window_counts")))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Baseline:
    """A user's habits over the baseline period (up to 24 hours before ``hour``)."""

    user_id: int
    hour: datetime
    days: int
    active_hours: int
    first_hour: datetime | None
    established: bool  # enough history to judge against; otherwise ceilings only
    metrics: Mapping[str, MetricBaseline]
    hours_of_day: frozenset[int]  # UTC hours of day the user has been active in
    networks: frozenset[str]
    objects: frozenset[str]
    prior_window: Counts  # the 23 hours before ``hour`` (the rest of the 24-hour window)
    allowance: Allowance | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id, "hour": self.hour.isoformat(), "days": self.days,
            "active_hours": self.active_hours,
            "first_hour": self.first_hour.isoformat() if self.first_hour else None,
            "established": self.established,
            "metrics": {m: b.as_dict() for m, b in self.metrics.items()},
            "hours_of_day": sorted(self.hours_of_day), "networks": sorted(self.networks),
            "objects": sorted(self.objects),
            "allowance": self.allowance.as_dict() if self.allowance else None,
        }


@dataclass(frozen=True)
class Judgement:
    """The verdict on one user's current hour."""

    lock: bool
    score: float
    reasons: tuple[str, ...]
    hour_counts: Counts  # this hour, less any allowance
    window_counts: Counts  # the last 24 hours, less any allowance
    context: Mapping[str, bool]
    ratios: Mapping[str, float]


def floor_of(settings: Settings, metric: str) -> int:
    return max(1, ceiling_of(settings, metric) // FLOOR_DIVISOR)


def ceiling_of(settings: Settings, metric: str) -> int:
    return {"reads": settings.anomaly_read_ceiling, "exports": settings.anomaly_export_ceiling,
            "high_value": settings.anomaly_high_value_ceiling}[metric]


def _quantile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def _metric(settings: Settings, metric: str, values: list[int], window_peak: int) -> MetricBaseline:
    ordered = sorted(values)
    median = _quantile(ordered, 0.5)
    mad = _quantile(sorted(abs(v - median) for v in ordered), 0.5)
    peak = ordered[-1] if ordered else 0
    typical_high = max(float(peak), median + SPREAD * 1.4826 * mad)
    floor = floor_of(settings, metric)
    hour_limit = max(floor, math.ceil(settings.anomaly_factor * typical_high))
    # a day may hold the busiest day seen plus one more peak-like hour (an ad-hoc export)
    window_limit = max(2 * floor, math.ceil(settings.anomaly_window_factor * window_peak),
                       window_peak + hour_limit)
    return MetricBaseline(round(median, 2), round(mad, 2), round(_quantile(ordered, 0.95), 2),
                          peak, hour_limit, window_peak, window_limit)


def compute_baseline(
    session: Session | Connection, settings: Settings, user_id: int, hour: datetime,
) -> Baseline:
    """The baseline from the user's hours in the ``anomaly_baseline_days`` before ``hour``.

    The last 24 hours are left out of it (they are what is judged, as the 24-hour window):
    otherwise a slow exfiltration would raise its own bar hour by hour.
    """
    days = settings.anomaly_baseline_days
    recent_from = hour - timedelta(hours=23)
    rows = session.execute(
        select(AccessStat.hour, AccessStat.reads, AccessStat.exports, AccessStat.high_value,
               AccessStat.objects, AccessStat.networks)
        .where(AccessStat.user_id == user_id, AccessStat.hour >= hour - timedelta(days=days),
               AccessStat.hour < hour)
        .order_by(AccessStat.hour)
    ).all()
    active = [r for r in rows if (r.reads or r.exports) and r.hour < recent_from]
    prior = [r for r in rows if r.hour >= recent_from]
    # the busiest 24 hours: a window sliding over the (sorted) hours
    window_peaks = dict.fromkeys(METRICS, 0)
    sums = dict.fromkeys(METRICS, 0)
    start = 0
    for row in active:
        for m in METRICS:
            sums[m] += getattr(row, m)
        while active[start].hour <= row.hour - timedelta(hours=24):
            for m in METRICS:
                sums[m] -= getattr(active[start], m)
            start += 1
        for m in METRICS:
            window_peaks[m] = max(window_peaks[m], sums[m])
    prior_window = Counts(sum(r.reads for r in prior), sum(r.exports for r in prior),
                          sum(r.high_value for r in prior))
    first = active[0].hour if active else None
    established = (len(active) >= MIN_ACTIVE_HOURS and first is not None
                   and first <= hour - timedelta(days=MIN_HISTORY_DAYS))
    networks: set[str] = set()
    objects: set[str] = set()
    for r in active:
        networks.update(k for k, v in (r.networks or {}).items() if v)
        objects.update(k for k, v in (r.objects or {}).items() if v)
    return Baseline(
        user_id=user_id, hour=hour, days=days, active_hours=len(active), first_hour=first,
        established=established,
        metrics={m: _metric(settings, m, [getattr(r, m) for r in active], window_peaks[m])
                 for m in METRICS},
        hours_of_day=frozenset(r.hour.hour for r in active),
        networks=frozenset(networks), objects=frozenset(objects), prior_window=prior_window,
        allowance=_latest_allowance(session, user_id),
    )


def _latest_allowance(session: Session | Connection, user_id: int) -> Allowance | None:
    details = session.execute(
        select(SecurityAlert.details)
        .where(SecurityAlert.user_id == user_id, SecurityAlert.kind == ALERT_KIND,
               SecurityAlert.status == "resolved")
        .order_by(SecurityAlert.id.desc()).limit(1)
    ).scalar()
    if not details or not isinstance(details.get("allowance"), dict):
        return None
    return Allowance.from_dict(details["allowance"])


def judge(
    settings: Settings, baseline: Baseline, hour_total: Counts, moment: datetime, *,
    network: str, object_name: str,
) -> Judgement:
    """Lock if a ceiling is passed, or (with an established baseline) if tier-A reads or
    exports are far above the user's own peak, this hour or over 24 hours. Off-hours, an
    unseen network and an unseen object raise the score, but cannot lock on their own."""
    hour_counts = hour_total
    window_counts = baseline.prior_window.plus(hour_total)
    allowance = baseline.allowance
    if allowance is not None:
        if allowance.hour == baseline.hour:
            hour_counts = hour_counts.minus(allowance.hour_counts)
        if moment - allowance.at < timedelta(hours=24):
            window_counts = window_counts.minus(allowance.window_counts)
    reasons: list[str] = []
    score = 0.0
    for m in METRICS:
        ceiling = ceiling_of(settings, m)
        score = max(score, hour_counts.get(m) / ceiling)
        if hour_counts.get(m) > ceiling:
            reasons.append(f"{m}: {hour_counts.get(m)} this hour, above the ceiling of {ceiling}")
    ratios: dict[str, float] = {}
    context = {"off_hours": False, "new_network": False, "new_object": False}
    if baseline.established:
        h = baseline.hour.hour
        context["off_hours"] = not any((h + d) % 24 in baseline.hours_of_day for d in (-1, 0, 1))
        context["new_network"] = network not in baseline.networks
        context["new_object"] = object_name not in baseline.objects
        multiplier = min(CONTEXT_MAX, 1.0 + CONTEXT_STEP * sum(context.values()))
        for m in RELATIVE:
            mb = baseline.metrics[m]
            ratios[f"{m}_hour"] = round(hour_counts.get(m) / mb.hour_limit, 3)
            ratios[f"{m}_24h"] = round(window_counts.get(m) / mb.window_limit, 3)
        worst = max(ratios, key=lambda k: ratios[k])
        relative_score = ratios[worst] * multiplier
        score = max(score, relative_score)
        if relative_score > 1.0:
            metric, span = worst.rsplit("_", 1)
            mb = baseline.metrics[metric]
            value = (hour_counts if span == "hour" else window_counts).get(metric)
            limit = mb.hour_limit if span == "hour" else mb.window_limit
            unusual = [k.replace("_", " ") for k, v in context.items() if v]
            reasons.append(
                f"{metric}: {value} {'this hour' if span == 'hour' else 'in 24 hours'}, "
                f"limit {limit} (peak {mb.peak if span == 'hour' else mb.window_peak} in "
                f"{baseline.days} days)" + (f", with {', '.join(unusual)}" if unusual else ""))
    return Judgement(bool(reasons), round(score, 3), tuple(reasons), hour_counts, window_counts,
                     context, ratios)


# ---- the baseline cache --------------------------------------------------------------------

_cache: weakref.WeakKeyDictionary[Engine, dict[int, tuple[tuple[Any, ...], float, Baseline]]] = (
    weakref.WeakKeyDictionary())


def _cache_key(settings: Settings, hour: datetime) -> tuple[Any, ...]:
    return (hour, settings.anomaly_baseline_days, settings.anomaly_factor,
            settings.anomaly_window_factor, settings.anomaly_read_ceiling, settings.anomaly_export_ceiling,
            settings.anomaly_high_value_ceiling)


def _baseline(db: Session | Connection, engine: Engine, settings: Settings, user_id: int,
              hour: datetime) -> Baseline:
    """The baseline, computed once per user and hour (and at least every CACHE_SECONDS)."""
    per_engine = _cache.setdefault(engine, {})
    key = _cache_key(settings, hour)
    hit = per_engine.get(user_id)
    if hit is not None and hit[0] == key and hit[1] > time.monotonic():
        return hit[2]
    baseline = compute_baseline(db, settings, user_id, hour)
    per_engine[user_id] = (key, time.monotonic() + CACHE_SECONDS, baseline)
    return baseline


def forget(session_or_engine: Session | Engine, user_id: int | None = None) -> None:
    """Drop cached baselines (of one user, or all) so the next request reads them again."""
    engine = (session_or_engine if isinstance(session_or_engine, Engine)
              else _engine_of(session_or_engine))
    per_engine = _cache.get(engine)
    if per_engine is None:
        return
    if user_id is None:
        per_engine.clear()
    else:
        per_engine.pop(user_id, None)


# ---- observing reads and exports -----------------------------------------------------------
# The hot path runs prebuilt Core statements on a connection: it is on every list request.


def count_high_value(session: Session, object_name: str, records: Sequence[Mapping[str, Any]]) -> int:
    """Tier-A accounts, and records of tier-A accounts: at most one IN query."""
    if object_name == "accounts":
        count = sum(1 for r in records if r.get("tier") == HIGH_VALUE_TIER)
        unknown = {r["id"] for r in records if "tier" not in r and isinstance(r.get("id"), int)}
        if unknown:  # tier hidden from this reader: look it up
            count += len(_tier_a(session, unknown))
        return count
    if object_name in BY_ACCOUNT:
        ids = {r.get("account_id") for r in records}
        account_ids = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
        if not account_ids:
            return 0
        tier_a = _tier_a(session, account_ids)
        return sum(1 for r in records if r.get("account_id") in tier_a)
    return 0


@functools.cache
def _tier_a_statement() -> Select[tuple[int]]:
    from rapport.crm.models import Account

    return select(Account.id).where(Account.id.in_(bindparam("ids", expanding=True)),
                                    Account.tier == HIGH_VALUE_TIER)


def _tier_a(session: Session, account_ids: set[int]) -> set[int]:
    rows = session.connection().execute(_tier_a_statement(), {"ids": sorted(account_ids)})
    return {row[0] for row in rows}


def observe(
    session: Session,
    settings: Settings,
    actor: Actor,
    object_name: str,
    records: Sequence[Mapping[str, Any]],
    kind: str,
    *,
    now: datetime | None = None,
) -> Judgement | None:
    """Count the records just served to ``actor`` and lock the account if that is anomalous.

    The hour's counters are written and committed on a connection of their own (the
    caller's session is only read), except on SQLite when the caller already holds the write
    lock: then they go into the caller's transaction. On a lock the caller's transaction is
    rolled back (the request is refused anyway, and on PostgreSQL it may hold a lock the
    audit append needs), the lock is committed, and ``AccountHeld`` (403) is raised.
    Returns the verdict on the hour (callers may ignore it), or None when nothing was judged.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    user_id = actor.user_id
    if not settings.anomaly_detection or user_id is None or not records:
        return None
    moment = now or _clock()
    hour = hour_of(moment)
    served = len(records)
    delta = Counts(served if kind == "read" else 0, served if kind == "export" else 0,
                   count_high_value(session, object_name, records))
    network = actor.network or "trusted"
    engine = _engine_of(session)

    if _holds_sqlite_write(session):
        conn = session.connection()
        total = _bump(conn, user_id, hour, delta, object_name, network)
        verdict = judge(settings, _baseline(conn, engine, settings, user_id, hour), total,
                        moment, network=network, object_name=object_name)
        if not verdict.lock:
            return verdict
        session.rollback()  # releases the write lock; the counts are written again below
        with _fresh_session(engine) as fresh:
            _bump(fresh.connection(), user_id, hour, delta, object_name, network)
            _lock(fresh, settings, actor, object_name, kind, verdict,
                  _baseline(fresh, engine, settings, user_id, hour))
            fresh.commit()
        raise _locked()

    with engine.connect() as conn:
        try:
            total = _bump(conn, user_id, hour, delta, object_name, network)
        except IntegrityError:  # another request created this hour's row first
            conn.rollback()
            total = _bump(conn, user_id, hour, delta, object_name, network)
        baseline = _baseline(conn, engine, settings, user_id, hour)
        verdict = judge(settings, baseline, total, moment, network=network,
                        object_name=object_name)
        conn.commit()
    if verdict.lock:
        session.rollback()
        with _fresh_session(engine) as fresh:
            _lock(fresh, settings, actor, object_name, kind, verdict, baseline)
            fresh.commit()
        raise _locked()
    return verdict


def _locked() -> AccountHeld:
    """The answer of the request that tripped the lock: the same as every later request's."""
    return AccountHeld()


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _fresh_session(engine: Engine) -> Session:
    return Session(bind=engine, expire_on_commit=False, autoflush=False)


def _holds_sqlite_write(session: Session) -> bool:
    """Does the caller's SQLite connection hold an open (write) transaction?

    The sqlite3 driver begins a transaction only before a write, so a read-only session
    never does; a second connection writing now would wait on it until it times out.
    """
    if _engine_of(session).dialect.name != "sqlite" or not session.in_transaction():
        return False
    dbapi = session.connection().connection.dbapi_connection
    return bool(getattr(dbapi, "in_transaction", False))


_STATS = cast(Table, AccessStat.__table__)


def _json_add(dialect: str, column: Any, key: Any, path: Any, amount: Any) -> Any:
    """SQL for ``column`` (a JSON object of counters) with ``amount`` added to ``key``."""
    if dialect == "postgresql":
        empty = sa_cast(literal("{}"), JSONB)
        current = func.coalesce(sa_cast(column.op("->>")(sa_cast(key, String)), Integer), 0)
        return func.coalesce(column, empty).op("||")(
            func.jsonb_build_object(sa_cast(key, String), current + amount))
    current = func.coalesce(func.json_extract(column, path), 0)
    return func.json_set(func.coalesce(column, "{}"), path, current + amount)


@functools.cache
def _bump_statement(dialect: str) -> Any:
    t = _STATS
    amount = bindparam("p_n", type_=Integer())
    return (
        update(t)
        .where(t.c.user_id == bindparam("p_user"), t.c.hour == bindparam("p_hour"))
        .values(
            reads=t.c.reads + bindparam("p_reads", type_=Integer()),
            exports=t.c.exports + bindparam("p_exports", type_=Integer()),
            high_value=t.c.high_value + bindparam("p_high", type_=Integer()),
            objects=_json_add(dialect, t.c.objects, bindparam("p_obj", type_=String()),
                              bindparam("p_obj_path", type_=String()), amount),
            networks=_json_add(dialect, t.c.networks, bindparam("p_net", type_=String()),
                               bindparam("p_net_path", type_=String()), amount),
        )
        .returning(t.c.reads, t.c.exports, t.c.high_value)
    )


def _json_path(key: str) -> str:
    return '$."' + key.replace('"', "") + '"'


def _bump(
    conn: Connection, user_id: int, hour: datetime, delta: Counts, object_name: str,
    network: str,
) -> Counts:
    """Add ``delta`` to the user's row for ``hour`` (one statement); the hour's totals."""
    served = max(delta.reads, delta.exports)
    row = conn.execute(_bump_statement(conn.dialect.name), {
        "p_user": user_id, "p_hour": hour, "p_reads": delta.reads, "p_exports": delta.exports,
        "p_high": delta.high_value, "p_n": served, "p_obj": object_name,
        "p_obj_path": _json_path(object_name), "p_net": network,
        "p_net_path": _json_path(network),
    }).first()
    if row is not None:
        return Counts(row.reads, row.exports, row.high_value)
    conn.execute(insert(_STATS), {
        "user_id": user_id, "hour": hour, "reads": delta.reads, "exports": delta.exports,
        "high_value": delta.high_value, "objects": {object_name: served},
        "networks": {network: served}})
    return delta


def _lock(
    session: Session, settings: Settings, actor: Actor, object_name: str, kind: str,
    verdict: Judgement, baseline: Baseline,
) -> int | None:
    """Lock the user, end their sessions, open an alert, audit it: one transaction.

    Returns the alert id, or None when the user was already locked by the detector (two
    requests tripping at once make one alert).
    """
    user_id = actor.user_id
    assert user_id is not None  # noqa: S101 - observe() checked it
    result = session.execute(
        update(User)
        .where(User.id == user_id, or_(User.lock_reason.is_(None), User.lock_reason != LOCK_REASON))
        .values(lock_reason=LOCK_REASON, locked_until=FAR_FUTURE)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    revoke_user_sessions(session, user_id)
    details = {
        "object": object_name, "kind": kind, "hour": baseline.hour.isoformat(),
        "network": actor.network, "source": actor.source, "score": verdict.score,
        "reasons": list(verdict.reasons),
        "counts": {"hour": verdict.hour_counts.as_dict(), "window_24h": verdict.window_counts.as_dict()},
        "baseline": {
            "established": baseline.established, "active_hours": baseline.active_hours,
            "days": baseline.days,
            **{m: {"median": b.median, "peak": b.peak, "hour_limit": b.hour_limit,
                   "window_peak": b.window_peak, "window_limit": b.window_limit}
               for m, b in baseline.metrics.items()},
        },
        "ceilings": {m: ceiling_of(settings, m) for m in METRICS},
        "context": dict(verdict.context), "ratios": dict(verdict.ratios),
    }
    alert = SecurityAlert(user_id=user_id, kind=ALERT_KIND, status="open", details=details)
    session.add(alert)
    session.flush()
    audit.append(session, settings.secret_key, "anomaly_lock", actor=audit.actor_ref(None),
                 target=f"users:{user_id}", network=actor.network,
                 details={"alert": alert.id, "object": object_name, "kind": kind,
                          "score": verdict.score, "reasons": list(verdict.reasons)})
    return alert.id


# ---- review --------------------------------------------------------------------------------

ALERT_STATUSES = ("open", "resolved")


def alert_json(alert: SecurityAlert, user: User | None) -> dict[str, Any]:
    return {
        "id": alert.id, "kind": alert.kind, "status": alert.status,
        "user_id": alert.user_id,
        "user": None if user is None else {
            "id": user.id, "email": user.email, "name": user.name,
            "locked": user.lock_reason is not None, "lock_reason": user.lock_reason,
        },
        "details": alert.details or {},
        "created_at": alert.created_at.isoformat() if alert.created_at else None,
        "resolved_by": alert.resolved_by,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolution": alert.resolution,
    }


def list_alerts(
    session: Session, *, status: str | None = None, limit: int = 50, cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Alerts newest first, ``limit`` at a time; the cursor is the last id of the page."""
    if status is not None and status not in ALERT_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(ALERT_STATUSES)}")
    stmt = select(SecurityAlert, User).outerjoin(User, User.id == SecurityAlert.user_id)
    if status is not None:
        stmt = stmt.where(SecurityAlert.status == status)
    if cursor:
        if not cursor.isdigit() or len(cursor) > 19:
            raise ValidationFailed("cursor must be the next_cursor of the previous page")
        stmt = stmt.where(SecurityAlert.id < int(cursor))
    rows = session.execute(stmt.order_by(SecurityAlert.id.desc()).limit(limit + 1)).all()
    items = [alert_json(a, u) for a, u in rows[:limit]]
    next_cursor = str(rows[limit - 1][0].id) if len(rows) > limit else None
    return items, next_cursor


def count_open(session: Session) -> int:
    return int(session.scalar(
        select(func.count()).select_from(SecurityAlert).where(SecurityAlert.status == "open")) or 0)


def get_alert(session: Session, alert_id: int) -> dict[str, Any]:
    alert = session.get(SecurityAlert, alert_id)
    if alert is None:
        raise NotFound(f"No security alert with id {alert_id}")
    user = session.get(User, alert.user_id) if alert.user_id is not None else None
    return alert_json(alert, user)


def resolve_alert(
    session: Session, settings: Settings, actor_user_id: int | None, alert_id: int,
    resolution: str, *, unlock: bool = False, now: datetime | None = None,
) -> dict[str, Any]:
    """Close an alert with a note; with ``unlock`` also unlock its user. Caller commits."""
    resolution = resolution.strip()
    if not resolution:
        raise ValidationFailed("Say how the alert was resolved (resolution must not be empty)")
    alert = session.get(SecurityAlert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound(f"No security alert with id {alert_id}")
    if alert.status == "resolved":
        raise Conflict(f"Security alert {alert_id} is already resolved")
    if unlock and alert.user_id is not None:
        unlock_user(session, settings, actor_user_id, alert.user_id, note=resolution, now=now)
    else:
        _close(alert, actor_user_id, resolution)
        audit.append(session, settings.secret_key, "alert_resolved",
                     actor=audit.actor_ref(actor_user_id), target=f"users:{alert.user_id}",
                     details={"alerts": [alert.id], "unlocked": False})
    session.flush()
    user = session.get(User, alert.user_id) if alert.user_id is not None else None
    return alert_json(alert, user)


def _close(alert: SecurityAlert, actor_user_id: int | None, resolution: str) -> None:
    alert.status = "resolved"
    alert.resolved_by = actor_user_id
    alert.resolved_at = utcnow()
    alert.resolution = resolution[:2000]


def unlock_user(
    session: Session, settings: Settings, actor_user_id: int | None, user_id: int, *,
    note: str | None = None, now: datetime | None = None,
) -> list[int]:
    """Lift the lock; resolve the user's open alerts; accept the counts so far. Caller commits.

    What the user was served up to now (this hour and the last 24 hours) is recorded as an
    allowance on the newest alert, so the next request does not lock the account again for
    the very activity the admin has just accepted. Returns the ids of the alerts resolved.
    """
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound(f"No user with id {user_id}")
    moment = now or _clock()
    hour = hour_of(moment)
    resolved: list[int] = []
    for alert in session.scalars(
        select(SecurityAlert).where(SecurityAlert.user_id == user_id,
                                    SecurityAlert.status == "open").order_by(SecurityAlert.id)
    ):
        _close(alert, actor_user_id, note or "Unlocked")
        resolved.append(alert.id)
    newest = session.scalars(
        select(SecurityAlert).where(SecurityAlert.user_id == user_id,
                                    SecurityAlert.kind == ALERT_KIND)
        .order_by(SecurityAlert.id.desc()).limit(1)
    ).first()
    if newest is not None:
        hour_counts, window_counts = current_counts(session, user_id, hour)
        newest.details = {**(newest.details or {}), "allowance": Allowance(
            moment, hour, hour_counts, window_counts).as_dict()}
    session.flush()
    if resolved:
        audit.append(session, settings.secret_key, "alert_resolved",
                     actor=audit.actor_ref(actor_user_id), target=f"users:{user_id}",
                     details={"alerts": resolved, "unlocked": True})
    unlock_account(session, settings.secret_key, actor_user_id, user_id)  # audits 'unlock'
    forget(session, user_id)
    return resolved


def current_counts(session: Session, user_id: int, hour: datetime) -> tuple[Counts, Counts]:
    """The user's counts for ``hour`` and for the 24 hours ending with it."""
    rows = session.execute(
        select(AccessStat.hour, AccessStat.reads, AccessStat.exports, AccessStat.high_value)
        .where(AccessStat.user_id == user_id, AccessStat.hour > hour - timedelta(hours=24),
               AccessStat.hour <= hour)
    ).all()
    window = Counts()
    this_hour = Counts()
    for r in rows:
        counts = Counts(r.reads, r.exports, r.high_value)
        window = window.plus(counts)
        if r.hour == hour:
            this_hour = counts
    return this_hour, window


def baseline_report(
    session: Session, settings: Settings, user_id: int, *, now: datetime | None = None,
) -> dict[str, Any]:
    """The figures an admin reviews: the baseline, the ceilings, and the current counts."""
    if session.get(User, user_id) is None:
        raise NotFound(f"No user with id {user_id}")
    moment = now or _clock()
    hour = hour_of(moment)
    baseline = compute_baseline(session, settings, user_id, hour)
    hour_counts, window_counts = current_counts(session, user_id, hour)
    verdict = judge(settings, baseline, hour_counts, moment, network="trusted",
                    object_name=min(baseline.objects, default=""))
    return {
        **baseline.as_dict(),
        "ceilings": {m: ceiling_of(settings, m) for m in METRICS},
        "floors": {m: floor_of(settings, m) for m in METRICS},
        "factor": settings.anomaly_factor, "window_factor": settings.anomaly_window_factor,
        "current": {"hour": hour_counts.as_dict(), "window_24h": window_counts.as_dict(),
                    "score": verdict.score},
    }


def user_by_email(session: Session, email: str) -> User:
    from rapport.crm.normalise import normalise_email

    try:
        normalised = normalise_email(email)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    user = session.scalar(select(User).where(User.email == normalised))
    if user is None:
        raise NotFound(f"No user with email {email}")
    return user


__all__ = [
    "Allowance", "Baseline", "Counts", "Judgement", "MetricBaseline", "alert_json",
    "baseline_report", "compute_baseline", "count_high_value", "count_open", "forget",
    "get_alert", "hour_of", "judge", "list_alerts", "observe", "resolve_alert", "set_clock",
    "unlock_user", "user_by_email",
]

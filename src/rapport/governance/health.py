"""Data health of the customer data hub: volume, validity, lateness, skew, latency, stitching.

Every figure is computed over a window of ``received_at`` (default: the last 24 hours) with
SQL that runs on SQLite and PostgreSQL. Percentiles use ``percentile_cont`` on PostgreSQL
(exact); SQLite has no such aggregate, so the newest ``SAMPLE_LIMIT`` values of the window
are fetched and interpolated the same way in Python (exact below the limit, a sample above).
What each figure means is written down in ``docs/health.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.orm import Session, aliased

from rapport.crm.access import mask_value
from rapport.crm.custom_fields import custom_field_specs
from rapport.crm.registry import OBJECTS
from rapport.errors import NotFound, ValidationFailed
from rapport.events.hub_models import DeadLetter, DuplicateCount, HubEvent, Source
from rapport.identity.models import Identity, MergeReview, ProfileMerge
from rapport.profiles.models import Profile
from rapport.trust.actor import Actor

DEFAULT_HOURS = 24
MAX_HOURS = 24 * 90
DEFAULT_LATE_MINUTES = 60
SAMPLE_LIMIT = 50_000  # SQLite percentiles: newest values of the window, sorted in Python
TOP_REASONS = 5
CROWDED_IDENTIFIERS = 5  # a profile with more identifiers than this of one kind is suspicious
SHOWN_ANOMALIES = 10
PERCENTILES = (0.5, 0.9, 0.99)
# |skew| histogram buckets (upper bounds in ms; the last one is open)
SKEW_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("< 100 ms", 100), ("< 1 s", 1_000), ("< 10 s", 10_000), ("< 1 min", 60_000),
    ("< 1 h", 3_600_000), ("≥ 1 h", None),
)
KNOWN_KINDS = ("user_id", "email")
WEAK_KINDS = ("fingerprint",)  # every event carries one: it does not make a profile stitched
COMPLETENESS_OBJECTS = ("contacts", "accounts")
SKIPPED_FIELDS = frozenset({"id", "version", "created_at", "updated_at"})
SUPPRESSED_CODE = "suppressed"  # rapport.events.collector.SUPPRESSED_CODE
PERSONAL_KINDS = {"email": "contact.email", "phone": "contact.phone"}


class Window(BaseModel):
    start: datetime
    end: datetime
    hours: float
    late_after_minutes: int


class Percentiles(BaseModel):
    n: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    sampled: bool = Field(False, description="True when computed from a bounded sample (SQLite)")


class Bucket(BaseModel):
    label: str
    count: int
    share: float | None


class Reason(BaseModel):
    code: str
    count: int


class Figures(BaseModel):
    """The event figures of one source, or of all sources together."""

    events: int = 0
    dead_letters: int = Field(0, description="invalid events (duplicates and suppressed excluded)")
    validity_rate: float | None = Field(None, description="accepted / (accepted + dead letters)")
    top_reasons: list[Reason] = []
    duplicates: int = Field(
        0, description="repeated messageIds answered as no-ops (counted per hour: the window's "
        "first hour counts whole)")
    duplicate_rate: float | None = Field(
        None, description="duplicates / (accepted + duplicates); null when there were neither")
    suppressed: int = Field(
        0, description="events dropped because their person was erased (not counted as invalid)")
    late_events: int = 0
    late_rate: float | None = None
    skew: Percentiles = Percentiles()
    skew_histogram: list[Bucket] = []
    processed: int = 0
    pending: int = 0
    latency: Percentiles = Percentiles()
    stitched_events: int = 0
    stitch_rate: float | None = Field(
        None, description="processed events whose profile holds ≥ 2 identifiers "
        "(device fingerprints not counted)")
    known_events: int = 0
    known_rate: float | None = Field(
        None, description="processed events whose profile has a user id or an email")
    last_event_at: datetime | None = None
    freshness_seconds: float | None = None


class SourceHealth(BaseModel):
    source_id: int | None
    name: str
    channel: str | None
    enabled: bool | None
    figures: Figures


class KindCount(BaseModel):
    kind: str
    count: int


class CrowdedProfile(BaseModel):
    profile_id: int
    kind: str
    identifiers: int


class RelinkedIdentifier(BaseModel):
    kind: str
    value: str
    merges: int


class IdentityHealth(BaseModel):
    """Merge anomalies: how often identifiers moved between profiles, crowded profiles."""

    identifiers: int = 0
    profiles: int = Field(0, description="live profiles (not merged into another)")
    identifiers_per_profile: float | None = None
    merges: int = Field(0, description="merges in the window")
    merges_undone: int = 0
    merges_by_kind: list[KindCount] = []
    relinked_identifiers: int = Field(
        0, description="identifiers that moved to another profile by a merge, ever")
    top_merge_identifiers: list[RelinkedIdentifier] = Field(
        [], description="identifiers that joined the most profiles in the window")
    crowded_profiles: int = Field(
        0, description=f"profiles with more than {CROWDED_IDENTIFIERS} identifiers of one kind")
    top_crowded: list[CrowdedProfile] = []
    shared_fingerprints: int = Field(
        0, description="device fingerprints seen with more user ids than the guard allows")
    open_reviews: int = 0
    reviews_opened: int = Field(0, description="merge reviews opened in the window")


class FieldCompleteness(BaseModel):
    field: str
    label: str
    custom: bool
    filled: int
    share: float | None


class ObjectCompleteness(BaseModel):
    object: str
    rows: int
    fields: list[FieldCompleteness]


class HealthReport(BaseModel):
    generated_at: datetime
    window: Window
    overall: Figures
    sources: list[SourceHealth]
    identity: IdentityHealth | None = None
    completeness: list[ObjectCompleteness] = []


def make_window(hours: float | None = None, late_after_minutes: int | None = None,
                *, now: datetime | None = None) -> Window:
    """The window ending now; refuses nonsense with a message saying what to send instead."""
    hours = DEFAULT_HOURS if hours is None else hours
    late = DEFAULT_LATE_MINUTES if late_after_minutes is None else late_after_minutes
    if not 0 < hours <= MAX_HOURS:
        raise ValidationFailed(f"hours must be more than 0 and at most {MAX_HOURS}")
    if not 0 < late <= 60 * 24 * 30:
        raise ValidationFailed("late_after_minutes must be between 1 and 43200 (30 days)")
    end = now or datetime.now(UTC)
    return Window(start=end - timedelta(hours=hours), end=end, hours=hours,
                  late_after_minutes=late)


# -- helpers -------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _seconds_between(session: Session, earlier: Any, later: Any) -> Any:
    """``later - earlier`` in seconds, as SQL for this database (SQLite: millisecond precision)."""
    if _is_postgres(session):
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def interpolate(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks: what PostgreSQL's percentile_cont does."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


ALL = object()  # the key of the figure over every group


def _percentiles(session: Session, value: Any, where: Sequence[ColumnElement[bool]],
                 group: Any) -> dict[Any, Percentiles]:
    """p50/p90/p99 of ``value`` (ms) per ``group``, and over all groups under ``ALL``."""
    columns = [func.count(), *(func.percentile_cont(q).within_group(value) for q in PERCENTILES)]
    result: dict[Any, Percentiles] = {}
    if _is_postgres(session):
        grouped = session.execute(
            select(group, *columns).select_from(HubEvent).where(*where).group_by(group)).all()
        overall = session.execute(select(*columns).select_from(HubEvent).where(*where)).one()
        for key, *figures in [*grouped, (ALL, *overall)]:
            n, p50, p90, p99 = figures
            if n:
                result[key] = Percentiles(n=n, p50_ms=_ms(p50), p90_ms=_ms(p90), p99_ms=_ms(p99))
        return result
    # SQLite: the newest SAMPLE_LIMIT values of each group, interpolated in Python
    totals = dict(session.execute(
        select(group, func.count()).select_from(HubEvent).where(*where).group_by(group)
    ).tuples().all())
    everything: list[float] = []
    for key, total in totals.items():
        if not total:
            continue
        query = (select(value).select_from(HubEvent).where(*where)
                 .where(group.is_(None) if key is None else group == key))
        values = [float(v) for v in session.scalars(
            query.order_by(HubEvent.id.desc()).limit(SAMPLE_LIMIT)) if v is not None]
        everything.extend(values)
        result[key] = _interpolated(values, total)
    if everything:
        result[ALL] = _interpolated(everything, sum(totals.values()))
    return result


def _interpolated(values: list[float], total: int) -> Percentiles:
    p50, p90, p99 = (interpolate(values, q) for q in PERCENTILES)
    return Percentiles(n=total, p50_ms=_ms(p50), p90_ms=_ms(p90), p99_ms=_ms(p99),
                       sampled=total > len(values))


def _ms(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _in_window(window: Window, column: Any) -> list[ColumnElement[bool]]:
    return [column >= window.start, column < window.end]


def _per_source(rows: Iterable[Any]) -> dict[int | None, Any]:
    return {row[0]: row for row in rows}


def _duplicates(session: Session, window: Window, source_id: int | None) -> dict[int | None, int]:
    """Duplicates per source from the collector's hourly counts (hours touching the window)."""
    first_hour = window.start.replace(minute=0, second=0, microsecond=0)
    stmt = (select(DuplicateCount.source_id, func.sum(DuplicateCount.count))
            .where(DuplicateCount.hour >= first_hour, DuplicateCount.hour < window.end)
            .group_by(DuplicateCount.source_id))
    if source_id is not None:
        stmt = stmt.where(DuplicateCount.source_id == source_id)
    return {sid: int(n or 0) for sid, n in session.execute(stmt)}


# -- event figures -------------------------------------------------------------------------


def _event_figures(session: Session, window: Window,
                   source_id: int | None = None) -> tuple[Figures, dict[int | None, Figures]]:
    """Overall figures and figures per source (restricted to one source when given)."""
    ev_where = _in_window(window, HubEvent.received_at)
    dl_where = _in_window(window, DeadLetter.received_at)
    if source_id is not None:
        ev_where.append(HubEvent.source_id == source_id)
        dl_where.append(DeadLetter.source_id == source_id)
    late_seconds = window.late_after_minutes * 60
    lateness = _seconds_between(session, HubEvent.timestamp, HubEvent.received_at)

    volume = _per_source(session.execute(
        select(HubEvent.source_id, func.count(),
               func.coalesce(func.sum(case((lateness > late_seconds, 1), else_=0)), 0),
               func.count(HubEvent.processed_at),
               func.max(HubEvent.received_at))
        .where(*ev_where).group_by(HubEvent.source_id)
    ).all())
    # dead letters by code; duplicates and suppressed (erased people) are not invalid events
    reasons: dict[int | None, Counter[str]] = {}
    dead: dict[int | None, int] = {}
    suppressed: dict[int | None, int] = {}
    for sid, code, n in session.execute(
        select(DeadLetter.source_id, DeadLetter.code, func.count())
        .where(*dl_where).group_by(DeadLetter.source_id, DeadLetter.code)
    ):
        if code == SUPPRESSED_CODE:
            suppressed[sid] = suppressed.get(sid, 0) + n
        else:
            dead[sid] = dead.get(sid, 0) + n
            reasons.setdefault(sid, Counter())[code] += n

    # clock skew: |skew_ms| percentiles and histogram
    abs_skew = func.abs(HubEvent.skew_ms)
    skew_where = [*ev_where, HubEvent.skew_ms.is_not(None)]
    skew = _percentiles(session, abs_skew, skew_where, HubEvent.source_id)
    bucket_cases = []
    lower = 0
    for label, upper in SKEW_BUCKETS:
        condition = abs_skew >= lower if upper is None else and_(abs_skew >= lower, abs_skew < upper)
        bucket_cases.append(func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(label))
        lower = upper or lower
    histograms = _per_source(session.execute(
        select(HubEvent.source_id, *bucket_cases).where(*skew_where).group_by(HubEvent.source_id)
    ).all())

    # profile update latency: processed_at - received_at
    latency_ms = _seconds_between(session, HubEvent.received_at, HubEvent.processed_at) * 1000.0
    latency = _percentiles(session, latency_ms, [*ev_where, HubEvent.processed_at.is_not(None)],
                           HubEvent.source_id)

    stitched = _per_source(_stitch_rows(session, ev_where))
    duplicate_rows = _duplicates(session, window, source_id)
    last_seen = _last_event_at(session, source_id)

    per_source: dict[int | None, Figures] = {}
    keys = set(volume) | set(dead) | set(suppressed) | set(duplicate_rows) | set(last_seen)
    for key in keys:
        events, late, processed, _newest = (volume[key][1:] if key in volume else (0, 0, 0, None))
        dead_n = dead.get(key, 0)
        histogram_row = histograms.get(key)
        stitch_row = stitched.get(key)
        dup = duplicate_rows.get(key, 0)
        per_source[key] = Figures(
            events=events, dead_letters=dead_n, validity_rate=_rate(events, events + dead_n),
            top_reasons=[Reason(code=c, count=n)
                         for c, n in reasons.get(key, Counter()).most_common(TOP_REASONS)],
            duplicates=dup, duplicate_rate=_rate(dup, events + dup),
            suppressed=suppressed.get(key, 0),
            late_events=late, late_rate=_rate(late, events),
            skew=skew.get(key, Percentiles()),
            skew_histogram=_buckets(histogram_row[1:] if histogram_row else None),
            processed=processed, pending=events - processed,
            latency=latency.get(key, Percentiles()),
            stitched_events=stitch_row[2] if stitch_row else 0,
            stitch_rate=_rate(stitch_row[2], stitch_row[1]) if stitch_row else None,
            known_events=stitch_row[3] if stitch_row else 0,
            known_rate=_rate(stitch_row[3], stitch_row[1]) if stitch_row else None,
            last_event_at=last_seen.get(key),
            freshness_seconds=_age(window, last_seen.get(key)),
        )

    overall = _overall(window, per_source, reasons, skew.get(ALL), latency.get(ALL))
    return overall, per_source


def _overall(window: Window, per_source: dict[int | None, Figures],
             reasons: dict[int | None, Counter[str]], skew: Percentiles | None,
             latency: Percentiles | None) -> Figures:
    parts = list(per_source.values())
    events = sum(f.events for f in parts)
    dead = sum(f.dead_letters for f in parts)
    late = sum(f.late_events for f in parts)
    processed = sum(f.processed for f in parts)
    dup = sum(f.duplicates for f in parts)
    all_reasons: Counter[str] = Counter()
    for counter in reasons.values():
        all_reasons.update(counter)
    histogram = [sum(f.skew_histogram[i].count for f in parts if f.skew_histogram)
                 for i in range(len(SKEW_BUCKETS))]
    stitched = sum(f.stitched_events for f in parts)
    known = sum(f.known_events for f in parts)
    newest = max((f.last_event_at for f in parts if f.last_event_at), default=None)
    return Figures(
        events=events, dead_letters=dead, validity_rate=_rate(events, events + dead),
        top_reasons=[Reason(code=c, count=n) for c, n in all_reasons.most_common(TOP_REASONS)],
        duplicates=dup, duplicate_rate=_rate(dup, events + dup),
        suppressed=sum(f.suppressed for f in parts),
        late_events=late, late_rate=_rate(late, events),
        skew=skew or Percentiles(),
        skew_histogram=_buckets(histogram if any(histogram) else None),
        processed=processed, pending=events - processed,
        latency=latency or Percentiles(),
        stitched_events=stitched, stitch_rate=_rate(stitched, processed),
        known_events=known, known_rate=_rate(known, processed),
        last_event_at=newest, freshness_seconds=_age(window, newest),
    )


def _buckets(counts: Sequence[int] | None) -> list[Bucket]:
    if counts is None:
        return []
    total = sum(int(c) for c in counts)
    return [Bucket(label=label, count=int(n), share=_rate(int(n), total))
            for (label, _), n in zip(SKEW_BUCKETS, counts, strict=True)]


def _age(window: Window, at: datetime | None) -> float | None:
    return None if at is None else round(max(0.0, (window.end - at).total_seconds()), 1)


def _survivor_and_identifiers() -> tuple[Any, Any, Any]:
    """(first profile, merged-into profile, identifier counts) for following merges two hops."""
    first = aliased(Profile)
    second = aliased(Profile)
    identifiers = (
        select(Identity.profile_id.label("profile_id"),
               func.sum(case((Identity.kind.in_(WEAK_KINDS), 0), else_=1)).label("n"),
               func.max(case((Identity.kind.in_(KNOWN_KINDS), 1), else_=0)).label("known"))
        .group_by(Identity.profile_id).subquery()
    )
    return first, second, identifiers


def _stitch_rows(session: Session, ev_where: list[ColumnElement[bool]]) -> Sequence[Any]:
    """Per source: processed events, events on a profile with ≥ 2 identifiers (fingerprints
    not counted), events on a profile with a known id.

    Events are never rewritten on merge, so an event's profile may have been merged: it is
    followed to its survivor (two hops of ``merged_into_id``).
    """
    first, second, identifiers = _survivor_and_identifiers()
    survivor = func.coalesce(second.merged_into_id, first.merged_into_id, first.id)
    return session.execute(
        select(HubEvent.source_id, func.count(),
               func.coalesce(func.sum(case((identifiers.c.n >= 2, 1), else_=0)), 0),
               func.coalesce(func.sum(case((identifiers.c.known == 1, 1), else_=0)), 0))
        .select_from(HubEvent)
        .join(first, first.id == HubEvent.profile_id)
        .outerjoin(second, second.id == first.merged_into_id)
        .outerjoin(identifiers, identifiers.c.profile_id == survivor)
        .where(*ev_where, HubEvent.processed_at.is_not(None))
        .group_by(HubEvent.source_id)
    ).all()


def _last_event_at(session: Session, source_id: int | None) -> dict[int | None, datetime]:
    """Newest accepted event per source, ever: the source row's stamp, else the event log."""
    query = select(Source.id, Source.last_event_at)
    if source_id is not None:
        query = query.where(Source.id == source_id)
    found: dict[int | None, datetime] = {}
    missing = []
    for sid, stamped in session.execute(query):
        if stamped is not None:
            found[sid] = stamped
        else:
            missing.append(sid)
    if missing:
        for sid, newest in session.execute(
            select(HubEvent.source_id, func.max(HubEvent.received_at))
            .where(HubEvent.source_id.in_(missing)).group_by(HubEvent.source_id)
        ):
            if newest is not None:
                found[sid] = _aware(newest)
    return found


def _aware(value: datetime | str) -> datetime:
    """``max()`` over a DateTime column comes back as text from SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- identity and completeness -------------------------------------------------------------


def identity_health(session: Session, window: Window, actor: Actor, settings: Any) -> IdentityHealth:
    """Merge anomalies over the identity graph; identifier values masked as the actor sees them."""
    identifiers = session.execute(select(func.count()).select_from(Identity)).scalar_one()
    profiles = session.execute(
        select(func.count()).select_from(Profile).where(Profile.merged_into_id.is_(None))
    ).scalar_one()
    merges_where = _in_window(window, ProfileMerge.at)
    merges, undone = session.execute(
        select(func.count(), func.count(ProfileMerge.undone_at)).where(*merges_where)
    ).one()
    by_kind = session.execute(
        select(ProfileMerge.identifier_kind, func.count()).where(*merges_where)
        .group_by(ProfileMerge.identifier_kind).order_by(func.count().desc())
    ).all()
    moved: set[int] = set()
    for ids in session.scalars(select(ProfileMerge.moved_identity_ids).execution_options(yield_per=2000)):
        moved.update(int(i) for i in ids or ())
    relinked = session.execute(
        select(ProfileMerge.identifier_kind, ProfileMerge.identifier_value, func.count())
        .where(*merges_where)
        .group_by(ProfileMerge.identifier_kind, ProfileMerge.identifier_value)
        .order_by(func.count().desc(), ProfileMerge.identifier_kind, ProfileMerge.identifier_value)
        .limit(SHOWN_ANOMALIES)
    ).all()
    crowded_query = (
        select(Identity.profile_id, Identity.kind, func.count().label("n"))
        .group_by(Identity.profile_id, Identity.kind)
        .having(func.count() > CROWDED_IDENTIFIERS)
    )
    crowded_total = session.execute(
        select(func.count(func.distinct(crowded_query.subquery().c.profile_id)))
    ).scalar_one()
    crowded = session.execute(
        crowded_query.order_by(literal_column("n").desc(), Identity.profile_id).limit(SHOWN_ANOMALIES)
    ).all()
    fingerprint_users = (
        select(HubEvent.fingerprint)
        .where(*_in_window(window, HubEvent.received_at), HubEvent.user_id.is_not(None),
               HubEvent.fingerprint_derived.is_(False))
        .group_by(HubEvent.fingerprint)
        .having(func.count(func.distinct(HubEvent.user_id))
                > settings.identity_fingerprint_max_profiles)
        .subquery()
    )
    shared = session.execute(select(func.count()).select_from(fingerprint_users)).scalar_one()
    open_reviews = session.execute(
        select(func.count()).select_from(MergeReview).where(MergeReview.status == "open")
    ).scalar_one()
    reviews_opened = session.execute(
        select(func.count()).select_from(MergeReview)
        .where(*_in_window(window, MergeReview.created_at))
    ).scalar_one()
    return IdentityHealth(
        identifiers=identifiers, profiles=profiles,
        identifiers_per_profile=round(identifiers / profiles, 2) if profiles else None,
        merges=merges, merges_undone=undone,
        merges_by_kind=[KindCount(kind=k, count=n) for k, n in by_kind],
        relinked_identifiers=len(moved),
        top_merge_identifiers=[RelinkedIdentifier(kind=k, value=_shown(actor, k, v), merges=n)
                      for k, v, n in relinked],
        crowded_profiles=crowded_total,
        top_crowded=[CrowdedProfile(profile_id=p, kind=k, identifiers=n) for p, k, n in crowded],
        shared_fingerprints=shared, open_reviews=open_reviews, reviews_opened=reviews_opened,
    )


def _shown(actor: Actor, kind: str, value: str) -> str:
    """An identifier value as this actor may see it: emails and phones masked by default;
    user ids, anonymous ids and fingerprints are pseudonymous and shown shortened."""
    category = PERSONAL_KINDS.get(kind)
    if category is not None:
        if actor.access.field_view(category) == "clear":
            return value
        return str(mask_value(category, value))
    return value if len(value) <= 12 else value[:10] + "…"


def completeness(session: Session) -> list[ObjectCompleteness]:
    """Share of contacts and accounts with each field filled (custom fields included)."""
    result = []
    for name in COMPLETENESS_OBJECTS:
        spec = OBJECTS[name]
        model: Any = spec.model
        columns: list[tuple[str, str, bool, Any]] = []
        for field in spec.fields.values():
            if field.name in SKIPPED_FIELDS:
                continue
            column = getattr(model, field.name)
            columns.append((field.name, field.label, False, column))
        for field in custom_field_specs(session, name).values():
            columns.append((f"custom.{field.name}", field.label, True,
                            model.custom[field.name].as_string()))
        filled = [
            func.coalesce(func.sum(case((_filled(column, custom), 1), else_=0)), 0)
            for _n, _l, custom, column in columns
        ]
        row = session.execute(select(func.count(), *filled).select_from(model)).one()
        rows = int(row[0])
        result.append(ObjectCompleteness(object=name, rows=rows, fields=[
            FieldCompleteness(field=n, label=label, custom=custom, filled=int(count),
                              share=_rate(int(count), rows))
            for (n, label, custom, _c), count in zip(columns, row[1:], strict=True)
        ]))
    return result


def _filled(column: Any, custom: bool) -> ColumnElement[bool]:
    """Not null, and for text not blank."""
    python_type: Any = None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = None
    if custom or python_type is str:
        return and_(column.is_not(None), func.trim(column) != "")
    return column.is_not(None)  # type: ignore[no-any-return]


# -- entry points --------------------------------------------------------------------------


def _require(actor: Actor) -> None:
    actor.require("health.read", "reading the data-health dashboard")


def health_report(session: Session, actor: Actor, settings: Any, window: Window) -> HealthReport:
    """Overall and per-source figures, identity anomalies and CRM field completeness."""
    _require(actor)
    overall, per_source = _event_figures(session, window)
    sources = []
    known_ids = set()
    for source in session.scalars(select(Source).order_by(Source.name)):
        known_ids.add(source.id)
        sources.append(SourceHealth(source_id=source.id, name=source.name, channel=source.channel,
                                    enabled=source.enabled,
                                    figures=per_source.get(source.id) or Figures()))
    if None in per_source:  # dead letters from no known source (unreadable write key...)
        sources.append(SourceHealth(source_id=None, name="(no source)", channel=None,
                                    enabled=None, figures=per_source[None]))
    return HealthReport(
        generated_at=window.end, window=window, overall=overall, sources=sources,
        identity=identity_health(session, window, actor, settings),
        completeness=completeness(session),
    )


def source_health(session: Session, actor: Actor, window: Window, source_id: int) -> SourceHealth:
    """The figures of one source."""
    _require(actor)
    source = session.get(Source, source_id)
    if source is None:
        raise NotFound(f"No source {source_id}")
    _overall_figures, per_source = _event_figures(session, window, source_id)
    return SourceHealth(source_id=source.id, name=source.name, channel=source.channel,
                        enabled=source.enabled, figures=per_source.get(source.id) or Figures())

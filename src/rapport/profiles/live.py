"""The live profile: traits, counters, channels and journey stage, updated event by event.

Pure functions over ``ProfileState`` (no database here): the pipeline loads the states of a
batch, applies its events and writes them back in bulk. The rules (docs/profiles.md):

- Traits come from ``traits`` (identify) and ``context.traits`` (any call). Each keeps its
  value, source id and event time; a newer event wins, unless the trait was set by a source
  with a higher ``trait_priority`` (the source's ``mapping`` JSON, default 0).
- Counters: events by type and by name, sessions (distinct session ids), page views (page and
  screen calls), documents read (track ``Document Read``; ``properties.dwell_seconds`` adds to
  reading time, ``properties.printed`` counts prints), orders (track ``Order Completed``) and
  revenue (``properties.revenue``, else ``properties.total``; a decimal kept as a string).
- Journey stage: customer (an order) > engaged (3 sessions or a document read) > identified
  (any identifier beyond anonymous id and device) > anonymous.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

JOURNEY_STAGES = ("anonymous", "identified", "engaged", "customer")
DOCUMENT_READ = "Document Read"
ORDER_COMPLETED = "Order Completed"
ENGAGED_SESSIONS = 3
MAX_TRAITS = 200
MAX_TRAIT_KEY = 100
MAX_TRAIT_BYTES = 2_000
MAX_NAMES = 200  # distinct event names counted per profile; the rest under "(other)"
RECENT_SESSIONS = 20  # session ids remembered to count distinct sessions
MAX_DWELL_SECONDS = 86_400
MAX_REVENUE = Decimal("1e12")
NUMERIC_COUNTERS = ("sessions", "page_views", "documents_read", "documents_printed",
                    "reading_seconds", "orders")


class _EventLike(Protocol):
    id: int
    source_id: int
    type: str
    name: str | None
    timestamp: datetime
    channel: str
    session_id: str
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]


def iso(value: datetime) -> str:
    """Fixed-width ISO time (microseconds always), so stored times compare as text."""
    return value.isoformat(timespec="microseconds")


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


@dataclass(eq=False)
class ProfileState:
    """One profile in memory while a batch is processed (compared by identity)."""

    id: int | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    journey_stage: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    contact_id: int | None = None
    lead_id: int | None = None
    last_event_id: int | None = None
    version: int = 1
    merged_into: ProfileState | None = None
    merged_into_id: int | None = None
    identified: bool = False
    dirty: bool = False
    seq: int = 0  # creation order of profiles new in the batch (ids come later)

    def live(self) -> ProfileState:
        state = self
        while state.merged_into is not None:
            state = state.merged_into
        return state

    def subjects(self) -> set[str]:
        """The people (consent subjects, ``contacts:12``, ``leads:5``) the profile is linked to."""
        out = set()
        if self.contact_id:
            out.add(f"contacts:{self.contact_id}")
        if self.lead_id:
            out.add(f"leads:{self.lead_id}")
        return out

    def age(self) -> tuple[int, int, int]:
        """Older first: stored profiles by id, then the batch's new ones in creation order."""
        return (0, self.id, 0) if self.id is not None else (1, 0, self.seq)

    def snapshot(self) -> dict[str, Any]:
        """The profile's own data as JSON (kept with a merge so it can be undone)."""
        return {
            "traits": dict(self.traits), "counters": _copy(self.counters),
            "channels": list(self.channels), "journey_stage": self.journey_stage,
            "first_seen": iso(self.first_seen) if self.first_seen else None,
            "last_seen": iso(self.last_seen) if self.last_seen else None,
            "contact_id": self.contact_id, "lead_id": self.lead_id,
            "last_event_id": self.last_event_id,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        self.traits = dict(snapshot.get("traits") or {})
        self.counters = _copy(snapshot.get("counters") or {})
        self.channels = list(snapshot.get("channels") or [])
        self.journey_stage = snapshot.get("journey_stage")
        self.first_seen = _parse(snapshot.get("first_seen"))
        self.last_seen = _parse(snapshot.get("last_seen"))
        self.contact_id = snapshot.get("contact_id")
        self.lead_id = snapshot.get("lead_id")
        self.last_event_id = snapshot.get("last_event_id")
        self.dirty = True


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value)
    return value


# ---- traits ----------------------------------------------------------------------------------


def trait_priority(mapping: Mapping[str, Any] | None) -> int:
    """A source's ``trait_priority`` (its mapping JSON), 0 when absent or not an integer."""
    raw = (mapping or {}).get("trait_priority", 0)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0


def _wins(new: Mapping[str, Any], old: Mapping[str, Any] | None,
          priorities: Mapping[int, int]) -> bool:
    """Whether trait entry ``new`` replaces ``old``: higher source priority, else newer."""
    if old is None:
        return True
    p_new, p_old = priorities.get(new.get("source"), 0), priorities.get(old.get("source"), 0)  # type: ignore[arg-type]
    if p_new != p_old:
        return p_new > p_old
    return str(new.get("at") or "") >= str(old.get("at") or "")


def _fits(value: Any) -> bool:
    if isinstance(value, str | int | float | bool):
        return not (isinstance(value, str) and len(value) > MAX_TRAIT_BYTES)
    try:
        import orjson

        return len(orjson.dumps(value)) <= MAX_TRAIT_BYTES
    except TypeError:
        return False


def set_traits(state: ProfileState, traits: Mapping[str, Any], source_id: int, at: datetime,
               priorities: Mapping[int, int]) -> bool:
    changed = False
    stamp = iso(at)
    for key, value in traits.items():
        if value is None or not isinstance(key, str) or not key or len(key) > MAX_TRAIT_KEY:
            continue
        if not _fits(value):
            continue
        old = state.traits.get(key)
        if old is None and len(state.traits) >= MAX_TRAITS:
            continue
        entry = {"value": value, "source": source_id, "at": stamp}
        if _wins(entry, old, priorities) and old != entry:
            state.traits[key] = entry
            changed = True
    return changed


# ---- counters --------------------------------------------------------------------------------


def _decimal(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        return None
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or abs(value) >= MAX_REVENUE:
        return None
    return value


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    return float(raw)


def revenue_of(properties: Mapping[str, Any]) -> Decimal | None:
    value = _decimal(properties.get("revenue"))
    return value if value is not None else _decimal(properties.get("total"))


def _bump(mapping: dict[str, Any], key: str, by: float | int = 1) -> None:
    mapping[key] = mapping.get(key, 0) + by


def _add_revenue(counters: dict[str, Any], amount: Decimal) -> None:
    current = _decimal(counters.get("revenue")) or Decimal(0)
    counters["revenue"] = str(current + amount)


def journey_stage(counters: Mapping[str, Any], identified: bool) -> str:
    if counters.get("orders", 0) > 0:
        return "customer"
    if counters.get("sessions", 0) >= ENGAGED_SESSIONS or counters.get("documents_read", 0) > 0:
        return "engaged"
    return "identified" if identified else "anonymous"


def apply_event(state: ProfileState, event: _EventLike, priorities: Mapping[int, int]) -> None:
    """Fold one event into the profile (the caller makes sure each event is applied once)."""
    counters = state.counters  # the batch's own copy (written back with Core, not the ORM)
    events = counters.setdefault("events", {})
    _bump(events, event.type)
    name = event.name if event.type in ("track", "page", "screen") else None
    if name:
        names = counters.setdefault("names", {})
        key = name if name in names or len(names) < MAX_NAMES else "(other)"
        _bump(names, key)
    session_id = event.session_id
    if session_id:
        recent: list[str] = counters.setdefault("recent_sessions", [])
        if session_id not in recent:
            _bump(counters, "sessions")
            recent.append(session_id)
            del recent[:-RECENT_SESSIONS]
    properties = event.properties if isinstance(event.properties, Mapping) else {}
    if event.type in ("page", "screen"):
        _bump(counters, "page_views")
    elif event.type == "track" and name == DOCUMENT_READ:
        _bump(counters, "documents_read")
        dwell = _number(properties.get("dwell_seconds"))
        if dwell is not None and dwell > 0:
            _bump(counters, "reading_seconds", round(min(dwell, MAX_DWELL_SECONDS), 3))
        if properties.get("printed") is True:
            _bump(counters, "documents_printed")
    elif event.type == "track" and name == ORDER_COMPLETED:
        _bump(counters, "orders")
        amount = revenue_of(properties)
        if amount is not None:
            _add_revenue(counters, amount)
    state.counters = counters
    if event.type == "identify" and isinstance(event.traits, Mapping):
        set_traits(state, event.traits, event.source_id, event.timestamp, priorities)
    context_traits = event.context.get("traits") if isinstance(event.context, Mapping) else None
    if isinstance(context_traits, Mapping):
        set_traits(state, context_traits, event.source_id, event.timestamp, priorities)
    if event.channel and event.channel not in state.channels:
        state.channels.append(event.channel)
    if state.first_seen is None or event.timestamp < state.first_seen:
        state.first_seen = event.timestamp
    if state.last_seen is None or event.timestamp > state.last_seen:
        state.last_seen = event.timestamp
    if state.last_event_id is None or event.id > state.last_event_id:
        state.last_event_id = event.id
    state.journey_stage = journey_stage(state.counters, state.identified)
    state.dirty = True


# ---- merge and undo --------------------------------------------------------------------------


def _sum(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _sum(out[k], v) if k in out else _copy(v)
        return out
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a + b
    return a


def _subtract(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = {}
        for k, v in a.items():
            left = _subtract(v, b[k]) if k in b else v
            if left not in (0, {}):
                out[k] = left
        return out
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return a - b
    return a


def fold_counters(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    plain = {k: v for k, v in a.items() if k not in ("revenue", "recent_sessions")}
    other = {k: v for k, v in b.items() if k not in ("revenue", "recent_sessions")}
    out: dict[str, Any] = _sum(plain, other)
    revenue = (_decimal(a.get("revenue")) or Decimal(0)) + (_decimal(b.get("revenue")) or Decimal(0))
    if "revenue" in a or "revenue" in b:
        out["revenue"] = str(revenue)
    recent = [*a.get("recent_sessions", []), *[s for s in b.get("recent_sessions", [])
                                               if s not in a.get("recent_sessions", [])]]
    if recent:
        out["recent_sessions"] = recent[-RECENT_SESSIONS:]
    return out


def fold(winner: ProfileState, loser: ProfileState, priorities: Mapping[int, int]) -> None:
    """Fold ``loser`` into ``winner``: traits by the trait rule, counters summed."""
    traits = dict(winner.traits)
    for key, entry in loser.traits.items():
        if isinstance(entry, Mapping) and _wins(entry, traits.get(key), priorities):
            traits[key] = entry
    winner.traits = traits
    winner.counters = fold_counters(winner.counters, loser.counters)
    winner.channels = [*winner.channels, *[c for c in loser.channels if c not in winner.channels]]
    if loser.first_seen is not None and (winner.first_seen is None or loser.first_seen < winner.first_seen):
        winner.first_seen = loser.first_seen
    if loser.last_seen is not None and (winner.last_seen is None or loser.last_seen > winner.last_seen):
        winner.last_seen = loser.last_seen
    winner.contact_id = winner.contact_id or loser.contact_id
    winner.lead_id = winner.lead_id or loser.lead_id
    if loser.last_event_id and (winner.last_event_id or 0) < loser.last_event_id:
        winner.last_event_id = loser.last_event_id
    winner.identified = winner.identified or loser.identified
    winner.journey_stage = journey_stage(winner.counters, winner.identified)
    winner.dirty = True


def unfold(current: ProfileState, winner_before: Mapping[str, Any], loser: Mapping[str, Any],
           merged: Mapping[str, Any]) -> None:
    """Undo a fold on the survivor, keeping what happened to it since the merge.

    Counters lose the loser's share; a trait, a time or a link still equal to what the merge
    produced goes back to the survivor's value before the merge (a later event's value stays).
    """
    before = ProfileState()
    before.restore(winner_before)
    after_merge = ProfileState()
    after_merge.restore(merged)
    loser_counters = loser.get("counters") or {}
    counters = _subtract({k: v for k, v in current.counters.items()
                          if k not in ("revenue", "recent_sessions")},
                         {k: v for k, v in loser_counters.items()
                          if k not in ("revenue", "recent_sessions")})
    if "revenue" in current.counters:
        revenue = (_decimal(current.counters.get("revenue")) or Decimal(0)) - (
            _decimal(loser_counters.get("revenue")) or Decimal(0))
        if "revenue" in before.counters or revenue != 0:
            counters["revenue"] = str(revenue)
    recent = current.counters.get("recent_sessions")
    if recent is not None:
        if recent == after_merge.counters.get("recent_sessions"):
            recent = before.counters.get("recent_sessions")
        if recent:
            counters["recent_sessions"] = list(recent)
    current.counters = counters
    traits = {}
    for key in set(current.traits) | set(before.traits):
        now, merged_value = current.traits.get(key), after_merge.traits.get(key)
        value = before.traits.get(key) if now == merged_value else now
        if value is not None:
            traits[key] = value
    current.traits = traits
    added = [c for c in current.channels if c not in after_merge.channels]
    current.channels = [*before.channels, *[c for c in added if c not in before.channels]]
    for name in ("first_seen", "last_seen", "contact_id", "lead_id", "last_event_id"):
        if getattr(current, name) == getattr(after_merge, name):
            setattr(current, name, getattr(before, name))
    current.dirty = True

"""Deterministic identity stitching for a batch of events, decided in memory, written in bulk.

``Stitcher.load`` reads, in a handful of queries, every identity the batch names, the profiles
they point at, those profiles' user ids and CRM links, matching contacts and leads, and the
analytics consent of the people involved. ``stitch`` then resolves one event at a time:

- identifiers already in the graph name their profiles; several profiles are merged (the
  older one survives) unless both hold different user ids or different CRM contacts: then a
  merge review is opened instead and the event stays with the profile of its own user id;
- a new user id is never added to a profile that already holds another one: it gets a new
  profile and a review;
- ``alias`` links ``previousId`` (a user id or anonymous id) to the new user id, even across
  user ids (the client said so);
- a new e-mail or phone that a contact or lead holds adds ``contact_id`` / ``lead_id``;
- a device fingerprint links only while it has been seen with at most
  ``identity_fingerprint_max_profiles`` profiles (rows ``fingerprint`` and ``fingerprint#n``
  count them); past that it is shared and links nothing more.

``write`` stores new profiles, identities, merges (with history and audit), reviews.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, or_, select
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.crm.models import Contact, Lead
from rapport.db.among import among
from rapport.db.base import utcnow
from rapport.db.bulk import update_rows
from rapport.identity.identifiers import Identifier, alias_previous_id
from rapport.identity.merges import fold_in_memory, record_merge
from rapport.identity.models import Identity, MergeReview
from rapport.profiles.live import ProfileState
from rapport.profiles.store import (
    IDENTIFYING_KINDS,
    chunks,
    find_identities,
    insert_states,
    load_states,
    strong_identities,
)
from rapport.trust import suppression
from rapport.trust.models import ConsentRecord

FINGERPRINT = "fingerprint"
_IDENTITIES = cast(Table, Identity.__table__)
_REVIEWS = cast(Table, MergeReview.__table__)
REFUSING_CONSENT = ("withdrawn", "denied")
LAST_SEEN_STEP = timedelta(hours=1)  # identities.last_seen is moved at most this often


RECORD_KINDS = {"contact_id": "contacts", "lead_id": "leads"}


def _subject_of(ident: Identifier) -> str:
    """The consent subject a contact_id or lead_id identifier names (``contacts:12``)."""
    return f"{RECORD_KINDS[ident.kind]}:{ident.value}"


def slot_kind(n: int) -> str:
    """The n-th profile a fingerprint linked (the first one is the plain ``fingerprint`` row)."""
    return FINGERPRINT if n == 1 else f"{FINGERPRINT}#{n}"


@dataclass
class _MergeOp:
    winner: ProfileState
    loser: ProfileState
    snapshot: dict[str, Any]
    identifier: Identifier
    event_id: int


@dataclass
class _NewIdentity:
    identifier: Identifier
    owner: ProfileState  # the profile it was created for (a later merge moves it)
    event_id: int
    at: Any


@dataclass
class _Review:
    a: ProfileState
    b: ProfileState
    identifier: Identifier
    reason: str
    event_id: int


@dataclass
class Stitcher:
    session: Session
    settings: Settings
    priorities: dict[int, int] = field(default_factory=dict)
    graph: dict[Identifier, ProfileState] = field(default_factory=dict)
    fingerprint_links: dict[str, int] = field(default_factory=dict)
    user_ids: dict[int, set[str]] = field(default_factory=dict)  # by id(state)
    crm: dict[Identifier, list[Identifier]] = field(default_factory=dict)
    refused_subjects: set[str] = field(default_factory=set)
    new_profiles: list[ProfileState] = field(default_factory=list)
    new_identities: list[_NewIdentity] = field(default_factory=list)
    merges: list[_MergeOp] = field(default_factory=list)
    reviews: list[_Review] = field(default_factory=list)
    states: dict[int, ProfileState] = field(default_factory=dict)
    suppressed_events: int = 0
    refused_events: int = 0
    stored_seen: dict[Identifier, tuple[int, datetime]] = field(default_factory=dict)
    seen: dict[Identifier, datetime] = field(default_factory=dict)  # newest event time per identifier

    # ---- loading -----------------------------------------------------------------------------

    def load(self, identifiers: Iterable[Identifier]) -> None:
        wanted = set(identifiers)
        fingerprints = {i.value for i in wanted if i.kind == FINGERPRINT}
        limit = self.settings.identity_fingerprint_max_profiles
        for fp in fingerprints:
            wanted |= {Identifier(slot_kind(n), fp) for n in range(2, limit + 2)}
        # the contacts and leads the batch's e-mails and phones name: their contact_id and
        # lead_id identities may already be stored (linked through another e-mail or phone,
        # or by another partition) and must be found, not inserted again
        self._load_crm(wanted)
        wanted |= {link for links in self.crm.values() for link in links}
        rows: list[tuple[str, str, int]] = []
        for kind, value, profile_id, row_id, last_seen in find_identities(self.session, wanted):
            rows.append((kind, value, profile_id))
            self.stored_seen[Identifier(kind, value)] = (row_id, last_seen)
        self.states = load_states(self.session, {r[2] for r in rows}, lock=True)
        for kind, value, profile_id in rows:
            state = self.states[profile_id].live()
            if kind.startswith(FINGERPRINT):
                self.fingerprint_links[value] = self.fingerprint_links.get(value, 0) + 1
                if kind != FINGERPRINT:
                    continue
            self.graph[Identifier(kind, value)] = state
        strong = strong_identities(self.session, self.states)
        for profile_id, pairs in strong.items():
            state = self.states[profile_id]
            state.identified = True
            self.user_ids[id(state)] = {v for k, v in pairs if k == "user_id"}
        self._load_consent(wanted)

    def _load_crm(self, wanted: set[Identifier]) -> None:
        """Contacts and leads holding the batch's e-mails and phones."""
        emails = sorted(i.value for i in wanted if i.kind == "email")
        phones = sorted(i.value for i in wanted if i.kind == "phone")
        if not emails and not phones:
            return
        found: dict[Identifier, list[Identifier]] = {}

        def add(ident: Identifier, link: Identifier) -> None:
            links = found.setdefault(ident, [])
            if not any(existing.kind == link.kind for existing in links):
                links.append(link)

        for model, kind, phone_columns in ((Contact, "contact_id", (Contact.phone, Contact.mobile)),
                                           (Lead, "lead_id", (Lead.phone,))):
            conditions = []
            if emails:
                conditions.append(among(self.session, model.email, emails))
            for column in phone_columns if phones else ():
                conditions.append(among(self.session, column, phones))
            columns = [model.id, model.email, *phone_columns]
            for row in self.session.execute(select(*columns).where(or_(*conditions)).order_by(model.id)):
                link = Identifier(kind, str(row[0]))
                if row[1] and row[1].lower() in emails:
                    add(Identifier("email", row[1].lower()), link)
                for value in row[2:]:
                    if value and value in phones:
                        add(Identifier("phone", value), link)
        self.crm = found

    def _load_consent(self, wanted: set[Identifier]) -> None:
        """People (contacts:12, leads:5) of the batch whose analytics decision refuses it."""
        subjects = {s for state in self.states.values() for s in state.subjects()}
        subjects |= {_subject_of(i) for i in wanted if i.kind in RECORD_KINDS}  # CRM links too
        if not subjects:
            return
        newest: dict[str, str] = {}
        for chunk in chunks(sorted(subjects)):
            stmt = (select(ConsentRecord.subject, ConsentRecord.status)
                    .where(ConsentRecord.purpose == "analytics",
                           among(self.session, ConsentRecord.subject, chunk))
                    .order_by(ConsentRecord.id))
            for subject, status in self.session.execute(stmt):
                newest[subject] = status
        self.refused_subjects = {s for s, status in newest.items() if status in REFUSING_CONSENT}

    # ---- deciding ----------------------------------------------------------------------------

    def _new_profile(self) -> ProfileState:
        state = ProfileState(seq=len(self.new_profiles) + 1, dirty=True)
        self.new_profiles.append(state)
        self.user_ids[id(state)] = set()
        return state

    def _conflict(self, a: ProfileState, b: ProfileState) -> str | None:
        mine, theirs = self.user_ids.get(id(a), set()), self.user_ids.get(id(b), set())
        if mine and theirs and not mine & theirs:
            return "the profiles hold different user ids"
        if a.contact_id and b.contact_id and a.contact_id != b.contact_id:
            return "the profiles are linked to different CRM contacts"
        return None

    def _review(self, a: ProfileState, b: ProfileState, ident: Identifier, reason: str,
                event_id: int) -> None:
        if any({id(r.a), id(r.b)} == {id(a), id(b)} for r in self.reviews):
            return
        self.reviews.append(_Review(a, b, ident, reason, event_id))

    def _merge(self, winner: ProfileState, loser: ProfileState, ident: Identifier,
               event_id: int) -> None:
        snapshot = fold_in_memory(winner, loser, self.priorities)
        self.merges.append(_MergeOp(winner, loser, snapshot, ident, event_id))
        for key, state in self.graph.items():
            if state is loser:
                self.graph[key] = winner
        self.user_ids.setdefault(id(winner), set()).update(self.user_ids.get(id(loser), set()))

    def suppressed(self, identifiers: Sequence[Identifier]) -> bool:
        """Whether the event names an erased person (the suppression ledger)."""
        values = {}
        for ident in identifiers:
            if ident.kind in ("email", "phone") and ident.kind not in values:
                values[ident.kind] = ident.value
        return bool(values) and bool(suppression.is_suppressed(
            self.session, self.settings.secret_key, "contacts", values))

    def stitch(self, event: Any, identifiers: Sequence[Identifier]) -> ProfileState | None:
        """The profile the event belongs to, or None when it must stay out of profiles."""
        if self.suppressed(identifiers):
            self.suppressed_events += 1
            return None
        fingerprint = next((i for i in identifiers if i.kind == FINGERPRINT), None)
        keys = [i for i in identifiers if i.kind != FINGERPRINT]
        for ident in list(keys):
            for link in self.crm.get(ident, []) if ident.kind in ("email", "phone") else []:
                if link not in keys:
                    keys.append(link)
        explicit = False
        if event.type == "alias" and (previous := alias_previous_id(event)) is not None:
            known = next((i for i in (Identifier("user_id", previous), Identifier("anonymous_id", previous))
                          if i in self.graph), None)
            explicit = known is not None
            keys.append(known or Identifier("anonymous_id", previous))
        found: list[tuple[ProfileState, Identifier]] = []
        for ident in keys:
            state = self.graph.get(ident)
            if state is not None:
                state = state.live()
                if all(state is not s for s, _ in found):
                    found.append((state, ident))
        subjects = {s for state, _ in found for s in state.subjects()}
        subjects |= {_subject_of(i) for i in keys if i.kind in RECORD_KINDS}
        if subjects & self.refused_subjects:
            self.refused_events += 1
            return None
        new_keys = [i for i in keys if i not in self.graph]
        # the device links another profile (or new identifiers) while it is not shared
        owner = self.graph.get(fingerprint) if fingerprint is not None else None
        fp_owner = owner.live() if owner is not None else None
        links = self.fingerprint_links.get(fingerprint.value, 0) if fingerprint else 0
        via_fingerprint = (
            fingerprint is not None and fp_owner is not None
            and links <= self.settings.identity_fingerprint_max_profiles
            and all(s is not fp_owner for s, _ in found)
        )
        if via_fingerprint and fingerprint is not None and fp_owner is not None:
            found.append((fp_owner, fingerprint))
        user_key = next((i for i in identifiers if i.kind == "user_id"), None)
        anchor = self.graph[user_key].live() if user_key is not None and user_key in self.graph else None
        target = self._join(found, anchor, explicit, event.id)
        if target is None:
            target = self._new_profile()
        if user_key is not None and user_key in new_keys:
            held = self.user_ids.get(id(target), set())
            if held and user_key.value not in held:
                other = self._new_profile()
                shared = next((i for s, i in found if s.live() is target), user_key)
                self._review(target, other, shared, "a new user id arrived with an identifier "
                             "of a profile that holds another user id", event.id)
                target = other
        contact_key = next((i for i in new_keys if i.kind == "contact_id"), None)
        if (contact_key is not None and target.contact_id is not None
                and str(target.contact_id) != contact_key.value):
            other = self._new_profile()
            shared = next((i for s, i in found if s.live() is target), contact_key)
            self._review(target, other, shared, "a new CRM contact arrived with an identifier "
                         "of a profile linked to another contact", event.id)
            target = other
        for ident in new_keys:
            self._attach(ident, target, event)
        if fingerprint is not None:
            if fingerprint not in self.graph:
                self._attach(fingerprint, target, event)
                self.fingerprint_links[fingerprint.value] = 1
            elif via_fingerprint:
                n = links + 1
                self.fingerprint_links[fingerprint.value] = n
                self.new_identities.append(_NewIdentity(
                    Identifier(slot_kind(n), fingerprint.value), target, event.id, event.timestamp))
        for ident in identifiers:
            newest = self.seen.get(ident)
            if newest is None or event.timestamp > newest:
                self.seen[ident] = event.timestamp
        return target

    def _join(self, found: list[tuple[ProfileState, Identifier]], anchor: ProfileState | None,
              explicit: bool, event_id: int) -> ProfileState | None:
        """Merge the profiles an event names into one, as far as the guards allow."""
        if not found:
            return None
        ordered = sorted(found, key=lambda pair: pair[0].age())
        group = anchor or ordered[0][0]
        for state, ident in ordered:
            state = state.live()
            group = group.live()
            if state is group:
                continue
            reason = None if explicit else self._conflict(group, state)
            if reason is not None:
                self._review(group, state, ident, reason, event_id)
                continue
            winner, loser = (group, state) if group.age() < state.age() else (state, group)
            self._merge(winner, loser, ident, event_id)
            group = winner
        return group.live()

    def _attach(self, ident: Identifier, target: ProfileState, event: Any) -> None:
        self.graph[ident] = target
        self.new_identities.append(_NewIdentity(ident, target, event.id, event.timestamp))
        if ident.kind in IDENTIFYING_KINDS or ident.kind.startswith("external:"):
            target.identified = True
        if ident.kind == "user_id":
            self.user_ids.setdefault(id(target), set()).add(ident.value)
        elif ident.kind == "contact_id" and target.contact_id is None:
            target.contact_id = int(ident.value)
            target.dirty = True
        elif ident.kind == "lead_id" and target.lead_id is None:
            target.lead_id = int(ident.value)
            target.dirty = True

    # ---- writing -----------------------------------------------------------------------------

    def write(self) -> list[ProfileState]:
        """Store what the batch decided; returns every profile state that changed."""
        session = self.session
        insert_states(session, self.new_profiles)
        if self.new_identities:
            rows = [{"kind": n.identifier.kind, "value": n.identifier.value,
                     "profile_id": n.owner.id, "first_seen": n.at,
                     "last_seen": max(n.at, self.seen.get(n.identifier, n.at)),
                     "first_event_id": n.event_id} for n in self.new_identities]
            session.execute(insert(_IDENTITIES), rows)
        self._write_last_seen()
        for op in self.merges:
            assert op.winner.id is not None
            assert op.loser.id is not None
            record_merge(session, self.settings.secret_key, winner_id=op.winner.id,
                         loser_id=op.loser.id, snapshot=op.snapshot, kind=op.identifier.kind,
                         value=op.identifier.value, event_id=op.event_id, actor="system")
        self._write_reviews()
        changed = [s for s in self.states.values() if s.dirty]
        changed += [s for s in self.new_profiles if s.dirty]
        return changed

    def _write_last_seen(self) -> None:
        """Move ``last_seen`` of stored identities the batch saw again, in steps of at least
        ``LAST_SEEN_STEP`` (not a write per identifier per event)."""
        rows = [{"id": row_id, "last_seen": newest}
                for ident, (row_id, last_seen) in self.stored_seen.items()
                if (newest := self.seen.get(ident)) is not None
                and newest >= last_seen + LAST_SEEN_STEP]
        update_rows(self.session, _IDENTITIES, rows)

    def _write_reviews(self) -> None:
        if not self.reviews:
            return
        pairs = {(min(r.a.id or 0, r.b.id or 0), max(r.a.id or 0, r.b.id or 0)): r
                 for r in self.reviews if r.a.live() is not r.b.live()}
        if not pairs:
            return
        ids = sorted({i for pair in pairs for i in pair})
        existing = set()
        for a, b in self.session.execute(select(MergeReview.profile_a_id, MergeReview.profile_b_id)
                                         .where(MergeReview.status == "open",
                                                MergeReview.profile_a_id.in_(ids))):
            existing.add((a, b))
        now = utcnow()
        rows = [{"profile_a_id": a, "profile_b_id": b, "identifier_kind": r.identifier.kind,
                 "identifier_value": r.identifier.value, "reason": r.reason,
                 "event_id": r.event_id, "status": "open", "created_at": now}
                for (a, b), r in sorted(pairs.items()) if (a, b) not in existing]
        if rows:
            self.session.execute(insert(_REVIEWS), rows)


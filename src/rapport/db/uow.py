"""Unit of work: one transaction, explicit commit, side effects only after commit."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    """Wraps one session. Nothing is committed unless ``commit()`` is called.

    Callbacks registered with ``after_commit`` run once the transaction is durable
    (for example waking the outbox relay).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        on_commit: list[Callable[[], None]] | None = None,
    ) -> None:
        self._factory = session_factory
        self._global_on_commit = on_commit or []
        self._after_commit: list[Callable[[], None]] = []
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.rollback()
        self.session.close()

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def commit(self) -> None:
        self.session.commit()
        callbacks = [*self._after_commit, *self._global_on_commit]
        self._after_commit = []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        self.session.rollback()
        self._after_commit = []

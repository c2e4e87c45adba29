"""FastAPI dependencies as ``Annotated`` aliases: the container, sessions and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from rapport.bootstrap import Container
from rapport.crm.service import Actor
from rapport.trust.auth import Principal, principal_for_session, principal_for_token

SESSION_COOKIE = "rapport_session"


# Dependencies that do no blocking I/O are ``async def``: each sync one costs a trip through
# the thread pool, which measured ~1 ms per hop per request on a busy 2-core machine.


async def refuse_nul(request: Request) -> None:
    """NUL in the path, query string or a JSON body is refused: PostgreSQL cannot store it.

    Checked once for every API route, so no endpoint can pass one on to the database; a NUL
    inside a JSON body is reported at the field that holds it.
    """
    from rapport.errors import FieldError, ValidationFailed

    if "\x00" in request.url.path or b"%00" in request.scope.get("query_string", b""):
        raise ValidationFailed("NUL (\\u0000) characters are not allowed in URLs")
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return
    body = await request.body()
    if b"\\u0000" not in body and b"\x00" not in body:
        return
    try:
        import orjson

        paths = _nul_paths(orjson.loads(body), "")
    except ValueError:
        return  # not JSON: the endpoint's own parser answers
    if paths:
        raise ValidationFailed(
            "NUL (\\u0000) characters are not allowed in text",
            errors=[FieldError(path or "body", "remove the NUL (\\u0000) character", "nul_character")
                    for path in paths[:20]])


def _nul_paths(value: object, path: str) -> list[str]:
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                found.append(child)
            found.extend(_nul_paths(item, child))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _nul_paths(item, f"{path}[{i}]")]
    return []


async def get_container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_session(container: ContainerDep) -> AsyncIterator[Session]:
    """A session for the request; it connects lazily, inside the (threaded) endpoint.

    Closing only returns the connection to the pool (a rollback round trip), cheap enough
    to do on the event loop rather than pay another thread-pool hop.
    """
    session = container.session_factory()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def resolve_principal(request: Request, container: Container) -> Principal:
    """Bearer token first, then the signed browser-session cookie."""
    from rapport.errors import Unauthenticated

    header = request.headers.get("authorization", "")
    with container.session_factory() as session:
        if header.lower().startswith("bearer "):
            return principal_for_token(session, header[7:].strip())
        raw = request.cookies.get(SESSION_COOKIE)
        if raw:
            from itsdangerous import BadSignature, URLSafeSerializer

            try:
                session_id = URLSafeSerializer(container.settings.secret_key, "session").loads(raw)
            except BadSignature:
                raise Unauthenticated("Please sign in again") from None
            return principal_for_session(
                session, str(session_id), idle_minutes=container.settings.session_idle_minutes)
    raise Unauthenticated("Send 'Authorization: Bearer <token>' (rapport token create)")


def get_principal(request: Request, container: ContainerDep) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    principal = resolve_principal(request, container)
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


def actor_for(principal: Principal, request: Request, source: str) -> Actor:
    """The acting user with their policy, downgraded to the masked view off trusted networks."""
    from rapport.trust.network import is_trusted

    settings = request.app.state.container.settings
    client = request.client.host if request.client else None
    trusted = is_trusted(client, settings.trusted_networks)
    policy = principal.policy if trusted else principal.policy.outside_network()
    return Actor(user_id=principal.user_id, source=source, is_admin=principal.is_admin,
                 policy=policy, team_id=principal.team_id, region_id=principal.region_id,
                 network="trusted" if trusted else "untrusted")


async def get_actor(principal: CurrentUser, request: Request) -> Actor:
    source = "ui" if request.cookies.get(SESSION_COOKIE) and not request.headers.get(
        "authorization"
    ) else "api"
    return actor_for(principal, request, source)


ActorDep = Annotated[Actor, Depends(get_actor)]

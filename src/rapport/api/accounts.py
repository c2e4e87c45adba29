"""Account security: two-factor sign-in, sessions and API tokens (issue 3).

Everything under ``/me`` acts on the caller's own account. There is no password sign-in in
the API: tokens are created by users who are already authenticated (or with the CLI).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rapport.api.deps import SESSION_COOKIE, ActorDep, ContainerDep, CurrentUser, SessionDep
from rapport.api.responses import JSONResponse
from rapport.crm.schemas import MAX_ID
from rapport.errors import Forbidden
from rapport.trust import auth

router = APIRouter(tags=["Accounts"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=20,
                      description="The 6-digit code the authenticator app shows now")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="A label, e.g. 'ERP sync'")
    days: int | None = Field(None, ge=1, le=3650,
                             description="Lifetime in days (default 90, at most "
                             "RAPPORT_TOKEN_DAYS_MAX)")
    roles: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=50,
        description="Narrow the token to some of your roles (empty: all of them)")


def _current_session_id(request: Request, container: ContainerDep) -> str | None:
    """The raw id of the browser session making this call (None for token callers)."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    from itsdangerous import BadSignature, URLSafeSerializer

    try:
        return str(URLSafeSerializer(container.settings.secret_key, "session").loads(cookie))
    except BadSignature:
        return None


def _caller_token_expiry(request: Request, session: SessionDep) -> datetime | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return auth.token_expiry(session, header[7:].strip())


# ---- two-factor --------------------------------------------------------------------------


@router.get("/me/totp", summary="Your two-factor sign-in status")
def totp_status(user: CurrentUser, session: SessionDep) -> Response:
    return JSONResponse(auth.totp_status(session, user.user_id).as_json())


@router.post("/me/totp", status_code=201,
             summary="Start two-factor enrolment: a new secret and its otpauth URI")
def start_totp(user: CurrentUser, container: ContainerDep) -> Response:
    with container.uow() as uow:
        enrolment = auth.start_totp_enrolment(uow.session, container.settings.secret_key,
                                              user.user_id)
        uow.commit()
    return JSONResponse({"secret": enrolment.secret, "otpauth_uri": enrolment.uri,
                         "enabled": False,
                         "next": "POST /api/v1/me/totp/confirm with a code from the app"},
                        status_code=201)


@router.post("/me/totp/confirm", summary="Confirm enrolment with a code; two-factor is on")
def confirm_totp(body: CodeIn, user: CurrentUser, container: ContainerDep) -> Response:
    with container.uow() as uow:
        auth.confirm_totp(uow.session, container.settings.secret_key, user.user_id, body.code)
        status = auth.totp_status(uow.session, user.user_id)
        uow.commit()
    return JSONResponse(status.as_json())


@router.delete("/me/totp", status_code=204,
               summary="Turn two-factor sign-in off (send a current code)")
def disable_totp(body: Annotated[CodeIn, Body()], actor: ActorDep,
                 container: ContainerDep) -> Response:
    assert actor.user_id is not None
    with container.uow() as uow:
        outcome = auth.disable_totp(uow.session, container.settings.secret_key, actor.user_id,
                                    body.code, network=actor.network)
        uow.commit()  # a wrong code counts towards the lockout even though it is refused
    outcome.raise_for_error()  # a lock answers 429 with Retry-After
    return Response(status_code=204)


# ---- sessions ----------------------------------------------------------------------------


@router.get("/me/sessions", summary="Your live browser sessions")
def list_sessions(request: Request, user: CurrentUser, session: SessionDep,
                  container: ContainerDep) -> Response:
    items = auth.list_sessions(session, user.user_id, _current_session_id(request, container))
    return JSONResponse({"items": [s.as_json() for s in items]})


@router.delete("/me/sessions", summary="Sign out everywhere else (every session but this one)")
def revoke_other_sessions(request: Request, user: CurrentUser,
                          container: ContainerDep) -> Response:
    keep = _current_session_id(request, container)
    with container.uow() as uow:
        count = auth.revoke_other_sessions(uow.session, container.settings.secret_key,
                                           user.user_id, keep)
        uow.commit()
    return JSONResponse({"revoked": count})


@router.delete("/me/sessions/{session_id}", status_code=204, summary="End one of your sessions")
def revoke_session(session_id: Id, user: CurrentUser, container: ContainerDep) -> Response:
    with container.uow() as uow:
        auth.revoke_session(uow.session, container.settings.secret_key, user.user_id, session_id)
        uow.commit()
    return Response(status_code=204)


# ---- API tokens --------------------------------------------------------------------------


@router.get("/me/tokens", summary="Your API tokens (not revoked; never the token itself)")
def list_tokens(user: CurrentUser, session: SessionDep) -> Response:
    return JSONResponse({"items": [t.as_json() for t in auth.list_tokens(session, user.user_id)]})


@router.post("/me/tokens", status_code=201,
             summary="Create an API token (shown once), expiring and optionally narrowed to roles")
def create_token(body: TokenIn, request: Request, user: CurrentUser, session: SessionDep,
                 container: ContainerDep) -> Response:
    settings = container.settings
    not_after = _caller_token_expiry(request, session)
    with container.uow() as uow:
        issued = auth.issue_token(
            uow.session, settings.secret_key, user.user_id, name=body.name, days=body.days,
            roles=body.roles, max_days=settings.token_days_max,
            allowed_roles=list(user.policy.roles), actor_user_id=user.user_id,
            not_after=not_after,
        )
        uow.commit()
    return JSONResponse({"token": issued.token, **issued.info.as_json()}, status_code=201)


@router.delete("/me/tokens/{token_id}", status_code=204, summary="Revoke one of your API tokens")
def revoke_token(token_id: Id, user: CurrentUser, container: ContainerDep) -> Response:
    with container.uow() as uow:
        auth.revoke_token(uow.session, container.settings.secret_key, user.user_id, token_id)
        uow.commit()
    return Response(status_code=204)


# ---- administration ----------------------------------------------------------------------


@router.post("/users/{user_id}/unlock",
             summary="Unlock a user (failed sign-ins or an anomaly hold); needs users.manage "
             "or security.manage")
def unlock_user(user_id: Id, actor: ActorDep, container: ContainerDep) -> Response:
    if not (actor.can("users.manage") or actor.can("security.manage")):
        raise Forbidden("Your roles do not allow unlocking users")
    with container.uow() as uow:
        auth.unlock_with_review(uow.session, container.settings, actor.user_id, user_id)
        uow.commit()
    return JSONResponse({"user_id": user_id, "locked": False})

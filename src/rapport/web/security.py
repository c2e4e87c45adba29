"""Browser sessions and CSRF tokens for the web UI.

The session cookie is the one the API accepts too (``rapport.api.deps.SESSION_COOKIE``,
an itsdangerous-signed random session id). The CSRF token is an HMAC of that session id,
so it is per session, needs no storage and is checked on every unsafe request. Before
sign-in a random pre-session cookie plays the same role for the login form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from rapport.api.deps import SESSION_COOKIE
from rapport.bootstrap import Container
from rapport.errors import Forbidden, Unauthenticated
from rapport.trust.auth import Principal, principal_for_session

LOGIN_COOKIE = "rapport_login"
LANG_COOKIE = "rapport_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _serializer(container: Container) -> URLSafeSerializer:
    return URLSafeSerializer(container.settings.secret_key, "session")


def session_cookie_value(container: Container, raw_session_id: str) -> str:
    return _serializer(container).dumps(raw_session_id)


def raw_session_id(request: Request, container: Container) -> str | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return str(_serializer(container).loads(cookie))
    except BadSignature:
        return None


def _hmac(container: Container, purpose: str, value: str) -> str:
    key = container.settings.secret_key.encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request, container: Container) -> str:
    """The token forms must echo: bound to the session, or to the pre-session cookie."""
    session_id = raw_session_id(request, container)
    if session_id:
        return _hmac(container, "csrf", session_id)
    login_nonce = request.cookies.get(LOGIN_COOKIE) or getattr(request.state, "login_nonce", None)
    if not login_nonce:
        login_nonce = secrets.token_urlsafe(24)
        request.state.login_nonce = login_nonce
    return _hmac(container, "login", login_nonce)


def ensure_login_cookie(request: Request, response: Response) -> None:
    """Persist the pre-session nonce a login form's token was derived from."""
    nonce = getattr(request.state, "login_nonce", None)
    if nonce and not request.cookies.get(LOGIN_COOKIE):
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")


def check_csrf(request: Request, container: Container, submitted: str | None) -> None:
    """Refuse an unsafe request whose token does not match this browser's session."""
    if request.method in SAFE_METHODS:
        return
    token = submitted or request.headers.get(CSRF_HEADER) or ""
    session_id = raw_session_id(request, container)
    if session_id:
        expected = _hmac(container, "csrf", session_id)
    elif request.cookies.get(LOGIN_COOKIE):
        expected = _hmac(container, "login", request.cookies[LOGIN_COOKIE])
    else:
        expected = ""
    if not expected or not hmac.compare_digest(token, expected):
        raise Forbidden("The form expired or came from another site; reload the page and try again")


def current_principal(request: Request, container: Container) -> Principal:
    """The signed-in user of the browser session, or ``Unauthenticated`` (→ login page)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    session_id = raw_session_id(request, container)
    if not session_id:
        raise Unauthenticated("Please sign in")
    with container.session_factory() as session:
        principal = principal_for_session(
            session, session_id, idle_minutes=container.settings.session_idle_minutes)
    request.state.principal = principal
    return principal


def set_session_cookie(request: Request, response: Response, container: Container,
                       raw_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie_value(container, raw_id),
        max_age=container.settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_COOKIE)

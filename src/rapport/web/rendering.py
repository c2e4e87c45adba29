"""Template rendering: one Jinja2 environment per locale, with the i18n extension installed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from rapport import __version__
from rapport.bootstrap import Container
from rapport.crm.registry import OBJECTS, WORK_OBJECTS
from rapport.trust.actor import NOBODY
from rapport.trust.auth import Principal
from rapport.web.display import Display
from rapport.web.formatting import Formatter
from rapport.web.i18n import (
    LOCALE_NAMES,
    LOCALES,
    N_,
    from_accept_language,
    load_translations,
    normalise_locale,
)
from rapport.web.security import LANG_COOKIE, csrf_token, ensure_login_cookie

TEMPLATES = Path(__file__).parent / "templates"
FLASH: dict[str, str] = {
    "created": N_("Created."),
    "saved": N_("Saved."),
    "deleted": N_("Deleted."),
    "converted": N_("Lead converted."),
    "view_saved": N_("View saved."),
    "view_deleted": N_("View deleted."),
    "task_done": N_("Task marked done."),
    "field_added": N_("Custom field added."),
    "field_removed": N_("Custom field removed."),
    "role_saved": N_("Role saved as a new version."),
    "roles_granted": N_("Roles updated."),
}


def query_string(params: dict[str, Any]) -> str:
    """``?a=1&b=2`` from a mapping whose values may be lists; empty values are dropped."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, str(v)) for v in values if v not in (None, ""))
    return "?" + urlencode(pairs) if pairs else ""


@dataclass
class WebUI:
    """Everything pages need to render: environments, translations, the container."""

    container: Container
    envs: dict[str, Environment]
    translations: dict[str, Translations]

    @classmethod
    def create(cls, container: Container) -> WebUI:
        envs: dict[str, Environment] = {}
        translations: dict[str, Translations] = {}
        for locale in LOCALES:
            tr = load_translations(locale)
            env = Environment(
                loader=FileSystemLoader(TEMPLATES),
                autoescape=select_autoescape(["html"]),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.policies["ext.i18n.trimmed"] = True
            env.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
            env.globals.update(
                OBJECTS=OBJECTS, WORK_OBJECTS=WORK_OBJECTS, LOCALES=LOCALES,
                LOCALE_NAMES=LOCALE_NAMES, qs=query_string, version=__version__,
            )
            env.filters["t"] = tr.gettext  # dynamic text: translate, never %-format
            envs[locale] = env
            translations[locale] = tr
        return cls(container, envs, translations)

    # ---- per request ---------------------------------------------------------------------

    def locale_for(self, request: Request, user: Principal | None) -> str:
        if user is not None:
            return normalise_locale(user.locale)
        chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        if chosen:
            return normalise_locale(chosen)
        return from_accept_language(request.headers.get("accept-language")) or normalise_locale(
            self.container.settings.default_locale
        )

    def formatter(self, locale: str, user: Principal | None) -> Formatter:
        settings = self.container.settings
        return Formatter(
            locale=locale,
            timezone=user.timezone if user else "UTC",
            default_currency=settings.default_currency,
            phone_region=settings.default_phone_region,
        )

    def gettext(self, locale: str) -> Any:
        return self.translations[locale].gettext

    def display(self, request: Request, user: Principal | None) -> Display:
        locale = self.locale_for(request, user)
        if user is None:
            return Display(self.formatter(locale, user), self.gettext(locale), actor=NOBODY)
        from rapport.api.deps import actor_for

        return Display(self.formatter(locale, user), self.gettext(locale),
                       actor=actor_for(user, request, "ui"))

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        user: Principal | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        user = user or getattr(request.state, "principal", None)
        locale = self.locale_for(request, user)
        env = self.envs[locale]
        fmt = self.formatter(locale, user)
        ctx: dict[str, Any] = {
            "request": request,
            "user": user,
            "locale": locale,
            "html_lang": "zh-CN" if locale == "zh_CN" else "en",
            "fmt": fmt,
            "csrf_token": csrf_token(request, self.container),
            "path": request.url.path,
            "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "flash": FLASH.get(request.query_params.get("flash") or ""),
        }
        if "display" not in (context or {}):
            ctx["display"] = Display(fmt, self.translations[locale].gettext)
        ctx.update(context or {})
        html = env.get_template(template).render(ctx)
        response = HTMLResponse(html, status_code=status, headers=headers)
        ensure_login_cookie(request, response)
        return response


def web_ui(request: Request) -> WebUI:
    return request.app.state.web  # type: ignore[no-any-return]

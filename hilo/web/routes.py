"""``/web/*``: the pages, the sign-in and sign-out, and the reads the pages need beyond the APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from hilo.api.deps import PrincipalDep, current_principal, require_admin
from hilo.channels.health import status as status_document
from hilo.identity import Principal, sessions
from hilo.identity.models import User
from hilo.identity.users import user_for_identity
from hilo.kit.errors import HiloError
from hilo.kit.ids import now
from hilo.threads import active
from hilo.threads.models import Message, Thread
from hilo.web.status import render_status

HERE = Path(__file__).parent
STATIC = HERE / "static"
PAGES = HERE / "pages"
LOCAL_USER = "local"  # who an admin without a user of its own (HILO_AUTH=off, HILO_ADMIN_TOKEN) chats as

# The pages load only their own files: no inline script, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/web", tags=["web pages"], include_in_schema=False)
# The pages' own endpoints (README, "The web: chat and admin console"), not part of the public API spec.
api = APIRouter(prefix="/web/api", tags=["web pages"], include_in_schema=False)

MESSAGES = {
    "bad_credential": ("La clave o el token no es válido, ha caducado o fue revocado. Revísalo e inténtalo de nuevo.",
                       "The key or token is not valid, has expired or was revoked. Check it and try again."),
    "missing": ("Escribe tu clave de API (hilo_sk_...) o tu token.", "Type your API key (hilo_sk_...) or your token."),
    "origin": ("Solicitud rechazada: no viene de esta página.", "Request refused: it does not come from this page."),
    "auth_off": ("La autenticación está desactivada (HILO_AUTH=off): no hace falta iniciar sesión.",
                 "Authentication is off (HILO_AUTH=off): no sign-in needed."),
}


def _error(status: int, code: str, detail: str | None = None) -> JSONResponse:
    es, en = MESSAGES[code]
    return JSONResponse({"error": {"message": es, "message_en": en, "code": code, "detail": detail}},
                        status_code=status, headers={"Cache-Control": "no-store"})


def _page(name: str) -> FileResponse:
    return FileResponse(PAGES / name, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


def _same_origin(request: Request) -> bool:
    """Sign-in and sign-out come from these pages: a browser's Origin (or Referer) names this host."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").split(",")[0] == "https"


# ---------------------------------------------------------------- pages


@router.get("")
@router.get("/")
async def entry():
    return RedirectResponse("/web/chat", status_code=303)


@router.get("/favicon.svg")
async def favicon():
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/login")
async def login_page():
    return _page("login.html")


@router.get("/chat")
async def chat_page():
    return _page("chat.html")


@router.get("/admin")
async def admin_page():
    return _page("admin.html")


# ---------------------------------------------------------------- session


class SignIn(BaseModel):
    credential: str = Field(max_length=8192)


async def _who(request: Request) -> Principal | None:
    try:
        return await current_principal(request)
    except HiloError:
        return None


@api.get("/me")
async def me(request: Request):
    """Who the pages act as (or that nobody is signed in), and which parts are installed."""
    state = request.app.state
    principal = await _who(request)
    packs = sorted(getattr(p, "name", "") for p in getattr(state, "packs", ()) or ())
    body = {"auth": state.auth.enabled, "signed_in": principal is not None, "packs": packs,
            "transcription": bool(state.settings.transcription_base_url or state.settings.whisper_model)}
    if principal is not None:
        name = None
        if principal.user_id:
            async with state.db.sessionmaker() as session:
                user = await session.get(User, principal.user_id)
                name = user.name if user else None
        entitlements = None if principal.is_admin else sorted(principal.entitlements)  # None: every one
        body.update(user_id=principal.user_id, name=name or (LOCAL_USER if principal.via == "off" else None),
                    scope=principal.scope, via=principal.via, entitlements=entitlements)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@api.post("/session")
async def sign_in(request: Request, body: SignIn):
    state = request.app.state
    if not _same_origin(request):
        return _error(403, "origin")
    if not state.auth.enabled:
        return _error(409, "auth_off")
    if not body.credential.strip():
        return _error(400, "missing")
    try:
        principal, jwt_expiry = await state.auth.sign_in(state.db, body.credential)
    except HiloError as exc:
        if exc.status == 503:  # the JWKS cannot be fetched: say so, it is not the user's fault
            raise
        return _error(401, "bad_credential")
    ttl = int(state.settings.web_session_hours * 3600)
    opened = await sessions.open_session(state.db, principal, ttl, jwt_expiry)
    response = JSONResponse({"signed_in": True, "scope": principal.scope, "user_id": principal.user_id},
                            headers={"Cache-Control": "no-store"})
    secure = _secure(request)
    max_age = max(1, opened.expires_at - now())
    response.set_cookie(sessions.COOKIE, opened.token, max_age=max_age, path="/", httponly=True, secure=secure,
                        samesite="lax")
    # Readable by the pages' script, which echoes it in the X-Hilo-CSRF header.
    response.set_cookie(sessions.CSRF_COOKIE, opened.csrf, max_age=max_age, path="/", httponly=False,
                        secure=secure, samesite="strict")
    return response


@api.post("/logout")
async def sign_out(request: Request):
    state = request.app.state
    token = request.cookies.get(sessions.COOKIE)
    if token and state.auth.enabled:
        if not (_same_origin(request) and sessions.csrf_ok(token, request.headers.get(sessions.CSRF_HEADER))):
            return _error(403, "origin")
        await state.auth.sign_out(state.db, token)
    response = JSONResponse({"signed_in": False}, headers={"Cache-Control": "no-store"})
    response.delete_cookie(sessions.COOKIE, path="/")
    response.delete_cookie(sessions.CSRF_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- the chat's thread


async def _chat_user(request: Request, principal: Principal) -> Principal:
    """The user who chats: the session's own, or the local user for an admin without one."""
    if principal.user_id:
        return principal
    user_id = await user_for_identity(request.app.state.db, "api", LOCAL_USER)
    return Principal(user_id=user_id, scope=principal.scope, entitlements=principal.entitlements, via=principal.via)


class ResetIn(BaseModel):
    assistant_id: str = Field(max_length=64)


async def _checked(request: Request, principal: Principal, assistant_id: str) -> Principal:
    caller = await _chat_user(request, principal)
    await request.app.state.auth.limit(caller)
    await request.app.state.runs.runnable(caller, assistant_id)  # 404 / 403 as on /v1
    return caller


@api.get("/chat/thread")
async def chat_thread(request: Request, principal: PrincipalDep,
                      assistant_id: Annotated[str, Query(max_length=64)]):
    """The signed-in user's current thread with the assistant (created on first use)."""
    caller = await _checked(request, principal, assistant_id)
    thread_id = await active.active_thread(request.app.state.db, caller.user_id, assistant_id)
    return {"thread_id": thread_id, "assistant_id": assistant_id}


@api.post("/chat/reset")
async def chat_reset(request: Request, principal: PrincipalDep, body: ResetIn):
    """A new conversation: the user's active thread with the assistant starts again (the old one stays)."""
    caller = await _checked(request, principal, body.assistant_id)
    thread_id = await active.reset(request.app.state.db, caller.user_id, body.assistant_id)
    return {"thread_id": thread_id, "assistant_id": body.assistant_id}


# ---------------------------------------------------------------- the console's conversations list


@api.get("/admin/conversations", dependencies=[Depends(require_admin)])
async def conversations(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 30,
                        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0):
    """Every thread, the newest first, with its user, assistant, message count and last message."""
    last = func.max(Message.created_at)
    stats = (select(Message.thread_id, func.count().label("n"), last.label("last"))
             .group_by(Message.thread_id).subquery())
    query = (select(Thread.id, Thread.created_at, Thread.user_id, Thread.metadata_, User.name, stats.c.n, stats.c.last)
             .outerjoin(stats, stats.c.thread_id == Thread.id).outerjoin(User, User.id == Thread.user_id)
             .order_by(func.coalesce(stats.c.last, Thread.created_at).desc(), Thread.id.desc())
             .limit(limit + 1).offset(offset))
    async with request.app.state.db.sessionmaker() as session:
        rows = (await session.execute(query)).all()
    data = [{"thread_id": r.id, "created_at": r.created_at, "user_id": r.user_id, "user": r.name,
             "assistant_id": (r.metadata_ or {}).get("hilo_assistant_id"), "messages": r.n or 0,
             "last_message_at": r.last} for r in rows[:limit]]
    return {"data": data, "has_more": len(rows) > limit, "offset": offset}


# ---------------------------------------------------------------- the root: a status page for browsers


async def root(request: Request):
    """``GET /``: the seed-001 status document as JSON, and for a browser the same as a page that
    links to the chat and the console."""
    document = await status_document(request)
    accept = request.headers.get("accept", "")
    if "text/html" in accept.split(",")[0]:
        return HTMLResponse(render_status(document), headers=SECURITY_HEADERS)
    return document


def install(app) -> None:
    """The pages, their API and assets; ``GET /`` answers browsers with the status page (ahead of
    the channels' JSON route, which stays for everything else)."""
    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    app.include_router(router)
    app.include_router(api)
    app.mount("/web/static", StaticFiles(directory=STATIC), name="web-static")


__all__ = ["STATIC", "install"]

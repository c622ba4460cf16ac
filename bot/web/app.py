"""The staff web inbox (Starlette): one-click links from the digest, sign-in, and the pages.

Every page is plain HTML from Jinja2 templates (no scripts, no front-end build). Nothing changes
on a GET: a link from the digest opens a confirmation page, and only its form's POST acts (mail
scanners open every link in a message). Every POST carries a CSRF token (HMAC of a random
per-browser cookie), every page but sign-in and the link pages needs a session, and the session is
a signed cookie (HttpOnly, SameSite=Lax, Secure behind https).

The app is built by :func:`create_app` from the config, the store and injected seams (the mailer
for sign-in mail, the clock), so tests run it under a real uvicorn on loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.decide.staff import ProposalChanged
from bot.errors import PolicyError, RecoveryBotError
from bot.web.links import LinkRefused, check_current, claim, make, unclaim, verify, was_used

if TYPE_CHECKING:
    from bot.config import Config
    from bot.report.mailer import Mailer
    from bot.store import Store

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
SESSION_COOKIE = "rb_session"
CSRF_COOKIE = "rb_browser"
MAX_BODY = 64_000  # bytes of a form POST: reasons and notes are short
SIGNIN_MINUTES = 20
SIGNIN_PER_HOUR = 5
ACTION_TITLES = {"approve": "Approve", "reject": "Reject", "change": "Change the amount and approve"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the link's token never leaves in a Referer header
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def staff_addresses(config: Config) -> set[str]:
    """Who may sign in: [web] staff, else the digest's recipients."""
    listed = config.web.staff or tuple(parseaddr(a)[1] for a in config.digest.to)
    return {a.strip().lower() for a in listed if a.strip()}


class WebApp:
    """The inbox's handlers around one config, store, key, mailer factory and clock."""

    def __init__(self, config: Config, store: Store, key: bytes, *, mailer: Callable[[], Mailer] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        from bot.store import utcnow

        self.config = config
        self.store = store
        self.key = key
        self.clock = clock or utcnow
        self._mailer = mailer
        self._signins: dict[str, list[datetime]] = {}  # address -> when sign-in mails went to it
        self._signin_lock = threading.Lock()

    # --- plumbing -------------------------------------------------------------------------------

    def csrf_for(self, browser: str) -> str:
        return hmac.new(self.key, b"csrf:" + browser.encode("utf-8"), hashlib.sha256).hexdigest()[:40]

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        browser = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(18)
        user = self.user(request)
        html = _env().get_template(name).render(
            shop=self.config.bot.shop_name, user=user, csrf=self.csrf_for(browser), **context)
        response = HTMLResponse(html, status_code=status, headers=HEADERS)
        if request.cookies.get(CSRF_COOKIE) != browser:
            self._cookie(response, CSRF_COOKIE, browser, max_age=None)
        return response

    def _cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                            secure=self.config.web.secure, path="/")

    def refused(self, request: Request, exc: LinkRefused) -> HTMLResponse:
        status = {"forged": 400, "wrong": 404, "expired": 410, "used": 409, "stale": 409}.get(exc.reason, 400)
        return self.page(request, "message.html", status, title="This link cannot be used",
                         lines=[exc.message], hint=exc.hint or "", reason=exc.reason)

    def user(self, request: Request) -> str | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            link = verify(self.key, token, self.clock(), actions=("session",))
        except LinkRefused:
            return None
        return link.recipient if link.recipient in staff_addresses(self.config) else None

    async def form(self, request: Request) -> FormData | None:
        """The POST's form when its CSRF token matches the browser cookie; None otherwise."""
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            return None
        form = await request.form(max_files=0, max_fields=600, max_part_size=MAX_BODY)
        browser = request.cookies.get(CSRF_COOKIE, "")
        given = str(form.get("csrf") or "")
        if not browser or not hmac.compare_digest(given, self.csrf_for(browser)):
            return None
        return form

    def bad_form(self, request: Request) -> HTMLResponse:
        return self.page(request, "message.html", 403, title="This form is out of date",
                         lines=["The page was open too long, or it came from somewhere else, so nothing was done."],
                         hint="Go back, reload the page and try again.", reason="csrf")

    def need_user(self, request: Request) -> str | Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303, headers=HEADERS)
        return user

    # --- one-click links ------------------------------------------------------------------------

    def _link_case(self, token: str) -> tuple[Any, dict[str, Any]]:
        from bot.decide.staff import case_detail
        from bot.store import Case

        link = verify(self.key, token, self.clock(), actions=("approve", "reject", "change"))
        if was_used(self.store, link):
            raise LinkRefused("used", "This link was used already; each link works once.",
                              "Sign in to the inbox to see what was done.")
        with self.store.session() as session:
            check_current(session.get(Case, link.case_id), link)
        assert link.case_id is not None
        return link, case_detail(self.store, link.case_id)

    async def link_get(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            link, detail = await run_in_threadpool(self._link_case, token)
        except LinkRefused as exc:
            return self.refused(request, exc)
        return self.page(request, "confirm.html", **self._confirm_context(link, detail, token))

    def _confirm_context(self, link: Any, detail: dict[str, Any], token: str) -> dict[str, Any]:
        from bot.report.casefile import proposal_text, total_text, who

        remedies = [r for r in detail["remedies"] if r["status"] == "proposed"]
        caps = {r["id"]: str(self.config.policy.cap(r["kind"])) for r in remedies}
        return {"title": f"{ACTION_TITLES[link.action]}: case {detail['id']}", "action": link.action, "token": token,
                "detail": detail, "who": who(detail), "what": proposal_text(detail, params=False), "cost": total_text(detail),
                "recipient": link.recipient, "remedies": remedies, "caps": caps,
                "expires": f"{link.expires:%d %b %Y %H:%M} UTC"}

    async def link_post(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        form = await self.form(request)
        if form is None:
            return self.bad_form(request)
        try:
            lines = await run_in_threadpool(self._link_act, token, form)
        except LinkRefused as exc:
            return self.refused(request, exc)
        except PolicyError as exc:
            return self.page(request, "message.html", 409, title="Nothing was done", lines=[exc.message],
                             hint=exc.hint or "", reason="refused")
        return self.page(request, "message.html", title="Done", lines=lines, hint="", reason="done")

    def _link_act(self, token: str, form: FormData) -> list[str]:
        link, _detail = self._link_case(token)
        actor = link.recipient[:50]
        assert link.case_id is not None
        # Checked before the link is spent, so a missing reason or a bad amount can be corrected.
        reason = str(form.get("reason") or "").strip()[:2000]
        if link.action == "reject" and not reason:
            raise PolicyError("a rejection needs a reason", hint="go back and say in a few words why")
        change = self._amount(form) if link.action == "change" else None
        claim(self.store, link, self.clock())
        try:
            return self._act(link.action, link.case_id, actor, form, reason, change, proposal=link.fingerprint)
        except ProposalChanged as exc:
            unclaim(self.store, link)
            raise LinkRefused("stale", f"Case {link.case_id} changed after this link was made (someone decided it "
                              "or changed the remedy).", "Nothing was done. Sign in to the inbox to see the case "
                              "as it is now.") from exc
        except PolicyError:
            unclaim(self.store, link)  # nothing happened: the link still works
            raise

    def _amount(self, form: FormData) -> tuple[int, Decimal]:
        try:
            remedy_id = int(str(form.get("remedy") or ""))
            amount = Decimal(str(form.get("amount") or "").strip().replace(",", "."))
        except (ValueError, InvalidOperation) as exc:
            raise PolicyError("the new amount is not a number", hint="write it like 12.50") from exc
        if not amount.is_finite():
            raise PolicyError("the new amount is not a number", hint="write it like 12.50")
        return remedy_id, amount

    def _act(self, action: str, case_id: int, actor: str, form: FormData, reason: str,
             change: tuple[int, Decimal] | None, proposal: str | None = None) -> list[str]:
        """Do `action`; with `proposal` (a link's fingerprint) only on the proposal the link was made for."""
        from bot.decide.staff import approve, change_amount, reject

        note = str(form.get("note") or "").strip()[:2000] or None
        now = self.clock()
        if action == "reject":
            reject(self.store, case_id, actor=actor, reason=reason, now=now, proposal=proposal)
            return [f"Case {case_id} is rejected: no remedy goes to the buyer.", f"Your reason is kept: {reason}"]
        lines = []
        if change is not None:
            change_amount(self.store, case_id, change[0], change[1], actor=actor, config=self.config, now=now,
                          proposal=proposal)
            lines.append(f"The amount is now {change[1]:.2f} {self.config.bot.currency}.")
            proposal = None  # the change made a new proposal: the one approved now
        done = approve(self.store, case_id, actor=actor, note=note, now=now, config=self.config, proposal=proposal)
        if self.config.bot.dry_run:
            lines.append(f"Case {case_id} is approved. This is a trial run: it is sent when the trial ends.")
        else:
            lines.append(f"Case {case_id} is approved: its remedy is queued and goes out with the next delivery run.")
        lines += [str(line) for line in done.get("over_daily_budget", [])]
        return lines

    # --- sign-in --------------------------------------------------------------------------------

    async def login_get(self, request: Request) -> Response:
        return self.page(request, "login.html", title="Sign in", sent=False,
                         can_mail=bool(self.config.digest.smtp_host))

    async def login_post(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.bad_form(request)
        address = parseaddr(str(form.get("email") or "")[:320])[1].strip().lower()
        if address in staff_addresses(self.config) and self._may_mail(address):
            try:
                await run_in_threadpool(self._send_signin, address)
            except RecoveryBotError as exc:
                log.warning("sign-in mail to %s failed: %s", address, exc)
                return self.page(request, "message.html", 502, title="The sign-in mail could not be sent",
                                 lines=["The bot could not reach its mail server."],
                                 hint="Try again in a few minutes, or tell whoever runs the bot.", reason="mail")
        else:
            log.info("sign-in asked for an address not on the staff list")
        # The same answer either way: the page never tells who is on the staff list.
        return self.page(request, "login.html", title="Check your email", sent=True, can_mail=True)

    def _may_mail(self, address: str) -> bool:
        """At most SIGNIN_PER_HOUR sign-in mails to one address an hour, so the form cannot flood a
        colleague's mailbox (the page answers the same either way)."""
        now = self.clock()
        with self._signin_lock:
            recent = [t for t in self._signins.get(address, []) if now - t < timedelta(hours=1)]
            if len(recent) >= SIGNIN_PER_HOUR:
                log.warning("sign-in mail not sent: %d already this hour to that address", len(recent))
                return False
            self._signins[address] = [*recent, now]
            return True

    def _send_signin(self, address: str) -> None:
        from bot.report.mailer import Mailer

        now = self.clock()
        token = make(self.key, "signin", address, now + timedelta(minutes=SIGNIN_MINUTES))
        url = f"{self.config.web.public_url}/signin/{token}"
        msg = EmailMessage()
        sender = self.config.digest.from_address
        msg["From"] = sender
        msg["To"] = address
        msg["Subject"] = f"Sign in to the {self.config.bot.shop_name} inbox"
        msg["Date"] = formatdate(now.timestamp(), usegmt=True)
        msg["Message-ID"] = make_msgid("signin", domain=parseaddr(sender)[1].rpartition("@")[2] or "recoverybot.invalid")
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(f"Open this link to sign in to the inbox (it works once, for {SIGNIN_MINUTES} minutes):\n\n"
                        f"{url}\n\nIf you did not ask to sign in, ignore this message.\n")
        mailer = self._mailer() if self._mailer else Mailer.from_digest_config(self.config.digest)
        mailer.send(msg)

    async def signin_get(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            link = verify(self.key, token, self.clock(), actions=("signin",))
        except LinkRefused as exc:
            return self.refused(request, exc)
        return self.page(request, "signin.html", title="Sign in", token=token, address=link.recipient)

    async def signin_post(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        form = await self.form(request)
        if form is None:
            return self.bad_form(request)
        now = self.clock()
        try:
            link = verify(self.key, token, now, actions=("signin",))
            if link.recipient not in staff_addresses(self.config):
                raise LinkRefused("wrong", "This address is not on the staff list any more.",
                                  "Ask whoever runs the bot to add it to [web] staff.")
            await run_in_threadpool(claim, self.store, link, now)
        except LinkRefused as exc:
            return self.refused(request, exc)
        hours = self.config.web.session_hours
        session = make(self.key, "session", link.recipient, now + timedelta(hours=hours))
        response = RedirectResponse("/", status_code=303, headers=HEADERS)
        self._cookie(response, SESSION_COOKIE, session, max_age=hours * 3600)
        return response

    async def logout(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.bad_form(request)
        response = RedirectResponse("/login", status_code=303, headers=HEADERS)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- inbox pages ----------------------------------------------------------------------------

    def _gather(self) -> dict[str, Any]:
        from bot.report.gather import gather
        from bot.report.view import Period

        now = self.clock()
        period = Period.of(now.astimezone(self.config.zone).date(), self.config.zone, now)
        # The inbox shows every waiting case (up to max_items) as a full card; the email keeps its few.
        digest = self.config.digest
        config = self.config.model_copy(update={"digest": digest.model_copy(update={"cards": digest.max_items})})
        with self.store.session() as session:
            return gather(session, config, period, now)

    def _recent(self, limit: int = 20) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from bot.report.casefile import STATUS_WORDS
        from bot.report.view import words
        from bot.store import AuditLog, Case, CaseStatus

        done = [CaseStatus.QUEUED.value, CaseStatus.DISPATCHED.value, CaseStatus.DISMISSED.value,
                CaseStatus.FAILED.value, CaseStatus.DECIDED.value]
        out = []
        with self.store.session() as session:
            rows = session.scalars(select(Case).where(Case.status.in_(done))
                                   .order_by(Case.updated_at.desc(), Case.id.desc()).limit(limit)).all()
            for row in rows:
                last = session.scalars(select(AuditLog).where(
                    AuditLog.case_id == row.id, AuditLog.action.in_(["approved", "rejected", "approval_expired"]))
                    .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(1)).first()
                out.append({"id": row.id, "issue": words(row.issue), "status": STATUS_WORDS.get(row.status, row.status),
                            "by": f"{words(last.action)} by {last.actor}" if last else "by the policy"})
        return out

    async def inbox(self, request: Request) -> Response:
        user = self.need_user(request)
        if isinstance(user, Response):
            return user
        data = await run_in_threadpool(self._gather)
        recent = await run_in_threadpool(self._recent)
        return self.page(request, "inbox.html", title="Waiting for you", needs=data["needs"], counts=data["counts"],
                         recent=recent)

    async def watch(self, request: Request) -> Response:
        user = self.need_user(request)
        if isinstance(user, Response):
            return user
        data = await run_in_threadpool(self._gather)
        return self.page(request, "watch.html", title="Watch list", watch=data["watch"], counts=data["counts"])

    async def health(self, request: Request) -> Response:
        user = self.need_user(request)
        if isinstance(user, Response):
            return user
        data = await run_in_threadpool(self._gather)
        return self.page(request, "health.html", title="Source health", problems=data["problems"],
                         total=data["sources_total"], orders_problem=data["orders_problem"],
                         sources=data["counts"].sources)

    def _case(self, case_id: int) -> dict[str, Any] | None:
        from bot.decide.staff import CaseNotFound, case_detail
        from bot.report.casefile import render_case

        try:
            detail = case_detail(self.store, case_id)
        except CaseNotFound:
            return None
        remedies = [r for r in detail["remedies"] if r["status"] == "proposed"]
        text = render_case(detail, self.config.zone)
        text = "\n".join(line for line in text.split("\n") if not line.startswith("What to do: recoverybot")).rstrip()
        return {"detail": detail, "text": text, "remedies": remedies,
                "caps": {r["id"]: str(self.config.policy.cap(r["kind"])) for r in remedies},
                "waiting": detail["status"] == "awaiting_approval"}

    async def case_get(self, request: Request) -> Response:
        user = self.need_user(request)
        if isinstance(user, Response):
            return user
        case_id = _int(request.path_params["case_id"])
        found = await run_in_threadpool(self._case, case_id) if case_id is not None else None
        if found is None:
            return self.page(request, "message.html", 404, title="No such case", lines=[f"There is no case {case_id}."],
                             hint="Go back to the inbox.", reason="missing")
        return self.page(request, "case.html", title=f"Case {case_id}", **found)

    async def case_post(self, request: Request) -> Response:
        user = self.need_user(request)
        if isinstance(user, Response):
            return user
        form = await self.form(request)
        if form is None:
            return self.bad_form(request)
        case_id = _int(request.path_params["case_id"])
        action = str(request.path_params["action"])
        if case_id is None or action not in ("approve", "reject", "change"):
            return self.page(request, "message.html", 404, title="No such page", lines=["Nothing was done."],
                             hint="Go back to the inbox.", reason="missing")
        try:
            lines = await run_in_threadpool(self._case_act, action, case_id, user, form)
        except PolicyError as exc:
            return self.page(request, "message.html", 409, title="Nothing was done", lines=[exc.message],
                             hint=exc.hint or "", reason="refused")
        return self.page(request, "message.html", title="Done", lines=lines, hint="", reason="done")

    def _case_act(self, action: str, case_id: int, user: str, form: FormData) -> list[str]:
        from bot.decide.staff import change_amount

        reason = str(form.get("reason") or "").strip()[:2000]
        if action == "reject" and not reason:
            raise PolicyError("a rejection needs a reason", hint="go back and say in a few words why")
        if action == "change":
            remedy_id, amount = self._amount(form)
            change_amount(self.store, case_id, remedy_id, amount, actor=user[:50], config=self.config, now=self.clock())
            return [f"Case {case_id}: the amount is now {amount:.2f} {self.config.bot.currency}. It still waits for "
                    "your approval."]
        return self._act(action, case_id, user[:50], form, reason, None)

    async def bulk(self, request: Request) -> Response:
        user = self.need_user(request)
        if isinstance(user, Response):
            return user
        form = await self.form(request)
        if form is None:
            return self.bad_form(request)
        ids = sorted({i for i in (_int(v) for v in form.getlist("case")[:500]) if i is not None})
        if not ids:
            return self.page(request, "message.html", 400, title="Nothing was done", lines=["No case was ticked."],
                             hint="Tick the cases to approve, then press Approve ticked cases.", reason="empty")
        lines = await run_in_threadpool(self._bulk, ids, user)
        return self.page(request, "message.html", title="Bulk approval", lines=lines, hint="", reason="done")

    def _bulk(self, ids: list[int], user: str) -> list[str]:
        from bot.decide.staff import approve

        out = []
        for case_id in ids:
            try:
                approve(self.store, case_id, actor=user[:50], now=self.clock(), config=self.config)
                out.append(f"Case {case_id}: approved, its remedy is queued.")
            except PolicyError as exc:
                out.append(f"Case {case_id}: not approved: {exc.message}")
        return out


def _int(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isdigit() and len(text) < 12 else None


def create_app(config: Config, store: Store, key: bytes, *, mailer: Callable[[], Mailer] | None = None,
               clock: Callable[[], datetime] | None = None) -> Starlette:
    """The inbox as an ASGI app."""
    web = WebApp(config, store, key, mailer=mailer, clock=clock)

    async def home(request: Request) -> Response:
        return await web.inbox(request)

    routes: list[Route] = [
        Route("/", home, methods=["GET"]),
        Route("/login", web.login_get, methods=["GET"]),
        Route("/login", web.login_post, methods=["POST"]),
        Route("/logout", web.logout, methods=["POST"]),
        Route("/signin/{token}", web.signin_get, methods=["GET"]),
        Route("/signin/{token}", web.signin_post, methods=["POST"]),
        Route("/link/{token}", web.link_get, methods=["GET"]),
        Route("/link/{token}", web.link_post, methods=["POST"]),
        Route("/case/{case_id}", web.case_get, methods=["GET"]),
        Route("/case/{case_id}/{action}", web.case_post, methods=["POST"]),
        Route("/bulk", web.bulk, methods=["POST"]),
        Route("/watch", web.watch, methods=["GET"]),
        Route("/health", web.health, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.web = web
    return app

__all__ = ["WebApp", "create_app", "staff_addresses"]

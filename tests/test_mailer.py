"""The Mailer against a real aiosmtpd server on loopback: plain, STARTTLS, implicit TLS, login, failures.

``SmtpSink`` is also used by tests/test_digest.py.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.report.mailer import Mailer, MailError

USER = "bot@shop.test"
PASSWORD = "s3cret-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpSink:
    """An aiosmtpd handler that keeps every message; may refuse recipients or fail on DATA."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    data_reply: str | None = None
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append(data.login.decode())
            if data.login.decode() == USER and data.password.decode() == PASSWORD:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class SmtpServer:
    """A running aiosmtpd server on 127.0.0.1; ``sink`` holds what it received."""

    def __init__(self, *, starttls: ssl.SSLContext | None = None, implicit: ssl.SSLContext | None = None,
                 auth: bool = False) -> None:
        self.sink = SmtpSink()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        if auth:
            kwargs.update(authenticator=self.sink.authenticate, auth_require_tls=starttls is not None)
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, ssl_context=implicit,
                                     server_hostname="localhost", **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        return self.sink.messages


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture()
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture()
def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


@pytest.fixture()
def plain_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def message(to: list[str], subject: str = "hello") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = USER
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content("body text")
    return msg


def test_plain_send_reaches_every_recipient_and_adds_date_and_message_id(plain_server: SmtpServer) -> None:
    mailer = Mailer("127.0.0.1", plain_server.port, security="none", timeout=5)
    mailer.send(message(["a@shop.test", "b@shop.test"]))
    [got] = plain_server.messages
    assert got.rcpt_tos == ["a@shop.test", "b@shop.test"]
    assert got.message["Subject"] == "hello"
    assert got.message["Date"]
    assert got.message["Message-ID"].endswith("@shop.test>")


def test_starttls_with_login(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    with SmtpServer(starttls=server_tls, auth=True) as server:
        mailer = Mailer("127.0.0.1", server.port, user=USER, password=PASSWORD, security="starttls",
                        ssl_context=client_tls, timeout=5)
        mailer.send(message(["staff@shop.test"]))
        assert [m.rcpt_tos for m in server.messages] == [["staff@shop.test"]]
        assert server.sink.logins == [USER]


def test_implicit_tls_with_login(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    with SmtpServer(implicit=server_tls, auth=True) as server:
        mailer = Mailer("127.0.0.1", server.port, user=USER, password=PASSWORD, security="tls",
                        ssl_context=client_tls, timeout=5)
        mailer.send(message(["staff@shop.test"]))
        assert len(server.messages) == 1


def test_wrong_password_is_a_clear_permanent_error(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    with SmtpServer(starttls=server_tls, auth=True) as server:
        mailer = Mailer("127.0.0.1", server.port, user=USER, password="wrong", ssl_context=client_tls, timeout=5)
        with pytest.raises(MailError) as caught:
            mailer.send(message(["staff@shop.test"]))
        assert caught.value.retryable is False
        assert "login" in str(caught.value) and "wrong" not in str(caught.value)
        assert "password" in caught.value.hint
        assert server.messages == []


def test_untrusted_certificate_is_refused(server_tls: ssl.SSLContext) -> None:
    with SmtpServer(starttls=server_tls) as server:
        mailer = Mailer("127.0.0.1", server.port, security="starttls", timeout=5)
        with pytest.raises(MailError, match="TLS failed"):
            mailer.send(message(["staff@shop.test"]))
        assert server.messages == []


def test_starttls_asked_of_a_server_without_it(plain_server: SmtpServer) -> None:
    mailer = Mailer("127.0.0.1", plain_server.port, security="starttls", timeout=5)
    with pytest.raises(MailError, match="does not offer STARTTLS") as caught:
        mailer.send(message(["staff@shop.test"]))
    assert caught.value.retryable is False


def test_refused_connection_is_retryable() -> None:
    mailer = Mailer("127.0.0.1", free_port(), security="none", timeout=5)
    with pytest.raises(MailError, match="cannot connect") as caught:
        mailer.send(message(["staff@shop.test"]))
    assert caught.value.retryable is True
    assert "smtp_host" in caught.value.hint


def test_all_recipients_refused_and_partial_refusal(plain_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    plain_server.sink.refuse = {"gone@shop.test"}
    mailer = Mailer("127.0.0.1", plain_server.port, security="none", timeout=5)
    with pytest.raises(MailError, match=r"gone@shop\.test") as caught:
        mailer.send(message(["gone@shop.test"]))
    assert caught.value.retryable is False
    # One bad address among good ones: the good ones got it, so no error (a retry would duplicate).
    mailer.send(message(["gone@shop.test", "ok@shop.test"]))
    assert [m.rcpt_tos for m in plain_server.messages] == [["ok@shop.test"]]
    assert "gone@shop.test" in caplog.text


def test_temporary_and_permanent_server_replies(plain_server: SmtpServer) -> None:
    mailer = Mailer("127.0.0.1", plain_server.port, security="none", timeout=5)
    plain_server.sink.data_reply = "451 try again later"
    with pytest.raises(MailError, match="451") as caught:
        mailer.send(message(["staff@shop.test"]))
    assert caught.value.retryable is True and caught.value.code == 451
    plain_server.sink.data_reply = "554 rejected as spam"
    with pytest.raises(MailError, match="554") as caught:
        mailer.send(message(["staff@shop.test"]))
    assert caught.value.retryable is False


def test_bad_settings_are_refused_up_front() -> None:
    with pytest.raises(MailError, match="no recipients"):
        Mailer("127.0.0.1", 25, security="none").send(EmailMessage())
    with pytest.raises(Exception, match="smtp_security"):
        Mailer("127.0.0.1", 25, security="ssl")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="smtp_password_env"):
        Mailer("127.0.0.1", 25, user=USER)
    assert PASSWORD not in repr(Mailer("h", 25, user=USER, password=PASSWORD))


def test_login_on_a_server_without_auth_is_explained(plain_server: SmtpServer) -> None:
    mailer = Mailer("127.0.0.1", plain_server.port, user=USER, password=PASSWORD, security="none", timeout=5)
    with pytest.raises(MailError, match="no login") as caught:
        mailer.send(message(["staff@shop.test"]))
    assert "smtp_security" in caught.value.hint

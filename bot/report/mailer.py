"""SMTP delivery: one small class that sends an ``EmailMessage`` and explains every failure.

The digest and the email fulfilment adapter both send through a :class:`Mailer`. It speaks
STARTTLS (port 587), implicit TLS (port 465) or plain SMTP (a local relay), logs in when a user
is configured, and maps every ``smtplib``/``ssl``/socket error to :class:`MailError` with the
server named, whether trying again may help (``retryable``), and a hint for the operator.
The password is never logged nor put in an error message.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Literal

from bot.errors import DigestError

if TYPE_CHECKING:
    from bot.report.settings import DigestConfig

log = logging.getLogger(__name__)

Security = Literal["starttls", "tls", "none"]
SECURITIES: tuple[str, ...] = ("starttls", "tls", "none")


class MailError(DigestError):
    """An email could not be sent; ``retryable`` says whether trying again later may help.

    ``host`` is ``server:port``; ``code`` is the SMTP reply code when the server gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str = "",
        retryable: bool = True,
        code: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"SMTP {host}: {message}" if host else message, hint=hint)
        self.host = host
        self.retryable = retryable
        self.code = code


class Mailer:
    """Sends messages through one SMTP server (STARTTLS, implicit TLS or plain).

    ``ssl_context`` is injectable so tests can trust a throw-away certificate; by default the
    system's trusted CAs are used and the host name is checked.
    """

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        user: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in SECURITIES:
            raise DigestError(
                f"unknown SMTP security {security!r}",
                hint="set [digest] smtp_security to one of: " + ", ".join(SECURITIES),
            )
        if user and password is None:
            raise DigestError(f"SMTP user {user!r} has no password", hint="set [digest] smtp_password_env")
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.security: Security = security
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname

    def __repr__(self) -> str:  # never shows the password
        login = f"{self.user}@" if self.user else ""
        return f"Mailer({login}{self.host}:{self.port}, {self.security})"

    @classmethod
    def from_digest_config(cls, config: DigestConfig, *, ssl_context: ssl.SSLContext | None = None) -> Mailer:
        """A mailer for the [digest] section; reads the password variable now (SecretMissing if unset)."""
        from bot.env import secret

        if not config.smtp_host:
            raise DigestError("no SMTP server configured", hint="set [digest] smtp_host (and smtp_port)")
        password = secret(config.smtp_password_env, "digest.smtp_password_env") if config.smtp_user else None
        return cls(
            config.smtp_host,
            config.smtp_port,
            user=config.smtp_user,
            password=password,
            security=config.smtp_security,
            timeout=config.smtp_timeout,
            ssl_context=ssl_context,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To/Cc/Bcc recipients; raises MailError on any failure.

        A missing ``Date`` or ``Message-ID`` header is added (servers and spam filters want both).
        When the server refuses only some recipients, the others got the mail: this logs a
        warning rather than raising, because sending again would duplicate it for them.
        """
        if not (message.get_all("To") or message.get_all("Cc") or message.get_all("Bcc")):
            raise MailError("the message has no recipients", retryable=False, hint="set [digest] to")
        if message["Date"] is None:
            message["Date"] = formatdate(localtime=False, usegmt=True)
        if message["Message-ID"] is None:
            sender = parseaddr(str(message.get("From", "")))[1]
            domain = sender.rpartition("@")[2] or "recoverybot.invalid"
            message["Message-ID"] = make_msgid("recoverybot", domain=domain)
        try:
            refused = self._deliver(message)
        except MailError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"login as {self.user!r} refused ({exc.smtp_code})",
                host=self.where, retryable=False, code=exc.smtp_code,
                hint="check smtp_user and the password in the variable smtp_password_env names",
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            if "AUTH" in str(exc):
                raise MailError(
                    "the server offers no login (AUTH) on this connection", host=self.where, retryable=False,
                    hint="most servers offer login only over TLS: check smtp_security, or drop smtp_user for a relay",
                ) from exc
            raise MailError(
                f"the server does not support what {self.security!r} needs: {exc}",
                host=self.where, retryable=False,
                hint="set smtp_security to 'tls' for port 465, 'starttls' for 587, 'none' for a local relay",
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            who = ", ".join(f"{addr} ({code})" for addr, (code, _msg) in exc.recipients.items())
            raise MailError(f"every recipient was refused: {who}", host=self.where, retryable=False,
                            hint="check the addresses in [digest] to") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise MailError(
                f"sender {exc.sender!r} refused ({exc.smtp_code}): {_text(exc.smtp_error)}",
                host=self.where, retryable=exc.smtp_code < 500, code=exc.smtp_code,
                hint="set [digest] sender to an address the SMTP account may send from",
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"server answered {exc.smtp_code}: {_text(exc.smtp_error)}",
                host=self.where, retryable=exc.smtp_code < 500, code=exc.smtp_code,
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise MailError(f"server closed the connection: {exc}", host=self.where) from exc
        except smtplib.SMTPException as exc:
            raise MailError(f"SMTP failure: {exc}", host=self.where) from exc
        except ssl.SSLError as exc:
            raise MailError(
                f"TLS failed: {exc}", host=self.where, retryable=False,
                hint="check smtp_security ('tls' on 465, 'starttls' on 587) and the server certificate",
            ) from exc
        except TimeoutError as exc:
            raise MailError(f"no answer within {self.timeout:g}s", host=self.where) from exc
        except OSError as exc:
            raise MailError(
                f"cannot connect: {exc.strerror or exc}", host=self.where,
                hint="check smtp_host and smtp_port, and that the server is reachable",
            ) from exc
        if refused:
            log.warning("SMTP %s refused some recipients: %s", self.where,
                        ", ".join(f"{addr} ({code})" for addr, (code, _msg) in refused.items()))

    def _deliver(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        context = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                    timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailError(
                        "the server does not offer STARTTLS", host=self.where, retryable=False,
                        hint="set smtp_security to 'tls' for port 465, or 'none' only for a trusted local relay",
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                assert self._password is not None
                smtp.login(self.user, self._password)
            return smtp.send_message(message)


def _text(error: bytes | str) -> str:
    return error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)

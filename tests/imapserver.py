"""A real IMAP server for the tests: Debian's dovecot in a temporary folder, on 127.0.0.1.

Each :class:`Dovecot` is its own instance: a config file, a passwd-file passdb, a Maildir, a log,
and a free port, all under one temporary folder; it is stopped (and waited for) on exit. Mail is
delivered the way an MTA delivers it: written to the Maildir's ``tmp/`` and renamed into ``new/``,
so the only IMAP sessions are the connector's own (and ``flags``/``recreate``). Seeding with
IMAP APPEND, one login per message, was the fragile part on a loaded machine: each append is a
login, a fork of an ``imap`` process and an index write racing the previous session's close.
``tls=True`` serves IMAPS, ``starttls=True`` plain IMAP that must switch to TLS before logging
in, both with a self-signed certificate made by ``openssl`` (its file is ``cert_path``, for the
connector's ``ca_file``).

When dovecot is not installed (``apt-get install dovecot-imapd``) the tests that need it skip,
saying so.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import time
from itertools import count
from pathlib import Path
from types import TracebackType

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
START_SECONDS = 60.0  # a loaded CI machine (two CPU hogs beside the suite) needs far more than idle


def missing() -> str | None:
    """Why dovecot cannot run here, or None when it can."""
    if DOVECOT is None:
        return "dovecot is not installed (apt-get install -y dovecot-imapd)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    """One dovecot instance with one user (``user`` / ``password``) whose INBOX starts empty."""

    user = "care@shop.example"
    password = "s3cret-app-password"

    def __init__(self, root: Path, *, tls: bool = False, starttls: bool = False,
                 oauth2_introspection: str | None = None) -> None:
        self.root = root
        self.tls = tls
        self.starttls = starttls
        # XOAUTH2 logins: dovecot's oauth2 passdb POSTs the token to this URL (RFC 7662 token
        # introspection) and lets the user in when it answers active with the user's email.
        self.oauth2_introspection = oauth2_introspection
        self.port = _free_port()
        self.cert_path = root / "cert.pem"
        self._proc: subprocess.Popen[bytes] | None = None
        self._mail_ids: tuple[int, int] | None = None  # (uid, gid) to chown delivered mail to, as root
        self._seq = count(1)

    # --- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> Dovecot:
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "state", "home"):
            (self.root / sub).mkdir(exist_ok=True)
        uid, gid = os.getuid(), os.getgid()
        # Running as root, mail is handled as the packaged `dovecot` user (dovecot refuses uid 0);
        # as anyone else, everything runs as that user.
        if uid == 0:
            entry = pwd.getpwnam("dovecot")
            mail_uid, mail_gid = entry.pw_uid, entry.pw_gid
            os.chmod(self.root, 0o755)
            for parent in self.root.parents:  # pytest's tmp folders are 0700: let the mail user in
                if parent == Path(parent.anchor) or str(parent) in ("/tmp", "/var/tmp"):
                    break
                os.chmod(parent, os.stat(parent).st_mode | 0o711)
            os.chown(self.root / "home", mail_uid, mail_gid)
            internal = "default_internal_user = dovecot\ndefault_login_user = dovenull\n"
        else:
            mail_uid, mail_gid = uid, gid
            me = pwd.getpwuid(uid).pw_name
            internal = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        (self.root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n", encoding="utf-8")
        ssl = "ssl = no\n"
        listener = f"service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {self.port}\n  }}\n" \
                   "  inet_listener imaps {\n    port = 0\n  }\n}\n"
        if self.tls or self.starttls:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                 "-keyout", str(self.root / "key.pem"), "-out", str(self.cert_path)],
                check=True, capture_output=True, timeout=60,
            )
            ssl = f"ssl = required\nssl_cert = <{self.cert_path}\nssl_key = <{self.root / 'key.pem'}\n"
        if self.tls:
            listener = f"service imap-login {{\n  inet_listener imap {{\n    port = 0\n  }}\n" \
                       f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {self.port}\n    ssl = yes\n  }}\n}}\n"
        oauth2_introspection = self.oauth2_introspection
        oauth2_passdb = ""
        if oauth2_introspection:
            (self.root / "oauth2.conf.ext").write_text(
                f"introspection_mode = post\nintrospection_url = {oauth2_introspection}\n"
                "username_attribute = email\nactive_attribute = active\nactive_value = true\n", encoding="utf-8")
            oauth2_passdb = f"passdb {{\n  driver = oauth2\n  args = {self.root / 'oauth2.conf.ext'}\n}}\n"
        conf = (
            f"protocols = imap\nlisten = 127.0.0.1\nbase_dir = {self.root / 'run'}\n"
            f"state_dir = {self.root / 'state'}\nlog_path = {self.root / 'dovecot.log'}\n"
            f"instance_name = recoverybot-test-{self.port}\n"
            f"{internal}first_valid_uid = {min(mail_uid, 100)}\nfirst_valid_gid = 0\n"
            "disable_plaintext_auth = no\n"
            f"auth_mechanisms = plain login{' xoauth2' if oauth2_introspection else ''}\n"
            # no penalty after a failed login: a test that tries a wrong password then the right
            # one must not wait on dovecot's back-off (it timed out on a loaded machine)
            "auth_failure_delay = 0\n"
            f"{ssl}"
            f"passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {self.root / 'passwd'}\n}}\n"
            f"{oauth2_passdb}"
            f"userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={self.root / 'home'}/%n\n}}\n"
            "mail_location = maildir:~/Maildir\n"
            "namespace inbox {\n  inbox = yes\n  separator = /\n}\n"
            f"{listener}"
            "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\n"
            "login_trusted_networks = 127.0.0.1/32\n"
        )
        (self.root / "dovecot.conf").write_text(conf, encoding="utf-8")
        self._mail_ids = (mail_uid, mail_gid) if uid == 0 else None
        # The Maildir exists before the first session: no login races another to create the home
        # and INBOX, and mail can be delivered into it at once.
        self._maildir_dirs(self.maildir)
        self._proc = subprocess.Popen([str(DOVECOT), "-F", "-c", str(self.root / "dovecot.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_SECONDS
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode("utf-8", "replace") if self._proc.stderr else ""
                self._proc.stderr.close() if self._proc.stderr else None
                raise RuntimeError(f"dovecot did not start: {err}{self.log()}")
            try:
                self._ready()
                return self
            except (OSError, imaplib.IMAP4.error) as exc:
                last = exc
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"dovecot on 127.0.0.1:{self.port} was not ready within {START_SECONDS:.0f}s "
                           f"({last!r}): {self.log()}")

    def _ready(self) -> None:
        """Ready = one whole round a test needs works: LOGIN (the auth process is up and answers),
        SELECT INBOX (the imap process opened the Maildir and wrote its index), LOGOUT."""
        conn = self.client()
        try:
            typ, data = conn.select("INBOX", readonly=True)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"SELECT INBOX: {data!r}")
        finally:
            try:
                conn.logout()
            except (OSError, imaplib.IMAP4.error):
                pass

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=15)
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(encoding="utf-8", errors="replace")[-3000:] if path.exists() else ""

    # --- the mailbox, through IMAP ------------------------------------------------------------

    def client(self) -> imaplib.IMAP4:
        if self.tls:
            import ssl

            context = ssl.create_default_context(cafile=str(self.cert_path))
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=10)
        else:
            conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
            if self.starttls:
                import ssl

                conn.starttls(ssl.create_default_context(cafile=str(self.cert_path)))
        try:
            conn.login(self.user, self.password)
        except BaseException:
            conn.shutdown()
            raise
        return conn

    @property
    def maildir(self) -> Path:
        """The user's Maildir (``mail_location = maildir:~/Maildir``, home ``home/%n``)."""
        return self.root / "home" / self.user.split("@", 1)[0] / "Maildir"

    def folder_dir(self, folder: str = "INBOX") -> Path:
        """A folder's directory in the Maildir++ layout: INBOX is the root, ``INBOX/Support`` is
        ``.INBOX.Support`` (the namespace separator ``/`` becomes ``.``)."""
        if folder == "INBOX":
            return self.maildir
        return self.maildir / ("." + folder.replace("/", "."))

    def _own(self, path: Path) -> None:
        if self._mail_ids is not None:
            os.chown(path, *self._mail_ids)

    def _maildir_dirs(self, where: Path) -> None:
        for path in (where.parent, where, where / "cur", where / "new", where / "tmp"):
            path.mkdir(mode=0o700, exist_ok=True)
            self._own(path)

    def append(self, message: bytes, folder: str = "INBOX") -> Path:
        """Deliver one message like an MTA does: write it in ``tmp/``, then rename it into ``new/``
        (atomic: dovecot never sees half a file). The name orders it after every earlier one (dovecot
        gives new files their UIDs sorted by the time and microseconds in the name), and carries
        ``S=`` (the size on disk) and ``W=`` (the size with CRLF line ends) as dovecot's own delivery
        agent writes them, so sizes are known without opening the file."""
        where = self.folder_dir(folder)
        if folder != "INBOX" and not where.exists():
            self._maildir_dirs(where)
            (where / "maildirfolder").touch()
            self._own(where / "maildirfolder")
        seq = next(self._seq)
        virtual = len(message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))  # RFC822.SIZE, CRLF lines
        name = f"{int(time.time())}.M{seq:06d}P{os.getpid()}.recoverybot-test,S={len(message)},W={virtual}"
        tmp = where / "tmp" / name
        with open(tmp, "xb") as handle:
            handle.write(message)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        self._own(tmp)
        final = where / "new" / name
        os.rename(tmp, final)
        return final

    def recreate(self, folder: str = "INBOX/Support") -> None:
        """Delete and create the folder again: a new UIDVALIDITY, as after a server migration."""
        conn = self.client()
        try:
            conn.delete(folder)
            conn.create(folder)
        finally:
            conn.logout()

    def flags(self, folder: str = "INBOX") -> list[bytes]:
        conn = self.client()
        try:
            conn.select(folder, readonly=True)
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            assert typ == "OK", data
            return [d for d in data if isinstance(d, bytes)]
        finally:
            conn.logout()

    def uidvalidity(self, folder: str = "INBOX") -> int:
        conn = self.client()
        try:
            typ, data = conn.status(folder, "(UIDVALIDITY)")
            assert typ == "OK", data
            raw = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
            return int(raw.rsplit("UIDVALIDITY", 1)[1].strip(" )"))
        finally:
            conn.logout()

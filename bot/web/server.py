"""Serving the inbox: under uvicorn in a thread of the daemon, or in the foreground for
`recoverybot web`. The signing key is checked before anything listens (``links.signing_key``)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import uvicorn

from bot.errors import ConfigError
from bot.web.app import create_app
from bot.web.links import signing_key

if TYPE_CHECKING:
    from bot.config import Config
    from bot.report.mailer import Mailer
    from bot.store import Store

log = logging.getLogger(__name__)


class WebServer:
    """One uvicorn server for the inbox on [web] bind and port (port 0: any free port, see ``port``)."""

    def __init__(self, config: Config, store: Store, *, port: int | None = None,
                 mailer: Callable[[], Mailer] | None = None, clock: Callable[[], datetime] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        web = config.web
        key = signing_key(web, environ)  # refuses a public bind without a key, before binding
        self.app = create_app(config, store, key, mailer=mailer, clock=clock)
        self.sock = _listen(web.bind, web.port if port is None else port)
        self.port: int = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                    server_header=False, lifespan="off", timeout_keep_alive=5,
                                                    limit_concurrency=100))
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.sock.getsockname()[0]
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def serve(self) -> None:
        """Serve in this thread until :meth:`stop` (or Ctrl-C in the foreground)."""
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 15.0) -> WebServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self.thread = threading.Thread(target=self.serve, name="web-inbox", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the web inbox did not start on {self.url}", key="web.bind",
                                  hint="see the log above for why")
            time.sleep(0.02)
        log.info("web inbox listening on %s (links use %s)", self.url, self.app.state.web.config.web.public_url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
        self.sock.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", key="web.bind",
                          hint="another program may use that port: change [web] port") from exc
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


__all__ = ["WebServer"]

"""Progress display for `recoverybot cycle`: a rich bar on a terminal, plain log lines otherwise.

The collect stage talks to a :class:`Progress` only; it never knows whether a human watches.
Every method is thread-safe (sources run in parallel).
"""

from __future__ import annotations

import threading
import time
from typing import IO, Any, Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """Where the collect stage reports how far each source got."""

    def start(self, task: str, total: int | None = None) -> None:
        """A source begins; `total` pages if known."""
        ...

    def advance(self, task: str, advance: int = 1, total: int | None = None) -> None:
        """`advance` more pages done (and, when given, the total is now known)."""
        ...

    def finish(self, task: str, message: str) -> None:
        """The source is done; `message` says how it went."""
        ...

    def close(self) -> None:
        """Stop drawing (the cycle is over)."""
        ...


class NullProgress:
    """Shows nothing (the daemon, tests)."""

    def start(self, task: str, total: int | None = None) -> None:
        pass

    def advance(self, task: str, advance: int = 1, total: int | None = None) -> None:
        pass

    def finish(self, task: str, message: str) -> None:
        pass

    def close(self) -> None:
        pass


class LineProgress:
    """Plain lines for logs and pipes: one at start and end of each source, and at most one
    progress line every `every` seconds per source."""

    def __init__(self, stream: IO[str], every: float = 5.0) -> None:
        self.stream = stream
        self.every = every
        self._lock = threading.Lock()
        self._done: dict[str, int] = {}
        self._total: dict[str, int | None] = {}
        self._last: dict[str, float] = {}

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def start(self, task: str, total: int | None = None) -> None:
        with self._lock:
            self._done[task] = 0
            self._total[task] = total
            self._last[task] = time.monotonic()
            self._write(f"collect {task}: started" + (f" ({total} pages)" if total else ""))

    def advance(self, task: str, advance: int = 1, total: int | None = None) -> None:
        with self._lock:
            self._done[task] = self._done.get(task, 0) + advance
            if total is not None:
                self._total[task] = total
            now = time.monotonic()
            if now - self._last.get(task, 0.0) >= self.every:
                self._last[task] = now
                total_now = self._total.get(task)
                self._write(f"collect {task}: {self._done[task]}" + (f"/{total_now}" if total_now else "") + " pages")

    def finish(self, task: str, message: str) -> None:
        with self._lock:
            self._write(f"collect {task}: {message}")

    def close(self) -> None:
        pass


class RichProgress:
    """A rich progress bar per source, on a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self._bars = Bars(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=Console(file=stream),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._started = False

    def start(self, task: str, total: int | None = None) -> None:
        with self._lock:
            if not self._started:
                self._bars.start()
                self._started = True
            self._tasks[task] = self._bars.add_task(task, total=total, note="")

    def advance(self, task: str, advance: int = 1, total: int | None = None) -> None:
        with self._lock:
            if task not in self._tasks:
                return
            if total is not None:
                self._bars.update(self._tasks[task], total=total)
            self._bars.advance(self._tasks[task], advance)

    def finish(self, task: str, message: str) -> None:
        with self._lock:
            if task in self._tasks:
                ident = self._tasks[task]
                current = next((t for t in self._bars.tasks if t.id == ident), None)
                total = current.total if current is not None and current.total else None
                self._bars.update(ident, note=message, total=total or 1,
                                  completed=total or 1)

    def close(self) -> None:
        with self._lock:
            if self._started:
                self._bars.stop()
                self._started = False


def make_progress(stream: IO[str] | None) -> Progress:
    """A rich bar when `stream` is a terminal, plain lines otherwise, nothing without a stream."""
    if stream is None:
        return NullProgress()
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return RichProgress(stream)
    return LineProgress(stream)

"""Progress and messages on stderr: a live line on a terminal, silence when piped."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def info(message: str, stream: TextIO | None = None) -> None:
    """A one-line status message for the user (stderr, so stdout stays machine-readable)."""
    print(f"bindbot: {message}", file=stream or sys.stderr)


class Progress:
    """A counter redrawn in place on a TTY; quiet otherwise so CI logs stay readable."""

    def __init__(
        self, label: str, total: int, stream: TextIO | None = None, force: bool | None = None
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = force if force is not None else self.stream.isatty()
        self._start = time.monotonic()
        self._last = 0.0

    def advance(self, note: str = "") -> None:
        """Count one unit of work and redraw at most ten times a second."""
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        elapsed = now - self._start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        line = f"{self.label}: {self.done}/{self.total} ({elapsed:.0f} s, ~{eta:.0f} s left) {note}"
        self.stream.write("\r" + line[:120].ljust(120))
        self.stream.flush()

    def close(self) -> None:
        """End the live line so following output starts on a fresh line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

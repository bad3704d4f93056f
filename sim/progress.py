"""The one progress display of the project (tqdm): a single run's quarters and a driver's batch of runs.

On a terminal, a :class:`Progress` shows a tqdm bar on stderr and writes its lines above the bar; when
the stream is not a terminal (a pipe, a log file, a test), no bar is drawn (no carriage returns, no
escape codes) and only the lines are printed, one per line, exactly as given. ``enabled=False``
(``progress=false`` of a run, a driver's quiet mode) prints nothing at all.

    with Progress(total=120, unit="quarter", enabled=cfg.progress) as p:
        p.advance()                       # one more step done (moves the bar; prints nothing off a terminal)
        p.line("2020Q4  china: ...")      # a line of text, above the bar

This module lives at the top of ``sim`` so that the engine (a single run) and the research drivers
(sim/research) share it without the engine importing the research code.
"""

from __future__ import annotations

import contextlib
import sys
from typing import IO, Any

from tqdm import tqdm


def is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams (pytest's capture) are not terminals
        return False


class Progress:
    """A progress display of ``total`` steps on ``stream`` (default stderr); see the module docstring.

    ``bar=None`` draws the bar only on a terminal; ``bar=False`` never draws one (lines only)."""

    def __init__(
        self,
        total: int | None = None,
        desc: str = "",
        unit: str = "run",
        enabled: bool = True,
        stream: IO[str] | None = None,
        bar: bool | None = None,
    ):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        draw = is_terminal(self.stream) if bar is None else bar and is_terminal(self.stream)
        self._bar: Any = None
        if enabled and draw:
            self._bar = tqdm(total=total, desc=desc or None, unit=unit, file=self.stream, leave=False, dynamic_ncols=True)

    def line(self, text: str) -> None:
        """Print one line (above the bar when one is drawn)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def advance(self, n: int = 1, text: str | None = None) -> None:
        """``n`` more steps done, and optionally a line about them."""
        if text is not None:
            self.line(text)
        if self._bar is not None:
            self._bar.update(n)

    def above(self) -> contextlib.AbstractContextManager:
        """A context in which other code may print to the stream: the bar steps aside and is redrawn after."""
        if self._bar is None:
            return contextlib.nullcontext()
        return tqdm.external_write_mode(file=self.stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

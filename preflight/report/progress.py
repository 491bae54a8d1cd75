"""While a run goes: one live line on a terminal (what is registered and analyzed so far), and the phase timings.

The line appears only on an interactive console (rich's `is_interactive`: a terminal that is not `TERM=dumb`)
that is really a terminal and not a CI job, and only once the run has taken `DELAY` seconds, so short runs, pipes
and CI logs print nothing extra — even with `FORCE_COLOR`, which asks for colour, not for a live line; it is
transient, gone before the report prints. The same counters and clock give `--timings`: the wall-clock
seconds of each phase and the CPU seconds of each process (what `benchmarks/preflight.py` prints).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

DELAY = 1.0  # seconds of silence before the line appears
_REFRESH = 4  # per second

# The phases of a run, in order; each lasts until the next one starts.
STARTING = "starting the policy packs"
PROGRAM = "running the program"
ANALYZE = "finishing Analyze calls"  # the packs catching up with the registrations, once the program is done
STACK = "analyzing the stack"
REPORT = "writing the report"


def _live_line_wanted(console: Console) -> bool:
    if os.environ.get("TTY_INTERACTIVE") == "1":  # rich's own override: the user asked for it
        return console.is_interactive
    if os.environ.get("CI"):  # set by GitHub Actions, GitLab CI and most others, some of which give a terminal
        return False
    isatty = getattr(console.file, "isatty", None)
    return console.is_interactive and callable(isatty) and bool(isatty())


class Progress:
    """Counters the engine and the packs bump, a clock per phase, and the live line drawn from them."""

    def __init__(self, console: Console | None = None, delay: float = DELAY) -> None:
        self._console = console if console is not None and _live_line_wanted(console) else None
        self._delay = delay
        self._start = time.perf_counter()
        self._phases: list[tuple[str, float]] = []
        self.registered = 0
        self.analyzed: Callable[[], int] = lambda: 0  # Analyze answers received, every pack
        self.packs = 0
        self.cpu: dict[str, float] = {}  # process → CPU seconds (user + system)
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._timer: threading.Timer | None = None
        self._spinner = Spinner("dots")

    # The live line -------------------------------------------------------------------------------------------

    def __enter__(self) -> Progress:
        if self._console is not None:
            self._timer = threading.Timer(self._delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _show(self) -> None:
        with self._lock:
            if self._timer is None or self._console is None:
                return  # stopped meanwhile
            self._live = Live(
                get_renderable=self._line,
                console=self._console,
                transient=True,
                refresh_per_second=_REFRESH,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def _line(self) -> Any:
        phase = self._phases[-1][0] if self._phases else STARTING
        analyzed = self.analyzed()
        text = f"{phase} · {self.registered:,} resources registered"
        if self.packs:
            text += f" · {analyzed:,} analyzed by {self.packs} policy pack(s)"
        text += f" · {time.perf_counter() - self._start:.1f} s"
        self._spinner.update(text=Text(text, style="dim"))
        return self._spinner

    def stop(self) -> None:
        """Remove the line (before the report prints, or when the run fails)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._live is not None:
                self._live.stop()
                self._live = None

    @property
    def shown(self) -> bool:
        return self._live is not None

    # Counters and phases -------------------------------------------------------------------------------------

    def on_register(self, *_: object) -> None:
        self.registered += 1  # one gRPC thread at a time: the registry holds its lock while calling back

    def phase(self, name: str) -> None:
        self._phases.append((name, time.perf_counter()))

    def timings(self) -> dict[str, Any]:
        """Wall seconds per phase (in order), CPU seconds per process, and the counts."""
        end = time.perf_counter()
        marks = [*self._phases, ("", end)]
        phases = {name: round(marks[i + 1][1] - at, 4) for i, (name, at) in enumerate(marks[:-1])}
        own = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {"engine": round(own.ru_utime + own.ru_stime, 4), **{k: round(v, 4) for k, v in self.cpu.items()}}
        return {
            "wall": round(end - self._start, 4),
            "phases": phases,
            "cpu": cpu,
            "resources": self.registered,
            "analyzed": self.analyzed(),
        }

"""The countdown shown while a wait runs: a widget in a kernel, one rewritten line in a terminal.

Both say how long is left, where the wait ends, the expected saving, and how to skip. There is no
Skip button: while a cell runs, the kernel does not deliver widget clicks to it, so a button
would do nothing. Interrupting the kernel (■, or Ctrl-C in a terminal) skips, and the cell ends
normally; `carbon_magic.skip_wait()` skips from another thread.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

from ..units import fmt_duration

SKIP_HINT_KERNEL = "interrupt the kernel (■) to skip: the cell ends normally"
SKIP_HINT_TERMINAL = "Ctrl-C to skip"


def when_text(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%a %H:%M UTC")


class TextProgress:
    """One line, rewritten in place (`\\r`) at most every `every_s` of the waiting clock."""

    def __init__(self, total_s: float, until_s: float, saving: str, stream=None, every_s: float = 1.0):
        self.total_s, self.until_s, self.saving = total_s, until_s, saving
        self.stream = stream if stream is not None else sys.stdout
        self.every_s = every_s
        self._last_left: float | None = None
        self.lines = 0

    def line(self, left_s: float) -> str:
        done = 1.0 - left_s / self.total_s if self.total_s > 0 else 1.0
        bar = "█" * int(round(20 * done)) + "░" * (20 - int(round(20 * done)))
        return (f"⏳ {bar} {fmt_duration(max(0.0, left_s))} to {when_text(self.until_s)} · "
                f"expected {self.saving} · {SKIP_HINT_TERMINAL}")

    def update(self, left_s: float) -> None:
        if self._last_left is not None and self._last_left - left_s < self.every_s and left_s > 0:
            return
        self._last_left = left_s
        self.lines += 1
        self.stream.write("\r" + self.line(left_s))
        self.stream.flush()

    def close(self, outcome: str) -> None:
        if self.lines:
            self.stream.write("\n")
            self.stream.flush()


class WidgetProgress:
    """An ipywidgets bar and two lines of text; built headless, shown with display()."""

    def __init__(self, total_s: float, until_s: float, saving: str, show: bool = True):
        import ipywidgets as w  # noqa: PLC0415 - only when a wait runs in a kernel

        self.total_s, self.until_s = total_s, until_s
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="⏳ waiting",
                                   bar_style="info", layout=w.Layout(width="60%"))
        self.countdown = w.HTML()
        self.detail = w.HTML(f"expected: {saving} · {SKIP_HINT_KERNEL}")
        self.box = w.VBox([w.HBox([self.bar, self.countdown]), self.detail])
        if show:
            from IPython.display import display  # noqa: PLC0415 - only a shown widget needs it

            display(self.box)

    def update(self, left_s: float) -> None:
        done = 1.0 - left_s / self.total_s if self.total_s > 0 else 1.0
        with self.bar.hold_sync():
            self.bar.value = min(1.0, max(0.0, done))
        self.countdown.value = f"{fmt_duration(max(0.0, left_s))} to {when_text(self.until_s)}"

    def close(self, outcome: str) -> None:
        self.bar.bar_style = "success" if outcome == "reached" else "warning"
        self.bar.description = {"reached": "✔ go", "skipped": "skipped", "interrupted": "skipped"}.get(outcome, outcome)
        if outcome != "reached":
            self.countdown.value = f"skipped, {self.countdown.value}"


def default_progress(total_s: float, until_s: float, saving: str):
    """A widget in a Jupyter kernel with ipywidgets, else the text line."""
    try:
        from IPython import get_ipython  # noqa: PLC0415 - only the choice of display needs it

        ip = get_ipython()
        if ip is not None and getattr(ip, "kernel", None) is not None:
            return WidgetProgress(total_s, until_s, saving)
    except Exception:  # noqa: BLE001 - no widgets: the text line says the same
        pass
    return TextProgress(total_s, until_s, saving)

"""`%%carbon` and `%carbon …`: the IPython face of a CarbonSession.

How a `%%carbon` cell runs unchanged: an input transformer removes the `%%carbon …` line before
IPython compiles the cell, so the body runs as an ordinary cell (same outputs, same `Out[n]`,
same exception and traceback), and the pre/post_run_cell hooks take the snapshots. If the
options do not parse, the line is left in place and the registered cell magic raises IPython's
one-line UsageError, so the cell does not run. The cell magic is also the fallback where the
transformer cannot apply (a `%%carbon` nested under another cell magic).

The option line is expanded (`{var}`, `$var`) from the user namespace before parsing, as IPython
does for every magic, so a header means the same at top level and nested.

`%%time`, `%%timeit` or `%%prun` stacked over `%%carbon` (see RUNNER_MAGICS): the `%%carbon` line
is taken out and the whole cell is measured once, so the outer magic times the user's body, shows
its result and output in the same order as without `%%carbon`, and `%%timeit` loops over the body
alone. Our summary follows the cell's output.
"""
from __future__ import annotations

import builtins
import importlib
import keyword
import logging
import re
import sys
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.utils.text import DollarFormatter
from traitlets import Bool, Float, Unicode, observe

from .attribution.scope import parse_scope, status_lines
from .intensity import normalize_zone
from .intensity.messages import Hint, say
from .record import method_word

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

log = logging.getLogger("carbon_magic")

# Subcommands that live in their own modules, imported on first use so that loading the
# extension does not pay for tables, exports, providers or the widget.
COMMANDS = {
    "zone": "carbon_magic.intensity.commands:zone_command",
    "whatif": "carbon_magic.intensity.commands:whatif_command",
    "forecast": "carbon_magic.intensity.commands:forecast_command",
    "wait": "carbon_magic.act.wait:wait_command",
    "table": "carbon_magic.report.commands:table_command",
    "export": "carbon_magic.report.commands:export_command",
    "live": "carbon_magic.live:live_command",
    "cluster": "carbon_magic.cluster.commands:cluster_command",
}
LIVE_CELL_HOOK = "carbon_magic.live:live_cell_start"
BUILTIN = ("auto", "status", "help")
CELL_USAGE = ("%%carbon [--label NAME] [--zone ZONE] [--per N UNIT] [--live] [--quiet] [--no-sync] "
              "[--scope auto|machine|process] [-o VAR]")
# Cell magics that run their body as Python in the user namespace; `%%carbon` right below them
# is lifted to measure the whole cell (see the module docstring).
RUNNER_MAGICS = ("time", "timeit", "prun")
# Names IPython keeps in the user namespace and relies on (history, output cache, the shell).
IPYTHON_NAMES = frozenset(("get_ipython", "exit", "quit", "In", "Out", "_", "__", "___", "_i", "_ii",
                           "_iii", "_oh", "_ih", "_dh", "_sh"))
_NUMBERED = re.compile(r"_(i|ii|iii)?\d+\Z|_i+\Z")
_dollar = DollarFormatter()


def _load(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def output_name_problem(name: str, shell=None) -> str | None:
    """Why `name` cannot take a record (`-o NAME`), or None: it must be a plain variable name
    that shadows neither Python (keywords, builtins, dunders) nor IPython's own names."""
    if not name.isidentifier():
        return "needs a Python variable name"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name in IPYTHON_NAMES or _NUMBERED.match(name):
        return "is a name IPython uses (history, output cache or the shell)"
    if name.startswith("__") and name.endswith("__"):
        return "is a special (dunder) name"
    if hasattr(builtins, name):
        return "would hide the Python builtin of that name"
    if name in (getattr(shell, "user_ns_hidden", None) or {}):
        return "is a name IPython uses (history, output cache or the shell)"
    return None


def _is_control_cell(raw: str) -> bool:
    """A cell made only of `%carbon …` lines (turning auto mode off, showing the table)."""
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    return bool(lines) and all(ln == "%carbon" or ln.startswith("%carbon ") for ln in lines)


def _magic_name(line: str) -> str | None:
    """`time` for a `%%time …` line, else None."""
    if not line.startswith("%%"):
        return None
    words = line[2:].split(None, 1)
    return words[0] if words else None


def _sensor_note_list(src, sampler) -> list[str]:
    notes = []
    h = sampler.health.get(src.name)
    if src.name in sampler.failed:
        notes.append(f"FAILED: {sampler.failed[src.name]}; retried every {sampler.retry_s:g} s")
    if h is not None and h.failures and (h.recoveries or h.failures > 1):
        notes.append(f"failed {h.failures}×, recovered {h.recoveries}×" + (f" (last: {h.reason})"
                                                                          if src.name not in sampler.failed else ""))
    for attr, what in (("resets", "counter resets"), ("ambiguous", "read gaps that may hide wraps")):
        n = getattr(src, attr, 0)
        if isinstance(n, int) and n:
            notes.append(f"{what}: {n}")
    if getattr(src, "mig", None):
        notes.append(f"MIG slice {src.mig}: energy is the whole board's")
    return notes


def sensor_notes(src, sampler) -> str:
    """` (FAILED: reason; retried every 5 s)`, counter resets, ambiguous gaps, MIG: what a sensor went through."""
    notes = _sensor_note_list(src, sampler)
    return f" ({'; '.join(notes)})" if notes else ""


SENSOR_HEADER = ("name", "kind", "method", "shown as", "status")


def sensor_rows(sources, sampler) -> list[tuple[str, ...]]:
    """The sensor table of `%carbon status`, header first: what each source is and how it is doing."""
    rows: list[tuple[str, ...]] = [SENSOR_HEADER]
    for src in sources:
        notes = _sensor_note_list(src, sampler)
        rows.append((src.name, src.kind, src.method, method_word(src.method), "; ".join(notes) or "ok"))
    return rows


def _columns(rows, indent: str = "    ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows]


HELP = """carbon_magic: energy and CO₂e of notebook cells
  %%carbon [--label NAME] [--zone ZONE] [-o VAR]   measure this cell (put it on the cell's first line)
  %carbon auto on|off     measure every cell without %%carbon
  %carbon status          sensors, estimates and how to override them, zone, session totals
  %carbon table           per-cell table of this session; %carbon export PATH (.csv .json .md .html .svg)
  %carbon zone FR         set the grid zone (country, Electricity Maps zone, uk:london, aws:us-east-1)
  %carbon whatif SE FR    this session's energy priced in other zones
  %carbon forecast        the greenest start time for a job (--duration 2h --within 24h)
  %carbon live            live chart of power and grid intensity
Details: %%carbon? and %carbon? · docs/ in the repository"""


def _first_line(text: str) -> str | None:
    for ln in text.splitlines():
        if ln.strip():
            return ln.strip()[:120]
    return None


class HeaderTransformer:
    """The input transformer (IPython's `input_transformers_cleanup`) that takes the `%%carbon`
    line out of a cell before it is compiled.

    `has_side_effects` keeps it out of IPython's completeness check (`check_complete`, which the
    terminal and `is_complete_request` call on every Enter): there a `%%carbon` cell must stay
    what it is to the user, a cell magic whose input ends with a blank line. Stripped there, the
    header alone left no lines (IndexError in prompt_toolkit's event loop, a dead
    `--simple-prompt` session) and `%%carbon\\nimport time` read as complete after one line.
    """

    has_side_effects = True

    def __init__(self, strip):
        self._strip = strip

    def __call__(self, lines: list[str]) -> list[str]:
        return self._strip(lines)


def _cancelled(err) -> bool:
    """Whether `err` is asyncio's CancelledError. Read from sys.modules, not imported: asyncio is
    some 40 modules, and where it was never imported no cell can have raised its error."""
    exceptions = sys.modules.get("asyncio.exceptions")
    return exceptions is not None and isinstance(err, exceptions.CancelledError)


@magics_class
class CarbonMagics(Magics):
    shell: InteractiveShell  # never None here: the extension registers these magics with its shell
    zone = Unicode(None, allow_none=True, help="Grid zone (overrides CARBON_MAGIC_ZONE)").tag(config=True)
    pue = Float(None, allow_none=True, help="Power usage effectiveness (overrides CARBON_MAGIC_PUE)").tag(config=True)
    cuda_sync = Bool(None, allow_none=True, help="Synchronise CUDA before the end snapshot").tag(config=True)
    quiet = Bool(False, help="Do not print the summary line after measured cells").tag(config=True)
    scope = Unicode(None, allow_none=True, help="auto, machine (what the devices drew) or process (this kernel's "
                    "share); overrides CARBON_MAGIC_SCOPE").tag(config=True)
    wue = Float(None, allow_none=True, help="On-site water usage effectiveness in L/kWh of IT energy "
                "(overrides CARBON_MAGIC_WUE)").tag(config=True)

    def __init__(self, shell, session):
        super().__init__(shell)
        self.session = session
        self._set_zone(self.zone)
        if self.pue is not None:
            session.settings.pue = float(self.pue)
        if self.cuda_sync is not None:
            session.settings.cuda_sync = bool(self.cuda_sync)
        self._set_scope(self.scope)
        if self.wue is not None:
            try:
                self._wue_changed({"new": self.wue})
            except UsageError as exc:  # a bad value in the config must not stop the extension loading
                print(f"carbon_magic: {exc}; water is not estimated", file=sys.stderr)
        self.auto = False
        self._parsed: dict = {}
        self._depth = 0
        self._window = None
        self._window_opts: dict = {}
        self._live = None  # the running `--live` cell's view (live.CellView), finished in post_run_cell
        self.transform = HeaderTransformer(self._strip_header)

    @observe("zone")
    def _zone_changed(self, change):  # `%config CarbonMagics.zone = "FR"` after loading
        if getattr(self, "session", None) is not None:
            self._set_zone(change["new"])

    def _set_zone(self, zone) -> None:
        """The session's zone; the intensity service validates it and keeps settings.zone in step."""
        if not zone:
            return
        try:
            self.session.intensity.set_zone(zone)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    @observe("scope")
    def _scope_changed(self, change):  # `%config CarbonMagics.scope = "process"` after loading
        if getattr(self, "session", None) is not None:
            self._set_scope(change["new"])

    def _set_scope(self, value) -> None:
        if value is None:
            return
        try:
            self.session.settings.scope = parse_scope(value, "CarbonMagics.scope")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        self.session.settings.scope_source = "%config CarbonMagics.scope"

    @observe("pue")
    def _pue_changed(self, change):
        if getattr(self, "session", None) is not None and change["new"] is not None:
            if not 1.0 <= change["new"] <= 5.0:
                raise UsageError("CarbonMagics.pue must be between 1.0 and 5.0")
            self.session.settings.pue = float(change["new"])

    @observe("wue")
    def _wue_changed(self, change):
        if getattr(self, "session", None) is not None and change["new"] is not None:
            if not 0.0 <= change["new"] <= 20.0:
                raise UsageError("CarbonMagics.wue must be between 0 and 20 L/kWh")
            self.session.settings.wue_l_per_kwh = float(change["new"])

    # -- header parsing ------------------------------------------------------------------
    def parse_cell_args(self, line: str) -> dict:
        """Parse `%%carbon` options; raises UsageError (one line) on anything not accepted."""
        try:
            args = parse_argstring(self.carbon_cell, line)
        except (UsageError, ValueError, SystemExit) as exc:  # argparse; shlex: "No closing quotation"
            reason = "".join(c if c.isprintable() else "?" for c in " ".join(str(exc).split())) or "bad options"
            raise UsageError(f"%%carbon: {reason}. Accepted: {CELL_USAGE}") from None
        opts = {"label": _unquote(args.label), "zone": _unquote(args.zone), "live": args.live,
                "quiet": args.quiet, "var": args.output, "sync": not args.no_sync, "units": None,
                "scope": None}
        if args.per:
            from .report.sci import PER_USAGE, parse_units  # noqa: PLC0415 - only --per needs it (see the note above the subcommands)

            try:
                opts["units"] = parse_units(*(_unquote(w) for w in args.per))
            except ValueError as exc:
                reason = "".join(c if c.isprintable() else "?" for c in str(exc))
                raise UsageError(f"%%carbon: {reason}. Usage: {PER_USAGE}") from None
        if args.scope is not None:
            try:
                opts["scope"] = parse_scope(args.scope, "--scope")
            except ValueError as exc:
                raise UsageError(f"%%carbon: {exc}") from None
        if opts["zone"]:
            try:
                opts["zone"] = normalize_zone(opts["zone"])
            except ValueError as exc:
                raise UsageError(f"%%carbon: {exc}") from None
        if opts["var"] is not None:
            problem = output_name_problem(opts["var"], self.shell)
            if problem:
                raise UsageError(f"%%carbon: -o {opts['var']!r} {problem}; choose another name, "
                                 "e.g. -o rec")
        return opts

    @staticmethod
    def _split_header(lines: list[str]) -> tuple[str | None, list[str]]:
        """(option text of a leading `%%carbon` line or None, the cell without that line).

        The `%%carbon` line may follow `%%time`/`%%timeit`/`%%prun` lines, which are kept.
        """
        i = 0
        while i < len(lines) and not lines[i].strip():
            i += 1
        outer = i
        while i < len(lines) and _magic_name(lines[i]) in RUNNER_MAGICS:
            i += 1
        if i == len(lines):
            return None, lines
        line = lines[i].rstrip("\r\n")
        if _magic_name(line) == "carbon":
            return line[len("%%carbon"):].strip(), lines[outer:i] + lines[i + 1:]
        return None, lines

    def _expand(self, argline: str) -> str:
        """`{var}` and `$var` from the user namespace, as IPython expands every magic's line."""
        try:
            return _dollar.vformat(argline, args=[], kwargs=self.shell.user_ns.copy())
        except Exception:  # noqa: BLE001 - as IPython: an expression that fails stays as typed
            return argline

    def _try_header(self, lines: list[str]) -> tuple[dict | None, bool, list[str]]:
        """(options or None, whether the cell starts with %%carbon, body lines)."""
        argline, body = self._split_header(lines)
        if argline is None:
            return None, False, body
        argline = self._expand(argline)
        cached = self._parsed.get(argline)
        if cached is None:  # parsed once per distinct header (the transformer and the hook both ask)
            try:
                cached = self.parse_cell_args(argline)
            except UsageError:
                cached = False
            if len(self._parsed) > 256:
                self._parsed.clear()
            self._parsed[argline] = cached
        return (dict(cached) if isinstance(cached, dict) else None), True, body

    def _strip_header(self, lines: list[str]) -> list[str]:
        """Input transformer: turn a valid top-level `%%carbon` line into a comment, so the body runs
        as itself and a traceback's line numbers are the ones the user sees in the cell (the
        `%%carbon` line counted, as the editor counts it)."""
        if self._depth:
            return lines
        opts, is_carbon, _ = self._try_header(lines)
        if not (is_carbon and opts is not None):
            return lines
        out = list(lines)
        for i, line in enumerate(out):
            if _magic_name(line) == "carbon":
                if i + 1 < len(out) and out[i + 1].startswith("%%"):
                    del out[i]  # another cell magic follows: it must stay first (it numbers its own body)
                else:
                    out[i] = "# " + line.rstrip("\r\n") + "\n"
                return out
        return lines  # pragma: no cover - _try_header found the line

    # -- cell hooks ----------------------------------------------------------------------
    def pre_run_cell(self, info) -> None:
        self._depth += 1
        if self._depth > 1:
            return
        try:
            raw = info.raw_cell or ""
            opts, is_carbon, body = self._try_header(raw.splitlines(True))
            if is_carbon and opts is None:
                return  # bad options: the cell magic raises UsageError and the cell does not run
            if opts is None:
                if not self.auto or _is_control_cell(raw):
                    return
                opts = {}
            self._open_window(opts, "".join(body), getattr(info, "cell_id", None))
        except Exception as exc:  # noqa: BLE001 - our failure must never stop the user's cell
            self._window = None
            print(f"carbon_magic: could not start measuring this cell ({exc})", file=sys.stderr)

    def _open_window(self, opts: dict, body: str, cell_id) -> None:
        if cell_id is None:
            cell_id = self._cell_id_from_kernel()
        self._window_opts = opts
        self._window = self.session.begin(
            label=opts.get("label"), zone=opts.get("zone"), cell_id=cell_id,
            execution_count=self.shell.execution_count, code_head=_first_line(body), units=opts.get("units"),
            scope=opts.get("scope"))
        if opts.get("live"):
            try:
                self._live = _load(LIVE_CELL_HOOK)(self, self._window)
            except Exception as exc:  # noqa: BLE001
                print(f"carbon_magic: live view unavailable ({exc})", file=sys.stderr)

    def _cell_id_from_kernel(self):
        get_parent = getattr(self.shell, "get_parent", None)
        if get_parent is None:
            return None
        try:
            return (get_parent() or {}).get("metadata", {}).get("cellId")
        except Exception:  # noqa: BLE001
            return None

    def post_run_cell(self, result) -> None:
        self._depth = max(0, self._depth - 1)
        if self._depth or self._window is None:
            return
        window, opts, live = self._window, self._window_opts, self._live
        self._window = self._live = None
        record = None
        kept = len(self.session.records)
        try:
            record = self._finish(window, opts, result)
        except Exception as exc:  # noqa: BLE001
            print(f"carbon_magic: could not record this cell ({exc})", file=sys.stderr)
        except KeyboardInterrupt:  # the stop button while we wrap up: the user's cell is over
            done = len(self.session.records) > kept
            print("carbon_magic: interrupted while recording this cell"
                  + ("; its record is kept" if done else "; it was not recorded"), file=sys.stderr)
        if live is not None:  # the cell's live view freezes on its record and stops updating
            try:
                live.finish(record)
            except Exception as exc:  # noqa: BLE001
                print(f"carbon_magic: could not finish the live view ({exc})", file=sys.stderr)

    def _finish(self, window, opts, result):
        # ipykernel turns SIGINT during an `await` cell into a cancelled task: the cell ends in
        # CancelledError, or, where the cancel lands outside the cell's code, post_run_cell gets
        # no result at all. Both are the stop button, as KeyboardInterrupt is for a plain cell.
        err = None if result is None else (result.error_in_exec or result.error_before_exec)
        if result is None or isinstance(err, KeyboardInterrupt) or _cancelled(err):
            status = "interrupted"
        elif err is not None:
            status = "error"
        else:
            status = "ok"
        if result is not None and getattr(result, "execution_count", None) is not None:
            window.execution_count = result.execution_count
        record = self.session.end(window, status, sync=False if opts.get("sync") is False else None)
        if opts.get("var"):
            self.shell.user_ns[opts["var"]] = record
        if not (opts.get("quiet") or self.quiet):
            print(record.summary())
        quiet = opts.get("quiet") or self.quiet
        for notice in self.session.drain_notices():
            if quiet and isinstance(notice, Hint):
                self.session.pending_notices.append(notice)  # advice waits for a cell that talks
            else:
                say(notice)
        return record

    # -- the magics ----------------------------------------------------------------------
    @magic_arguments(name="%carbon")  # usage reads `%%carbon …`
    @argument("--label", "-l", default=None, help="Name for this cell in tables and exports")
    @argument("--zone", "-z", default=None, help="Grid zone for this cell only (FR, US-MIDA-PJM, aws:us-east-1)")
    @argument("--per", nargs=2, default=None, metavar=("N", "UNIT"),
              help="Units of work the cell processes (60000 samples): energy, CO₂e and SCI per unit")
    @argument("--live", action="store_true", help="Show the live power/intensity chart while the cell runs")
    @argument("--quiet", "-q", action="store_true", help="Do not print the summary line")
    @argument("--no-sync", action="store_true", help="Do not wait for queued CUDA work before the end snapshot")
    @argument("--scope", "-s", default=None, metavar="auto|machine|process",
              help="Bill what the devices drew (machine) or this kernel's share of them (process); "
                   "auto: process when other processes used the devices")
    @argument("-o", dest="output", default=None, metavar="VAR", help="Store the CellRecord in VAR")
    @cell_magic("carbon")  # type: ignore[arg-type]  # IPython types cell_magic(name) as `_F | Callable[[_F], _F]`
    def carbon_cell(self, line, cell):
        """Measure the energy and CO₂e of this cell; a summary line follows its output.

        The cell runs unchanged. Energy per component is marked measured (hardware counter or
        power sensor) or estimated (a model from utilisation); see `%carbon status`.
        Options may use `{expr}` and `$var`, as in any IPython magic. Under `%%time`, `%%timeit`
        or `%%prun`, the whole cell is measured once and they time the body alone.
        """
        opts = self.parse_cell_args(line)  # raises the one-line UsageError for bad options
        # Only reached where the transformer could not apply (e.g. under another cell magic).
        if self._window is not None:
            # Auto mode already measures the enclosing cell: count it once, with these options.
            self._window.label = opts["label"]
            self._window.zone = opts["zone"] or self._window.zone
            self._window.units = opts.get("units") or self._window.units
            self._window.scope = opts["scope"] or self._window.scope
            self._window_opts = opts
            self._run_nested(cell)
            return
        window = self.session.begin(label=opts["label"], zone=opts["zone"], units=opts.get("units"),
                                    execution_count=self.shell.execution_count, code_head=_first_line(cell),
                                    scope=opts["scope"])
        self._finish(window, opts, self._run_nested(cell))

    def _run_nested(self, cell: str):
        self._depth += 1  # the hooks ignore the inner run
        try:
            return self.shell.run_cell(cell, store_history=False)
        finally:
            self._depth -= 1

    @line_magic("carbon")  # type: ignore[arg-type]  # as cell_magic above
    def carbon_line(self, line):
        """%carbon [help] | auto on|off | status | live | table | export PATH | zone ZONE | whatif ZONE… | forecast | wait
        | cluster

        help            (or nothing) the short help
        auto on|off     measure every cell without %%carbon
        status          sensors (with headers), the estimates' inputs and overrides, sensors skipped (with
                        the fix), zone, provider, interval, totals: cells, idle, session
                        scope (machine or this kernel's share, and why; the totals follow it), other
                        consumers seen
        live            show the live power/intensity chart
        table           per-cell emissions table of this session (--sort KEY, --top N)
        export PATH     write the session's records (.csv .json .md .html .svg)
        export model-card.md   a model card's carbon disclosure (Hugging Face co2_eq_emissions,
                        Environmental Impact, SPDX 3.0.1 energy): --cells LABEL… --inference LABEL…
                        --training-type pre-training|fine-tuning (also: export PATH.md --model-card)
        zone ZONE       set the grid zone (country, Electricity Maps zone, UK region, cloud region)
        whatif ZONE…    what this session's energy would have emitted elsewhere
        forecast        the greenest start time for a job (--duration 2h --within 24h)
        wait            wait for the greenest window of the forecast (--within 8h --duration 2h)
        cluster on|off  bill Dask/Ray tasks to the cell that ran them (status: nodes and sensors)
        """
        sub, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if sub in ("", "help", "-h", "--help"):
            print(HELP)
            return None
        if sub == "auto":
            return self._auto(rest)
        if sub == "status":
            if rest:
                raise UsageError("%carbon status takes no arguments")
            print(self.status_text())
            return None
        if sub not in COMMANDS:
            raise UsageError(f"%carbon: unknown subcommand {sub!r}; use one of: "
                             + ", ".join((*BUILTIN, *COMMANDS)))
        try:
            fn = _load(COMMANDS[sub])
        except ImportError as exc:
            raise UsageError(f"%carbon {sub} is not available in this installation ({exc})") from None
        return fn(self, rest)

    def _auto(self, rest: str):
        if rest not in ("on", "off"):
            raise UsageError("%carbon auto takes 'on' or 'off'")
        self.auto = rest == "on"
        print(f"carbon_magic: auto mode {rest}" + (" (every cell is measured)" if self.auto else ""))

    def status_text(self) -> str:
        from .report.display import totals_lines  # noqa: PLC0415 - only when asked

        s = self.session
        lines = ["carbon_magic status", "  sensors:", *_columns(sensor_rows(s.discovery.sources, s.sampler))]
        models = [src.model_inputs() for src in s.discovery.sources if hasattr(src, "model_inputs")]
        if models:
            lines.append("  estimated components (the model's inputs, and how to override them):")
            lines += [f"    {m}" for m in models]
        if s.discovery.skipped:
            lines.append("  skipped:")
            for k in s.discovery.skipped:
                lines.append(f"    {k.line()}")
        zone = s.settings.zone
        lines.append(f"  zone: {zone or 'not set: static world average (set one: %carbon zone FR)'}")
        lines.append(f"  provider: {s.intensity.describe()}")
        lines.append(f"  sampler: every {s.settings.interval_s:g} s, "
                     f"{'running' if s.sampler.running else 'stopped'}; PUE {s.settings.pue:g}; "
                     f"auto mode {'on' if self.auto else 'off'}")
        try:  # the scope first: the totals below follow it
            lines += status_lines(s)
        except Exception as exc:  # noqa: BLE001 - the rest of the status is still worth showing
            lines.append(f"  scope: could not be described ({type(exc).__name__}: {exc})")
        totals = s.totals()
        lines.append("  totals (this kernel's share: process scope):" if totals.get("scope") == "process"
                     else "  totals:")
        lines += _columns([("", "energy", "CO₂e", ""), *totals_lines(totals)])
        lines.append(f"  ledger: {s.ledger.describe()}")
        for hook in s.cell_hooks:  # e.g. the cluster: its nodes and their probe tables
            lines += getattr(hook, "status_lines", list)()
        return "\n".join(lines)

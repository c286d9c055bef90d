"""Validate GPU energy per cell on a real NVIDIA GPU (issue 8 §4); CPU-only self-checks elsewhere.

    python bench/gpu_validate.py           # on a GPU machine: every check (a few minutes)
    python bench/gpu_validate.py --quick   # shorter bursts; without a GPU: self-checks only

On a GPU (torch, else cupy):
1. Bursts of matrix products from 50 ms to 30 s, each one cell (`CarbonSession.begin/end`). Per
   cell, the energy we report (NVML total-energy counter, or power × duration below its ~100 ms
   resolution) against instant power (field value NVML_FI_DEV_POWER_INSTANT = 186; fallback
   nvmlDeviceGetPowerUsage) polled every 5 ms in a separate thread and integrated (trapezoid).
2. Asynchronous work: a cell that queues ~2 s of matrix products and returns at once, followed by
   an empty cell; with the CUDA sync at the end snapshot (default) the work is billed to the
   first cell, without it (`end(..., sync=False)`) it leaks into the next one.
3. Sampler overhead on a training step (a small MLP): step time without a session, and with the
   sampler thread at 0.5 s and 0.1 s.
4. Two processes on one GPU (issue 12, process scope): this process and a second one run fp16
   matrix products in duty cycles (0.6 and 0.3 of the time) on GPU 0; each is billed its share by
   an Attributor rooted at its PID (SM-utilisation share of the power above idle, memory share of
   the idle power). Printed: NVML's SM share, each share of the board's energy, their sum (never
   above 100 %), the duty ratio as a rough reference, then a cell with the other process gone
   (this process the only user: 100 %, `attributed:sole-user`).
Without a GPU it says so plainly ("skipped: no GPU") and runs its self-checks: the trapezoid
integration against exact integrals, the power reader's fallback, the whole comparison (poller +
counter + table) against the fake NVML of tests/fakes.py on a simulated clock, and the GPU split of
two processes on the fake NVML.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_repo_on_path, header, median, table

ensure_repo_on_path()

NVML_FI_DEV_POWER_INSTANT = 186
POLL_S = 0.005


# -- shared by the GPU run and the self-checks -------------------------------------------------------
def trapezoid(samples: list[tuple[float, float]], t0: float, t1: float) -> float:
    """∫P dt over [t0, t1] from (t, W) samples; the edges are interpolated (or held) from the neighbours."""
    pts = sorted(samples)
    if not pts:
        return float("nan")

    def at(t):
        if t <= pts[0][0]:
            return pts[0][1]
        if t >= pts[-1][0]:
            return pts[-1][1]
        for (ta, pa), (tb, pb) in zip(pts, pts[1:]):
            if ta <= t <= tb:
                return pa if tb == ta else pa + (pb - pa) * (t - ta) / (tb - ta)
        return pts[-1][1]

    inside = [(t0, at(t0)), *[(t, p) for t, p in pts if t0 < t < t1], (t1, at(t1))]
    return sum((tb - ta) * (pa + pb) / 2 for (ta, pa), (tb, pb) in zip(inside, inside[1:]))


def read_power_w(nvml, handle) -> tuple[float, str]:
    """Instant power (W) and where it came from: POWER_INSTANT where supported, else GetPowerUsage."""
    get_fields = getattr(nvml, "nvmlDeviceGetFieldValues", None)
    if get_fields is not None:
        try:
            fv = get_fields(handle, [NVML_FI_DEV_POWER_INSTANT])[0]
            if getattr(fv, "nvmlReturn", 1) == 0:
                return fv.value.uiVal / 1000.0, "POWER_INSTANT"
        except nvml.NVMLError:
            pass
    return nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0, "GetPowerUsage"


class Poller:
    """Reads instant power every `period_s` in its own thread; `clock` and `sleep` are injectable."""

    def __init__(self, nvml, handle, period_s=POLL_S, clock=time.monotonic, sleep=time.sleep):
        self.nvml, self.handle, self.period_s = nvml, handle, period_s
        self.clock, self.sleep = clock, sleep
        self.samples: list[tuple[float, float]] = []
        self.kinds: set[str] = set()
        self._stop = threading.Event()
        self._thread = None

    def poll_once(self):
        p, kind = read_power_w(self.nvml, self.handle)
        self.samples.append((self.clock(), p))
        self.kinds.add(kind)

    def _run(self):
        nxt = self.clock()
        while not self._stop.is_set():
            self.poll_once()
            nxt += self.period_s
            self.sleep(max(0.0, nxt - self.clock()))

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True, name="gpu-validate-poller")
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()

    def rate_hz(self, t0, t1):
        n = sum(1 for t, _ in self.samples if t0 <= t <= t1)
        return n / (t1 - t0) if t1 > t0 else float("nan")


def compare_row(label, record, t0, t1, poller) -> list:
    """One table row: our per-cell GPU energy against the integral of the polled instant power."""
    gpu = [c for c in record.components if c.kind == "gpu"][0]
    polled = trapezoid(poller.samples, t0, t1)
    diff = (gpu.energy_j - polled) / polled * 100 if polled else float("nan")
    return [label, f"{t1 - t0:.3f} s", f"{gpu.energy_j:.2f} J", gpu.method, f"{polled:.2f} J", f"{diff:+.1f} %",
            f"{poller.rate_hz(t0, t1):.0f} Hz"]


COMPARE_COLS = ["cell", "duration", "ours (record)", "method", "polled instant power, integrated", "ours vs polled",
                "poll rate"]


# -- self-checks (no GPU needed) ---------------------------------------------------------------------
def self_checks() -> list[list]:
    rows = []

    def check(name, ok, detail):
        rows.append([name, "pass" if ok else "FAIL", detail])

    # 1. trapezoid: exact on piecewise-linear power, edges interpolated, irregular samples
    ramp = [(t / 10, 100 + 50 * (t / 10)) for t in range(0, 101)]  # P = 100 + 50 t over 10 s
    exact = 100 * 7.5 + 25 * (9.5**2 - 2**2)  # ∫_2^9.5 (100 + 50 t) dt
    got = trapezoid(ramp, 2.0, 9.5)
    check("trapezoid on a ramp (exact)", abs(got - exact) < 1e-9, f"{got:.6f} J vs {exact:.6f} J")
    irregular = [(0.0, 10.0), (0.013, 10.0), (0.5, 10.0), (2.71, 10.0)]
    got = trapezoid(irregular, 0.1, 2.6)
    check("trapezoid, constant power, irregular samples", abs(got - 25.0) < 1e-9, f"{got:.6f} J vs 25 J")
    got = trapezoid([(1.0, 40.0), (2.0, 40.0)], 0.5, 2.5)
    check("edges outside the samples hold the nearest value", abs(got - 80.0) < 1e-9, f"{got:.6f} J vs 80 J")

    # 2. the power reader: POWER_INSTANT when the library has field values, fallback otherwise
    from fakes import FakeGpu, FakeNvml  # noqa: PLC0415

    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0, power_mw=123_000)
    plain = FakeNvml([gpu])
    p, kind = read_power_w(plain, gpu)
    check("power fallback without nvmlDeviceGetFieldValues", (p, kind) == (123.0, "GetPowerUsage"), f"{p} W via {kind}")
    fields = _FieldNvml([gpu])
    p, kind = read_power_w(fields, gpu)
    check("POWER_INSTANT field value when available", (p, kind) == (99.5, "POWER_INSTANT"), f"{p} W via {kind}")
    fields.field_return = 3  # NOT_SUPPORTED in the field's own return code
    p, kind = read_power_w(fields, gpu)
    check("field NOT_SUPPORTED falls back", kind == "GetPowerUsage", f"{p} W via {kind}")

    # 3. the whole comparison against the fake NVML on a simulated clock
    # Expected gap: each edge reading of a counter that updates every 100 ms is up to 100 ms stale,
    # so |ours - polled| <= (P_max - P_min) x 0.1 s (+ 1 % for the rest); below 100 ms the record
    # uses power x duration, bounded the same way.
    bound_j = (FAKE_BURST_W - FAKE_IDLE_W) * 0.1
    for row in fake_comparison():
        ours, polled = float(row[2].split()[0]), float(row[4].split()[0])
        ok = abs(ours - polled) <= bound_j + 0.01 * polled
        check(f"fake GPU burst {row[0]}: ours vs polled", ok,
              f"{row[2]} ({row[3]}) vs {row[4]}: {row[5]} (bound ±{bound_j:.0f} J + 1 %), poll {row[6]}")

    # 4. two processes on one fake GPU: SM share of the power above idle, memory share of the idle power
    ours_j, theirs_j, device_j = fake_two_processes()
    expected = (200 * 0.75 + 50 * 0.25, 200 * 0.25 + 50 * 0.75)
    check("fake GPU shared by two processes: each billed its share", abs(ours_j - expected[0]) < 1e-6
          and abs(theirs_j - expected[1]) < 1e-6, f"{ours_j:.1f} J + {theirs_j:.1f} J of {device_j:.1f} J "
          f"(expected {expected[0]:g} J + {expected[1]:g} J: SM 75/25 %, memory 4/12 GB, idle 50 W)")
    return rows


def fake_two_processes() -> tuple[float, float, float]:
    """A fake GPU: 1 s idle at 50 W, then 1 s at 250 W shared by two processes (SM 75/25, memory 4/12 GB),
    the two processes in a fake /proc tree (tests/fakes.py FakeProc)."""
    from fakes import FakeClock, FakeGpu, FakeNvml, FakeProc  # noqa: PLC0415

    from carbon_magic.attribution import Attributor, ProcFS  # noqa: PLC0415
    from carbon_magic.sampler import Sampler  # noqa: PLC0415
    from carbon_magic.sources.nvml import NvmlGpu  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        proc = FakeProc(Path(tmp) / "proc")
        ours, theirs = 100, 200
        for pid in (ours, theirs):
            proc.add_process(pid, 1)
        clock = FakeClock(t=0.0)
        gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0)
        nvml = FakeNvml([gpu])
        src = NvmlGpu(nvml, gpu, "gpu:0", gpu.uuid)
        sampler = Sampler([src], clock=clock, wall=clock.wall)
        att = [Attributor([src], proc=ProcFS(proc.root, pid=p)) for p in (ours, theirs)]
        for a in att:
            a.observe(sampler.first)
        gpu.energy_mj += 50_000
        clock.advance(1.0)
        snap = sampler.snapshot()
        marks = [a.observe(snap) for a in att]
        gpu.run(ours, 4 << 30)
        gpu.run(theirs, 12 << 30)
        gpu.sample(ours, 5_000_000, 90)
        gpu.sample(theirs, 5_000_000, 30)
        gpu.energy_mj += 250_000
        clock.advance(1.0)
        end = sampler.snapshot()
        ours_j, theirs_j = (a.observe(end).total_j() - m.total_j() for a, m in zip(att, marks))
    return ours_j, theirs_j, 250.0


class _FieldNvml:
    """FakeNvml plus nvmlDeviceGetFieldValues returning one POWER_INSTANT value (99.5 W)."""

    def __init__(self, gpus):
        from fakes import FakeNvml  # noqa: PLC0415

        self._inner = FakeNvml(gpus)
        self.NVMLError = self._inner.NVMLError
        self.field_return = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def nvmlDeviceGetFieldValues(self, handle, ids):
        assert ids == [NVML_FI_DEV_POWER_INSTANT]

        class Value:
            uiVal = 99_500

        class Field:
            nvmlReturn = self.field_return
            value = Value()

        return [Field()]


FAKE_IDLE_W, FAKE_BURST_W = 80.0, 350.0


def fake_comparison() -> list[list]:
    """Bursts on a fake GPU: 80 W idle, 350 W during the burst; NVML counter updates every 100 ms."""
    from fakes import FakeClock, FakeGpu, FakeNvml  # noqa: PLC0415

    from carbon_magic.config import Settings  # noqa: PLC0415
    from carbon_magic.ledger import Ledger  # noqa: PLC0415
    from carbon_magic.session import CarbonSession  # noqa: PLC0415
    from carbon_magic.sources import Discovery  # noqa: PLC0415
    from carbon_magic.sources.nvml import NvmlGpu  # noqa: PLC0415

    clock = FakeClock(t=0.0)
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0, power_mw=80_000)
    nvml = FakeNvml([gpu])
    state = {"e_j": 0.0, "p_w": 80.0, "last_update": 0.0}

    def advance(dt, watts):
        """Run the fake hardware for dt at `watts`, in 1 ms steps; the counter publishes every 100 ms."""
        steps = int(round(dt / 0.001))
        for _ in range(steps):
            clock.advance(0.001)
            state["e_j"] += watts * 0.001
            gpu.power_mw = int(watts * 1000)
            if clock.t - state["last_update"] >= 0.1 - 1e-9:
                state["last_update"] = clock.t
                gpu.energy_mj = int(state["e_j"] * 1000)
            if int(round(clock.t * 1000)) % 5 == 0:
                poller.poll_once()
            if int(round(clock.t * 1000)) % 100 == 0:
                session.sampler.tick()

    with tempfile.TemporaryDirectory() as tmp:
        session = CarbonSession(Settings(interval_s=0.1, data_dir=Path(tmp), scope="machine"), discovery=Discovery(
            sources=[NvmlGpu(nvml, gpu, "gpu:0", gpu.uuid)]), ledger=Ledger.in_dir(tmp), clock=clock,
            wall=clock.wall, cuda_sync=lambda: []).start(thread=False)
        poller = Poller(nvml, gpu, clock=clock)
        rows = []
        advance(1.0, FAKE_IDLE_W)
        for dur in (0.05, 0.2, 1.0, 5.0):
            advance(0.237, FAKE_IDLE_W)  # off the 100 ms grid
            t0 = clock.t
            w = session.begin(label=f"{dur:g} s")
            advance(dur, FAKE_BURST_W)
            rec = session.end(w)
            rows.append(compare_row(f"{dur:g} s", rec, t0, clock.t, poller))
        session.close()
    return rows


# -- the real GPU ------------------------------------------------------------------------------------
def find_gpu():
    """(nvml module, reason) — reason is None when a GPU and a CUDA framework are usable."""
    try:
        import pynvml  # noqa: PLC0415
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None, f"NVML did not start: {exc}"
    if count == 0:
        return None, "NVML found no GPU"
    return pynvml, None


def framework():
    try:
        import torch  # noqa: PLC0415

        if torch.cuda.is_available():
            return "torch", torch
    except ImportError:
        pass
    try:
        import cupy  # noqa: PLC0415

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return "cupy", cupy
    except Exception:  # noqa: BLE001
        pass
    return None, None


class MatMul:
    def __init__(self, kind, mod, n=8192):
        self.kind, self.mod = kind, mod
        if kind == "torch":
            self.a = mod.randn(n, n, device="cuda", dtype=mod.float16)
        else:
            self.a = mod.random.standard_normal((n, n), dtype=mod.float32).astype(mod.float16)

    def launch(self):
        return self.a @ self.a

    def sync(self):
        if self.kind == "torch":
            self.mod.cuda.synchronize()
        else:
            self.mod.cuda.runtime.deviceSynchronize()

    def burst(self, seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.launch()
            self.sync()


def gpu_run(nvml, quick: bool) -> None:
    from carbon_magic.config import Settings  # noqa: PLC0415
    from carbon_magic.session import CarbonSession  # noqa: PLC0415

    kind, mod = framework()
    if kind is None:
        print("\nGPU found but neither torch nor cupy with CUDA is importable: pip install torch")
        return
    h0 = nvml.nvmlDeviceGetHandleByIndex(0)
    name = nvml.nvmlDeviceGetName(h0)
    print(f"\nGPU: {name.decode() if isinstance(name, bytes) else name}, driver {nvml.nvmlSystemGetDriverVersion()}, "
          f"framework {kind}")
    with tempfile.TemporaryDirectory() as tmp:
        session = CarbonSession(Settings(interval_s=0.1, data_dir=Path(tmp), scope="machine")).start()  # the board's energy
        gpu_src = [s for s in session.sampler.sources if s.kind == "gpu"][0]
        mm = MatMul(kind, mod)
        mm.burst(2.0)  # warm up clocks and kernels
        poller = Poller(nvml, gpu_src._handle)
        poller.start()
        rows = []
        durations = (0.05, 0.2, 1.0, 5.0) if quick else (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
        for dur in durations:
            time.sleep(1.0)
            t0 = time.monotonic()
            w = session.begin(label=f"burst {dur:g} s")
            mm.burst(dur)
            rec = session.end(w)
            rows.append(compare_row(f"burst {dur:g} s", rec, t0, time.monotonic(), poller))
        print(table(COMPARE_COLS + [], rows, title=f"Bursts of matrix products: counter vs polled power "
                                                   f"({', '.join(sorted(poller.kinds))})"))
        rows = []
        for sync in (True, False):
            time.sleep(1.0)
            w = session.begin(label="launch")
            t_launch = time.perf_counter()
            for _ in range(400 if not quick else 100):  # queued, not waited for
                mm.launch()
            launch_s = time.perf_counter() - t_launch
            rec_a = session.end(w, sync=sync)
            w = session.begin(label="next")
            mm.sync()
            rec_b = session.end(w)
            ga = [c.energy_j for c in rec_a.components if c.kind == "gpu"][0]
            gb = [c.energy_j for c in rec_b.components if c.kind == "gpu"][0]
            rows.append([f"sync={'on' if sync else 'off'}", f"{launch_s * 1000:.0f} ms", f"{rec_a.duration_s:.2f} s",
                         f"{ga:.1f} J", f"{rec_b.duration_s:.2f} s", f"{gb:.1f} J", f"{ga / (ga + gb) * 100:.0f} %"])
        print(table(["CUDA sync at end", "launch time", "cell A duration", "cell A GPU energy", "next cell duration",
                     "next cell GPU energy", "share billed to A"], rows,
                    title="Asynchronous work launched at the end of a cell"))
        poller.stop()
        session.close()
    print(table(["configuration", "steps", "median step", "vs no session"], training_overhead(kind, mod, quick),
                title="Sampler overhead on a training step"))
    gpu_two_processes(kind, quick)


OTHER_GPU_PROCESS = r"""
import sys, time, torch
duty, seconds = float(sys.argv[1]), float(sys.argv[2])
a = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
torch.cuda.synchronize()
print("ready", flush=True)
sys.stdin.readline()
end = time.monotonic() + seconds
while time.monotonic() < end:
    t = time.monotonic()
    while time.monotonic() - t < duty * 0.1:
        a @ a
        torch.cuda.synchronize()
    time.sleep((1 - duty) * 0.1)
print("done", flush=True)
sys.stdin.readline()
"""


def duty_cycle(mm, duty: float, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        while time.monotonic() - t < duty * 0.1:
            mm.launch()
            mm.sync()
        time.sleep((1 - duty) * 0.1)


def gpu_two_processes(kind: str, quick: bool) -> None:
    """Section 4: this process and another share GPU 0; each is billed its share (see the docstring)."""
    import subprocess  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from carbon_magic.attribution import Attributor, ProcFS  # noqa: PLC0415
    from carbon_magic.config import Settings  # noqa: PLC0415
    from carbon_magic.session import CarbonSession  # noqa: PLC0415

    if kind != "torch":
        print("\nTwo processes on one GPU: skipped: torch is needed for the second process")
        return
    seconds, ours_duty, other_duty = (5.0 if quick else 20.0), 0.6, 0.3
    other = subprocess.Popen([sys.executable, "-c", OTHER_GPU_PROCESS, str(other_duty), str(seconds)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rows, reasons = [], []
    try:
        assert other.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory() as tmp:
            session = CarbonSession(Settings(interval_s=0.2, data_dir=Path(tmp), scope="process")).start()
            gpus = [s for s in session.sampler.sources if s.kind == "gpu"][:1]
            theirs = Attributor(gpus, proc=ProcFS(pid=other.pid))
            theirs.observe(session.sampler.snapshot())
            session.sampler.add_listener(theirs.tick, period_s=0.0)
            mm = MatMul("torch", torch, n=4096)
            time.sleep(2.0)  # idle: the board's idle power is its minimum seen
            w = session.begin(label="shared")
            m0 = theirs.observe(session.sampler.snapshot())
            other.stdin.write("go\n")
            other.stdin.flush()
            duty_cycle(mm, ours_duty, seconds)
            other.stdout.readline()
            rec = session.end(w)
            m1 = theirs.observe(session.sampler.snapshot())
            gpu = [c for c in rec.components if c.kind == "gpu"][0]
            other_j = m1.total_j() - m0.total_j()
            cell = session.attributor.usage().minus(w.attribution.usage) if w.attribution else None
            ours_sm, total_sm = cell.gpu_sm.get(gpu.name, (0.0, 0.0)) if cell else (0.0, 0.0)
            reasons = [f"shared: {rec.scope} scope ({rec.scope_reason})"]
            rows.append(["shared (this 0.6, other 0.3)", f"{rec.duration_s:.1f} s", f"{gpu.device_j:.0f} J",
                         f"{ours_sm / total_sm * 100:.0f} %" if total_sm else "-",
                         f"{gpu.energy_j:.0f} J ({(gpu.share or 0) * 100:.0f} %, {gpu.attribution})",
                         f"{other_j:.0f} J ({other_j / gpu.device_j * 100:.0f} %)" if gpu.device_j else "-",
                         f"{(gpu.energy_j + other_j) / gpu.device_j * 100:.0f} %" if gpu.device_j else "-",
                         f"{ours_duty / (ours_duty + other_duty) * 100:.0f} % of the work by duty"])
            other.stdin.write("\n")
            other.stdin.flush()
            other.wait(timeout=60)
            time.sleep(1.0)
            w = session.begin(label="alone")
            duty_cycle(mm, ours_duty, seconds / 2)
            rec = session.end(w)
            gpu = [c for c in rec.components if c.kind == "gpu"][0]
            rows.append(["alone (this 0.6)", f"{rec.duration_s:.1f} s", f"{gpu.device_j:.0f} J", "-",
                         f"{gpu.energy_j:.0f} J ({(gpu.share or 0) * 100:.0f} %, {gpu.attribution})", "-",
                         f"{(gpu.share or 0) * 100:.0f} %", "100 %"])
            reasons.append(f"alone: {rec.scope} scope ({rec.scope_reason})")
            session.close()
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
    print(table(["cell", "duration", "GPU energy (board)", "NVML SM share (this process)", "billed to this process",
                 "billed to the other", "sum of shares", "reference"], rows,
                title="Two processes on one GPU: each billed its share (process scope)"))
    for line in reasons:
        print(f"- {line}")


def training_overhead(kind, mod, quick):
    from carbon_magic.config import Settings  # noqa: PLC0415
    from carbon_magic.session import CarbonSession  # noqa: PLC0415

    if kind != "torch":
        return [["(torch needed for the training step)", "-", "-", "-"]]
    torch = mod
    model = torch.nn.Sequential(torch.nn.Linear(4096, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 4096)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(512, 4096, device="cuda")

    def steps(n):
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
            torch.cuda.synchronize()
            out.append(time.perf_counter() - t0)
        return out

    n = 200 if quick else 1000
    steps(50)
    rows, base = [], None
    for label, interval in (("no session", None), ("sampler 0.5 s", 0.5), ("sampler 0.1 s", 0.1),
                            ("no session (again)", None)):
        with tempfile.TemporaryDirectory() as tmp:
            session = CarbonSession(Settings(interval_s=interval, data_dir=Path(tmp))).start() if interval else None
            m = median(steps(n))
            if session:
                session.close()
        base = base or m
        rows.append([label, n, f"{m * 1000:.3f} ms", f"{(m / base - 1) * 100:+.2f} %"])
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print(header("GPU validation" + (" (--quick)" if args.quick else "")))
    nvml, reason = find_gpu()
    if nvml is None:
        print(f"\nNO GPU FOUND: {reason}. The real-GPU checks did not run; only the CPU self-checks below did.")
        print(f"\nTwo processes on one GPU (per-process attribution): skipped: no GPU ({reason})")
    rows = self_checks()
    print(table(["self-check (no GPU needed)", "result", "detail"], rows,
                title="Self-checks: integration, power reader, comparison against the fake NVML"))
    failed = [r for r in rows if r[1] != "pass"]
    if nvml is not None:
        gpu_run(nvml, args.quick)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

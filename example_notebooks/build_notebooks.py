"""Generate the workshop notebooks (01…07) from this script, so they can be reviewed as Python.

    python example_notebooks/build_notebooks.py          # (re)write the .ipynb files, without outputs
    python example_notebooks/build_notebooks.py --check  # exit 1 if a notebook's cells differ from this script

Cell ids are deterministic (`<notebook>-<n>`), so regenerating an unchanged notebook changes nothing.
`--check` compares what this script decides, each cell's type and source, and nothing that running
and saving a notebook changes (outputs, execution counts, metadata such as `language_info`, cell ids,
the nbformat minor version): a participant's run notebook still passes.
The test suite (tests/test_notebooks.py) runs every notebook headless and checks what it produced.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# -- 01 ---------------------------------------------------------------------------------------
QUICKSTART = [
    md("""
# 01 · Quick start: the energy and CO₂e of a notebook cell

`carbon_magic` measures what each cell costs: **energy** (joules, Wh) and **CO₂e** (grams).

* **Energy** is *measured* where the machine has a hardware counter: NVIDIA GPUs through NVML, the CPU package
  and DRAM through Linux RAPL. Where there is none (most laptops without root, macOS, many VMs) it is
  *estimated* from CPU utilisation and installed memory, and every number says `estimated`.
* **CO₂e** is energy × the **carbon intensity** of the grid (g CO₂e per kWh) where and when the cell ran. With
  no zone set it is the world average, flagged; with a zone it is that zone's figure (live with an API token,
  otherwise the embedded annual average, labelled `static`).

This notebook needs only `carbon_magic` itself (no PyTorch, no scikit-learn).
"""),
    code("%load_ext carbon_magic"),
    md("""
## Pre-flight: what can this machine measure?

`%carbon status` lists the power sources found (`measured` or `estimated`), what each estimate is made of
(CPU TDP, W per GB of RAM) and the variable that overrides it, the sources skipped **with the one-line fix**
(for RAPL on Linux: `sudo chmod a+r /sys/class/powercap/*/energy_uj`, then `%reload_ext carbon_magic`), the
grid zone and intensity provider, and three totals: **cells** (the measured cells), **idle** (between them)
and **session** (everything since `%load_ext`); the table and the JupyterLab sidebar use the same three. Read
it before trusting any number: on a laptop without sensors, every energy figure below is an estimate.

To set the zone: `%carbon zone FR` (a country, an Electricity Maps zone such as `US-MIDA-PJM`, a UK region or a
cloud region such as `aws:us-east-1`), or `CARBON_MAGIC_ZONE=FR` in the environment before starting Jupyter.
"""),
    code("%carbon status"),
    md("""
## Measure one cell: `%%carbon`

Put `%%carbon` on the first line. The cell runs unchanged (same output, same `Out[n]`); the summary line
follows it: energy by component, `measured` or `estimated`, grams CO₂e, the intensity used and where it came
from, and the wall time.
"""),
    code('''
%%carbon
total = sum(i * i for i in range(3_000_000))
total
'''),
    md("`--label` names the cell in tables, exports and reports:"),
    code('''
%%carbon --label sort
import random
random.seed(0)
values = [random.random() for _ in range(600_000)]
values.sort()
print(f"sorted {len(values):,} numbers")
'''),
    md("""
`-o VAR` keeps the cell's record (a `CellRecord`) in a variable: the same data that goes into the ledger
(an SQLite file in `CARBON_MAGIC_DATA_DIR`, written the moment the cell ends) and into every export.
"""),
    code('''
%%carbon --label squares -o rec
squares = [i * i for i in range(2_000_000)]
'''),
    code('''
print(f"energy: {rec.energy_j:.2f} J ({rec.energy_j / 3600:.5f} Wh), CO₂e: {rec.emissions_g:.5f} g, "
      f"time: {rec.duration_s:.2f} s")
print(f"intensity: {rec.intensity_g_per_kwh:.0f} g/kWh ({rec.intensity_label()})")
print("all components measured by hardware:", rec.measured)
rec.components
'''),
    md("""
Each component says how it was obtained: `counter` (a hardware energy counter), `sampled` (hardware power
integrated over time) or `estimated` (a model, here CPU utilisation × a per-core power figure and RAM size ×
0.3725 W/GB).

## Auto mode: every cell measured

`%carbon auto on` measures every cell without the magic until `%carbon auto off`.
"""),
    code("%carbon auto on"),
    code('''
words = " ".join(str(i) for i in range(400_000)).split()
len(words)
'''),
    code('''
counts = {}
for w in words:
    counts[w[-1]] = counts.get(w[-1], 0) + 1
sorted(counts.items())[:3]
'''),
    code("%carbon auto off"),
    md("""
## The session's table

One row per measured cell (label or execution count, first line, duration, energy by kind, intensity,
CO₂e, measured/estimated), and a totals row that also counts the idle energy between cells.
"""),
    code("%carbon table"),
    md("""
## Export

The format follows the suffix: `.csv` (CodeCarbon's columns, readable by its dashboard and by pandas),
`.json`, `.md` / `.html` (a receipt, see notebook 06), `.svg` (a badge). Exports go to `outputs/` next to
this notebook.
"""),
    code('''
from pathlib import Path
Path("outputs").mkdir(exist_ok=True)
%carbon export outputs/01_quickstart.csv
'''),
    code('''
import csv
with open("outputs/01_quickstart.csv", newline="") as f:
    rows = list(csv.DictReader(f))
print(f"{len(rows)} rows; columns include:", ", ".join(list(rows[0])[:8]), "…")
for r in rows:
    print(f"  {r.get('label') or '[' + r.get('execution_count', '?') + ']':<10}  energy {float(r['energy_consumed']):.3g} kWh"
          f"  emissions {float(r['emissions']):.3g} kg")
'''),
    md("""
## What this session measured

The records are also in Python (`carbon_magic.extension.session_for(get_ipython()).records`): here, the
total of every measured cell, and how much of it came from a hardware sensor.
"""),
    code('''
from carbon_magic.extension import session_for
from workshop_utils import display_result, record_row

session = session_for(get_ipython())
records = session.records
summary = display_result("quickstart", {
    "rows": [record_row(r.label or f"[{r.execution_count}]", r) for r in records],
    "cells": len(records),
    "total_energy_j": sum(r.energy_j for r in records),
    "total_emissions_g": sum(r.emissions_g for r in records),
    "measured_cells": sum(r.measured for r in records),
    "rec": {k: rec.to_dict()[k] for k in ("label", "energy_j", "emissions_g", "components")},
    "csv_rows": len(rows),
})
'''),
]

# -- 02 ---------------------------------------------------------------------------------------
LIVE = [
    md("""
# 02 · Live: watch the watts and the grams while a model trains

`%%carbon --live` shows a chart above the cell's output while it runs: power in W per component (measured
and estimated drawn differently) against the grid's carbon intensity, with the CO₂e so far. When the cell ends,
its chart stops and keeps the cell's final numbers (`final: … (cell ended)`). In JupyterLab the **carbon
sidebar** (right-hand panel) shows the whole session live, and every measured cell gets a badge.
Where widgets cannot render (nbconvert, a terminal) you get a text snapshot instead.

Inside the cell, `carbon_magic.measure(label=...)` measures each epoch on its own, so the per-epoch energy is
printed as the model trains. The epochs are nested in the training cell: their sum is at most the cell's energy
(the rest is data loading and setup).

Needs the `examples` extra (PyTorch and scikit-learn): `pip install -e ".[examples]"`.
"""),
    code('''
%load_ext carbon_magic
import torch
import carbon_magic
from carbon_magic.extension import session_for
import workshop_utils as w

session = session_for(get_ipython())
device = w.setup_torch()
X_tr, X_te, y_tr, y_te = w.digits_tensors(seed=0, device=device)  # the bundled digits, as tensors
'''),
    code('''
%%carbon --live --label training -o train_rec
model = w.make_mlp(hidden=1024, device=device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
epochs = []
for i in range(1, 7):
    with carbon_magic.measure(label=f"epoch {i}", session=session) as m:
        loss = w.train_epoch(model, opt, X_tr, y_tr, seed=i)
    acc = w.accuracy(model, X_te, y_te)
    r = m.record
    epochs.append(w.record_row(f"epoch {i}", r, loss=loss, accuracy=acc))
    print(f"epoch {i}: loss {loss:.3f}  test accuracy {acc:.3f}  "
          f"{r.energy_j:.1f} J in {r.duration_s:.2f} s ({r.energy_j / r.duration_s:.1f} W average)  "
          f"{r.emissions_g * 1000:.2f} mg CO₂e", flush=True)
'''),
    md("""
## Per epoch against the whole cell

The first epoch often costs more (memory allocation, warm-up); later ones settle. The cell's record covers
the epochs plus what runs between them (building the model, the test-set evaluation after each epoch).
Without a power sensor the estimate is CPU utilisation × a per-core figure plus RAM size × 0.3725 W/GB, so the
average W barely moves between epochs and energy follows time; with RAPL or a GPU the watts are read.
"""),
    code('''
epochs_j = sum(e["energy_j"] for e in epochs)
result = w.display_result("live_training", {
    "rows": epochs,
    "epochs_energy_j": epochs_j,
    "cell_energy_j": train_rec.energy_j,
    "outside_epochs_j": train_rec.energy_j - epochs_j,
    "cell_emissions_g": train_rec.emissions_g,
    "final_accuracy": epochs[-1]["accuracy"],
    "measured": train_rec.measured,
})
'''),
    md("`%carbon live` shows the whole session's chart (idle time between cells included); it keeps following the kernel:"),
    code("%carbon live"),
]

# -- 03 ---------------------------------------------------------------------------------------
MIXED = [
    md("""
# 03 · Mixed precision: same model, fewer bits

The same training twice: in full precision (float32) and with **autocast** to a 16-bit format: `bfloat16` on a
CPU, `bfloat16` (or `float16` with a gradient scaler) on an NVIDIA GPU. Energy, time and accuracy side by
side, and the ratio computed from the records.

What to expect: on GPUs with tensor cores and on CPUs with bf16 instructions (Intel AMX / AVX512-BF16, recent
ARM) mixed precision is usually faster and uses less energy. On a CPU without them, autocast adds conversions
and is *slower*: the measurement tells you which case your machine is. On a machine without sensors the energy
is an estimate from CPU utilisation × time, so the ratio mostly follows the time ratio.
"""),
    code('''
%load_ext carbon_magic
import torch
import workshop_utils as w

device = w.setup_torch()
amp_dtype, scaler = w.amp_settings(device)
print(f"device: {device}; mixed precision: {str(amp_dtype).replace('torch.', '')}"
      + (" with a GradScaler" if scaler else ""))
'''),
    md("A short warm-up (unmeasured), so neither run pays for first-call set-up:"),
    code('''
_ = w.train(epochs=1, amp=False, device=device, verbose=False)
_ = w.train(epochs=1, amp=True, device=device, verbose=False)
'''),
    code('''
%%carbon --label fp32 -o rec_fp32
res_fp32 = w.train(epochs=5, hidden=512, amp=False, device=device)
'''),
    code('''
%%carbon --label mixed -o rec_amp
res_amp = w.train(epochs=5, hidden=512, amp=True, device=device)
'''),
    md("## Side by side"),
    code('''
rows = [w.record_row(res["precision"], rec, accuracy=res["accuracy"])
        for res, rec in ((res_fp32, rec_fp32), (res_amp, rec_amp))]
energy_ratio = rec_amp.energy_j / rec_fp32.energy_j
time_ratio = rec_amp.duration_s / rec_fp32.duration_s
result = w.display_result("mixed_precision", {
    "rows": rows,
    "device": device,
    "energy_ratio_mixed_over_fp32": energy_ratio,
    "time_ratio_mixed_over_fp32": time_ratio,
    "energy_saving_pct": (1 - energy_ratio) * 100,
    "accuracy_change": res_amp["accuracy"] - res_fp32["accuracy"],
    "measured": rec_fp32.measured and rec_amp.measured,
})
verdict = (f"{(1 - energy_ratio) * 100:.0f} % less energy than" if energy_ratio < 1
           else f"{energy_ratio:.1f}× the energy of")
print(f"Mixed precision used {verdict} float32 on this {device} "
      f"({'measured' if result['measured'] else 'estimated'}), "
      f"accuracy {res_fp32['accuracy']:.3f} → {res_amp['accuracy']:.3f}.")
'''),
]

# -- 04 ---------------------------------------------------------------------------------------
SEARCH = [
    md("""
# 04 · Search strategies: the same accuracy for less energy

Hyper-parameter search is often most of a project's compute. Three ways to tune an SVM on the digits data
(bundled with scikit-learn), each measured:

* **grid search**: every combination of 5 values of `C` × 5 of `gamma`, 3-fold cross-validation (75 fits);
* **random search**: 8 random combinations from the same ranges (24 fits);
* **successive halving** (`HalvingRandomSearchCV`): many candidates on a little data, only the best get more.

The target: **≥ 97 % accuracy on the held-out test set**. Which strategies reach it, and at what cost?
"""),
    code('''
%load_ext carbon_magic
from scipy.stats import loguniform
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingRandomSearchCV, RandomizedSearchCV
from sklearn.svm import SVC
import workshop_utils as w

X_tr, X_te, y_tr, y_te = w.digits_split(seed=0)
TARGET = 0.97
grid = {"C": [0.1, 1, 10, 100, 1000], "gamma": [1e-4, 1e-3, 1e-2, 1e-1, 1]}
space = {"C": loguniform(1e-1, 1e3), "gamma": loguniform(1e-4, 1)}
'''),
    code('''
%%carbon --label grid -o rec_grid
grid_search = GridSearchCV(SVC(), grid, cv=3).fit(X_tr, y_tr)
'''),
    code('''
%%carbon --label random -o rec_random
random_search = RandomizedSearchCV(SVC(), space, n_iter=8, cv=3, random_state=0).fit(X_tr, y_tr)
'''),
    code('''
%%carbon --label halving -o rec_halving
halving_search = HalvingRandomSearchCV(SVC(), space, n_candidates=25, factor=3, min_resources=60, cv=3,
                                       random_state=0).fit(X_tr, y_tr)
'''),
    md("## The comparison"),
    code('''
runs = [("grid", grid_search, rec_grid), ("random", random_search, rec_random),
        ("halving", halving_search, rec_halving)]
rows = []
for name, search, rec in runs:
    test_acc = search.score(X_te, y_te)
    rows.append(w.record_row(name, rec, fits=len(search.cv_results_["params"]) * 3, test_accuracy=test_acc,
                             reached_target=bool(test_acc >= TARGET),
                             energy_vs_grid=rec.energy_j / rec_grid.energy_j))
cheapest = min((r for r in rows if r["reached_target"]), key=lambda r: r["energy_j"], default=None)
result = w.display_result("search_strategies", {
    "rows": rows,
    "target_accuracy": TARGET,
    "cheapest_reaching_target": cheapest["name"] if cheapest else None,
    "saving_vs_grid_j": rec_grid.energy_j - cheapest["energy_j"] if cheapest else None,
    "saving_vs_grid_g": rec_grid.emissions_g - cheapest["emissions_g"] if cheapest else None,
})
if cheapest:
    print(f"{cheapest['name']} reached {TARGET:.0%} with {cheapest['energy_vs_grid']:.0%} of the grid search's "
          f"energy ({rec_grid.energy_j - cheapest['energy_j']:.0f} J and "
          f"{(rec_grid.emissions_g - cheapest['emissions_g']) * 1000:.2f} mg CO₂e less).")
'''),
    md("""
Talking point: the `fits` column is the lever. Grid search cost grows with the product of the values tried
per parameter; random search fixes the budget; successive halving spends most of it on the few promising
candidates. Exercise: give random search `n_iter=4`, or halving `factor=2`: does it still reach the target?
"""),
]

# -- 05 ---------------------------------------------------------------------------------------
WHERE = [
    md("""
# 05 · Where and when: the same energy, different grams

The same kWh emits very different CO₂e depending on the grid that supplies it: hydro, nuclear and wind grids
(France, Sweden, Norway) run at a few tens of g/kWh, coal- and gas-heavy ones at several hundred. And a grid's
intensity changes through the day.

* `%carbon whatif ZONE…` re-prices this session's cells in other zones (a country, an Electricity Maps zone, a
  cloud region such as `aws:us-east-1` or `gcp:europe-north1`).
* `%carbon forecast --duration 2h` finds the greenest start window for a 2-hour job from the provider's
  forecast, and `%carbon wait` waits for it.

**Offline** (no token, no network) both use the **embedded** table of annual averages (sources, years and
licences ship with the package) and say so: no forecast can be made from annual averages. **With a token**
(`ELECTRICITYMAPS_API_TOKEN`, or WattTime credentials, or for Great Britain the free UK API) they use live
and forecast data. Tokens are read from the environment only.
"""),
    code('''
%load_ext carbon_magic
import os
has_token = bool(os.environ.get("ELECTRICITYMAPS_API_TOKEN") or os.environ.get("WATTTIME_USERNAME"))
print("intensity data:", "live (a provider token is set)" if has_token
      else "offline: the embedded annual averages (set ELECTRICITYMAPS_API_TOKEN for live data)")
'''),
    md("Say the team trains in AWS `us-east-1` today:"),
    code("%carbon zone aws:us-east-1"),
    code('''
%%carbon --label "train (us-east-1)" -o rec_here
import numpy as np
rng = np.random.default_rng(0)
a = rng.standard_normal((600, 600))
for _ in range(40):
    a = np.tanh(a @ a.T / 600)
float(a.sum())
'''),
    code('''
print(f"{rec_here.energy_j:.1f} J at {rec_here.intensity_g_per_kwh:.0f} g/kWh "
      f"({rec_here.intensity_label()}) = {rec_here.emissions_g * 1000:.3f} mg CO₂e")
'''),
    md("""
## The same energy elsewhere

`%carbon whatif` prints a table and also returns it as an object, so the comparison can be computed on: here
the intensity each zone implies (grams ÷ kWh) and the greenest choice. The `basis` column says where each
figure came from (`static annual average (year)` offline).
"""),
    code("whatif = %carbon whatif aws:us-east-1 gcp:europe-north1 FR SE"),
    code('''
from workshop_utils import display_result

kwh = whatif.energy_j / 3.6e6
rows = [{"zone": r.zone, "emissions_g": r.emissions_g, "intensity_g_per_kwh": r.emissions_g / kwh,
         "saving_g": r.saving_g, "saving_pct": r.saving_pct, "basis": r.basis}
        for r in whatif.rows if r.when is None]  # same hours, other zones
greenest = min(rows, key=lambda r: r["emissions_g"])
result = display_result("where_and_when", {
    "rows": rows,
    "energy_j": whatif.energy_j,
    "baseline_g": whatif.baseline_g,
    "greenest": greenest["zone"],
    "greenest_over_baseline": greenest["emissions_g"] / whatif.baseline_g,
})
print(f"The same {whatif.energy_j:.0f} J in {greenest['zone']} would have emitted "
      f"{greenest['emissions_g'] / whatif.baseline_g:.0%} of what it emitted in aws:us-east-1.")
'''),
    md("## The greenest time to start"),
    code("%carbon forecast --duration 2h"),
    md("""
## Wait for green

`%carbon wait --within 12h --duration 2h` blocks until the greenest 2-hour window of the forecast begins, with a
countdown and the expected saving; interrupting the kernel (■) skips it and the cell still ends normally.
The next measured cell's record says it was **deferred** and what that saved against starting at once, first
by the forecast, then, once the grid has published them, by the realised intensities. Offline there is no
forecast, so it says so in one line and does not wait:
"""),
    code("%carbon wait --within 12h --duration 2h"),
    md("""
To see a wait without waiting hours, replay a **recorded** series: real hourly intensities of Great Britain on
2–3 January 2023 (Electricity Maps data portal, ODbL; `data/README.md`), taken as if they were the forecast at
14:00 on the 2nd, and a clock running two hours per second. (A live run uses the provider's forecast instead.)
The next cell's own CO₂e is priced as before, in this session's zone; its `avoided_g` is priced with the recording.
"""),
    code('''
import carbon_magic
from carbon_magic.act import ReplayClock
from carbon_magic.act.forecast import read_hourly_csv

recorded = read_hourly_csv("data/GB_2023-01-02_03_hourly.csv")
now = recorded[14][0]  # 2023-01-02 14:00 UTC: the evening peak is coming
waited = carbon_magic.wait_for_green(within="12h", duration="2h", forecast=[r for r in recorded if r[0] >= now],
                                     clock=ReplayClock(now, speed=7200))
'''),
    code('''
%%carbon --label "after the wait" -o rec_waited
a = rng.standard_normal((600, 600))
for _ in range(40):
    a = np.tanh(a @ a.T / 600)
float(a.sum())
'''),
    code('''
result = display_result("wait_for_green", {
    "outcome": waited.outcome,
    "waited_h": waited.waited_s / 3600,
    "forecast_saving_pct": waited.plan.saving_pct,
    "deferred_s": rec_waited.deferred_s,
    "avoided_g": rec_waited.avoided_g,
    "avoided_basis": rec_waited.avoided_basis,
    "energy_j": rec_waited.energy_j,
})
'''),
    md("""
Talking points: moving a job between regions changes its CO₂e by the ratio of the intensities, with zero
change to the code or the energy; shifting it in time helps where the grid's mix swings during the day (solar
at noon, wind at night). Both need a job that can wait or move; the energy saved by notebooks 03 and 04
multiplies with these.
"""),
]

# -- 06 ---------------------------------------------------------------------------------------
REPORTING = [
    md("""
# 06 · Reporting: a receipt for a paper or a hand-in, and a class comparison

* `%carbon export receipt.md` (or `.html`): a **carbon receipt**: totals, the per-cell table, the method (what
  was measured and what estimated, and how), the intensity sources with their licences, relatable equivalents
  with their sources, and one sentence to paste into a paper or a course hand-in.
* `%carbon export emissions.csv`: one row per cell in CodeCarbon's columns and units.
* `carbon-magic report *.ipynb`: the command line reads the records that JupyterLab stores in each notebook's
  cell metadata, with no kernel and no network, and compares notebooks: a class leaderboard.
* `%carbon export model-card.md`: the carbon disclosure of a model card (last section).

First, three ways to solve the same exercise (classify the digits), each measured, standing in for three
participants. `--per {len(X_tr)} samples` says how many training samples each cell processed, so the summary
also gives the energy and CO₂e **per sample**, and the Software Carbon Intensity.
"""),
    code('''
%load_ext carbon_magic
from pathlib import Path
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
import workshop_utils as w

X_tr, X_te, y_tr, y_te = w.digits_split(seed=0)
Path("outputs").mkdir(exist_ok=True)
'''),
    code('''
%%carbon --label participant_A --per {len(X_tr)} samples -o rec_a
model_a = GridSearchCV(SVC(), {"C": [1, 10], "gamma": [1e-3, 1e-2, 1e-1]}, cv=3).fit(X_tr, y_tr)
print("A: grid-searched SVM, test accuracy", round(model_a.score(X_te, y_te), 3))
'''),
    code('''
%%carbon --label participant_B --per {len(X_tr)} samples -o rec_b
model_b = SVC(C=10, gamma=1e-2).fit(X_tr, y_tr)
print("B: one SVM with sensible defaults, test accuracy", round(model_b.score(X_te, y_te), 3))
'''),
    code('''
%%carbon --label participant_C --per {len(X_tr)} samples -o rec_c
model_c = KNeighborsClassifier(n_neighbors=3).fit(X_tr, y_tr)
print("C: 3 nearest neighbours, test accuracy", round(model_c.score(X_te, y_te), 3))
'''),
    md("## The receipt"),
    code('''
%carbon export outputs/receipt.md
%carbon export outputs/receipt.html
%carbon export outputs/emissions.csv
'''),
    code('''
from IPython.display import Markdown
Markdown(Path("outputs/receipt.md").read_text())
'''),
    md("The CSV reads like CodeCarbon's `emissions.csv` (emissions in kg, energy in kWh):"),
    code('''
import csv
with open("outputs/emissions.csv", newline="") as f:
    csv_rows = list(csv.DictReader(f))
for r in csv_rows:
    print(f"{r.get('label') or '':<15} {float(r['duration']):7.2f} s "
          f"{float(r['energy_consumed']):.3e} kWh {float(r['emissions']):.3e} kg")
print("total from the CSV:", f"{sum(float(r['emissions']) for r in csv_rows) * 1000:.5f} g CO₂e")
'''),
    md("""
## A class comparison

In a workshop each participant saves their notebook (JupyterLab stores every measured cell's record in the
cell's metadata) and hands it in. Here we write three such notebooks from the records measured above, then
run the report command over the folder, as a facilitator would.
"""),
    code('''
class_dir = Path("class")
class_dir.mkdir(exist_ok=True)
for name, rec in (("participant_A", rec_a), ("participant_B", rec_b), ("participant_C", rec_c)):
    w.write_participant_notebook(class_dir / f"{name}.ipynb", f"Digits exercise, {name}", [rec])
sorted(p.name for p in class_dir.glob("*.ipynb"))
'''),
    code("!carbon-magic report class/*.ipynb"),
    code('''
ranked = sorted((("participant_A", rec_a), ("participant_B", rec_b), ("participant_C", rec_c)),
                key=lambda x: x[1].emissions_g)
result = w.display_result("reporting", {
    "rows": [w.record_row(name, rec) for name, rec in ranked],
    "leader": ranked[0][0],
    "csv_rows": len(csv_rows),
    "csv_emissions_g": sum(float(r["emissions"]) for r in csv_rows) * 1000,
    "receipt_md_bytes": Path("outputs/receipt.md").stat().st_size,
    "receipt_html_bytes": Path("outputs/receipt.html").stat().st_size,
    "highest_over_lowest": ranked[-1][1].emissions_g / ranked[0][1].emissions_g,
})
'''),
    md("""
## Disclose: a model card from the training cells

Say participant B's model is the one we publish. Its model card should say what training it cost.
`%carbon export model-card.md` writes, from the measured cells:

* the Hugging Face **`co2_eq_emissions`** metadata (YAML front matter: grams CO₂e, source, training type,
  location, hardware), which the Hub shows on the model page;
* the model card template's **Environmental Impact** section, filled: hardware, hours, cloud provider and
  region, carbon emitted **with its ±** and how much of the energy was measured and how much estimated;
* **per unit and SCI**: energy and CO₂e per training sample, and the Software Carbon Intensity
  `(E·I + M) per R`, where M is the hardware's embodied carbon for the cell's time (estimated, from a table of
  published figures with their sources);
* an **SPDX 3.0.1** AI `energyConsumption` block (training and inference energy in kWh).

`--cells` names the training cells (default: the labelled cells), `--inference` the cells that only predict.
"""),
    code('''
%%carbon --label predict --per {len(X_te)} samples -o rec_pred
predictions = model_b.predict(X_te)
'''),
    code("%carbon export outputs/model-card.md --cells participant_B --inference predict"),
    code('''
card = Path("outputs/model-card.md").read_text()
print(card.split("---\\n")[1])  # the YAML front matter, between the first two '---' lines
Markdown(card.split("---\\n", 2)[2])
'''),
    code('''
result = w.display_result("disclose", {
    "training_g": rec_b.emissions_g,
    "training_g_per_sample": rec_b.emissions_g / len(X_tr),
    "embodied_g": rec_b.embodied_g,
    "sci_g_per_sample": (rec_b.emissions_g + rec_b.embodied_g) / len(X_tr),
    "inference_kwh": rec_pred.energy_j / 3.6e6,
    "card_bytes": len(card),
})
'''),
]

# -- 07 ---------------------------------------------------------------------------------------
CLUSTER = [
    md("""
# 07 · A Dask cluster: the energy of each node, billed to the cell that ran the work

When a notebook drives a cluster, the energy is spent on the workers, not in the kernel. With a
`distributed.Client` in the kernel, `carbon_magic` attaches to it by itself (`%carbon cluster on` / `off` by
hand; `CARBON_MAGIC_CLUSTER=off` to never attach):

* a **worker plugin** runs carbon_magic's own sampler on **one worker per machine** (elected, so a node with many
  workers is counted once) and logs when each task starts and ends;
* each measured cell runs inside its own **Dask span**, so every task it submits carries the cell;
* each node's energy, over the time the cell's tasks ran there, is billed to the cell: components named
  `<node>/<sensor>`, each node priced at **its own zone** (`CARBON_MAGIC_ZONE` on that node);
* work that **outlives the cell** keeps being billed to it: the record is revised (a new version in the ledger,
  the badge updates) until its tasks end; energy while no measured cell's task runs is **cluster idle**.

carbon_magic must be installed on the workers (`pip install carbon_magic[dask]` there, as for any worker plugin).

Here, on one machine, two worker processes **play two nodes**: each gets its own `CARBON_MAGIC_HOST_ID` (the
override for a node's identity; by default it is the host name plus the boot id). Both read this machine's
sensors, so their figures overlap each other and this kernel's own line; on a real cluster each node is its
own machine.
"""),
    code('''
%load_ext carbon_magic
from distributed import Client, Nanny, Scheduler, SpecCluster
import workshop_utils as w

nodes = {name: {"cls": Nanny, "options": {"nthreads": 1, "env": {"CARBON_MAGIC_HOST_ID": name}}}
         for name in ("node-a", "node-b")}
cluster = SpecCluster(workers=nodes, scheduler={"cls": Scheduler, "options": {"dashboard": False}},
                      silence_logs="error")
client = Client(cluster)
client.wait_for_workers(2)
'''),
    md("""
## One computation, measured on both nodes

The summary line names the cluster nodes apart from this machine's sensors. It is written when the cell
ends, with the readings that have arrived by then (`cluster: … this record updates`): the nodes report every
second, and the record is revised until every task of the cell has ended and been read.
"""),
    code('''
%%carbon --label dask-matmul -o rec
import dask.array as da
x = da.random.random((1500, 1500), chunks=(500, 500))
float((x @ x.T).mean().compute())
'''),
    code('''
w.wait_settled(rec)
print(rec)
per_node = w.display_result("per_node", {
    "rows": [{"node": n["node"], "energy_J": round(n["energy_j"], 3), "CO2e_mg": round(n["emissions_g"] * 1e3, 4),
              "busy_s": round(n["busy_s"], 3), "zone": n["zone"] or "the kernel's"} for n in rec.cluster["nodes"]],
    "cluster_energy_j": rec.cluster_energy_j,
    "revision": rec.revision,
    "attribution": rec.cluster["attribution"],
})
'''),
    md("""
`%carbon status` shows each node's **probe table**: the sensors its meter reads (or why it cannot: a node whose
sensors are unreadable says so, with the fix), its zone, and its **cluster idle** energy. The JupyterLab
sidebar lists the same.
"""),
    code("%carbon status"),
    md("""
## Work that outlives its cell

`client.submit` returns at once; the task runs on after the cell has ended. The record written at the end
of the cell says it is pending; it is revised while the task runs and once more when it ends.
"""),
    code('''
def slow(seconds):
    import time
    t0 = time.time()
    time.sleep(seconds)
    return time.time() - t0
'''),
    code('''
%%carbon --label outlives -o late
future = client.submit(slow, 2.0, pure=False)
'''),
    code('''
print("when the cell ended: pending", late.cluster["pending"], "· revision", late.revision)
task_s = future.result()
w.wait_settled(late)
print("after the task ended: pending", late.cluster["pending"], "· revision", late.revision)
print(late)
outlives = w.display_result("outlives", {"task_s": task_s, "revision": late.revision,
                                         "cluster_energy_j": late.cluster_energy_j})
'''),
    code('''
client.close()
cluster.close()
'''),
]

NOTEBOOKS = {
    "01_quickstart": QUICKSTART,
    "02_live_training": LIVE,
    "03_mixed_precision": MIXED,
    "04_search_strategies": SEARCH,
    "05_where_and_when": WHERE,
    "06_reporting": REPORTING,
    "07_cluster": CLUSTER,
}


def build(name: str, cells) -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for i, cell in enumerate(cells, 1):
        cell["id"] = f"{name}-{i}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def content(nb) -> list[tuple[str, str]]:
    """What this script decides about a notebook: each cell's type and source, in order."""
    return [(c.cell_type, c.source) for c in nb.cells]


def stale(directory: Path = HERE) -> list[str]:
    """Notebooks in `directory` whose cells (types, sources) differ from this script's, or missing."""
    out = []
    for name, cells in NOTEBOOKS.items():
        path = Path(directory) / f"{name}.ipynb"
        try:
            on_disk = content(nbformat.read(path, as_version=4))
        except (OSError, ValueError) as exc:  # missing, or not a notebook (NotJSONError is a ValueError)
            out.append(f"{path.name} ({type(exc).__name__})")
            continue
        if on_disk != content(build(name, cells)):
            out.append(path.name)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true",
                   help="only compare the cells (types and sources) with the notebooks on disk")
    p.add_argument("--dir", type=Path, default=HERE, help="where the notebooks are (default: beside this script)")
    args = p.parse_args(argv)
    if args.check:
        differ = stale(args.dir)
        if differ:
            print(f"cells differ from {Path(__file__).name}: {', '.join(differ)}. Regenerating "
                  "(python example_notebooks/build_notebooks.py) overwrites these notebooks, your edits and "
                  "outputs included: copy them first.", file=sys.stderr)
            return 1
        return 0
    for name, cells in NOTEBOOKS.items():
        path = args.dir / f"{name}.ipynb"
        path.write_text(render(build(name, cells)), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

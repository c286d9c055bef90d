"""Small helpers shared by the workshop notebooks (data, a tiny model, result tables).

Nothing here measures energy: every number comes from carbon_magic's records. The helpers only
keep the notebooks short (the same training loop in 02 and 03) and show each comparison as a
readable, rounded table (``display_result``); the exact numbers travel along as JSON, which
JupyterLab does not pick over the table and the test suite reads back.
"""
from __future__ import annotations

import html
import json
import math

RESULT_MIME = "application/json"


# -- results ---------------------------------------------------------------------------------
def display_result(name: str, data: dict) -> dict:
    """Show `data` as a rounded table and attach it, exact, as JSON (`{"workshop_result": name, ...}`)."""
    from IPython.display import display  # noqa: PLC0415

    bundle = result_bundle(name, data)
    display(bundle, raw=True)
    return bundle[RESULT_MIME]


def result_bundle(name: str, data: dict) -> dict:
    """The output: an HTML table (what JupyterLab shows: its HTML renderer outranks the JSON
    tree), plain text (terminals, nbconvert), and the exact values as JSON (the tests)."""
    payload = {"workshop_result": name, **data}
    json.dumps(payload)  # fail here, loudly, if something is not JSON-serialisable
    return {"text/html": format_result_html(name, data), "text/plain": format_result(name, data),
            RESULT_MIME: payload}


def format_result(name: str, data: dict) -> str:
    lines = [f"{name}:"]
    rows = data.get("rows")
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        cols = list(rows[0])
        cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    for k, v in data.items():
        if k != "rows":
            lines.append(f"  {k}: {_fmt(v)}")
    return "\n".join(lines)


def format_result_html(name: str, data: dict) -> str:
    """The same as `format_result`, as HTML tables: the rows, then one line per other value."""
    e = html.escape
    parts = [f"<p><b>{e(name)}</b></p>"]
    rows = data.get("rows")
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        cols = list(rows[0])
        head = "".join(f"<th>{e(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{e(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    others = [(k, v) for k, v in data.items() if k != "rows"]
    if others:
        body = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(_fmt(v))}</td></tr>" for k, v in others)
        parts.append(f"<table><tbody>{body}</tbody></table>")
    return "".join(parts)


def _fmt(v) -> str:
    """Rounded for reading: three significant digits, never an exponent; containers inline."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return _fmt_float(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "; ".join(_fmt(x) for x in v)
    return str(v)


def _fmt_float(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    decimals = min(12, 2 - math.floor(math.log10(a)))
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def record_row(name: str, rec, **extra) -> dict:
    """One comparison row from a CellRecord: energy, CO₂e, time, how it was obtained."""
    return {"name": name, "energy_j": rec.energy_j, "emissions_g": rec.emissions_g,
            "duration_s": rec.duration_s, "measured": rec.measured, **extra}


# -- data ------------------------------------------------------------------------------------
def digits_split(seed: int = 0, test_size: float = 0.25):
    """scikit-learn's bundled 8×8 digits (1797 images, no download), scaled to [0, 1]."""
    from sklearn.datasets import load_digits  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)


def digits_tensors(seed: int = 0, device: str = "cpu"):
    import torch  # noqa: PLC0415

    X_tr, X_te, y_tr, y_te = digits_split(seed)
    f = lambda a: torch.tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    i = lambda a: torch.tensor(a, dtype=torch.long, device=device)  # noqa: E731
    return f(X_tr), f(X_te), i(y_tr), i(y_te)


# -- a tiny model ----------------------------------------------------------------------------
def setup_torch(max_threads: int = 4) -> str:
    """Use at most half the logical CPUs (1 on a 2-core machine) and return the device to train on.

    PyTorch's default (one thread per core) spins waiting threads when the cores are shared with
    anything else (the sampler, the browser, a neighbour's job): on a busy 2-core machine 3 epochs
    took 8.0 s with 2 threads against 0.44 s with 1, and energy follows time. Fewer threads is the
    greener default for a tiny model.
    """
    import os  # noqa: PLC0415

    import torch  # noqa: PLC0415

    torch.set_num_threads(max(1, min(max_threads, (os.cpu_count() or 2) // 2)))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"training on {device}" + (f" with {torch.get_num_threads()} CPU thread(s)" if device == "cpu" else ""))
    return device


# -- a tiny model ----------------------------------------------------------------------------
def make_mlp(hidden: int = 512, layers: int = 2, seed: int = 0, device: str = "cpu"):
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    torch.manual_seed(seed)
    blocks, width = [], 64
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    blocks.append(nn.Linear(width, 10))
    return nn.Sequential(*blocks).to(device)


def amp_settings(device: str):
    """(autocast dtype, needs a GradScaler) for mixed precision on this device."""
    import torch  # noqa: PLC0415

    if device == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, False
        return torch.float16, True
    return torch.bfloat16, False


def train_epoch(model, opt, X, y, batch_size: int = 64, amp_dtype=None, scaler=None, seed: int = 0) -> float:
    """One pass over (X, y); returns the mean loss. `amp_dtype` turns autocast on."""
    import torch  # noqa: PLC0415
    from torch.nn import functional as F  # noqa: PLC0415

    model.train()
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(X), generator=g).to(X.device)
    total, n = 0.0, 0
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=X.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = F.cross_entropy(model(X[idx]), y[idx])
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        total += loss.item() * len(idx)
        n += len(idx)
    return total / n


def accuracy(model, X, y, amp_dtype=None) -> float:
    import torch  # noqa: PLC0415

    model.eval()
    with torch.no_grad(), torch.autocast(device_type=X.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        return float((model(X).argmax(1) == y).float().mean())


def train(epochs: int = 5, hidden: int = 512, amp: bool = False, device: str = "cpu", seed: int = 0,
          batch_size: int = 64, lr: float = 1e-3, verbose: bool = True) -> dict:
    """Train the digits MLP; returns the test accuracy and the precision and device used.

    Time and energy are not measured here: the `%%carbon` cell around the call records them.
    """
    import torch  # noqa: PLC0415

    X_tr, X_te, y_tr, y_te = digits_tensors(seed, device)
    model = make_mlp(hidden, seed=seed, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    amp_dtype, needs_scaler = amp_settings(device) if amp else (None, False)
    scaler = torch.amp.GradScaler(device) if needs_scaler else None
    for epoch in range(epochs):
        loss = train_epoch(model, opt, X_tr, y_tr, batch_size, amp_dtype, scaler, seed=seed + epoch)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss:.3f}", flush=True)
    acc = accuracy(model, X_te, y_te, amp_dtype)
    precision = str(amp_dtype).replace("torch.", "") if amp_dtype is not None else "float32"
    return {"accuracy": acc, "precision": precision, "device": device}


# -- participant notebooks (06) --------------------------------------------------------------
def write_participant_notebook(path, title: str, records) -> None:
    """A small notebook whose cells carry records the way the JupyterLab extension stores them.

    Cell metadata `carbon_magic` = {"last": <v1 record>, "history": [...]}, one cell per record.
    """
    import nbformat  # noqa: PLC0415
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: PLC0415

    cells = [new_markdown_cell(f"# {title}")]
    for rec in records:
        d = rec.to_dict()
        cell = new_code_cell(f"%%carbon --label {rec.label}\n# {rec.code_head or ''}")
        cell.metadata["carbon_magic"] = {
            "last": d,
            "history": [{k: d[k] for k in ("started_at", "energy_j", "emissions_g", "duration_s", "status")}],
        }
        cells.append(cell)
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.write(nb, str(path))


# -- cluster (07) ----------------------------------------------------------------------------
def wait_settled(record, timeout_s: float = 60.0):
    """Wait until a record's cluster part is no longer pending (its tasks ended and were read).

    carbon_magic revises the record in place (the same object), so this only watches it."""
    import time  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    while (record.cluster or {}).get("pending") and time.monotonic() < deadline:
        time.sleep(0.2)
    return record

"""The Pause-and-Resume callbacks inside the real PyTorch Lightning and Hugging Face `Trainer` loops.

A tiny model trains on CPU on random tensors (no downloads). Each training step is the work of
STEP_S seconds and 100 J on the test's clock and fake RAPL counter (the hardware boundary); the
intensity comes from the UK API served on 127.0.0.1 (act_helpers.uk_session), forecast 450 g/kWh
until B + 2 h and 150 after. The libraries are imported inside the tests: collecting this file
imports neither.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from act_helpers import B, H, SteppedClock, uk_session  # noqa: F401 (fixture)

STEPS = 40
STEP_S = 360.0
STEP_J = 100.0
# Paused before step 2 (B + 360), looking every 5 min: the first look at or past B + 2 h is B + 7260.
PAUSE = (B + 360, B + 7260)
# 4 kJ over the 4 h from B at a mean of 300 g/kWh, against 100 J at 450 and 3.9 kJ at 150.
AVOIDED_G = (4000 * 300 - 100 * 450 - 3900 * 150) / 3.6e6


def work(uk, share: float = 1.0):
    """`share` of one training step's time and energy, on the test's clock and RAPL counter."""
    def step():
        uk.clock.advance(STEP_S * share)
        uk.powercap.advance("intel-rapl:0", STEP_J * share)
        uk.session.sampler.tick()
    return step


def random_pairs(n: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)


def two_layers():
    from torch import nn

    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


def events(uk, log):
    """on_pause / on_resume hooks that note the wall time."""
    return (lambda: log.append(("pause", uk.clock.wall())), lambda: log.append(("resume", uk.clock.wall())))


def assert_priced(record, report):
    assert record.deferred_s == pytest.approx(report.paused_s)
    assert record.avoided_basis == "forecast"
    assert record.avoided_g == pytest.approx(report.avoided_g)


# -- PyTorch Lightning ---------------------------------------------------------------------------
def lightning_fit(uk, tmp_path, callback, steps: int = STEPS, accumulate: int = 1, iterable: bool = False,
                  fail_at: int | None = None, ckpt_path=None):
    """Trainer.fit of a 2-layer model on CPU for `steps` optimizer steps of `accumulate` batches each
    (one step's work: STEP_S and STEP_J, shared by its batches); the fitted trainer. iterable: the
    batches from an IterableDataset (no length), max_epochs=1 and no max_steps. fail_at: the
    training step of that batch raises RuntimeError("boom")."""
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, IterableDataset, TensorDataset

    uk.clock_step = work(uk, share=1 / accumulate)

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = two_layers()

        def training_step(self, batch, batch_idx):
            if batch_idx == fail_at:
                raise RuntimeError("boom")
            x, y = batch
            uk.clock_step()
            return torch.nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    x, y = random_pairs(4 * STEPS * accumulate)  # one epoch of STEPS optimizer steps

    class Batches(IterableDataset):
        def __iter__(self):
            return ((x[i:i + 4], y[i:i + 4]) for i in range(0, len(x), 4))

    loader = DataLoader(Batches(), batch_size=None) if iterable else DataLoader(TensorDataset(x, y), batch_size=4)
    length = {"max_epochs": 1} if iterable else {"max_steps": steps, "max_epochs": 1}
    trainer = pl.Trainer(accelerator="cpu", devices=1, callbacks=[callback] if callback else [],
                         accumulate_grad_batches=accumulate, enable_checkpointing=False, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, **length)
    trainer.fit(Tiny(), loader, ckpt_path=ckpt_path)
    return trainer


def lightning_callback(uk, **kw):
    from carbon_magic.act.callbacks import GreenLightningCallback

    kw.setdefault("say", lambda s: None)
    return GreenLightningCallback(350, kw.pop("within", "+50%"), session=uk.session,
                                  clock=SteppedClock(uk.clock, uk.api, tick_s=60, on_wait=kw.pop("on_wait", None)),
                                  **kw)


def falls_after(uk, hours: float):
    """Forecast 450 g/kWh until B + hours, 150 after."""
    uk.api.uk_forecast = lambda s: 450.0 if s < B + hours * H else 150.0
    uk.refetch()


def revised_to_stay_high(uk):
    """An on_wait hook: while paused, the forecast is revised to 450 throughout."""
    def revise(_clock):
        if uk.api.uk_forecast(B + 10 * H) != 450.0:
            uk.api.uk_forecast = lambda s: 450.0
            uk.refetch()
    return revise


@pytest.mark.filterwarnings("ignore::UserWarning")  # Lightning's advice on DataLoader workers
def test_lightning_fit_checkpoints_pauses_and_resumes_when_the_intensity_falls(uk_session, tmp_path):
    import lightning.pytorch as pl
    import torch

    uk = uk_session
    falls_after(uk, 2)
    log, said = [], []
    on_pause, on_resume = events(uk, log)
    ckpt = tmp_path / "pause.ckpt"
    cb = lightning_callback(uk, checkpoint_path=str(ckpt), on_pause=on_pause, on_resume=on_resume, say=said.append)
    assert isinstance(cb, pl.Callback)
    window = uk.session.begin()
    trainer = lightning_fit(uk, tmp_path, cb)
    record = uk.session.end(window, sync=False)

    assert trainer.global_step == STEPS  # every step ran
    assert log == [("pause", PAUSE[0]), ("resume", PAUSE[1])]
    # Lightning's own checkpoint, written at the pause: after the first optimizer step.
    assert torch.load(ckpt, weights_only=False)["global_step"] == 1
    report = cb.report
    assert report.pauses == [PAUSE] and report.steps == STEPS
    assert report.avoided_g == pytest.approx(AVOIDED_G)
    assert "intensity 150 g/kWh" in said[1] and "paused 1×" in said[-1]
    assert_priced(record, report)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightning_fit_resumes_at_the_deadline_when_a_revised_forecast_stays_high(uk_session, tmp_path):
    """Paused for a fall at B + 1 h; while paused the forecast is revised to 450 throughout: the
    deadline (+25 % of 4 h = 1 h of pauses) forces the resume, and training finishes."""
    uk = uk_session
    falls_after(uk, 1)
    saved = []
    cb = lightning_callback(uk, within="+25%", on_pause=lambda: saved.append(uk.clock.wall()),
                            on_wait=revised_to_stay_high(uk))
    window = uk.session.begin()
    trainer = lightning_fit(uk, tmp_path, cb)
    record = uk.session.end(window, sync=False)
    assert trainer.global_step == STEPS and saved == [B + 360]
    assert cb.report.pauses == [(B + 360, B + 360 + 3600)]  # the whole budget, then on
    # Run at 450 throughout, pausing only delayed it: nothing avoided.
    assert cb.report.avoided_g == pytest.approx(0.0, abs=1e-9)
    assert_priced(record, cb.report)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightning_with_gradient_accumulation_pauses_between_optimizer_steps(uk_session, tmp_path):
    """Two batches per optimizer step: the pause comes where a step begins (the checkpoint holds no
    half-accumulated gradients) and the steps counted are Lightning's optimizer steps."""
    import torch

    uk = uk_session
    falls_after(uk, 2)
    ckpt = tmp_path / "pause.ckpt"
    cb = lightning_callback(uk, checkpoint_path=str(ckpt))
    trainer = lightning_fit(uk, tmp_path, cb, accumulate=2)
    assert trainer.global_step == STEPS
    assert torch.load(ckpt, weights_only=False)["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"][
        "completed"] == 2  # batches 0 and 1: one whole optimizer step
    assert cb.report.pauses == [PAUSE] and cb.report.steps == STEPS
    assert cb.report.avoided_g == pytest.approx(AVOIDED_G)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightning_with_an_iterable_dataset_of_unknown_length_still_pauses(uk_session, tmp_path):
    """Lightning's estimated_stepping_batches is -1 there: the length is unknown, not negative."""
    uk = uk_session
    falls_after(uk, 2)
    cb = lightning_callback(uk)
    trainer = lightning_fit(uk, tmp_path, cb, iterable=True)
    assert trainer.global_step == STEPS
    # With no length, the budget is half the running time so far: the first look that finds room
    # for a pause that reaches the fall at B + 2 h pauses (B + 4800: 4800 s run, 2400 s allowed).
    assert cb.report.pauses and cb.report.pauses[0][0] < B + 2 * H
    assert cb.report.steps == STEPS


class Killed(Exception):
    """The job stopped while paused (a preempted machine)."""


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightning_resumed_from_the_pause_checkpoint_counts_only_the_steps_left(uk_session, tmp_path):
    """Killed at the pause after step 1 of 40, then resumed from the pause checkpoint: 39 steps
    left, so +25 % allows 0.25 × 39 × 360 s of pauses."""
    uk = uk_session
    falls_after(uk, 1)
    ckpt = tmp_path / "pause.ckpt"

    def killed():
        raise Killed

    with pytest.raises(Killed):
        lightning_fit(uk, tmp_path, lightning_callback(uk, checkpoint_path=str(ckpt), on_pause=killed))
    cb = lightning_callback(uk, within="+25%", on_wait=revised_to_stay_high(uk))
    trainer = lightning_fit(uk, tmp_path, cb, ckpt_path=str(ckpt))
    assert trainer.global_step == STEPS and cb.report.steps == STEPS - 1
    # Resumed at B + 360; paused before its second step (B + 720) until the deadline.
    assert cb.report.pauses == [(B + 720, B + 720 + 0.25 * 39 * STEP_S)]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightning_training_that_fails_after_a_pause_keeps_the_pause_in_the_record(uk_session, tmp_path):
    uk = uk_session
    falls_after(uk, 2)
    cb = lightning_callback(uk)
    window = uk.session.begin()
    with pytest.raises(RuntimeError, match="^boom$"):  # the user's exception, unchanged
        lightning_fit(uk, tmp_path, cb, fail_at=30)
    record = uk.session.end(window, sync=False)
    assert cb.report is not None and cb.report.pauses == [PAUSE] and cb.report.steps == 31
    assert record.deferred_s == pytest.approx(PAUSE[1] - PAUSE[0])
    assert record.avoided_g == pytest.approx(cb.report.avoided_g)


def interrupted_on_second_look(clock):
    """An on_wait hook: the kernel's interrupt (■) arrives during the pause's second wait."""
    if len(clock.waits) == 1:
        raise KeyboardInterrupt


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightning_interrupted_while_paused_skips_the_pause_and_trains_on(uk_session, tmp_path):
    """The interrupt ends the pause (Lightning, which exits the process on KeyboardInterrupt,
    never sees it), and the loop does not pause again."""
    uk = uk_session
    falls_after(uk, 2)
    said = []
    cb = lightning_callback(uk, on_wait=interrupted_on_second_look, say=said.append)
    trainer = lightning_fit(uk, tmp_path, cb)
    assert trainer.global_step == STEPS
    assert cb.report.pauses == [(B + 360, B + 660)]
    assert "interrupted: no more pauses in this loop" in said[1]


# -- Hugging Face transformers ---------------------------------------------------------------------
def hf_train(uk, tmp_path, callback, steps: int = STEPS, resume_from=None, save_steps: int | None = None):
    """transformers.Trainer.train of a 2-layer torch module returning {"loss": ...} on random
    tensors, on CPU; the trainer. Checkpoints only where the callback asks (or every save_steps)."""
    import torch
    from transformers import Trainer, TrainingArguments

    step = work(uk)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = two_layers()

        def forward(self, x, labels):
            step()
            return {"loss": torch.nn.functional.mse_loss(self.net(x), labels)}

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, n):
            self.x, self.y = random_pairs(n)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i], "labels": self.y[i]}

    saving = {"save_strategy": "steps", "save_steps": save_steps} if save_steps else {"save_strategy": "no"}
    args = TrainingArguments(output_dir=str(tmp_path / "hf"), report_to=[], max_steps=steps,
                             per_device_train_batch_size=4, use_cpu=True, disable_tqdm=True,
                             logging_strategy="no", dataloader_num_workers=0, **saving)
    trainer = Trainer(model=Tiny(), args=args, train_dataset=Pairs(4 * STEPS),
                      callbacks=[callback] if callback else [])
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer


def hf_callback(uk, **kw):
    from carbon_magic.act.callbacks import GreenHFCallback

    kw.setdefault("say", lambda s: None)
    return GreenHFCallback(350, kw.pop("within", "+50%"), session=uk.session,
                           clock=SteppedClock(uk.clock, uk.api, tick_s=60, on_wait=kw.pop("on_wait", None)), **kw)


def checkpoints(tmp_path):
    return sorted(p.name for p in (tmp_path / "hf").glob("checkpoint-*"))


def test_hugging_face_train_saves_through_the_trainer_then_pauses_and_resumes(uk_session, tmp_path):
    import transformers

    uk = uk_session
    falls_after(uk, 2)
    log, said = [], []
    on_pause, on_resume = events(uk, log)
    cb = hf_callback(uk, on_pause=on_pause, on_resume=on_resume, say=said.append)
    assert isinstance(cb, transformers.TrainerCallback)
    window = uk.session.begin()
    trainer = hf_train(uk, tmp_path, cb)
    record = uk.session.end(window, sync=False)

    assert trainer.state.global_step == STEPS
    assert log == [("pause", PAUSE[0]), ("resume", PAUSE[1])]
    # The Trainer's own checkpoint (save_strategy="no": only the pause asked for one), after step 1.
    assert checkpoints(tmp_path) == ["checkpoint-1"]
    report = cb.report
    assert report.pauses == [PAUSE] and report.steps == STEPS
    assert report.avoided_g == pytest.approx(AVOIDED_G)
    assert "intensity 150 g/kWh" in said[1] and "paused 1×" in said[-1]
    assert_priced(record, report)


def test_hugging_face_train_without_a_checkpoint_pauses_at_the_step_end(uk_session, tmp_path):
    uk = uk_session
    falls_after(uk, 2)
    cb = hf_callback(uk, save_checkpoint=False)
    trainer = hf_train(uk, tmp_path, cb)
    assert trainer.state.global_step == STEPS
    assert checkpoints(tmp_path) == []
    assert cb.report.pauses == [PAUSE]


def test_hugging_face_never_pauses_after_the_last_step(uk_session, tmp_path):
    """450 g/kWh from B + 4 h, as the 40th (last) step ends, then 150 from B + 5 h: nothing is left
    to delay, so no checkpoint and no pause."""
    uk = uk_session
    uk.api.uk_forecast = lambda s: 450.0 if B + 4 * H <= s < B + 5 * H else 150.0
    uk.refetch()
    cb = hf_callback(uk)
    trainer = hf_train(uk, tmp_path, cb)
    assert trainer.state.global_step == STEPS
    assert checkpoints(tmp_path) == [] and cb.report.pauses == []
    assert uk.clock.wall() == B + STEPS * STEP_S


def test_hugging_face_resumed_from_a_checkpoint_counts_only_the_steps_left(uk_session, tmp_path):
    """As for Lightning: resumed at step 1 of 40, +25 % of the 39 steps left."""
    uk = uk_session
    falls_after(uk, 1)
    hf_train(uk, tmp_path, None, steps=1, save_steps=1)
    cb = hf_callback(uk, within="+25%", save_checkpoint=False, on_wait=revised_to_stay_high(uk))
    trainer = hf_train(uk, tmp_path, cb, resume_from=str(tmp_path / "hf" / "checkpoint-1"))
    assert trainer.state.global_step == STEPS and cb.report.steps == STEPS - 1
    # Resumed at B + 360; the first step ends at B + 720, and the pause runs to the deadline.
    assert cb.report.pauses == [(B + 720, B + 720 + 0.25 * 39 * STEP_S)]


def test_hugging_face_interrupted_while_paused_skips_the_pause_and_trains_on(uk_session, tmp_path):
    uk = uk_session
    falls_after(uk, 2)
    cb = hf_callback(uk, on_wait=interrupted_on_second_look)
    trainer = hf_train(uk, tmp_path, cb)
    assert trainer.state.global_step == STEPS
    assert cb.report.pauses == [(B + 360, B + 660)] and checkpoints(tmp_path) == ["checkpoint-1"]


# -- imported only when used ---------------------------------------------------------------------
def test_importing_carbon_magic_imports_neither_library():
    """In a fresh interpreter (this one may have imported them for the tests above)."""
    code = ("import sys, carbon_magic, carbon_magic.act, carbon_magic.act.callbacks, carbon_magic.act.green\n"
            "carbon_magic.green\n"
            "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'transformers', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name, hides, advice", [
    ("GreenLightningCallback", ("lightning", "lightning.pytorch", "pytorch_lightning"),
     ("pip install lightning", 'pip install "carbon_magic[lightning]"')),
    ("GreenHFCallback", ("transformers",), ("pip install transformers accelerate", 'pip install "carbon_magic[hf]"')),
])
def test_a_missing_library_is_one_line_saying_what_to_install(monkeypatch, name, hides, advice):
    from carbon_magic.act import callbacks

    monkeypatch.delitem(vars(callbacks), name, raising=False)  # not made yet in this interpreter
    for module in hides:
        monkeypatch.setitem(sys.modules, module, None)  # Python's own "not installed" for an import
    with pytest.raises(ImportError) as exc:
        getattr(callbacks, name)
    assert all(a in str(exc.value) for a in advice) and "\n" not in str(exc.value)


def test_other_names_are_not_callbacks():
    from carbon_magic.act import callbacks

    with pytest.raises(AttributeError):
        callbacks.NoSuchCallback  # noqa: B018

"""Pause-and-Resume for the PyTorch Lightning and Hugging Face `Trainer` loops.

    from carbon_magic.act.callbacks import GreenLightningCallback      # imports lightning here
    trainer = L.Trainer(callbacks=[GreenLightningCallback(above=350, within="+50%",
                                                          checkpoint_path="pause.ckpt")])

    from carbon_magic.act.callbacks import GreenHFCallback             # imports transformers here
    trainer = Trainer(..., callbacks=[GreenHFCallback(above=350, within="+50%")])

Install: `pip install "carbon_magic[lightning]"` or `"carbon_magic[hf]"` (transformers with accelerate,
which its Trainer needs). The classes are made on first access, subclassing the library's own
callback base, so importing carbon_magic never imports either library. Both drive act.green.Pauser,
one pauser step per optimizer step (the unit of the libraries' own step counts):

* Lightning checks before the first batch of each optimizer step (never inside a gradient
  accumulation, whose gradients a checkpoint would not hold) and saves `checkpoint_path` with
  `trainer.save_checkpoint` (and/or calls `on_pause`) before pausing;
* the Hugging Face callback asks the Trainer to save a checkpoint at the end of the step
  (`control.should_save`) and pauses once it has (`on_save`); never after the last step.

The job's length is the steps left (a resumed run has fewer; a length the library cannot tell,
such as Lightning's -1 for an iterable dataset, is unknown). The pauses and the CO₂ avoided go into
the record of the measured cell that runs the training, also when Lightning's training fails.
"""
from __future__ import annotations

from .green import Pauser, PauseReport, current_session, note_report, parse_within, pauser_for_session


def steps_left(total, done) -> int | None:
    """Optimizer steps left in this run; None where the library cannot tell (-1, inf, None)."""
    if total is None or total == float("inf") or total <= 0:
        return None
    return max(1, int(total) - int(done or 0))


class _GreenLogic:
    """What both callbacks share: one Pauser per training run."""

    def __init__(self, above: float, within="+50%", *, zone: str | None = None, on_pause=None, on_resume=None,
                 session=None, clock=None, say=print, **pauser_kw):
        parse_within(within)  # a bad deadline fails when the callback is made
        if not above > 0:
            raise ValueError("above must be a positive intensity in g/kWh")
        self.above, self.within, self.zone = above, within, zone
        self.user_on_pause, self.on_resume = on_pause, on_resume
        self._session, self.clock, self.say, self.pauser_kw = session, clock, say, pauser_kw
        self.pauser: Pauser | None = None
        self.report: PauseReport | None = None
        self._began: float | None = None

    def _start(self, total_steps, on_pause):
        session = self._session or current_session()
        self._session = session
        self.pauser = pauser_for_session(session, self.above, self.within, zone=self.zone, total_steps=total_steps,
                                         clock=self.clock, on_pause=on_pause, on_resume=self.on_resume,
                                         say=self.say, **self.pauser_kw)
        self.pauser.start()
        self._began = session.intensity.now()

    def _end(self):
        if self.pauser is None:
            return None
        self.report = self.pauser.finish()
        note_report(self._session, self.pauser, self.report, self._began, self.zone)
        if self.report.pauses:
            self.say(str(self.report))
        self.pauser = None
        return self.report


class _LightningLogic(_GreenLogic):
    """Lightning hooks: on_train_start, on_train_batch_start, on_train_end (and on_exception)."""

    def __init__(self, above: float, within="+50%", *, checkpoint_path: str | None = None, **kw):
        super().__init__(above, within, **kw)
        self.checkpoint_path = checkpoint_path

    def _checkpoint(self, trainer) -> None:
        if self.checkpoint_path:
            trainer.save_checkpoint(self.checkpoint_path)
        if self.user_on_pause is not None:
            self.user_on_pause()

    def on_train_start(self, trainer, pl_module):
        total = steps_left(trainer.estimated_stepping_batches, trainer.global_step)
        self._start(total, lambda: self._checkpoint(trainer))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        # Only where an optimizer step begins (batch_idx counts from 0 in each epoch, as Lightning's
        # accumulation does): estimated_stepping_batches counts optimizer steps.
        if self.pauser is not None and batch_idx % max(1, trainer.accumulate_grad_batches) == 0:
            self.pauser.step()

    def on_train_end(self, trainer, pl_module):
        self._end()

    def on_exception(self, trainer, pl_module, exception):
        self._end()  # Lightning skips on_train_end: the pauses so far still reach the record


class _HFLogic(_GreenLogic):
    """Hugging Face hooks: the Trainer saves a checkpoint (should_save), then on_save pauses."""

    def __init__(self, above: float, within="+50%", *, save_checkpoint: bool = True, **kw):
        super().__init__(above, within, **kw)
        self.save_checkpoint = save_checkpoint
        self._pause_after_save = False

    def on_train_begin(self, args, state, control, **kwargs):
        self._start(steps_left(state.max_steps, state.global_step), self.user_on_pause)
        return control

    def on_step_end(self, args, state, control, **kwargs):
        p = self.pauser
        if p is None:
            return control
        p.steps += 1
        if 0 < state.max_steps <= state.global_step:
            return control  # the last step is done: a pause now would delay nothing
        if p.due():
            if self.save_checkpoint:
                control.should_save = True
                self._pause_after_save = True
            else:
                p.pause()
        return control

    def on_save(self, args, state, control, **kwargs):
        if self._pause_after_save and self.pauser is not None:
            self._pause_after_save = False
            self.pauser.pause()
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self._end()
        return control


def _lightning_base() -> type:
    try:
        from lightning.pytorch import Callback  # noqa: PLC0415 - optional: only GreenLightningCallback needs it

        return Callback
    except ImportError:
        pass
    try:
        from pytorch_lightning import Callback as OldCallback  # noqa: PLC0415 - the older package name

        return OldCallback
    except ImportError:
        raise ImportError('GreenLightningCallback needs PyTorch Lightning: pip install lightning '
                          '(or pip install "carbon_magic[lightning]")') from None


def _hf_base() -> type:
    try:
        from transformers import TrainerCallback  # noqa: PLC0415 - optional: only GreenHFCallback needs it
    except ImportError:
        raise ImportError('GreenHFCallback needs Hugging Face transformers and accelerate: pip install transformers '
                          'accelerate (or pip install "carbon_magic[hf]")') from None
    return TrainerCallback


_MADE = {"GreenLightningCallback": (_LightningLogic, _lightning_base),
         "GreenHFCallback": (_HFLogic, _hf_base)}
# Both classes are made on first access by __getattr__ below (their base classes are optional imports).
__all__ = ["GreenLightningCallback", "GreenHFCallback"]  # noqa: F822


def __getattr__(name: str):
    if name not in _MADE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    logic, base = _MADE[name]
    cls = type(name, (logic, base()), {"__module__": __name__, "__doc__": logic.__doc__})
    globals()[name] = cls
    return cls

"""Pause-and-Resume for the PyTorch Lightning and Hugging Face `Trainer` loops.

    from carbon_magic.act.callbacks import GreenLightningCallback      # imports lightning here
    trainer = L.Trainer(callbacks=[GreenLightningCallback(above=350, within="+50%",
                                                          checkpoint_path="pause.ckpt")])

    from carbon_magic.act.callbacks import GreenHFCallback             # imports transformers here
    trainer = Trainer(..., callbacks=[GreenHFCallback(above=350, within="+50%")])

The classes are made on first access, subclassing the library's own callback base, so importing
carbon_magic never imports either library. Both drive act.green.Pauser: Lightning checks before
each training batch and saves `checkpoint_path` (and/or calls `on_pause`) before pausing; the
Hugging Face callback asks the Trainer to save a checkpoint at the end of the step
(`control.should_save`) and pauses once it has (`on_save`). The pauses and the CO₂ avoided go into
the record of the measured cell that runs the training.
"""
from __future__ import annotations

from .green import Pauser, PauseReport, current_session, note_report, parse_within, pauser_for_session


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
        total = int(total_steps) if total_steps and total_steps != float("inf") else None
        self.pauser = pauser_for_session(session, self.above, self.within, zone=self.zone, total_steps=total,
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
    """Lightning hooks: on_train_start, on_train_batch_start, on_train_end."""

    def __init__(self, above: float, within="+50%", *, checkpoint_path: str | None = None, **kw):
        super().__init__(above, within, **kw)
        self.checkpoint_path = checkpoint_path

    def _checkpoint(self, trainer) -> None:
        if self.checkpoint_path:
            trainer.save_checkpoint(self.checkpoint_path)
        if self.user_on_pause is not None:
            self.user_on_pause()

    def on_train_start(self, trainer, pl_module):
        self._start(getattr(trainer, "estimated_stepping_batches", None), lambda: self._checkpoint(trainer))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.pauser is not None:
            self.pauser.step()

    def on_train_end(self, trainer, pl_module):
        self._end()


class _HFLogic(_GreenLogic):
    """Hugging Face hooks: the Trainer saves a checkpoint (should_save), then on_save pauses."""

    def __init__(self, above: float, within="+50%", *, save_checkpoint: bool = True, **kw):
        super().__init__(above, within, **kw)
        self.save_checkpoint = save_checkpoint
        self._pause_after_save = False

    def on_train_begin(self, args, state, control, **kwargs):
        self._start(getattr(state, "max_steps", None), self.user_on_pause)
        return control

    def on_step_end(self, args, state, control, **kwargs):
        p = self.pauser
        if p is None:
            return control
        p.steps += 1
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


def _lightning_base():
    try:
        from lightning.pytorch import Callback  # noqa: PLC0415 - optional: only GreenLightningCallback needs it
    except ImportError:
        try:
            from pytorch_lightning import Callback  # noqa: PLC0415 - the older package name
        except ImportError:
            raise ImportError("GreenLightningCallback needs PyTorch Lightning: pip install lightning") from None
    return Callback


def _hf_base():
    try:
        from transformers import TrainerCallback  # noqa: PLC0415 - optional: only GreenHFCallback needs it
    except ImportError:
        raise ImportError("GreenHFCallback needs Hugging Face transformers: pip install transformers") from None
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

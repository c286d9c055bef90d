"""This kernel's share of shared devices (JupyterHub nodes, lab GPU servers).

    procfs     CPU time of the kernel's process tree and of the machine (/proc)
    gpu        who uses a GPU: this kernel's processes against the others (NVML)
    idle       a device's idle power, learnt while the session runs
    tracker    cumulative joules billed to the kernel, per source, at every tick and cell edge
    consumers  how many other processes use the CPU (a count, never names or users)
    scope      the scope setting, the `auto` rule, and the record's components under a scope
"""
from .consumers import OtherConsumers
from .procfs import ProcFS, ProcUnavailable
from .scope import SCOPES, Decision, attribute, decide, others_text, parse_scope
from .tracker import Attributor, Mark, Usage

__all__ = ["Attributor", "Decision", "Mark", "OtherConsumers", "ProcFS", "ProcUnavailable", "SCOPES", "Usage",
           "attribute", "decide", "others_text", "parse_scope"]

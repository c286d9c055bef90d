"""Facts about the machine for exports: read once, from the OS, never guessed."""
from __future__ import annotations

import platform

CPUINFO = "/proc/cpuinfo"


def cpu_model_name(cpuinfo: str = CPUINFO) -> str:
    """The CPU's marketing name (`AMD EPYC 7763 64-Core Processor`), as CodeCarbon's `cpu_model`:
    Linux's `model name` in /proc/cpuinfo, else `platform.processor()` (macOS, Windows), else
    the architecture (`x86_64`) as a last resort."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine()

"""Settings read from the environment, validated once, with one warning per bad variable.

A bad value never raises: the variable is named in a warning and the default is used, so a
typo in a shell profile cannot stop a kernel from starting.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_INTERVAL_S = 0.5
DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"


def default_data_dir() -> Path:
    """Per-user data directory (XDG on Linux, Library on macOS, APPDATA on Windows)."""
    if os.name == "nt":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "carbon_magic"


@dataclass
class Settings:
    zone: str | None = None
    provider: str = "auto"
    interval_s: float = DEFAULT_INTERVAL_S
    pue: float = 1.0
    powercap_root: str = DEFAULT_POWERCAP_ROOT
    data_dir: Path = field(default_factory=default_data_dir)
    cpu_tdp_w: float | None = None
    ram_w_per_gb: float | None = None
    cuda_sync: bool = True
    scope: str = "auto"  # auto | machine | process (attribution/scope.py)
    scope_source: str = "the default"  # where the scope setting came from, for the record's reason
    wue_l_per_kwh: float | None = None  # on-site water per kWh of IT energy; None: unknown
    embodied_host: str = "server"  # the host row of report/data/embodied.csv (server, desktop, laptop, none)
    electricitymaps_url: str = "https://api.electricitymaps.com"
    uk_url: str = "https://api.carbonintensity.org.uk"
    watttime_url: str = "https://api.watttime.org"
    # Secrets: kept out of repr so they never reach a log, a record or an export.
    electricitymaps_token: str | None = field(default=None, repr=False)
    watttime_username: str | None = field(default=None, repr=False)
    watttime_password: str | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        s = cls()
        s.zone = (env.get("CARBON_MAGIC_ZONE") or "").strip() or None
        s.provider = (env.get("CARBON_MAGIC_PROVIDER") or "auto").strip().lower()
        if s.provider not in PROVIDERS:
            s.warnings.append(
                f"CARBON_MAGIC_PROVIDER={s.provider!r} is not one of {', '.join(PROVIDERS)}; using 'auto'"
            )
            s.provider = "auto"
        s.interval_s = _positive_float(env, "CARBON_MAGIC_INTERVAL_S", DEFAULT_INTERVAL_S, s.warnings,
                                       minimum=0.01, maximum=60.0)
        s.pue = _positive_float(env, "CARBON_MAGIC_PUE", 1.0, s.warnings, minimum=1.0, maximum=5.0)
        tdp = env.get("CARBON_MAGIC_CPU_TDP_W")
        if tdp is not None and tdp.strip():
            s.cpu_tdp_w = _positive_float(env, "CARBON_MAGIC_CPU_TDP_W", None, s.warnings,
                                          minimum=1.0, maximum=5000.0)
        ram = env.get("CARBON_MAGIC_RAM_W_PER_GB")
        if ram is not None and ram.strip():
            s.ram_w_per_gb = _positive_float(env, "CARBON_MAGIC_RAM_W_PER_GB", None, s.warnings,
                                             minimum=0.01, maximum=10.0)
        wue_warnings: list[str] = []
        s.wue_l_per_kwh = _positive_float(env, "CARBON_MAGIC_WUE", None, wue_warnings, minimum=0.0, maximum=20.0)
        s.warnings += [w.replace("using the built-in model", "water is not estimated") for w in wue_warnings]
        host = (env.get("CARBON_MAGIC_EMBODIED_HOST") or "server").strip().lower()
        if host not in EMBODIED_HOSTS:
            s.warnings.append(f"CARBON_MAGIC_EMBODIED_HOST={host!r} is not one of {', '.join(EMBODIED_HOSTS)}; "
                              "using 'server'")
            host = "server"
        s.embodied_host = host
        s.powercap_root = env.get("CARBON_MAGIC_POWERCAP_ROOT") or DEFAULT_POWERCAP_ROOT
        if env.get("CARBON_MAGIC_DATA_DIR"):
            s.data_dir = Path(env["CARBON_MAGIC_DATA_DIR"]).expanduser()
        sync = (env.get("CARBON_MAGIC_CUDA_SYNC") or "1").strip().lower()
        if sync not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            s.warnings.append(f"CARBON_MAGIC_CUDA_SYNC={sync!r} is not a boolean (1/0); using 1")
            sync = "1"
        s.cuda_sync = sync in ("1", "true", "yes", "on")
        scope = env.get("CARBON_MAGIC_SCOPE")
        if scope is not None and scope.strip():
            if scope.strip().lower() in SCOPES:
                s.scope, s.scope_source = scope.strip().lower(), "CARBON_MAGIC_SCOPE"
            else:
                s.warnings.append(f"CARBON_MAGIC_SCOPE={scope!r} is not one of {', '.join(SCOPES)}; using 'auto'")
        for name, attr in (("CARBON_MAGIC_ELECTRICITYMAPS_URL", "electricitymaps_url"),
                           ("CARBON_MAGIC_UK_URL", "uk_url"),
                           ("CARBON_MAGIC_WATTTIME_URL", "watttime_url")):
            value = env.get(name)
            if value:
                if value.startswith(("http://", "https://")):
                    setattr(s, attr, value.rstrip("/"))
                else:
                    s.warnings.append(f"{name}={value!r} is not an http(s) URL; using the public API")
        s.electricitymaps_token = env.get("ELECTRICITYMAPS_API_TOKEN") or None
        s.watttime_username = env.get("WATTTIME_USERNAME") or None
        s.watttime_password = env.get("WATTTIME_PASSWORD") or None
        return s


PROVIDERS = ("auto", "static", "electricitymaps", "uk", "watttime")
SCOPES = ("auto", "machine", "process")  # the same as attribution.scope.SCOPES (config stays import-light)
EMBODIED_HOSTS = ("server", "desktop", "laptop", "none")  # = report.embodied.HOST_KINDS


def _positive_float(env, name, default, warnings, minimum, maximum):
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    shown = "the built-in model" if default is None else default
    try:
        value = float(raw)
    except ValueError:
        warnings.append(f"{name}={raw!r} is not a number; using {shown}")
        return default
    if not (minimum <= value <= maximum):
        warnings.append(f"{name}={raw!r} is outside {minimum}..{maximum}; using {shown}")
        return default
    return value

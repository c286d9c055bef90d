"""A model card's carbon disclosure from the measured cells: Hugging Face metadata, the filled
"Environmental Impact" section, and an SPDX 3.0.1 AI energy block.

* YAML front matter `co2_eq_emissions` as the Hub documents it (docs/hub/model-cards-co2.md):
  `emissions` (grams CO₂e), `source`, `training_type` ("pre-training" or "fine-tuning"),
  `geographical_location`, `hardware_used`.
* The "Environmental Impact" section of the Hub's model card template (Hardware Type, Hours
  used, Cloud Provider, Compute Region, Carbon Emitted), filled, with what was measured and what
  estimated and the uncertainty, per cell.
* SPDX 3.0.1 AI profile: an `ai_EnergyConsumption` with `ai_trainingEnergyConsumption` or
  `ai_finetuningEnergyConsumption` and `ai_inferenceEnergyConsumption`, each an
  `ai_EnergyConsumptionDescription` with `ai_energyQuantity` (a decimal) and `ai_energyUnit`
  `kilowattHour` (EnergyUnitType) (https://spdx.github.io/spdx-spec/v3.0.1/model/AI/Classes/EnergyConsumption/).

Cells: the labelled ones (or those named with `--cells`), else all; `--inference LABEL…` names
cells reported as inference. Every piece of user or host text is escaped: YAML strings are
double-quoted with control characters replaced, Markdown goes through `receipt.md_escape`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from ..units import J_PER_KWH, fmt_duration, fmt_energy, fmt_intensity, fmt_mass_g
from .display import DASH, printable
from .embodied import describe as embodied_text
from .location import zone_location
from .model import Report, cell_name, compute_totals, mark, measured_share
from .receipt import md_escape
from .sci import fmt_small, per_unit
from .water import describe as water_text

TRAINING_TYPES = {"pre-training": "ai_trainingEnergyConsumption", "fine-tuning": "ai_finetuningEnergyConsumption"}
MORE = "[More Information Needed]"  # the Hub template's placeholder
_CARD_NAMES = ("model-card", "model_card", "modelcard")


def is_model_card_path(path) -> bool:
    """`model-card.md`, `my_model_card.md`…: a Markdown path that names a model card."""
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1].lower()
    return name.endswith(".md") and name[:-3].endswith(_CARD_NAMES)


@dataclass
class CardOptions:
    cells: list[str] | None = None  # labels of the training cells; None: labelled cells, else all
    inference: list[str] = field(default_factory=list)  # labels of inference cells
    training_type: str = "pre-training"


class CardError(ValueError):
    """One line: what is wrong with the options (an unknown label) and what is accepted."""


# -- YAML ------------------------------------------------------------------------------------
def yaml_str(text, limit: int = 300) -> str:
    """A YAML double-quoted scalar that holds `text` on one line, whatever it contains: control
    characters, line and paragraph separators, bidi marks and lone surrogates become '?', and
    backslash and double quote are escaped, so `:`, `#`, `---` and `"` stay inside the string."""
    s = "".join("?" if 0xD800 <= ord(c) <= 0xDFFF else c for c in printable(str(text)))[:limit]
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def yaml_number(value: float) -> str:
    """A plain decimal YAML reads as a float (PyYAML reads `1e-05` as text): 6 significant digits."""
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return "0.0"
    decimals = max(1, 5 - math.floor(math.log10(abs(v))))
    text = f"{v:.{decimals}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


# -- the data --------------------------------------------------------------------------------
def select(report: Report, options: CardOptions) -> tuple[list, list]:
    """(training records, inference records) named by the options; CardError for an unknown label."""
    records = report.records
    labels = {r.label for r in records if r.label}
    for wanted in [*(options.cells or []), *options.inference]:
        if wanted not in labels:
            known = ", ".join(sorted(printable(x) for x in labels)) or "none: use %%carbon --label NAME"
            raise CardError(f"no measured cell is labelled {printable(wanted)!r}; labels: {known}")
    inference = [r for r in records if r.label in set(options.inference)]
    if options.cells:
        training = [r for r in records if r.label in set(options.cells)]
    else:
        labelled = [r for r in records if r.label and r.label not in set(options.inference)]
        training = labelled or [r for r in records if r not in inference]
    return training, inference


def emissions_uncertainty_g(records) -> float:
    """The CO₂e uncertainty from the energy's (the intensity's own uncertainty is not modelled)."""
    return sum(r.emissions_g * (r.uncertainty_j / r.energy_j) for r in records if r.energy_j > 0)


def _zones(records) -> list[str]:
    return list(dict.fromkeys(z for r in records if (z := (r.intensity or {}).get("zone"))))


def location_text(records) -> str:
    out = []
    for z in _zones(records):
        loc = zone_location(z)
        if loc["cloud_provider"]:
            out.append(f"{loc['cloud_provider']} {loc['cloud_region']}")
        elif loc["country_name"]:
            out.append(f"{loc['country_name']} ({z})")
        else:
            out.append(str(z))
    return ", ".join(out) or "unknown (no grid zone set: the world-average intensity was used)"


def cloud(records) -> tuple[str, str]:
    """(Cloud Provider, Compute Region) for the template."""
    providers, regions = [], []
    for z in _zones(records):
        loc = zone_location(z)
        if loc["cloud_provider"]:
            providers.append(loc["cloud_provider"])
            regions.append(loc["cloud_region"])
        else:
            regions.append(z)
    return (", ".join(dict.fromkeys(providers)) or MORE,
            ", ".join(dict.fromkeys(regions)) or "not set (world-average intensity)")


def hardware_text(report: Report) -> str:
    h = report.host
    parts = []
    if h.get("gpu_model"):
        parts.append(str(h["gpu_model"]))
    elif h.get("gpu_count"):
        parts.append(f"{h['gpu_count']} GPU(s)")
    cpu = str(h.get("cpu_model") or "CPU")
    parts.append(f"{cpu} ({h['cpu_count']} logical cores)" if h.get("cpu_count") else cpu)
    return "; ".join(parts)


def how_text(records) -> str:
    """`93 % measured by hardware counters, 2 % sampled, 5 % estimated` of the records' energy."""
    t = compute_totals(records)
    total = t["cells_energy_j"]
    if total <= 0:
        return "no energy recorded"
    measured, sampled = t["measured_energy_j"] / total, t["sampled_energy_j"] / total
    estimated = max(0.0, 1.0 - measured - sampled)
    parts = [f"{measured:.0%} measured by hardware energy counters"]
    if sampled > 0:
        parts.append(f"{sampled:.0%} sampled from hardware power readings")
    parts.append(f"{estimated:.0%} estimated by a model")
    return ", ".join(parts)


def intensity_text(records) -> str:
    t = compute_totals(records)
    mean = t["intensity_g_per_kwh"]
    provs = list(dict.fromkeys(r.intensity_label() for r in records))
    return fmt_intensity(mean) + (f" ({'; '.join(provs)})" if provs else "")


def spdx_block(training, inference, training_type: str) -> dict:
    def desc(records):
        kwh = sum(r.energy_j for r in records) / J_PER_KWH
        return [{"type": "ai_EnergyConsumptionDescription", "ai_energyQuantity": yaml_number(kwh),
                 "ai_energyUnit": "kilowattHour"}]

    block: dict = {"type": "ai_EnergyConsumption"}
    if training:
        block[TRAINING_TYPES[training_type]] = desc(training)
    if inference:
        block["ai_inferenceEnergyConsumption"] = desc(inference)
    return block


# -- rendering -------------------------------------------------------------------------------
def _table(header, rows) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(md_escape(c) if c else " " for c in row) + " |" for row in rows]


def front_matter(report: Report, training, training_type: str) -> list[str]:
    g = sum(r.emissions_g for r in training)
    u = emissions_uncertainty_g(training)
    version = report.host.get("carbon_magic_version") or ""
    source = (f"carbon_magic {version}".strip() + ": energy of each notebook cell measured by hardware energy "
              f"counters where available, otherwise estimated ({how_text(training)}); CO2e = energy x grid "
              "carbon intensity over time")
    return [
        "---",
        "co2_eq_emissions:",
        f"  emissions: {yaml_number(g)}",
        f"  source: {yaml_str(source)}",
        f"  training_type: {yaml_str(training_type)}",
        f"  geographical_location: {yaml_str(location_text(training))}",
        f"  hardware_used: {yaml_str(hardware_text(report))}",
        f"# emissions in grams CO2e of {len(training)} cell(s), +/- {yaml_number(u)} g from the energy's "
        "uncertainty (the intensity's is not included); see Environmental Impact",
        "---",
    ]


def cell_rows(records, stage: str) -> list[list[str]]:
    rows = []
    for r in records:
        rows.append([cell_name(r), stage, fmt_duration(r.duration_s), fmt_energy(r.energy_j),
                     fmt_energy(r.uncertainty_j), f"{fmt_mass_g(r.emissions_g)}", mark(r)])
    return rows


def unit_rows(records) -> list[list[str]]:
    rows = []
    for r in records:
        p = per_unit(r)
        if p is None:
            continue
        rows.append([cell_name(r), f"{r.units['count']:g} {r.units['unit']}",
                     f"{fmt_small(p['energy_j'], 'J')} ± {fmt_small(p['uncertainty_j'], 'J')}",
                     fmt_small(p["emissions_g"], "g"),
                     DASH if p["embodied_g"] is None else fmt_small(p["embodied_g"], "g"),
                     DASH if p["sci_g"] is None else fmt_small(p["sci_g"], "g") + f" per {p['unit']}"])
    return rows


def render(report: Report, options: CardOptions | None = None) -> str:
    options = options or CardOptions()
    if options.training_type not in TRAINING_TYPES:
        raise CardError(f"training type {printable(options.training_type)!r} is not one of "
                        f"{', '.join(TRAINING_TYPES)}")
    training, inference = select(report, options)
    if not training and not inference:
        raise CardError("no measured cells to report: measure the training cells with %%carbon first")
    both = training + [r for r in inference if r not in training]
    g, u = sum(r.emissions_g for r in training), emissions_uncertainty_g(training)
    energy_j = sum(r.energy_j for r in training)
    energy_u = sum(r.uncertainty_j for r in training)
    seconds = sum(r.duration_s for r in training)
    provider, region = cloud(training)
    share = measured_share(compute_totals(training))
    out = [*front_matter(report, training, options.training_type), "",
           f"# Model card for {md_escape(report.project_name)}", "",
           "<!-- Written by carbon_magic from the measured notebook cells: merge the front matter and the "
           "Environmental Impact section into your model card. -->", "",
           "## Environmental Impact", "",
           "Carbon emissions were measured cell by cell in the training notebook with carbon_magic: each cell's "
           "energy is read from hardware energy counters (NVIDIA NVML, Linux RAPL) where the machine has them "
           "and estimated from a model otherwise, and its CO₂e is the integral of energy × the grid's carbon "
           "intensity over the cell's time.", "",
           f"- **Hardware Type:** {md_escape(hardware_text(report))}",
           f"- **Hours used:** {seconds / 3600:.4g} ({md_escape(fmt_duration(seconds))} of wall time in "
           f"{len(training)} cell(s))",
           f"- **Cloud Provider:** {md_escape(provider)}",
           f"- **Compute Region:** {md_escape(region)}",
           f"- **Carbon Emitted:** {md_escape(fmt_mass_g(g))} CO₂e ± {md_escape(fmt_mass_g(u))} "
           f"({md_escape(options.training_type)}; energy {md_escape(fmt_energy(energy_j))} ± "
           f"{md_escape(fmt_energy(energy_u))}, {md_escape(how_text(training))}; grid intensity "
           f"{md_escape(intensity_text(training))}; the ± covers the energy's uncertainty, not the "
           "intensity's)", ""]
    if share is not None and share < 1.0:
        out += [f"Not all of this energy was measured: {md_escape(f'{1 - share:.0%}')} of it comes from "
                "estimates (CPU from utilisation × TDP, memory from its size) or sensors that failed, so "
                "treat the total as an estimate within the ± above.", ""]
    shared = [r for r in both if r.scope == "process"]
    if shared:
        device_j = sum(sum(c.device_j for c in r.components) * r.pue for r in shared)
        out += [f"{md_escape(str(len(shared)))} of these cells ran on shared devices and report this kernel's "
                "share of them (process scope): the share is attributed by the CPU time of the kernel's processes "
                "and their part of each GPU's utilisation, not measured; in those cells the devices drew "
                f"{md_escape(fmt_energy(device_j))} in all.", ""]
    out += ["### Cells", "", *_table(["cell", "stage", "duration", "energy", "±", "CO₂e", "how"],
                                     cell_rows(training, options.training_type) + cell_rows(inference, "inference")),
            ""]
    urows = unit_rows(both)
    if urows:
        out += ["### Per unit and Software Carbon Intensity", "",
                "SCI = (E·I + M) per R (Green Software Foundation): E·I is the cell's CO₂e, M its share of "
                "the hardware's embodied emissions (estimated), R the units it processed (`--per N UNIT`).", "",
                *_table(["cell", "R", "energy per unit", "E·I per unit", "M per unit (estimated)", "SCI"], urows), ""]
    extra = [(cell_name(r), embodied_text(r), water_text(r)) for r in both]
    if any(e or w for _, e, w in extra):
        out += ["### Embodied carbon and water (estimated)", "",
                *_table(["cell", "embodied carbon (time share)", "water"],
                        [[n, e or DASH, w or "not estimated (set CARBON_MAGIC_WUE)"] for n, e, w in extra]), ""]
    out += ["### SPDX 3.0.1 AI energy consumption", "",
            "The `energyConsumption` of an SPDX 3.0.1 `ai_AIPackage`, in kWh: the energy of the cells above "
            f"(PUE {', '.join(sorted({f'{r.pue:g}' for r in both})) or '1'} included), "
            f"{md_escape(how_text(both))}; uncertainty ± {md_escape(fmt_energy(sum(r.uncertainty_j for r in both)))}.",
            "", "```json", json.dumps(spdx_block(training, inference, options.training_type), indent=2), "```", ""]
    # Lone surrogates (possible in text read from a forged notebook) cannot be written as UTF-8.
    return "\n".join(out).encode("utf-8", "replace").decode("utf-8")

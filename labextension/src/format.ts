/**
 * Pure formatting of what the kernel measured. No DOM, no JupyterLab imports.
 */

export type EnergyUnit = 'auto' | 'Wh' | 'kWh' | 'J';

export const ENERGY_UNITS: ReadonlyArray<EnergyUnit> = [
  'auto',
  'Wh',
  'kWh',
  'J'
];

/*
 * The formatting contract is the kernel's (carbon_magic/units.py, whose docstring states the
 * rules); these functions give the same strings, proven by the cases both test suites read from
 * tests/data/format_cases.json. Only the `unit` setting of formatEnergy goes beyond it: `auto` is
 * the kernel's choice, a fixed unit is the user's.
 */

const J_PER_WH = 3600;
const J_PER_KWH = 3.6e6;
const MINUS = '\u2212';
const NBSP = '\u00a0';
export const DASH = '\u2013';

/** The display names of the intensity providers by key (the kernel's PROVIDER_NAMES). */
export const PROVIDER_NAMES: Readonly<Record<string, string>> = {
  electricitymaps: 'Electricity Maps',
  uk: 'UK Carbon Intensity API',
  watttime: 'WattTime',
  static: 'static'
};

/** `x` rounded to three significant digits, half away from zero (the kernel's `round3`). */
export function round3(x: number): number {
  return x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(3));
}

/** Three significant digits, no exponent, trailing zeros dropped; whole numbers from 1000 on. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) {
    return DASH;
  }
  if (x === 0) {
    return '0';
  }
  const sign = x < 0 ? '-' : '';
  const a = Math.abs(x);
  const [mantissa, exponent] = a.toExponential(2).split('e');
  const e = Number(exponent);
  if (e >= 3) {
    return sign + a.toFixed(0);
  }
  const digits = mantissa.replace('.', '');
  const text =
    e >= 0
      ? `${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`
      : `0.${'0'.repeat(-e - 1)}${digits}`;
  return sign + text.replace(/0+$/, '').replace(/\.$/, '');
}

type Ladder = ReadonlyArray<[number, string, number]>;

/** `x` in the first unit (factor, name, below) whose rounded value is below `below`. */
function scaled(x: number, units: Ladder): string {
  if (!Number.isFinite(x)) {
    return DASH;
  }
  const a = Math.abs(x);
  const [factor, name] =
    units.find(([f, , below]) => round3(a / f) < below) ??
    units[units.length - 1];
  return `${formatNumber(x / factor)} ${name}`;
}

const ENERGY: Ladder = [
  [1e-3, 'mJ', 1000],
  [1, 'J', 1000],
  [J_PER_WH, 'Wh', 1000],
  [J_PER_KWH, 'kWh', Infinity]
];
const MASS: Ladder = [
  [1e-3, 'mg', 1000],
  [1, 'g', 1000],
  [1e3, 'kg', 1000],
  [1e6, 't', Infinity]
];
const POWER: Ladder = [
  [1, 'W', 1000],
  [1e3, 'kW', Infinity]
];

/** Energy in joules: `auto` as the kernel writes it (mJ, J, Wh or kWh), else in the fixed unit. */
export function formatEnergy(
  joules: number,
  unit: EnergyUnit = 'auto'
): string {
  switch (unit) {
    case 'J':
      return `${formatNumber(joules)} J`;
    case 'Wh':
      return `${formatNumber(joules / J_PER_WH)} Wh`;
    case 'kWh':
      return `${formatNumber(joules / J_PER_KWH)} kWh`;
    default:
      if (joules === 0) {
        return '0 J';
      }
      return scaled(
        joules,
        round3(Math.abs(joules)) < 1 ? ENERGY : ENERGY.slice(1)
      );
  }
}

/** Grams: mg, g, kg or t (the kernel's fmt_mass_g). */
export function formatMass(grams: number): string {
  if (grams === 0) {
    return '0 g';
  }
  return scaled(grams, round3(Math.abs(grams)) < 1 ? MASS : MASS.slice(1));
}

/** Grams CO2e, e.g. "0.497 mg CO₂e". */
export function formatEmissions(grams: number): string {
  return `${formatMass(grams)} CO\u2082e`;
}

/** Seconds as "420 ms", "4.2 s", "4 min 02 s", "1 h 03 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return DASH;
  }
  if (seconds === 0) {
    return '0 s';
  }
  const r = round3(seconds);
  if (r < 1) {
    return `${formatNumber(seconds * 1000)} ms`;
  }
  if (r < 60) {
    return `${formatNumber(seconds)} s`;
  }
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h} h ${pad(m)} min` : `${m} min ${pad(s)} s`;
}

/** Watts as "12.5 W" or "1.2 kW". */
export function formatPower(watts: number): string {
  return scaled(watts, POWER);
}

/** Grid carbon intensity as a whole number, e.g. "379 g/kWh"; a dash when the kernel has none. */
export function formatIntensity(gPerKwh: number | null | undefined): string {
  if (gPerKwh === null || gPerKwh === undefined || !Number.isFinite(gPerKwh)) {
    return DASH;
  }
  return `${gPerKwh < 0 ? '-' : ''}${Math.round(Math.abs(gPerKwh))} g/kWh`;
}

/**
 * Relative change of `current` against `previous`, e.g. "−38 % vs last run"
 * (real minus sign); null when there is no meaningful previous value.
 */
export function formatChange(
  current: number,
  previous: number | null
): string | null {
  if (previous === null || !Number.isFinite(previous) || previous <= 0) {
    return null;
  }
  if (!Number.isFinite(current)) {
    return null;
  }
  const pct = Math.round(((current - previous) / previous) * 100);
  const sign = pct > 0 ? '+' : pct < 0 ? MINUS : '\u00b1';
  return `${sign}${Math.abs(pct)}${NBSP}% vs last run`;
}

/** ISO 8601 (or unix seconds) as "2026-11-23 18:20:05 UTC"; the input when unparsable. */
export function formatTimestamp(time: string | number): string {
  const ms = typeof time === 'number' ? time * 1000 : Date.parse(time);
  if (!Number.isFinite(ms)) {
    return String(time);
  }
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
}

export interface IProvenanceLike {
  zone?: string | null;
  provider?: string | null;
  provider_name?: unknown;
  kind?: string | null;
  signal?: unknown;
  flag?: unknown;
  fallback_reason?: unknown;
}

/** The provider's display name: `provider_name`, else the name its key stands for, else the key. */
export function providerDisplay(p: IProvenanceLike | null | undefined): string {
  const name =
    (typeof p?.provider_name === 'string' && p.provider_name) || p?.provider;
  return name ? (PROVIDER_NAMES[name] ?? name) : '';
}

/**
 * "FR, Electricity Maps, live", "world average, static": where an intensity comes from, as the
 * kernel's `fmt_provenance` says it.
 */
export function provenanceLabel(p: IProvenanceLike | null | undefined): string {
  const parts: string[] = [(p && p.zone) || 'world average'];
  const provider = providerDisplay(p);
  if (provider) {
    parts.push(provider);
  }
  if (p?.kind && p.kind !== provider) {
    parts.push(p.kind);
  }
  if (p?.signal === 'marginal') {
    parts.push('marginal');
  }
  if (p?.fallback_reason) {
    parts.push(`fallback: ${String(p.fallback_reason)}`);
  } else if (p?.flag && p.zone) {
    parts.push(String(p.flag));
  }
  return parts.join(', ');
}

/** "1 run", "3 runs". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

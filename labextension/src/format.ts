/**
 * Pure formatting of what the kernel measured. No DOM, no JupyterLab imports.
 */

export type EnergyUnit = 'auto' | 'Wh' | 'kWh' | 'J';

export const ENERGY_UNITS: ReadonlyArray<EnergyUnit> = ['auto', 'Wh', 'kWh', 'J'];

const J_PER_WH = 3600;
const MINUS = '\u2212';
const NBSP = '\u00a0';

/** Three significant digits without exponent noise: 0.0123, 1.23, 12.3, 123, 1234. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) {
    return '\u2013';
  }
  if (x === 0) {
    return '0';
  }
  if (Math.abs(x) >= 99.95) {
    return x.toFixed(0);
  }
  const rounded = Number(x.toPrecision(3));
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(rounded))));
  return rounded.toFixed(Math.min(digits, 20));
}

/** Energy in joules as text in the chosen unit; `auto` picks mWh, Wh or kWh. */
export function formatEnergy(joules: number, unit: EnergyUnit = 'auto'): string {
  const wh = joules / J_PER_WH;
  switch (unit) {
    case 'J':
      return `${formatNumber(joules)}${NBSP}J`;
    case 'Wh':
      return `${formatNumber(wh)}${NBSP}Wh`;
    case 'kWh':
      return `${formatNumber(wh / 1000)}${NBSP}kWh`;
    default:
      if (Math.abs(wh) >= 1000) {
        return `${formatNumber(wh / 1000)}${NBSP}kWh`;
      }
      if (Math.abs(wh) >= 1 || wh === 0) {
        return `${formatNumber(wh)}${NBSP}Wh`;
      }
      return `${formatNumber(wh * 1000)}${NBSP}mWh`;
  }
}

/** Grams CO2e: kg, g, mg or µg so the number stays readable. */
export function formatEmissions(grams: number): string {
  const abs = Math.abs(grams);
  let text: string;
  if (abs >= 1000) {
    text = `${formatNumber(grams / 1000)}${NBSP}kg`;
  } else if (abs >= 1 || grams === 0) {
    text = `${formatNumber(grams)}${NBSP}g`;
  } else if (abs >= 0.001) {
    text = `${formatNumber(grams * 1000)}${NBSP}mg`;
  } else {
    text = `${formatNumber(grams * 1e6)}${NBSP}\u00b5g`;
  }
  return `${text}${NBSP}CO\u2082e`;
}

/** Seconds as "0.42 s", "4.2 s", "4 min 02 s", "1 h 03 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return '\u2013';
  }
  if (seconds < 60) {
    return `${formatNumber(seconds)}${NBSP}s`;
  }
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) {
    return `${h}${NBSP}h ${pad(m)}${NBSP}min`;
  }
  return `${m}${NBSP}min ${pad(s)}${NBSP}s`;
}

/** Watts as "12.5 W" or "1.2 kW". */
export function formatPower(watts: number): string {
  return Math.abs(watts) >= 1000
    ? `${formatNumber(watts / 1000)}${NBSP}kW`
    : `${formatNumber(watts)}${NBSP}W`;
}

/** Grid carbon intensity, e.g. "379 g/kWh"; null when the kernel has none. */
export function formatIntensity(gPerKwh: number | null): string {
  return gPerKwh === null ? 'intensity unknown' : `${formatNumber(gPerKwh)}${NBSP}g/kWh`;
}

/**
 * Relative change of `current` against `previous`, e.g. "−38 % vs last run"
 * (real minus sign); null when there is no meaningful previous value.
 */
export function formatChange(current: number, previous: number | null): string | null {
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

/**
 * "zone, provider, kind" for an intensity provenance, without repeating the kind when it equals
 * the provider (static values are provider "static", kind "static").
 */
export function provenanceLabel(
  p: { zone?: string | null; provider?: string | null; kind?: string | null } | null | undefined
): string {
  if (!p) {
    return '';
  }
  const parts = [p.zone, p.provider];
  if (p.kind && p.kind !== p.provider) {
    parts.push(p.kind);
  }
  return parts.filter(Boolean).join(', ');
}

/** "1 run", "3 runs". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

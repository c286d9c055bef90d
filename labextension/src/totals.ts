/**
 * The session's three totals as the kernel decides them (`CarbonSession.totals`): cells (the
 * measured cells' records), idle (between measured cells) and session (everything the sampler
 * saw since the extension loaded). The sidebar shows these names and numbers, the same as
 * `%carbon status` and the table's footer; it computes none of them.
 */
import { EnergyUnit, formatEmissions, formatEnergy, plural } from './format';
import { ICarbonRecord, isNested } from './protocol';

export interface ISessionTotals {
  cells: number;
  cells_energy_j: number;
  cells_emissions_g: number;
  idle_energy_j: number;
  idle_emissions_g: number;
  session_energy_j: number;
  session_emissions_g: number;
  /** Records nested in the cells (measure() inside a cell): listed, never summed. */
  nested?: number;
  /** Which figure the totals are: `process` (this kernel's share of shared devices) or `machine`. */
  scope?: 'machine' | 'process';
}

export const TOTAL_NAMES = ['cells', 'idle', 'session'] as const;
export type TotalName = (typeof TOTAL_NAMES)[number];

/** What each total means, as `%carbon status` says it. */
export const TOTAL_MEANING: Record<TotalName, string> = {
  cells: 'the measured cells',
  idle: 'between measured cells',
  session: 'since the extension loaded (cells + idle)'
};

type NumberKey = Exclude<keyof ISessionTotals, 'nested' | 'scope'>;

const KEYS: ReadonlyArray<NumberKey> = [
  'cells',
  'cells_energy_j',
  'cells_emissions_g',
  'idle_energy_j',
  'idle_emissions_g',
  'session_energy_j',
  'session_emissions_g'
];

/** The totals of a comm message, or null when absent or malformed (never throws). */
export function asTotals(v: unknown): ISessionTotals | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return null;
  }
  const o = v as Record<string, unknown>;
  for (const key of KEYS) {
    const x = o[key];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) {
      return null;
    }
  }
  const out = {} as ISessionTotals;
  for (const key of KEYS) {
    out[key] = o[key] as number;
  }
  const nested = o.nested;
  if (nested !== undefined) {
    if (typeof nested !== 'number' || !Number.isInteger(nested) || nested < 0) {
      return null;
    }
    out.nested = nested;
  }
  const scope = o.scope;
  if (scope !== undefined) {
    if (scope !== 'machine' && scope !== 'process') {
      return null;
    }
    out.scope = scope;
  }
  return out;
}

export interface ITotalLine {
  name: TotalName;
  text: string;
  title: string;
}

function capital(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function nestedNote(nested: number | undefined): string {
  return nested ? `, +${nested} nested, counted in their cells` : '';
}

/**
 * The sidebar's totals: the kernel's when it sent them; else (no kernel yet, or a page reloaded
 * before the next sample) the cells stored in the notebook, with idle and session unknown.
 */
export function totalsLines(
  totals: ISessionTotals | null,
  stored: ReadonlyArray<ICarbonRecord>,
  unit: EnergyUnit
): ITotalLine[] {
  if (totals) {
    const share =
      totals.scope === 'process'
        ? "; this kernel's share of shared devices (process scope)"
        : '';
    return TOTAL_NAMES.map(name => {
      const energy = formatEnergy(totals[`${name}_energy_j`], unit);
      const co2 = formatEmissions(totals[`${name}_emissions_g`]);
      const count =
        name === 'cells'
          ? ` (${plural(totals.cells, 'cell')}${nestedNote(totals.nested)})`
          : '';
      return {
        name,
        text: `${capital(name)}: ${energy} · ${co2}${count}`,
        title:
          `${capital(name)}: ${TOTAL_MEANING[name]}, as %carbon status shows it ` +
          `(${formatEnergy(totals[`${name}_energy_j`], 'J')})${share}`
      };
    });
  }
  const top = stored.filter(r => !isNested(r));
  const energyJ = top.reduce((s, r) => s + r.energy_j, 0);
  const grams = top.reduce((s, r) => s + r.emissions_g, 0);
  const unknown =
    'known once the kernel sends its totals (%load_ext carbon_magic)';
  return [
    {
      name: 'cells',
      text: `Cells: ${formatEnergy(energyJ, unit)} · ${formatEmissions(grams)} (${plural(top.length, 'cell')} stored in this notebook${nestedNote(stored.length - top.length)})`,
      title: 'The last run of each measured cell, from the notebook'
    },
    {
      name: 'idle',
      text: 'Idle: \u2013',
      title: `Idle: ${TOTAL_MEANING.idle}; ${unknown}`
    },
    {
      name: 'session',
      text: 'Session: \u2013',
      title: `Session: ${TOTAL_MEANING.session}; ${unknown}`
    }
  ];
}

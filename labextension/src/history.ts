/**
 * What the extension stores in the notebook: per cell, the last record plus a
 * short history; per notebook, a summary. Pure functions over JSON values.
 */
import { asRecord, ICarbonRecord, isRevision, sameRun } from './protocol';

export const SUMMARY_SCHEMA = 'carbon_magic.summary/1';
export const DEFAULT_HISTORY_LENGTH = 5;

/** One past run of a cell, as kept in `history`. */
export interface IHistoryEntry {
  started_at: string;
  energy_j: number;
  emissions_g: number;
  duration_s: number;
  status: string;
}

/** Value of the cell metadata key `carbon_magic`. */
export interface ICellCarbon {
  last: ICarbonRecord;
  /** Oldest first; the final entry is `last`. */
  history: IHistoryEntry[];
}

/** Value of the notebook metadata key `carbon_magic`. */
export interface INotebookSummary {
  schema: string;
  /** Sum over the measured cells' last runs. */
  energy_j: number;
  emissions_g: number;
  cells: number;
  updated_at: string;
}

export function toEntry(record: ICarbonRecord): IHistoryEntry {
  return {
    started_at: record.started_at,
    energy_j: record.energy_j,
    emissions_g: record.emissions_g,
    duration_s: record.duration_s,
    status: record.status
  };
}

function asEntry(v: unknown): IHistoryEntry | null {
  if (typeof v !== 'object' || v === null) {
    return null;
  }
  const e = v as Record<string, unknown>;
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (
    typeof e.started_at === 'string' &&
    num(e.energy_j) &&
    num(e.emissions_g) &&
    num(e.duration_s) &&
    typeof e.status === 'string'
  ) {
    return toEntry(e as unknown as ICarbonRecord);
  }
  return null;
}

/** Read a stored cell value; null when absent or not ours (never throws). */
export function readCellCarbon(value: unknown): ICellCarbon | null {
  if (typeof value !== 'object' || value === null) {
    return null;
  }
  const v = value as Record<string, unknown>;
  const last = asRecord(v.last);
  if (last === null) {
    return null;
  }
  const history = Array.isArray(v.history)
    ? v.history.map(asEntry).filter((e): e is IHistoryEntry => e !== null)
    : [];
  return { last, history: history.length ? history : [toEntry(last)] };
}

/** Clamp a history-length setting to a sane integer (at least 1). */
export function clampHistoryLength(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n)
    ? Math.max(1, Math.min(100, Math.floor(n)))
    : DEFAULT_HISTORY_LENGTH;
}

/** New cell value after `record`: it becomes `last`, history keeps the newest `historyLength`. */
export function appendRecord(
  stored: unknown,
  record: ICarbonRecord,
  historyLength: number
): ICellCarbon {
  const previous = readCellCarbon(stored);
  const past = previous?.history ?? [];
  // A revision of the last run (its cluster tasks ended later) replaces it: still one run.
  const revised =
    previous !== null && isRevision(record) && sameRun(previous.last, record);
  const history = [...(revised ? past.slice(0, -1) : past), toEntry(record)];
  return {
    last: record,
    history: history.slice(-clampHistoryLength(historyLength))
  };
}

/** The run before the last one, for "−38 % vs last run". */
export function previousEntry(cell: ICellCarbon): IHistoryEntry | null {
  return cell.history.length >= 2
    ? cell.history[cell.history.length - 2]
    : null;
}

/** Notebook-level summary over the cells' stored values. */
export function summarise(
  cells: ReadonlyArray<ICellCarbon>,
  now: Date
): INotebookSummary {
  return {
    schema: SUMMARY_SCHEMA,
    energy_j: cells.reduce((sum, c) => sum + c.last.energy_j, 0),
    emissions_g: cells.reduce((sum, c) => sum + c.last.emissions_g, 0),
    cells: cells.length,
    updated_at: now.toISOString()
  };
}

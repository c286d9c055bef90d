/**
 * Export of the records stored in a notebook's metadata, for when no kernel
 * with carbon_magic is connected (e.g. a reopened notebook). The kernel's own
 * export (CodeCarbon columns, whole session) is preferred when available.
 */
import { ExportFormat, ICarbonRecord } from './protocol';

export const LOCAL_COLUMNS = [
  'cell_id',
  'label',
  'execution_count',
  'started_at',
  'ended_at',
  'duration_s',
  'status',
  'energy_j',
  'emissions_g',
  'intensity_g_per_kwh',
  'zone',
  'provider',
  'pue',
  'measured_by'
] as const;

function row(r: ICarbonRecord): Record<string, string> {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  return {
    cell_id: cell(r.cell_id),
    label: cell(r.label),
    execution_count: cell(r.execution_count),
    started_at: cell(r.started_at),
    ended_at: cell(r.ended_at),
    duration_s: cell(r.duration_s),
    status: cell(r.status),
    energy_j: cell(r.energy_j),
    emissions_g: cell(r.emissions_g),
    intensity_g_per_kwh: cell(r.intensity_g_per_kwh),
    zone: cell(r.intensity?.zone),
    provider: cell(r.intensity?.provider),
    pue: cell(r.pue),
    measured_by: r.components.map(c => `${c.name}:${c.method}`).join(' ')
  };
}

/** RFC 4180 quoting; also neutralises spreadsheet formulas in user text. */
export function csvField(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) && Number.isNaN(Number(v)) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function mdField(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

/** `records` (the cells' last runs) as file content in `format`. */
export function exportRecords(records: ReadonlyArray<ICarbonRecord>, format: ExportFormat): string {
  if (format === 'json') {
    return JSON.stringify(records, null, 2) + '\n';
  }
  const rows = records.map(row);
  if (format === 'csv') {
    const lines = [LOCAL_COLUMNS.join(',')];
    for (const r of rows) {
      lines.push(LOCAL_COLUMNS.map(c => csvField(r[c])).join(','));
    }
    return lines.join('\r\n') + '\r\n';
  }
  const lines = [
    `| ${LOCAL_COLUMNS.join(' | ')} |`,
    `|${LOCAL_COLUMNS.map(() => ' --- ').join('|')}|`
  ];
  for (const r of rows) {
    lines.push(`| ${LOCAL_COLUMNS.map(c => mdField(r[c])).join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

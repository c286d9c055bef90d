import { ICarbonRecord } from '../protocol';
import { ISessionTotals } from '../totals';

/** The kernel's `CarbonSession.totals()` for two cells of `record()` and 360 J between them. */
export function totals(
  overrides: Partial<ISessionTotals> = {}
): ISessionTotals {
  return {
    cells: 2,
    cells_energy_j: 14400,
    cells_emissions_g: 0.224,
    idle_energy_j: 360,
    idle_emissions_g: 0.0056,
    session_energy_j: 14760,
    session_emissions_g: 0.2296,
    ...overrides
  };
}

/** A v1 record as the kernel sends it (numbers are arbitrary but consistent). */
export function record(overrides: Partial<ICarbonRecord> = {}): ICarbonRecord {
  return {
    schema: 'carbon_magic.record/1',
    session_id: 's-1',
    cell_id: 'cell-a',
    execution_count: 3,
    label: null,
    started_at: '2026-11-23T18:20:05.000Z',
    ended_at: '2026-11-23T18:20:09.000Z',
    duration_s: 4.0,
    status: 'ok',
    energy_j: 7200,
    components: [
      { name: 'cpu:package-0', kind: 'cpu', method: 'counter', energy_j: 7000 },
      { name: 'dram', kind: 'dram', method: 'counter', energy_j: 200 }
    ],
    intensity_g_per_kwh: 56,
    intensity: {
      provider: 'static',
      zone: 'FR',
      kind: 'static',
      fetched_at: null
    },
    emissions_g: 0.112,
    pue: 1.0,
    code_head: 'import time',
    ...overrides
  };
}

/** A process-scope (v2) record: 30 % of the package billed to this kernel. */
export function processRecord(
  overrides: Partial<ICarbonRecord> = {}
): ICarbonRecord {
  return record({
    schema: 'carbon_magic.record/2',
    energy_j: 2160,
    components: [
      {
        name: 'cpu:package-0',
        kind: 'cpu',
        method: 'counter',
        energy_j: 2160,
        scope: 'process',
        device_energy_j: 7200,
        share: 0.3,
        attribution: 'attributed:cpu-time'
      }
    ],
    scope: 'process',
    scope_reason: 'auto: others did 70 % of the CPU work',
    ...overrides
  });
}

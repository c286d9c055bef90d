/**
 * The `carbon_magic` comm protocol: types and validation of kernel messages.
 *
 * The kernel decides every number; this module only checks that a message has
 * the shape the rest of the extension relies on. Anything unknown or malformed
 * is dropped with a `[carbon_magic]` warning so that a newer or broken kernel
 * side can never throw inside JupyterLab.
 */

import { asTotals, ISessionTotals } from './totals';

export const COMM_TARGET = 'carbon_magic';
export const METADATA_KEY = 'carbon_magic';
export const RECORD_SCHEMA = 'carbon_magic.record/1';

/** How a component's energy was obtained. */
export type Method = 'counter' | 'sampled' | 'estimated';

export interface IComponent {
  name: string;
  kind: string;
  method: string;
  energy_j: number;
  /** ok | failed | reset | ambiguous (absent in records older than the field). */
  status?: string;
  /** Absolute, J, before PUE. */
  uncertainty_j?: number;
  uncertainty_cause?: string;
  /** The MIG slice this GPU stands for: the energy is the whole board's. */
  mig?: string | null;
  /** machine: energy_j is the device's; process: energy_j is this kernel's share of it. */
  scope?: string;
  /** What the device drew in the cell (absent in older records: energy_j). */
  device_energy_j?: number | null;
  /** This kernel's part of the device energy (0..1), null where it cannot be told. */
  share?: number | null;
  /** How the share was found: attributed:cpu-time, attributed:sm-util, attributed:sole-user, none. */
  attribution?: string | null;
  /** The cluster node this component is on (its name is `<node>/<sensor>`). */
  node?: string | null;
}

export interface IIntensityProvenance {
  provider: string | null;
  zone: string | null;
  kind: string | null;
  /** ISO 8601 or unix seconds. */
  fetched_at: string | number | null;
  /** A caveat from the kernel, e.g. "no zone set: world average". */
  flag?: string | null;
  source?: string | null;
}

/**
 * The cell a nested record was measured in (`carbon_magic.measure()` inside a
 * `%%carbon` cell): with the record's `session_id`, `started_at` finds it.
 */
export interface IParentRef {
  started_at: string;
  cell_id?: string | null;
  label?: string | null;
}

/** A v1 record (`CellRecord.to_dict()`), plus the comm-only extras. */
export interface ICarbonRecord {
  schema: string;
  session_id: string | null;
  cell_id: string | null;
  execution_count: number | null;
  label: string | null;
  started_at: string;
  ended_at: string | null;
  duration_s: number;
  status: string;
  energy_j: number;
  components: IComponent[];
  intensity_g_per_kwh: number | null;
  intensity: IIntensityProvenance | null;
  emissions_g: number;
  pue: number | null;
  code_head?: string | null;
  /** machine (what the devices drew) or process (this kernel's share); absent in older records. */
  scope?: string;
  scope_reason?: string | null;
  /** Set on a nested record: its energy is already its parent's, never add it to a total. Absent: top level. */
  parent?: IParentRef | null;
  [extra: string]: unknown;
}

export interface ISensor {
  name: string;
  kind: string;
  method: string;
}

export interface ISkipped {
  name: string;
  reason: string;
  fix: string | null;
}

export interface IHelloMessage {
  type: 'hello';
  version: string;
  session_id: string | null;
  sensors: ISensor[];
  skipped: ISkipped[];
  zone: string | null;
  /** The session's cells / idle / session totals (null from kernels older than the field). */
  totals?: ISessionTotals | null;
}

export interface ISampleMessage {
  type: 'sample';
  /** Unix time in seconds. */
  t: number;
  power_w: Record<string, number>;
  methods: Record<string, string>;
  intensity_g_per_kwh: number | null;
  intensity: IIntensityProvenance | null;
  /** Session cumulative joules. */
  energy_j: number;
  /** Session cumulative grams CO2e. */
  emissions_g: number;
  totals?: ISessionTotals | null;
}

export interface IRecordMessage {
  type: 'record';
  record: ICarbonRecord;
  /** The totals once this record is counted. */
  totals?: ISessionTotals | null;
}

export type ExportFormat = 'csv' | 'json' | 'md';

export interface IExportMessage {
  type: 'export';
  format: ExportFormat;
  filename: string;
  content: string;
}

/** One cluster node as the kernel sees it: its probe table and what is unattributed. */
export interface IClusterNode {
  node: string;
  zone: string | null;
  sensors: ISensor[];
  /** One line per sensor looked for and not used, with its fix. */
  skipped: string[];
  /** No hardware sensor readable on that node (estimates only), or its meter failed. */
  unreadable: boolean;
  error: string | null;
  /** Why its readings stopped, when they did. */
  lost: string | null;
  /** Energy of the node while no measured cell's task ran (J). */
  idle_j: number;
}

/** The cluster the kernel measures (Dask or Ray), sent when its nodes change. */
export interface IClusterMessage {
  type: 'cluster';
  attached: boolean;
  engine: string | null;
  nodes: IClusterNode[];
  idle_j: number;
}

export type CarbonMessage =
  | IHelloMessage
  | ISampleMessage
  | IRecordMessage
  | IExportMessage
  | IClusterMessage;

export const EXPORT_FORMATS: ReadonlyArray<ExportFormat> = [
  'csv',
  'json',
  'md'
];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}

function isOptStr(v: unknown): v is string | null | undefined {
  return v === null || v === undefined || typeof v === 'string';
}

function isOptNum(v: unknown): v is number | null | undefined {
  return v === null || v === undefined || isNum(v);
}

function isNumMap(v: unknown): v is Record<string, number> {
  return isObj(v) && Object.values(v).every(isNum);
}

function isStrMap(v: unknown): v is Record<string, string> {
  return isObj(v) && Object.values(v).every(isStr);
}

function isProvenance(v: unknown): boolean {
  return (
    v === null ||
    v === undefined ||
    (isObj(v) &&
      isOptStr(v.provider) &&
      isOptStr(v.zone) &&
      isOptStr(v.kind) &&
      (isOptStr(v.fetched_at) || isNum(v.fetched_at)))
  );
}

function isParentRef(v: unknown): boolean {
  return (
    v === null ||
    v === undefined ||
    (isObj(v) &&
      isStr(v.started_at) &&
      isOptStr(v.cell_id) &&
      isOptStr(v.label))
  );
}

/** `machine` or `process`, or absent (records written before scope existed). */
function isOptScope(v: unknown): boolean {
  return v === undefined || v === 'machine' || v === 'process';
}

function isComponent(v: unknown): v is IComponent {
  return (
    isObj(v) &&
    isStr(v.name) &&
    isStr(v.kind) &&
    isStr(v.method) &&
    isNum(v.energy_j) &&
    isOptScope(v.scope) &&
    isOptNum(v.device_energy_j) &&
    !((v.device_energy_j as number) < 0) &&
    isOptNum(v.share) &&
    !((v.share as number) < 0 || (v.share as number) > 1) &&
    isOptStr(v.attribution)
  );
}

/** Why `v` is not a v1 record, or null when it is one. */
export function recordProblem(v: unknown): string | null {
  if (!isObj(v)) {
    return 'record is not an object';
  }
  const checks: Array<[string, boolean]> = [
    ['started_at', isStr(v.started_at)],
    ['ended_at', isOptStr(v.ended_at)],
    ['duration_s', isNum(v.duration_s)],
    ['status', isStr(v.status)],
    ['energy_j', isNum(v.energy_j)],
    ['emissions_g', isNum(v.emissions_g)],
    ['intensity_g_per_kwh', isOptNum(v.intensity_g_per_kwh)],
    ['intensity', isProvenance(v.intensity)],
    [
      'components',
      Array.isArray(v.components) && v.components.every(isComponent)
    ],
    ['cell_id', isOptStr(v.cell_id)],
    ['session_id', isOptStr(v.session_id)],
    ['label', isOptStr(v.label)],
    ['execution_count', isOptNum(v.execution_count)],
    ['pue', isOptNum(v.pue)],
    ['code_head', isOptStr(v.code_head)],
    ['parent', isParentRef(v.parent)],
    ['scope', isOptScope(v.scope)],
    ['scope_reason', isOptStr(v.scope_reason)]
  ];
  const bad = checks.filter(([, ok]) => !ok).map(([key]) => key);
  return bad.length ? `bad or missing ${bad.join(', ')}` : null;
}

/** A record with optional keys normalised to null; assumes `recordProblem` passed. */
function normaliseRecord(v: Obj): ICarbonRecord {
  return {
    ...v,
    schema: isStr(v.schema) ? v.schema : RECORD_SCHEMA,
    session_id: (v.session_id as string | undefined) ?? null,
    cell_id: (v.cell_id as string | undefined) || null,
    execution_count: (v.execution_count as number | undefined) ?? null,
    label: (v.label as string | undefined) ?? null,
    started_at: v.started_at as string,
    ended_at: (v.ended_at as string | undefined) ?? null,
    duration_s: v.duration_s as number,
    status: v.status as string,
    energy_j: v.energy_j as number,
    components: v.components as IComponent[],
    intensity_g_per_kwh: (v.intensity_g_per_kwh as number | undefined) ?? null,
    intensity: (v.intensity as IIntensityProvenance | undefined) ?? null,
    emissions_g: v.emissions_g as number,
    pue: (v.pue as number | undefined) ?? null,
    parent: (v.parent as IParentRef | undefined) ?? null
  };
}

/** Validate a record (e.g. one read back from cell metadata); null if invalid. */
export function asRecord(v: unknown): ICarbonRecord | null {
  return recordProblem(v) === null ? normaliseRecord(v as Obj) : null;
}

/** `totals` may be absent (older kernels); when present it must be well formed. */
function totalsOk(v: unknown): boolean {
  return v === undefined || v === null || asTotals(v) !== null;
}

function helloProblem(v: Obj): string | null {
  const ok =
    totalsOk(v.totals) &&
    isStr(v.version) &&
    isOptStr(v.session_id) &&
    isOptStr(v.zone) &&
    Array.isArray(v.sensors) &&
    v.sensors.every(
      s => isObj(s) && isStr(s.name) && isStr(s.kind) && isStr(s.method)
    ) &&
    (v.skipped === undefined ||
      (Array.isArray(v.skipped) &&
        v.skipped.every(
          s => isObj(s) && isStr(s.name) && isStr(s.reason) && isOptStr(s.fix)
        )));
  return ok ? null : 'bad hello fields';
}

function sampleProblem(v: Obj): string | null {
  const ok =
    totalsOk(v.totals) &&
    isNum(v.t) &&
    isNumMap(v.power_w) &&
    (v.methods === undefined || isStrMap(v.methods)) &&
    isOptNum(v.intensity_g_per_kwh) &&
    isProvenance(v.intensity) &&
    isNum(v.energy_j) &&
    isNum(v.emissions_g);
  return ok ? null : 'bad sample fields';
}

function clusterNodeOk(n: unknown): boolean {
  return (
    isObj(n) &&
    isStr(n.node) &&
    isOptStr(n.zone) &&
    Array.isArray(n.sensors) &&
    n.sensors.every(
      s => isObj(s) && isStr(s.name) && isStr(s.kind) && isStr(s.method)
    ) &&
    Array.isArray(n.skipped) &&
    n.skipped.every(isStr) &&
    typeof n.unreadable === 'boolean' &&
    isOptStr(n.error) &&
    isOptStr(n.lost) &&
    isNum(n.idle_j)
  );
}

function clusterProblem(v: Obj): string | null {
  const ok =
    typeof v.attached === 'boolean' &&
    isOptStr(v.engine) &&
    Array.isArray(v.nodes) &&
    v.nodes.every(clusterNodeOk) &&
    isNum(v.idle_j);
  return ok ? null : 'bad cluster fields';
}

function exportProblem(v: Obj): string | null {
  const ok =
    EXPORT_FORMATS.includes(v.format as ExportFormat) &&
    isStr(v.filename) &&
    isStr(v.content);
  return ok ? null : 'bad export fields';
}

/** Check a message and return it typed, or null with the reason. */
export function validateMessage(
  data: unknown
):
  | { message: CarbonMessage; problem: null }
  | { message: null; problem: string } {
  if (!isObj(data)) {
    return { message: null, problem: 'message is not an object' };
  }
  let problem: string | null;
  switch (data.type) {
    case 'hello':
      problem = helloProblem(data);
      break;
    case 'sample':
      problem = sampleProblem(data);
      break;
    case 'record':
      problem = totalsOk(data.totals)
        ? recordProblem(data.record)
        : 'bad totals';
      if (problem === null) {
        const record = normaliseRecord(data.record as Obj);
        return {
          message: { type: 'record', record, totals: asTotals(data.totals) },
          problem: null
        };
      }
      break;
    case 'export':
      problem = exportProblem(data);
      break;
    case 'cluster':
      problem = clusterProblem(data);
      break;
    default:
      problem = `unknown message type ${JSON.stringify(data.type)}`;
  }
  if (problem !== null) {
    return { message: null, problem };
  }
  if (data.type === 'hello') {
    return {
      message: {
        ...(data as unknown as IHelloMessage),
        session_id: (data.session_id as string | undefined) ?? null,
        zone: (data.zone as string | undefined) ?? null,
        skipped: (data.skipped as ISkipped[] | undefined) ?? [],
        totals: asTotals(data.totals)
      },
      problem: null
    };
  }
  if (data.type === 'sample') {
    return {
      message: {
        ...(data as unknown as ISampleMessage),
        methods: (data.methods as Record<string, string> | undefined) ?? {},
        intensity_g_per_kwh:
          (data.intensity_g_per_kwh as number | undefined) ?? null,
        intensity: (data.intensity as IIntensityProvenance | undefined) ?? null,
        totals: asTotals(data.totals)
      },
      problem: null
    };
  }
  return { message: data as unknown as CarbonMessage, problem: null };
}

/**
 * Parse a comm payload; malformed or unknown messages are logged with the
 * `[carbon_magic]` prefix and ignored (null).
 */
export function parseMessage(data: unknown): CarbonMessage | null {
  const { message, problem } = validateMessage(data);
  if (problem !== null) {
    console.warn(`[carbon_magic] ignored comm message: ${problem}`);
  }
  return message;
}

/** Measured inside another record's window: listed under it, never summed (the kernel's `CellRecord.nested`). */
export function isNested(record: ICarbonRecord): boolean {
  return record.parent !== null && record.parent !== undefined;
}

/** Read from a hardware energy counter that did not fail (the kernel's `Component.measured`). */
function counterOk(c: IComponent): boolean {
  return c.method === 'counter' && c.status !== 'failed';
}

/** Read from hardware (counter or sampled power) that did not fail. */
function hardwareOk(c: IComponent): boolean {
  return (
    (c.method === 'counter' || c.method === 'sampled') && c.status !== 'failed'
  );
}

/** Measured when every component was read from an energy counter (sampled power is not). */
export function isMeasured(record: ICarbonRecord): boolean {
  return record.components.length > 0 && record.components.every(counterOk);
}

export type RecordMark =
  'measured' | 'sampled' | 'estimated' | 'mixed' | 'no sensor';

/** The kernel's `report.model.mark`: one word for how a record's energy was obtained. */
export function recordMark(record: ICarbonRecord): RecordMark {
  if (record.components.length === 0) {
    return 'no sensor';
  }
  if (isMeasured(record)) {
    return 'measured';
  }
  const hw = record.components.map(hardwareOk);
  if (hw.every(Boolean)) {
    return 'sampled';
  }
  return hw.some(Boolean) ? 'mixed' : 'estimated';
}

/** The record's energy uncertainty after PUE (J): the components' added, as the kernel does. */
export function recordUncertaintyJ(record: ICarbonRecord): number {
  const u = record.components.reduce(
    (sum, c) =>
      sum +
      (typeof c.uncertainty_j === 'number' && isFinite(c.uncertainty_j)
        ? c.uncertainty_j
        : 0),
    0
  );
  return (
    u * (typeof record.pue === 'number' && record.pue > 0 ? record.pue : 1)
  );
}

/** True when the record bills this kernel's share of shared devices (the kernel's `scope` process). */
export function isProcessScope(record: ICarbonRecord): boolean {
  return record.scope === 'process';
}

/**
 * The scope as the kernel words it: "this kernel's share (reason)" or "whole machine (reason)";
 * empty for records written before scope existed.
 */
export function scopeText(record: ICarbonRecord): string {
  const reason =
    typeof record.scope_reason === 'string' ? record.scope_reason : null;
  if (!isProcessScope(record) && reason === null) {
    return '';
  }
  const word = isProcessScope(record) ? "this kernel's share" : 'whole machine';
  return reason ? `${word} (${reason})` : word;
}

/** Show ± where the relative uncertainty exceeds this (the kernel's SHOW_UNCERTAINTY_ABOVE). */
export const SHOW_UNCERTAINTY_ABOVE = 0.03;

/** The same cell run (a record and its later revisions share these; see `revision`). */
export function sameRun(a: ICarbonRecord, b: ICarbonRecord): boolean {
  return (
    a.session_id === b.session_id &&
    a.started_at === b.started_at &&
    a.ended_at === b.ended_at &&
    a.execution_count === b.execution_count &&
    a.cell_id === b.cell_id
  );
}

/** A later version of a record (cluster tasks that outlived the cell) replaces it. */
export function isRevision(record: ICarbonRecord): boolean {
  return typeof record.revision === 'number' && record.revision > 0;
}

/**
 * What the frontend knows about one kernel session of one notebook, fed by
 * comm messages. Bounded: old samples and records are dropped.
 */
import { IChartPoint, toPoint } from './chart';
import {
  ICarbonRecord,
  IClusterMessage,
  IHelloMessage,
  ISampleMessage,
  isNested,
  isRevision,
  sameRun
} from './protocol';
import { ISessionTotals } from './totals';

/** A top-level record with the records nested in it (`measure()` inside the cell). */
export interface IRecordGroup {
  record: ICarbonRecord;
  children: ICarbonRecord[];
}

function recordKey(sessionId: string | null, startedAt: string): string {
  return `${sessionId ?? ''}\u0000${startedAt}`;
}

/**
 * Each top-level record, in order, with its nested records. A nested record
 * whose parent is not among `records` (e.g. dropped by the bound) is a group of
 * its own; it stays nested, so it is still never summed.
 */
export function groupRecords(
  records: ReadonlyArray<ICarbonRecord>
): IRecordGroup[] {
  const groups: IRecordGroup[] = [];
  const byKey = new Map<string, IRecordGroup>();
  for (const r of records) {
    if (!isNested(r)) {
      const group = { record: r, children: [] as ICarbonRecord[] };
      byKey.set(recordKey(r.session_id, r.started_at), group);
      groups.push(group);
    }
  }
  const orphans: IRecordGroup[] = [];
  for (const r of records) {
    if (isNested(r)) {
      const parent = byKey.get(recordKey(r.session_id, r.parent!.started_at));
      if (parent) {
        parent.children.push(r);
      } else {
        orphans.push({ record: r, children: [] });
      }
    }
  }
  // Orphans keep their place in arrival order among the groups.
  const order = new Map(records.map((r, i) => [r, i]));
  return [...groups, ...orphans].sort(
    (a, b) => order.get(a.record)! - order.get(b.record)!
  );
}

export const MAX_POINTS = 600;
export const MAX_RECORDS = 500;

export class CarbonSession {
  hello: IHelloMessage | null = null;
  lastSample: ISampleMessage | null = null;
  points: IChartPoint[] = [];
  /** Oldest first: records stored in the notebook (`seedRecords`) and those received since. */
  records: ICarbonRecord[] = [];
  /** The kernel's latest totals (cells, idle, session), null until a message carries them. */
  totals: ISessionTotals | null = null;
  /** Attached to a comm opened before this page loaded (its hello was missed). */
  reattached = false;
  /** Samples received so far (not bounded; shown to tests as data-sample-count). */
  sampleCount = 0;
  /** Records replaced by a later revision (cluster tasks that outlived their cell). */
  revisions = 0;
  /** The cluster the kernel measures, if any (its nodes' probe tables). */
  cluster: IClusterMessage | null = null;

  setCluster(cluster: IClusterMessage): void {
    this.cluster = cluster;
  }

  setHello(hello: IHelloMessage): void {
    if (this.hello && this.hello.session_id !== hello.session_id) {
      // A new kernel-side session: its cumulative counters start again.
      this.points = [];
      this.lastSample = null;
      this.totals = null;
    }
    this.hello = hello;
    this.totals = hello.totals ?? this.totals;
  }

  addSample(sample: ISampleMessage): void {
    this.lastSample = sample;
    this.totals = sample.totals ?? this.totals;
    this.sampleCount += 1;
    this.points.push(toPoint(sample));
    if (this.points.length > MAX_POINTS) {
      this.points.splice(0, this.points.length - MAX_POINTS);
    }
  }

  addRecord(record: ICarbonRecord, totals: ISessionTotals | null = null): void {
    this.totals = totals ?? this.totals;
    if (isRevision(record)) {
      const i = this.records.findIndex(r => sameRun(r, record));
      if (i >= 0) {
        this.records[i] = record;
        this.revisions += 1;
        return;
      }
    }
    this.records.push(record);
    if (this.records.length > MAX_RECORDS) {
      this.records.splice(0, this.records.length - MAX_RECORDS);
    }
  }

  /**
   * Records the notebook stores (each measured cell's last run, e.g. after a page reload): added
   * where not already known, the whole list kept in execution order (by start time).
   */
  seedRecords(stored: ReadonlyArray<ICarbonRecord>): void {
    const key = (r: ICarbonRecord) => `${r.cell_id ?? ''}|${r.started_at}`;
    const known = new Set(this.records.map(key));
    const added = stored.filter(r => !known.has(key(r)));
    if (added.length === 0) {
      return;
    }
    this.records = [...this.records, ...added]
      .map((r, i) => ({ r, i }))
      .sort(
        (a, b) =>
          Date.parse(a.r.started_at) - Date.parse(b.r.started_at) || a.i - b.i
      )
      .map(x => x.r)
      .slice(-MAX_RECORDS);
  }

  /**
   * Sum over the cells measured in this session. Nested records (measure()
   * inside a cell) are counted apart and not added: their energy is the cell's.
   */
  cellTotals(): {
    cells: number;
    nested: number;
    energy_j: number;
    emissions_g: number;
  } {
    const top = this.records.filter(r => !isNested(r));
    return {
      cells: top.length,
      nested: this.records.length - top.length,
      energy_j: top.reduce((s, r) => s + r.energy_j, 0),
      emissions_g: top.reduce((s, r) => s + r.emissions_g, 0)
    };
  }
}

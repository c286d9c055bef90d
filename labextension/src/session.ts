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
  isRevision,
  sameRun
} from './protocol';

export const MAX_POINTS = 600;
export const MAX_RECORDS = 500;

export class CarbonSession {
  hello: IHelloMessage | null = null;
  lastSample: ISampleMessage | null = null;
  points: IChartPoint[] = [];
  records: ICarbonRecord[] = [];
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
    }
    this.hello = hello;
  }

  addSample(sample: ISampleMessage): void {
    this.lastSample = sample;
    this.sampleCount += 1;
    this.points.push(toPoint(sample));
    if (this.points.length > MAX_POINTS) {
      this.points.splice(0, this.points.length - MAX_POINTS);
    }
  }

  addRecord(record: ICarbonRecord): void {
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

  /** Sum over the cells measured in this session. */
  cellTotals(): { cells: number; energy_j: number; emissions_g: number } {
    return {
      cells: this.records.length,
      energy_j: this.records.reduce((s, r) => s + r.energy_j, 0),
      emissions_g: this.records.reduce((s, r) => s + r.emissions_g, 0)
    };
  }
}

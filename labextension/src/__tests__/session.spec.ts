import { CarbonSession, MAX_RECORDS } from '../session';
import { record, totals } from './fixtures';

const hello = {
  type: 'hello' as const,
  version: '0',
  session_id: 'a',
  sensors: [],
  skipped: [],
  zone: null,
  totals: totals({ cells: 0 })
};

describe('CarbonSession totals', () => {
  it('keeps the latest totals from hello, samples and records', () => {
    const s = new CarbonSession();
    expect(s.totals).toBeNull();
    s.setHello(hello);
    expect(s.totals!.cells).toBe(0);
    s.addRecord(record(), totals({ cells: 1 }));
    expect(s.totals!.cells).toBe(1);
    s.addRecord(record()); // an older kernel: no totals, the last ones stay
    expect(s.totals!.cells).toBe(1);
  });

  it('forgets them when the kernel session changes', () => {
    const s = new CarbonSession();
    s.setHello(hello);
    s.setHello({ ...hello, session_id: 'b', totals: null });
    expect(s.totals).toBeNull();
  });
});

describe('CarbonSession.seedRecords', () => {
  it('lists the records a reloaded notebook stores, in execution order', () => {
    const s = new CarbonSession();
    const first = record({
      cell_id: 'a',
      started_at: '2026-11-23T18:00:00.000Z'
    });
    const second = record({
      cell_id: 'b',
      started_at: '2026-11-23T18:05:00.000Z'
    });
    s.seedRecords([second, first]); // notebook order is not execution order
    expect(s.records).toEqual([first, second]);
  });

  it('adds only what it does not know, and live records stay after older stored ones', () => {
    const s = new CarbonSession();
    const live = record({
      cell_id: 'b',
      started_at: '2026-11-23T18:05:00.000Z'
    });
    const stored = record({
      cell_id: 'a',
      started_at: '2026-11-23T18:00:00.000Z'
    });
    s.addRecord(live);
    s.seedRecords([stored, { ...live }]);
    expect(s.records).toEqual([stored, live]);
  });

  it('stays bounded', () => {
    const s = new CarbonSession();
    const many = Array.from({ length: MAX_RECORDS + 5 }, (_, i) =>
      record({
        cell_id: `c${i}`,
        started_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()
      })
    );
    s.seedRecords(many);
    expect(s.records).toHaveLength(MAX_RECORDS);
    expect(s.records[0].cell_id).toBe('c5');
  });
});

import {
  appendRecord,
  clampHistoryLength,
  previousEntry,
  readCellCarbon,
  summarise
} from '../history';
import { record } from './fixtures';

describe('appendRecord', () => {
  it('starts a history from nothing', () => {
    const r = record();
    const v = appendRecord(undefined, r, 5);
    expect(v.last).toBe(r);
    expect(v.history).toEqual([
      {
        started_at: r.started_at,
        energy_j: 7200,
        emissions_g: 0.112,
        duration_s: 4,
        status: 'ok'
      }
    ]);
    expect(previousEntry(v)).toBeNull();
  });

  it('keeps only the newest historyLength runs, oldest first', () => {
    let v: unknown = undefined;
    for (let i = 1; i <= 7; i++) {
      v = appendRecord(
        v,
        record({ energy_j: i * 100, started_at: `2026-11-23T18:0${i}:00Z` }),
        3
      );
    }
    const cell = readCellCarbon(v)!;
    expect(cell.history.map(e => e.energy_j)).toEqual([500, 600, 700]);
    expect(cell.last.energy_j).toBe(700);
    expect(previousEntry(cell)!.energy_j).toBe(600);
  });

  it('survives JSON round trips (what the .ipynb stores)', () => {
    const once = appendRecord(undefined, record({ energy_j: 100 }), 5);
    const twice = appendRecord(
      JSON.parse(JSON.stringify(once)),
      record({ energy_j: 62 }),
      5
    );
    expect(twice.history.map(e => e.energy_j)).toEqual([100, 62]);
  });

  it('replaces a foreign or corrupt stored value instead of failing', () => {
    const v = appendRecord({ last: 'garbage', history: 7 }, record(), 5);
    expect(v.history).toHaveLength(1);
  });
});

describe('readCellCarbon', () => {
  it('returns null for anything that is not ours', () => {
    expect(readCellCarbon(undefined)).toBeNull();
    expect(readCellCarbon('x')).toBeNull();
    expect(readCellCarbon({ history: [] })).toBeNull();
  });
  it('drops malformed history entries and falls back to the last record', () => {
    const cell = readCellCarbon({
      last: record(),
      history: [{ energy_j: 'x' }]
    })!;
    expect(cell.history).toHaveLength(1);
    expect(cell.history[0].energy_j).toBe(7200);
  });
});

describe('clampHistoryLength', () => {
  it('keeps sane integers and falls back to 5', () => {
    expect(clampHistoryLength(3)).toBe(3);
    expect(clampHistoryLength(0)).toBe(1);
    expect(clampHistoryLength(1000)).toBe(100);
    expect(clampHistoryLength(2.7)).toBe(2);
    expect(clampHistoryLength('7')).toBe(5);
  });
});

describe('summarise', () => {
  it('sums the last runs of the cells', () => {
    const a = appendRecord(
      undefined,
      record({ energy_j: 100, emissions_g: 1 }),
      5
    );
    const b = appendRecord(a, record({ energy_j: 300, emissions_g: 2 }), 5);
    const c = appendRecord(
      undefined,
      record({ cell_id: 'b', energy_j: 50, emissions_g: 0.5 }),
      5
    );
    const s = summarise([b, c], new Date('2026-11-23T19:00:00Z'));
    expect(s).toEqual({
      schema: 'carbon_magic.summary/1',
      energy_j: 350,
      emissions_g: 2.5,
      cells: 2,
      updated_at: '2026-11-23T19:00:00.000Z'
    });
  });
});

describe('appendRecord with revisions (cluster tasks that outlived their cell)', () => {
  it('replaces the last run by its later revision instead of adding a run', () => {
    const first = record({ energy_j: 100, revision: 0 });
    const v = appendRecord(
      appendRecord(
        undefined,
        record({ started_at: '2026-11-23T18:00:00Z' }),
        5
      ),
      first,
      5
    );
    const revised = appendRecord(v, record({ energy_j: 250, revision: 2 }), 5);
    expect(revised.history.map(e => e.energy_j)).toEqual([7200, 250]);
    expect(revised.last.energy_j).toBe(250);
  });

  it('adds a run when the revision belongs to another run', () => {
    const v = appendRecord(
      undefined,
      record({ energy_j: 100, revision: 0 }),
      5
    );
    const other = appendRecord(
      v,
      record({ energy_j: 5, revision: 1, started_at: '2026-11-23T19:00:00Z' }),
      5
    );
    expect(other.history.map(e => e.energy_j)).toEqual([100, 5]);
  });
});

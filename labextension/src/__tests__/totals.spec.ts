import { asTotals, totalsLines } from '../totals';
import { record, totals } from './fixtures';

const nb = (s: string) => s.replace(/\u00a0/g, ' ');

describe('totalsLines', () => {
  it('shows the kernel totals under the names %carbon status uses', () => {
    const lines = totalsLines(totals(), [], 'auto');
    expect(lines.map(l => l.name)).toEqual(['cells', 'idle', 'session']);
    expect(lines.map(l => nb(l.text))).toEqual([
      'Cells: 4 Wh · 224 mg CO\u2082e (2 cells)',
      'Idle: 360 J · 5.6 mg CO\u2082e',
      'Session: 4.1 Wh · 230 mg CO\u2082e'
    ]);
    expect(lines[1].title).toContain('between measured cells');
    expect(lines[2].title).toContain('since the extension loaded');
    expect(nb(lines[2].title)).toContain('(14760 J)'); // in joules too, whatever the unit setting
  });

  it('computes nothing itself: the kernel numbers are shown as sent', () => {
    // Records that do not add up to the totals: the totals win.
    const lines = totalsLines(totals({ cells: 7 }), [record(), record()], 'J');
    expect(nb(lines[0].text)).toBe(
      'Cells: 14400 J · 224 mg CO\u2082e (7 cells)'
    );
  });

  it('without kernel totals, counts the cells the notebook stores and leaves idle and session open', () => {
    const lines = totalsLines(
      null,
      [record(), record({ energy_j: 3600, emissions_g: 1 })],
      'Wh'
    );
    expect(nb(lines[0].text)).toBe(
      'Cells: 3 Wh · 1.11 g CO\u2082e (2 cells stored in this notebook)'
    );
    expect(lines[1].text).toBe('Idle: \u2013');
    expect(lines[2].text).toBe('Session: \u2013');
    expect(lines[2].title).toContain('%load_ext carbon_magic');
  });
});

describe('asTotals', () => {
  it('keeps the seven fields and drops the rest', () => {
    expect(asTotals({ ...totals(), extra: 'x' })).toEqual(totals());
  });
  it('keeps the scope the totals follow, and says it in the titles', () => {
    const shared = asTotals({ ...totals(), scope: 'process' })!;
    expect(shared.scope).toBe('process');
    const lines = totalsLines(shared, [], 'J');
    expect(
      lines.every(l =>
        l.title.includes("this kernel's share of shared devices")
      )
    ).toBe(true);
    expect(
      totalsLines(totals({ scope: 'machine' }), [], 'J').some(l =>
        l.title.includes('share')
      )
    ).toBe(false);
    expect(asTotals({ ...totals(), scope: 'everything' })).toBeNull();
  });
  it.each([
    [null],
    ['x'],
    [[1]],
    [{ ...totals(), cells: -1 }],
    [{ ...totals(), idle_energy_j: NaN }]
  ])('rejects %p', v => {
    expect(asTotals(v)).toBeNull();
  });
});

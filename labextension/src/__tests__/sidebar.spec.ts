import { Widget } from '@lumino/widgets';

import { PALETTE } from '../palette';
import { CarbonSidebar } from '../sidebar';
import { CarbonSession } from '../session';
import { processRecord, record, totals } from './fixtures';

function session(): CarbonSession {
  const s = new CarbonSession();
  s.setHello({
    type: 'hello',
    version: '0.1.0',
    session_id: 'x',
    sensors: [{ name: 'cpu:package-0', kind: 'cpu', method: 'counter' }],
    skipped: [{ name: 'nvml', reason: 'no GPU', fix: null }],
    zone: 'FR'
  });
  for (let t = 0; t < 3; t++) {
    s.addSample({
      type: 'sample',
      t,
      power_w: { 'cpu:package-0': 10 + t },
      methods: { 'cpu:package-0': 'counter' },
      intensity_g_per_kwh: 56,
      intensity: {
        provider: 'static',
        zone: 'FR',
        kind: 'static',
        fetched_at: null
      },
      energy_j: 3600 * t,
      emissions_g: 0.056 * t,
      totals: totals()
    });
  }
  s.addRecord(
    record({ label: '<b>train</b>', started_at: '2026-11-23T18:20:05.000Z' })
  );
  s.addRecord(
    record({
      cell_id: null,
      code_head: 'x = 1',
      started_at: '2026-11-23T18:21:05.000Z'
    })
  );
  return s;
}

describe('CarbonSidebar', () => {
  let selected: string[];
  let exported: string[];
  let sidebar: CarbonSidebar;

  beforeEach(() => {
    selected = [];
    exported = [];
    sidebar = new CarbonSidebar({
      selectCell: id => selected.push(id),
      exportSession: f => exported.push(f)
    });
    Widget.attach(sidebar, document.body);
  });
  afterEach(() => sidebar.dispose());

  it('asks for a kernel when there is no session', () => {
    expect(
      sidebar.node.querySelector('.cm-sidebar-status')!.textContent
    ).toContain('%load_ext carbon_magic');
    expect(sidebar.node.dataset.sampleCount).toBe('0');
  });

  it('says when it joined a running session without its hello', () => {
    const s = new CarbonSession();
    s.reattached = true;
    sidebar.render(s, 'auto');
    expect(
      sidebar.node.querySelector('.cm-sidebar-status')!.textContent
    ).toMatch(/^Connected to a running carbon_magic session/);
  });

  it('renders sensors, live values, chart, totals and the cell list', () => {
    sidebar.render(session(), 'auto');
    const text = (sel: string) =>
      sidebar.node.querySelector(sel)!.textContent!.replace(/\u00a0/g, ' ');
    expect(text('.cm-sidebar-status')).toBe(
      'Sensors: cpu:package-0 (counter) · zone FR'
    );
    expect(text('.cm-sidebar-now')).toBe(
      'Power: 12 W · Intensity: 56 g/kWh (FR, static)'
    );
    expect(sidebar.node.dataset.sampleCount).toBe('3');
    const d = sidebar.node.querySelector('.cm-chart-power')!.getAttribute('d')!;
    expect(d.split(' ')).toHaveLength(3);
    // The kernel's totals, under the names %carbon status and the table use.
    expect(text('.cm-total-cells')).toBe(
      'Cells: 4 Wh · 224 mg CO\u2082e (2 cells)'
    );
    expect(text('.cm-total-idle')).toBe('Idle: 360 J · 5.6 mg CO\u2082e');
    expect(text('.cm-total-session')).toBe(
      'Session: 4.1 Wh · 230 mg CO\u2082e'
    );
    const items = sidebar.node.querySelectorAll('.cm-cell-item');
    expect(items).toHaveLength(2);
    // newest first; a record without a cell id is listed but not clickable
    expect(items[0].querySelector('.cm-cell-name')!.textContent).toBe('x = 1');
    expect(items[0].classList.contains('cm-clickable')).toBe(false);
    expect(items[1].querySelector('.cm-cell-name')!.textContent).toBe(
      '<b>train</b>'
    );
    expect(items[1].querySelector('b')).toBeNull();
  });

  it('numbers the cells in execution order, newest first with the highest number', () => {
    sidebar.render(session(), 'auto');
    const items = Array.from(
      sidebar.node.querySelectorAll<HTMLLIElement>('.cm-cell-item')
    );
    expect(items.map(li => li.value)).toEqual([2, 1]);
    expect(items[0].querySelector('.cm-cell-name')!.textContent).toBe('x = 1');
  });

  it('after a page reload lists the cells the notebook stores, before the kernel says more', () => {
    const s = new CarbonSession();
    s.reattached = true;
    s.seedRecords([
      record({
        cell_id: 'b',
        code_head: 'second()',
        started_at: '2026-11-23T18:05:00.000Z'
      }),
      record({
        cell_id: 'a',
        code_head: 'first()',
        started_at: '2026-11-23T18:00:00.000Z'
      })
    ]);
    sidebar.render(s, 'Wh');
    const names = Array.from(
      sidebar.node.querySelectorAll('.cm-cell-name')
    ).map(n => n.textContent);
    expect(names).toEqual(['second()', 'first()']);
    const cells = sidebar.node
      .querySelector('.cm-total-cells')!
      .textContent!.replace(/\u00a0/g, ' ');
    expect(cells).toBe(
      'Cells: 4 Wh · 224 mg CO\u2082e (2 cells stored in this notebook)'
    );
    expect(sidebar.node.dataset.recordCount).toBe('2');
  });

  it('gives its chart axes with units and the intensity its provenance', () => {
    sidebar.render(session(), 'auto');
    const ticks = (cls: string) =>
      Array.from(sidebar.node.querySelectorAll(`.cm-chart .${cls}`)).map(
        t => t.textContent
      );
    expect(ticks('cm-chart-tick-power')).toEqual(['0 W', '10 W', '20 W']);
    expect(ticks('cm-chart-tick-intensity')).toEqual([
      '0 g/kWh',
      '50 g/kWh',
      '100 g/kWh'
    ]);
    expect(ticks('cm-chart-tick-time')).toEqual(['\u22122 s', 'now']);
    expect(sidebar.node.querySelector('.cm-legend-power')!.textContent).toBe(
      'power, W (left axis)'
    );
    expect(
      sidebar.node.querySelector('.cm-legend-intensity')!.textContent
    ).toBe('grid intensity, g/kWh (right axis) \u00b7 FR, static');
  });

  it('shows a note about the export, and hides it again', () => {
    const note = sidebar.node.querySelector<HTMLElement>(
      '.cm-sidebar-export-note'
    )!;
    expect(note.hidden).toBe(true);
    sidebar.showExportNote('carbon-magic report a.ipynb -o a-carbon.csv');
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe(
      'carbon-magic report a.ipynb -o a-carbon.csv'
    );
    sidebar.showExportNote(null);
    expect(note.hidden).toBe(true);
  });

  it('draws power and intensity in the palette shared with the kernel', () => {
    const stroke = (sel: string) =>
      sidebar.node.querySelector(sel)!.getAttribute('stroke');
    expect(stroke('.cm-chart-power')).toBe(PALETTE.power);
    expect(stroke('.cm-chart-intensity')).toBe(PALETTE.intensity);
    expect(sidebar.node.style.getPropertyValue('--cm-colour-power')).toBe(
      PALETTE.power
    );
    expect(PALETTE.power).not.toBe(PALETTE.intensity);
  });

  it('lists records nested in a cell under it and leaves them out of the totals', () => {
    // Workshop notebook 02: a 15.4 mWh training cell with six epochs measured inside it.
    const s = session();
    const cell = record({
      cell_id: 'cell-t',
      label: 'training',
      started_at: '2026-11-23T18:30:00.000Z',
      energy_j: 55.44,
      emissions_g: 0.0025
    });
    const parent = {
      started_at: cell.started_at,
      cell_id: 'cell-t',
      label: 'training'
    };
    const epochs = [1, 2, 3, 4, 5, 6].map(i =>
      record({
        cell_id: null,
        label: `epoch ${i}`,
        started_at: `2026-11-23T18:30:0${i}.000Z`,
        energy_j: 4.5,
        emissions_g: 0.0002,
        parent
      })
    );
    epochs.forEach(e => s.addRecord(e)); // a nested record ends (and arrives) before its cell
    s.addRecord(cell);
    const text = (sel: string) =>
      sidebar.node.querySelector(sel)!.textContent!.replace(/\u00a0/g, ' ');
    // The kernel's totals name the nested records and never add them ...
    s.totals = totals({
      cells: 3,
      nested: 6,
      cells_energy_j: 14455.44,
      cells_emissions_g: 0.2265
    });
    sidebar.render(s, 'J');
    expect(text('.cm-total-cells')).toBe(
      'Cells: 14455 J · 227 mg CO\u2082e (3 cells, +6 nested, counted in their cells)'
    );
    // ... and before the kernel sends any, the stored records are summed the same way.
    s.totals = null;
    sidebar.render(s, 'J');
    expect(text('.cm-total-cells')).toBe(
      'Cells: 14455 J · 227 mg CO\u2082e (3 cells stored in this notebook, +6 nested, counted in their cells)'
    );
    const top = sidebar.node.querySelectorAll(
      '.cm-sidebar-cells > .cm-cell-item'
    );
    expect(top).toHaveLength(3);
    expect(top[0].querySelector('.cm-cell-name')!.textContent).toBe('training');
    const nested = top[0].querySelectorAll(
      '.cm-cell-children > .cm-cell-nested'
    );
    expect(
      Array.from(nested).map(
        li => li.querySelector('.cm-cell-name')!.textContent
      )
    ).toEqual(epochs.map(e => e.label));
    expect(nested[0].classList.contains('cm-clickable')).toBe(false);
    (nested[0] as HTMLElement).click(); // shows the cell it belongs to
    expect(selected).toEqual(['cell-t']);
  });

  it('renders only while visible, and catches up when shown', () => {
    sidebar.hide();
    sidebar.render(session(), 'auto');
    expect(sidebar.node.dataset.sampleCount).toBe('0');
    sidebar.show();
    expect(sidebar.node.dataset.sampleCount).toBe('3');
  });

  it('rebuilds the cell list only when records or the unit change', () => {
    const s = session();
    sidebar.render(s, 'auto');
    const before = sidebar.node.querySelector('.cm-cell-item');
    sidebar.render(s, 'auto');
    expect(sidebar.node.querySelector('.cm-cell-item')).toBe(before);
    s.addRecord(record({ label: 'third' }));
    sidebar.render(s, 'auto');
    expect(sidebar.node.querySelectorAll('.cm-cell-item')).toHaveLength(3);
    sidebar.render(s, 'J');
    expect(
      sidebar.node.querySelector('.cm-cell-numbers')!.textContent
    ).toContain('7200 J');
  });

  it('selects a cell on click and exports on the buttons', () => {
    sidebar.render(session(), 'auto');
    (sidebar.node.querySelectorAll('.cm-cell-item')[1] as HTMLElement).click();
    (sidebar.node.querySelectorAll('.cm-cell-item')[0] as HTMLElement).click();
    expect(selected).toEqual(['cell-a']);
    const buttons = Array.from(
      sidebar.node.querySelectorAll<HTMLButtonElement>('.cm-export-button')
    );
    expect(buttons.map(b => b.textContent)).toEqual([
      'CSV',
      'JSON',
      'Markdown'
    ]);
    buttons.forEach(b => b.click());
    expect(exported).toEqual(['csv', 'json', 'md']);
  });

  it('shows the scope of the latest record and marks shared cells', () => {
    const s = session();
    s.addRecord(processRecord({ label: 'shared' }));
    sidebar.render(s, 'auto');
    const scope = sidebar.node.querySelector('.cm-total-scope')!;
    expect(scope.textContent).toBe("Scope: this kernel's share");
    expect(scope.getAttribute('title')).toBe(
      "this kernel's share (auto: others did 70 % of the CPU work)"
    );
    const numbers = [...sidebar.node.querySelectorAll('.cm-cell-numbers')].map(
      n => n.textContent ?? ''
    );
    expect(numbers[0]).toMatch(/ · share$/);
    expect(numbers.slice(1).some(t => t.includes('share'))).toBe(false);
  });

  it('takes the scope from the latest cell, not from a record nested in it', () => {
    const s = session();
    const cell = processRecord({ label: 'training', cell_id: 'cell-t' });
    const parent = {
      started_at: cell.started_at,
      cell_id: 'cell-t',
      label: 'training'
    };
    s.addRecord(cell);
    s.addRecord(
      record({
        cell_id: null,
        label: 'epoch 1',
        parent,
        scope: 'machine',
        scope_reason: 'set'
      })
    );
    s.totals = totals({ scope: 'process' });
    sidebar.render(s, 'auto');
    expect(sidebar.node.querySelector('.cm-total-scope')!.textContent).toBe(
      "Scope: this kernel's share"
    );
    expect(
      sidebar.node.querySelector('.cm-total-session')!.getAttribute('title')
    ).toContain("this kernel's share of shared devices");
  });
});

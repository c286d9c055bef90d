import { Widget } from '@lumino/widgets';

import { CarbonSidebar } from '../sidebar';
import { CarbonSession } from '../session';
import { processRecord, record } from './fixtures';

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
      intensity: { provider: 'static', zone: 'FR', kind: 'static', fetched_at: null },
      energy_j: 3600 * t,
      emissions_g: 0.056 * t
    });
  }
  s.addRecord(record({ label: '<b>train</b>' }));
  s.addRecord(record({ cell_id: null, code_head: 'x = 1' }));
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
    expect(sidebar.node.querySelector('.cm-sidebar-status')!.textContent).toContain('%load_ext carbon_magic');
    expect(sidebar.node.dataset.sampleCount).toBe('0');
  });

  it('says when it joined a running session without its hello', () => {
    const s = new CarbonSession();
    s.reattached = true;
    sidebar.render(s, 'auto');
    expect(sidebar.node.querySelector('.cm-sidebar-status')!.textContent).toMatch(
      /^Connected to a running carbon_magic session/
    );
  });

  it('renders sensors, live values, chart, totals and the cell list', () => {
    sidebar.render(session(), 'auto');
    const text = (sel: string) => sidebar.node.querySelector(sel)!.textContent!.replace(/\u00a0/g, ' ');
    expect(text('.cm-sidebar-status')).toBe('Sensors: cpu:package-0 (counter) · zone FR');
    expect(text('.cm-sidebar-now')).toBe('Power: 12.0 W · Intensity: 56.0 g/kWh (FR, static)');
    expect(sidebar.node.dataset.sampleCount).toBe('3');
    const d = sidebar.node.querySelector('.cm-chart-power')!.getAttribute('d')!;
    expect(d.split(' ')).toHaveLength(3);
    expect(text('.cm-total-session')).toBe('Session: 2.00 Wh · 112 mg CO\u2082e (cumulative)');
    expect(text('.cm-total-cells')).toBe('Cells: 2 runs · 4.00 Wh · 224 mg CO\u2082e');
    const items = sidebar.node.querySelectorAll('.cm-cell-item');
    expect(items).toHaveLength(2);
    // newest first; a record without a cell id is listed but not clickable
    expect(items[0].querySelector('.cm-cell-name')!.textContent).toBe('x = 1');
    expect(items[0].classList.contains('cm-clickable')).toBe(false);
    expect(items[1].querySelector('.cm-cell-name')!.textContent).toBe('<b>train</b>');
    expect(items[1].querySelector('b')).toBeNull();
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
    expect(sidebar.node.querySelector('.cm-cell-numbers')!.textContent).toContain('7200\u00a0J');
  });

  it('selects a cell on click and exports on the buttons', () => {
    sidebar.render(session(), 'auto');
    (sidebar.node.querySelectorAll('.cm-cell-item')[1] as HTMLElement).click();
    (sidebar.node.querySelectorAll('.cm-cell-item')[0] as HTMLElement).click();
    expect(selected).toEqual(['cell-a']);
    const buttons = Array.from(sidebar.node.querySelectorAll<HTMLButtonElement>('.cm-export-button'));
    expect(buttons.map(b => b.textContent)).toEqual(['CSV', 'JSON', 'Markdown']);
    buttons.forEach(b => b.click());
    expect(exported).toEqual(['csv', 'json', 'md']);
  });

  it('shows the scope of the latest record and marks shared cells', () => {
    const s = session();
    s.addRecord(processRecord({ label: 'shared' }));
    sidebar.render(s, 'auto');
    const scope = sidebar.node.querySelector('.cm-total-scope')!;
    expect(scope.textContent).toBe("Scope: this kernel's share");
    expect(scope.getAttribute('title')).toBe("this kernel's share (auto: others did 70 % of the CPU work)");
    const numbers = [...sidebar.node.querySelectorAll('.cm-cell-numbers')].map(n => n.textContent ?? '');
    expect(numbers[0]).toMatch(/ · share$/);
    expect(numbers.slice(1).some(t => t.includes('share'))).toBe(false);
  });
});

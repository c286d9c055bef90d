/**
 * The carbon sidebar: live power/intensity chart (plain SVG), session totals,
 * the per-cell list and export buttons for the current notebook's session.
 * All text is set with textContent.
 */
import { Widget } from '@lumino/widgets';

import { CHART_BOX, chartGeometry, ITick } from './chart';
import {
  provenanceLabel,
  EnergyUnit,
  formatDuration,
  formatEmissions,
  formatEnergy,
  formatIntensity,
  formatPower,
  plural
} from './format';
import { PALETTE } from './palette';
import {
  EXPORT_FORMATS,
  ExportFormat,
  ICarbonRecord,
  isNested,
  isProcessScope,
  recordMark,
  scopeText
} from './protocol';
import { CarbonSession, groupRecords } from './session';
import { totalsLines } from './totals';

const SVG_NS = 'http://www.w3.org/2000/svg';
const EXPORT_LABELS: Record<ExportFormat, string> = {
  csv: 'CSV',
  json: 'JSON',
  md: 'Markdown'
};

export interface ISidebarActions {
  /** Scroll to and select the cell with this notebook cell id. */
  selectCell(cellId: string): void;
  /** Ask the kernel for an export and download it (or say how to get it without a kernel). */
  exportSession(format: ExportFormat): void;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = cls;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function svg(tag: string, attrs: Record<string, string>): SVGElement {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, v);
  }
  return node;
}

export class CarbonSidebar extends Widget {
  constructor(actions: ISidebarActions) {
    super();
    this._actions = actions;
    this.id = 'carbon-magic-sidebar';
    this.addClass('cm-sidebar');
    // One palette (palette.ts, the same as the kernel's live widget); the CSS reads these.
    for (const [name, colour] of Object.entries(PALETTE)) {
      this.node.style.setProperty(`--cm-colour-${name}`, colour);
    }
    this.title.caption = 'Carbon (carbon_magic)';

    this.node.appendChild(el('h2', 'cm-sidebar-title', 'Energy & CO\u2082e'));
    this._status = this.node.appendChild(el('div', 'cm-sidebar-status'));
    this._cluster = this.node.appendChild(el('div', 'cm-sidebar-cluster'));
    this._now = this.node.appendChild(el('div', 'cm-sidebar-now'));
    this._chart = this._buildChart();
    this._totals = this.node.appendChild(el('div', 'cm-sidebar-totals'));
    this.node.appendChild(el('h3', 'cm-sidebar-subtitle', 'Measured cells'));
    this._cells = this.node.appendChild(el('ol', 'cm-sidebar-cells'));
    this.node.appendChild(this._buildExportButtons());
    this._exportNote = this.node.appendChild(
      el('div', 'cm-sidebar-export-note')
    );
    this._exportNote.hidden = true;
    this._renderNowVisible();
  }

  /** Say something about the last export request (null: nothing to say). */
  showExportNote(text: string | null): void {
    this._exportNote.textContent = text ?? '';
    this._exportNote.hidden = text === null;
  }

  /**
   * Show `session` (null: the current widget has no carbon_magic kernel).
   * While the panel is hidden this only remembers what to show.
   */
  render(session: CarbonSession | null, unit: EnergyUnit): void {
    this._pending = { session, unit };
    if (this.isVisible) {
      this._renderNowVisible();
    }
  }

  protected onAfterShow(): void {
    this._renderNowVisible();
  }

  protected onAfterAttach(): void {
    if (this.isVisible) {
      this._renderNowVisible();
    }
  }

  private _renderNowVisible(): void {
    const { session, unit } = this._pending;
    this.node.dataset.sampleCount = String(session?.sampleCount ?? 0);
    this.node.dataset.recordCount = String(session?.records.length ?? 0);
    this._renderStatus(session);
    this._renderCluster(session, unit);
    this._renderNow(session);
    this._renderChart(session);
    this._renderTotals(session, unit);
    this._renderCells(session, unit);
  }

  private _buildChart(): SVGElement {
    const { width, height } = CHART_BOX;
    const chart = svg('svg', {
      class: 'cm-chart',
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label':
        'power (W, left axis) and grid intensity (g/kWh, right axis) over time'
    });
    chart.appendChild(svg('rect', { class: 'cm-chart-frame' }));
    chart.appendChild(svg('g', { class: 'cm-chart-axes' }));
    chart.appendChild(
      svg('path', { class: 'cm-chart-power', d: '', stroke: PALETTE.power })
    );
    chart.appendChild(
      svg('path', {
        class: 'cm-chart-intensity',
        d: '',
        stroke: PALETTE.intensity
      })
    );
    this.node.appendChild(chart);
    const legend = el('div', 'cm-chart-legend');
    this._legendPower = legend.appendChild(el('span', 'cm-legend-power'));
    this._legendIntensity = legend.appendChild(
      el('span', 'cm-legend-intensity')
    );
    this.node.appendChild(legend);
    return chart;
  }

  private _buildExportButtons(): HTMLElement {
    const box = el('div', 'cm-sidebar-export');
    box.appendChild(el('span', 'cm-sidebar-export-label', 'Export session:'));
    for (const format of EXPORT_FORMATS) {
      const button = el(
        'button',
        'jp-Button jp-mod-styled cm-export-button',
        EXPORT_LABELS[format]
      );
      button.dataset.format = format;
      button.addEventListener('click', () =>
        this._actions.exportSession(format)
      );
      box.appendChild(button);
    }
    return box;
  }

  private _renderStatus(session: CarbonSession | null): void {
    const hello = session?.hello;
    if (!hello && session?.reattached) {
      this._status.textContent =
        'Connected to a running carbon_magic session (%carbon status lists its sensors).';
      this._status.title = '';
      return;
    }
    if (!hello) {
      this._status.textContent =
        'No carbon_magic kernel: run %load_ext carbon_magic in this notebook.';
      this._status.title = '';
      return;
    }
    const sensors =
      hello.sensors.map(s => `${s.name} (${s.method})`).join(', ') || 'none';
    this._status.textContent = `Sensors: ${sensors} · zone ${hello.zone ?? 'not set'}`;
    this._status.title = hello.skipped
      .map(
        s => `${s.name} skipped: ${s.reason}${s.fix ? ` Fix: ${s.fix}` : ''}`
      )
      .join('\n');
  }

  /** The cluster's nodes, each with its probe table (as `%carbon status` lists them). */
  private _renderCluster(
    session: CarbonSession | null,
    unit: EnergyUnit
  ): void {
    const c = session?.cluster;
    if (!c || !c.attached) {
      this._cluster.replaceChildren();
      return;
    }
    const head = el(
      'div',
      'cm-cluster-head',
      `Cluster (${c.engine ?? 'unknown'}): ${plural(c.nodes.length, 'node')} · idle ${formatEnergy(c.idle_j, unit)}`
    );
    const list = el('ul', 'cm-cluster-nodes');
    for (const n of c.nodes) {
      let text: string;
      if (n.error) {
        text = `${n.node}: sensors unreadable (${n.error})`;
      } else if (n.sensors.length === 0) {
        text = `${n.node}: no probe table yet`;
      } else {
        const sensors = n.sensors
          .map(s => `${s.name} (${s.method})`)
          .join(', ');
        text = `${n.node}: ${sensors}${n.unreadable ? ' \u2013 no hardware sensor readable, estimates only' : ''}`;
      }
      text += ` · zone ${n.zone ?? 'the kernel\u2019s'}`;
      if (n.lost) {
        text += ` · lost: ${n.lost}`;
      }
      const li = el(
        'li',
        n.lost || n.unreadable || n.error
          ? 'cm-cluster-node cm-mod-warn'
          : 'cm-cluster-node',
        text
      );
      li.dataset.node = n.node;
      li.title = n.skipped.join('\n');
      list.appendChild(li);
    }
    this._cluster.replaceChildren(head, list);
  }

  private _renderNow(session: CarbonSession | null): void {
    const s = session?.lastSample;
    if (!s) {
      this._now.textContent = 'Power: \u2013 · Intensity: \u2013';
      return;
    }
    const total = Object.values(s.power_w).reduce((a, b) => a + b, 0);
    const parts = Object.entries(s.power_w)
      .map(([name, w]) =>
        `${name} ${formatPower(w)} ${s.methods[name] ?? ''}`.trim()
      )
      .join(', ');
    const provenance = s.intensity ? ` (${provenanceLabel(s.intensity)})` : '';
    this._now.textContent = `Power: ${formatPower(total)} · Intensity: ${formatIntensity(s.intensity_g_per_kwh)}${provenance}`;
    const flag =
      s.intensity && typeof s.intensity.flag === 'string'
        ? `\n${s.intensity.flag}`
        : '';
    this._now.title = parts + flag;
  }

  private _renderChart(session: CarbonSession | null): void {
    const g = chartGeometry(session?.points ?? []);
    const { x0, y0, x1, y1 } = g.plot;
    const frame = this._chart.querySelector('.cm-chart-frame')!;
    for (const [k, v] of Object.entries({
      x: x0,
      y: y0,
      width: x1 - x0,
      height: y1 - y0
    })) {
      frame.setAttribute(k, String(v));
    }
    this._chart
      .querySelector('.cm-chart-power')!
      .setAttribute('d', g.powerPath);
    this._chart
      .querySelector('.cm-chart-intensity')!
      .setAttribute('d', g.intensityPath);
    this._chart.dataset.points = String(session?.points.length ?? 0);
    const tick = (
      cls: string,
      t: ITick,
      x: number,
      y: number,
      anchor: string
    ) => {
      const text = svg('text', {
        class: `cm-chart-tick ${cls}`,
        x: String(x),
        y: String(y),
        'text-anchor': anchor
      });
      text.textContent = t.label;
      return text;
    };
    const labels = [
      ...g.powerTicks.map(t =>
        tick('cm-chart-tick-power', t, x0 - 3, t.pos + 3, 'end')
      ),
      ...g.intensityTicks.map(t =>
        tick('cm-chart-tick-intensity', t, x1 + 3, t.pos + 3, 'start')
      ),
      ...g.timeTicks.map(t =>
        tick(
          'cm-chart-tick-time',
          t,
          t.pos,
          y1 + 11,
          t.pos === x0 ? 'start' : 'end'
        )
      )
    ];
    this._chart.querySelector('.cm-chart-axes')!.replaceChildren(...labels);
    const p = session?.lastSample?.intensity;
    this._legendPower.textContent = 'power, W (left axis)';
    this._legendIntensity.textContent =
      'grid intensity, g/kWh (right axis)' +
      (p ? ` \u00b7 ${provenanceLabel(p)}` : '');
  }

  private _renderTotals(session: CarbonSession | null, unit: EnergyUnit): void {
    const records = session?.records ?? [];
    const lines = totalsLines(session?.totals ?? null, records, unit);
    const latest = [...records].reverse().find(r => !isNested(r)) ?? null;
    const scope = el(
      'div',
      'cm-total-scope',
      latest && scopeText(latest)
        ? `Scope: ${isProcessScope(latest) ? "this kernel's share" : 'whole machine'}`
        : ''
    );
    scope.title = latest ? scopeText(latest) : '';
    this._totals.replaceChildren(
      ...lines.map(line => {
        const div = el('div', `cm-total-${line.name}`, line.text);
        div.title = line.title;
        return div;
      }),
      scope
    );
  }

  private _renderCells(session: CarbonSession | null, unit: EnergyUnit): void {
    // Samples arrive every second; rebuild the list only when it changed.
    const key = {
      session,
      unit,
      count: session?.records.length ?? 0,
      revisions: session?.revisions ?? 0
    };
    const last = this._cellsKey;
    if (
      last &&
      last.session === key.session &&
      last.unit === key.unit &&
      last.count === key.count &&
      last.revisions === key.revisions
    ) {
      return;
    }
    this._cellsKey = key;
    // Newest first, numbered in execution order: the newest run has the highest number. Records
    // nested in a cell (measure() inside it) are listed inside its entry and not numbered.
    const groups = groupRecords(session?.records ?? []);
    const items = groups
      .map((group, index) => ({ ...group, n: index + 1 }))
      .reverse()
      .map(({ record, children, n }) => {
        const li = this._cellItem(record, unit);
        li.value = n;
        if (children.length) {
          const list = el('ol', 'cm-cell-children');
          list.append(...children.map(c => this._cellItem(c, unit)));
          li.appendChild(list);
        }
        return li;
      });
    this._cells.replaceChildren(...items);
  }

  /** One list entry; a nested one sits inside its cell's entry (a click on it shows that cell). */
  private _cellItem(r: ICarbonRecord, unit: EnergyUnit): HTMLLIElement {
    const nested = r.parent !== null && r.parent !== undefined;
    const li = el(
      'li',
      nested ? 'cm-cell-item cm-cell-nested' : 'cm-cell-item'
    );
    const name = r.label || r.code_head || `[${r.execution_count ?? ' '}]`;
    li.appendChild(el('span', 'cm-cell-name', name));
    li.appendChild(
      el(
        'span',
        'cm-cell-numbers',
        `${formatEnergy(r.energy_j, unit)} · ${formatEmissions(r.emissions_g)} · ` +
          `${formatDuration(r.duration_s)}${recordMark(r) === 'measured' ? '' : ` · ${recordMark(r)}`}` +
          (isProcessScope(r) ? ' · share' : '')
      )
    );
    if (nested) {
      li.title = 'Measured inside the cell above; already in its total';
      return li;
    }
    const cellId = r.cell_id;
    if (cellId) {
      li.dataset.cellId = cellId;
      li.classList.add('cm-clickable');
      li.title = 'Show this cell';
      li.addEventListener('click', () => this._actions.selectCell(cellId));
    } else {
      li.title = 'No cell id (run outside JupyterLab)';
    }
    return li;
  }

  private _pending: { session: CarbonSession | null; unit: EnergyUnit } = {
    session: null,
    unit: 'auto'
  };
  private _cellsKey: {
    session: CarbonSession | null;
    unit: EnergyUnit;
    count: number;
    revisions: number;
  } | null = null;
  private _actions: ISidebarActions;
  private _status: HTMLElement;
  private _cluster: HTMLElement;
  private _now: HTMLElement;
  private _chart: SVGElement;
  private _legendPower!: HTMLElement;
  private _legendIntensity!: HTMLElement;
  private _totals: HTMLElement;
  private _cells: HTMLElement;
  private _exportNote: HTMLElement;
}

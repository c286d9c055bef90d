/**
 * The per-cell badge: a small DOM element built from a stored cell value.
 * Every piece of text goes through `textContent` / `title`, never innerHTML,
 * because labels and code heads are user text.
 */
import {
  provenanceLabel,
  EnergyUnit,
  formatChange,
  formatDuration,
  formatEmissions,
  formatEnergy,
  formatIntensity,
  formatTimestamp
} from './format';
import { ICellCarbon, previousEntry } from './history';
import {
  SHOW_UNCERTAINTY_ABOVE,
  isProcessScope,
  recordMark,
  recordUncertaintyJ,
  scopeText
} from './protocol';

export const BADGE_CLASS = 'cm-badge';

/** Tooltip (title attribute): components, intensity, provenance, recent runs. */
export function badgeTooltip(cell: ICellCarbon, unit: EnergyUnit): string {
  const r = cell.last;
  const lines: string[] = [];
  if (r.label) {
    lines.push(`Label: ${r.label}`);
  }
  lines.push(
    `Energy: ${formatEnergy(r.energy_j, unit)}` +
      (r.pue !== null && r.pue !== 1 ? ` (PUE ${r.pue})` : '')
  );
  for (const c of r.components) {
    const notes = [
      c.status && c.status !== 'ok' ? `sensor ${c.status}` : '',
      c.mig ? 'whole board, MIG slice' : ''
    ].filter(Boolean);
    const u =
      typeof c.uncertainty_j === 'number' && c.uncertainty_j > 0
        ? c.uncertainty_j
        : 0;
    const share =
      c.scope === 'process' &&
      typeof c.share === 'number' &&
      typeof c.device_energy_j === 'number'
        ? ` = ${Math.round(c.share * 100)} % of ${formatEnergy(c.device_energy_j, unit)}`
        : '';
    lines.push(
      `  ${c.name} (${c.kind}): ${formatEnergy(c.energy_j, unit)}` +
        (u ? ` \u00b1 ${formatEnergy(u, unit)}` : '') +
        share +
        ` ${c.method}` +
        (share && c.attribution ? `, ${c.attribution}` : '') +
        (notes.length ? ` (${notes.join('; ')})` : '')
    );
  }
  const scope = scopeText(r);
  if (scope) {
    lines.push(`Scope: ${scope}`);
  }
  const p = r.intensity;
  const label = provenanceLabel(p);
  const provenance =
    label + (p?.fetched_at ? `, fetched ${formatTimestamp(p.fetched_at)}` : '');
  lines.push(
    `Intensity: ${formatIntensity(r.intensity_g_per_kwh)} (${provenance})`
  );
  if (p && typeof p.flag === 'string' && p.flag && !label.includes(p.flag)) {
    lines.push(`  Note: ${p.flag}`);
  }
  if (p && typeof p.source === 'string' && p.source) {
    lines.push(`  Source: ${p.source}`);
  }
  lines.push(`Emissions: ${formatEmissions(r.emissions_g)}`);
  lines.push(`Duration: ${formatDuration(r.duration_s)} · status ${r.status}`);
  if (cell.history.length > 1) {
    lines.push('Last runs:');
    for (const e of [...cell.history].reverse()) {
      lines.push(
        `  ${formatTimestamp(e.started_at)}: ${formatEnergy(e.energy_j, unit)}, ` +
          `${formatEmissions(e.emissions_g)}, ${formatDuration(e.duration_s)}, ${e.status}`
      );
    }
  }
  return lines.join('\n');
}

function span(cls: string, text: string): HTMLSpanElement {
  const el = document.createElement('span');
  el.className = cls;
  el.textContent = text;
  return el;
}

/** Build the badge element for a cell's stored value. */
export function createBadge(cell: ICellCarbon, unit: EnergyUnit): HTMLElement {
  const r = cell.last;
  const mark = recordMark(r);
  const uncertainty = recordUncertaintyJ(r);
  const showU =
    uncertainty > 0 &&
    (r.energy_j <= 0 || uncertainty > SHOW_UNCERTAINTY_ABOVE * r.energy_j);
  const node = document.createElement('div');
  node.className = BADGE_CLASS;
  node.dataset.energyJ = String(r.energy_j);
  node.dataset.emissionsG = String(r.emissions_g);
  node.dataset.method = mark;
  node.title = badgeTooltip(cell, unit);

  node.appendChild(span('cm-badge-icon', '\u26a1'));
  node.appendChild(
    span(
      'cm-badge-energy',
      formatEnergy(r.energy_j, unit) +
        (showU ? ` \u00b1 ${formatEnergy(uncertainty, unit)}` : '')
    )
  );
  node.appendChild(span('cm-badge-sep', '\u00b7'));
  node.appendChild(span('cm-badge-emissions', formatEmissions(r.emissions_g)));
  node.appendChild(
    span(`cm-badge-method cm-badge-${mark.replace(' ', '-')}`, mark)
  );
  if (isProcessScope(r)) {
    const scope = span('cm-badge-scope', 'share');
    scope.title = `This kernel's share of shared devices, not the whole machine: ${scopeText(r)}`;
    node.appendChild(scope);
  }
  const troubled = r.components.filter(c => c.status && c.status !== 'ok');
  if (troubled.length) {
    node.appendChild(
      span(
        'cm-badge-sensor',
        troubled.map(c => `${c.name} ${c.status}`).join(', ')
      )
    );
  }
  const prev = previousEntry(cell);
  const change = formatChange(r.energy_j, prev ? prev.energy_j : null);
  if (change) {
    node.appendChild(span('cm-badge-change', change));
  }
  if (r.status !== 'ok') {
    node.appendChild(span('cm-badge-status', r.status));
  }
  if (r.label) {
    node.appendChild(span('cm-badge-label', r.label));
  }
  return node;
}

/**
 * Put the badge for `cell` into `host` (replacing any previous one), or remove
 * it when `cell` is null.
 */
export function renderBadge(
  host: HTMLElement,
  cell: ICellCarbon | null,
  unit: EnergyUnit
): void {
  const old = host.querySelector(`:scope > .${BADGE_CLASS}`);
  if (cell === null) {
    old?.remove();
    return;
  }
  const badge = createBadge(cell, unit);
  if (old) {
    host.replaceChild(badge, old);
  } else {
    host.appendChild(badge);
  }
}

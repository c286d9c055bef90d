import { badgeTooltip, createBadge, renderBadge } from '../badge';
import { appendRecord } from '../history';
import { processRecord, record } from './fixtures';

const nb = (s: string | null) => (s ?? '').replace(/\u00a0/g, ' ');

describe('createBadge', () => {
  it('shows energy, emissions and a measured mark', () => {
    const node = createBadge(appendRecord(undefined, record(), 5), 'auto');
    expect(node.className).toBe('cm-badge');
    expect(nb(node.querySelector('.cm-badge-energy')!.textContent)).toBe(
      '2 Wh'
    );
    expect(nb(node.querySelector('.cm-badge-emissions')!.textContent)).toBe(
      '112 mg CO\u2082e'
    );
    expect(node.querySelector('.cm-badge-method')!.textContent).toBe(
      'measured'
    );
    expect(node.dataset.energyJ).toBe('7200');
    expect(node.dataset.emissionsG).toBe('0.112');
    expect(node.querySelector('.cm-badge-change')).toBeNull();
  });

  it("writes what the kernel's summary line writes (the formatting contract)", () => {
    // The summary said `3.91 J · 0.497 mg CO₂e` where the badge said `1.08 mWh · 497 µg`.
    const r = record({
      energy_j: 3.91,
      emissions_g: 0.000497,
      components: [
        {
          name: 'cpu:package-0',
          kind: 'cpu',
          method: 'counter',
          energy_j: 3.91
        }
      ],
      intensity: {
        provider: 'electricitymaps',
        zone: 'FR',
        kind: 'live',
        fetched_at: null
      }
    });
    const node = createBadge(appendRecord(undefined, r, 5), 'auto');
    expect(node.querySelector('.cm-badge-energy')!.textContent).toBe('3.91 J');
    expect(node.querySelector('.cm-badge-emissions')!.textContent).toBe(
      '0.497 mg CO\u2082e'
    );
    // The provider's name, as the kernel writes it, also for a record that has only its key.
    expect(node.title).toContain(
      'Intensity: 56 g/kWh (FR, Electricity Maps, live)'
    );
  });

  it('marks estimated records', () => {
    const r = record({
      components: [
        { name: 'cpu', kind: 'cpu', method: 'estimated', energy_j: 7200 }
      ]
    });
    const node = createBadge(appendRecord(undefined, r, 5), 'auto');
    expect(node.querySelector('.cm-badge-method')!.textContent).toBe(
      'estimated'
    );
    expect(node.dataset.method).toBe('estimated');
  });

  it('says sampled, never measured, for polled power', () => {
    const r = record({
      components: [
        { name: 'gpu:0', kind: 'gpu', method: 'sampled', energy_j: 7200 }
      ]
    });
    const node = createBadge(appendRecord(undefined, r, 5), 'auto');
    expect(node.querySelector('.cm-badge-method')!.textContent).toBe('sampled');
    expect(node.dataset.method).toBe('sampled');
  });

  it('shows the uncertainty when it matters and a failed sensor', () => {
    const r = record({
      energy_j: 1000,
      pue: 1,
      components: [
        {
          name: 'gpu:0',
          kind: 'gpu',
          method: 'counter',
          energy_j: 900,
          uncertainty_j: 300
        },
        {
          name: 'cpu:package-0',
          kind: 'cpu',
          method: 'counter',
          energy_j: 100,
          status: 'failed'
        }
      ]
    });
    const node = createBadge(appendRecord(undefined, r, 5), 'J');
    expect(nb(node.querySelector('.cm-badge-energy')!.textContent)).toContain(
      '\u00b1'
    );
    expect(node.querySelector('.cm-badge-sensor')!.textContent).toBe(
      'cpu:package-0 failed'
    );
    expect(node.querySelector('.cm-badge-method')!.textContent).toBe('mixed');
    expect(node.title).toContain('sensor failed');
  });

  it('leaves out a small uncertainty', () => {
    const r = record({
      energy_j: 1000,
      pue: 1,
      components: [
        {
          name: 'gpu:0',
          kind: 'gpu',
          method: 'counter',
          energy_j: 1000,
          uncertainty_j: 5
        }
      ]
    });
    const node = createBadge(appendRecord(undefined, r, 5), 'J');
    expect(
      nb(node.querySelector('.cm-badge-energy')!.textContent)
    ).not.toContain('\u00b1');
  });

  it('shows the change against the previous run', () => {
    const first = appendRecord(undefined, record({ energy_j: 1000 }), 5);
    const second = appendRecord(first, record({ energy_j: 620 }), 5);
    const node = createBadge(second, 'auto');
    expect(nb(node.querySelector('.cm-badge-change')!.textContent)).toBe(
      '\u221238 % vs last run'
    );
  });

  it('inserts a label containing HTML as text', () => {
    const label = '<img src=x onerror=alert(1)>';
    const node = createBadge(
      appendRecord(undefined, record({ label }), 5),
      'auto'
    );
    expect(node.querySelector('img')).toBeNull();
    expect(node.querySelector('.cm-badge-label')!.textContent).toBe(label);
    expect(node.title).toContain(`Label: ${label}`);
  });

  it('says "share" for this kernel\'s share of shared devices, with the reason', () => {
    const node = createBadge(appendRecord(undefined, processRecord(), 5), 'J');
    const scope = node.querySelector('.cm-badge-scope')!;
    expect(scope.textContent).toBe('share');
    expect(scope.getAttribute('title')).toContain(
      'auto: others did 70 % of the CPU work'
    );
    expect(nb(node.querySelector('.cm-badge-energy')!.textContent)).toBe(
      '2160 J'
    );
    const text = nb(node.title);
    expect(text).toContain(
      'cpu:package-0 (cpu): 2160 J = 30 % of 7200 J counter, attributed:cpu-time'
    );
    expect(text).toContain(
      "Scope: this kernel's share (auto: others did 70 % of the CPU work)"
    );
  });

  it('adds no scope word for the whole machine or an older record', () => {
    const machine = record({
      scope: 'machine',
      scope_reason: 'auto: others kept only 2 % of the CPUs busy'
    });
    const node = createBadge(appendRecord(undefined, machine, 5), 'auto');
    expect(node.querySelector('.cm-badge-scope')).toBeNull();
    expect(node.title).toContain(
      'Scope: whole machine (auto: others kept only 2 % of the CPUs busy)'
    );
    const old = createBadge(appendRecord(undefined, record(), 5), 'auto');
    expect(old.querySelector('.cm-badge-scope')).toBeNull();
    expect(old.title).not.toContain('Scope:');
  });

  it('shows a non-ok status', () => {
    const node = createBadge(
      appendRecord(undefined, record({ status: 'error' }), 5),
      'auto'
    );
    expect(node.querySelector('.cm-badge-status')!.textContent).toBe('error');
  });
});

describe('badgeTooltip', () => {
  it('lists components, intensity with provenance and recent runs', () => {
    const first = appendRecord(undefined, record({ energy_j: 3600 }), 5);
    const cell = appendRecord(
      first,
      record({ started_at: '2026-11-23T19:00:00Z' }),
      5
    );
    const text = nb(badgeTooltip(cell, 'Wh'));
    expect(text).toContain('cpu:package-0 (cpu): 1.94 Wh counter');
    expect(text).toContain('dram (dram): 0.0556 Wh counter');
    expect(text).toContain('Intensity: 56 g/kWh (FR, static)');
    expect(text).toContain('Last runs:');
    expect(text).not.toContain('Note:');
    expect(text.indexOf('2026-11-23 19:00:00 UTC')).toBeLessThan(
      text.indexOf('2026-11-23 18:20:05 UTC')
    );
  });
});

describe('badgeTooltip caveats', () => {
  it("shows the kernel's flag and source of the intensity", () => {
    const intensity = {
      provider: 'static',
      zone: null,
      kind: 'static',
      fetched_at: null,
      flag: 'no zone set: world average',
      source: 'OWID 2025'
    };
    const text = badgeTooltip(
      appendRecord(undefined, record({ intensity }), 5),
      'auto'
    );
    expect(text).toContain('Intensity: 56 g/kWh (world average, static)');
    expect(text).toContain('  Note: no zone set: world average');
    expect(text).toContain('  Source: OWID 2025');
  });
});

describe('renderBadge', () => {
  it('adds, replaces and removes a single badge', () => {
    const host = document.createElement('div');
    renderBadge(
      host,
      appendRecord(undefined, record({ energy_j: 36 }), 5),
      'auto'
    );
    renderBadge(
      host,
      appendRecord(undefined, record({ energy_j: 72 }), 5),
      'auto'
    );
    const badges = host.querySelectorAll('.cm-badge');
    expect(badges).toHaveLength(1);
    expect(nb(badges[0].querySelector('.cm-badge-energy')!.textContent)).toBe(
      '72 J'
    );
    renderBadge(host, null, 'auto');
    expect(host.querySelector('.cm-badge')).toBeNull();
  });
});

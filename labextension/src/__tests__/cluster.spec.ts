import { Widget } from '@lumino/widgets';

import { formatEnergy } from '../format';
import { validateMessage } from '../protocol';
import { CarbonSession } from '../session';
import { CarbonSidebar } from '../sidebar';
import { record } from './fixtures';

const CLUSTER = {
  type: 'cluster',
  attached: true,
  engine: 'dask',
  idle_j: 3600,
  nodes: [
    {
      node: 'node-a',
      zone: 'FR',
      sensors: [{ name: 'cpu:package-0', kind: 'cpu', method: 'counter' }],
      skipped: ['gpu: no NVIDIA driver'],
      unreadable: false,
      error: null,
      lost: null,
      idle_j: 1800
    },
    {
      node: 'node-b',
      zone: null,
      sensors: [],
      skipped: [],
      unreadable: true,
      error: 'PermissionError: energy_uj is not readable',
      lost: 'worker tcp://10.0.0.2:1234 left the cluster',
      idle_j: 1800
    }
  ]
};

describe('cluster messages', () => {
  it('validates the cluster message and rejects a malformed one', () => {
    expect(validateMessage(CLUSTER).problem).toBeNull();
    expect(validateMessage({ ...CLUSTER, nodes: [{ node: 3 }] }).problem).toBe(
      'bad cluster fields'
    );
  });

  it('shows every node with its probe table in the sidebar, and unreadable or lost nodes say so', () => {
    const s = new CarbonSession();
    const parsed = validateMessage(CLUSTER).message!;
    s.setCluster(parsed as any);
    const sidebar = new CarbonSidebar({
      selectCell: () => undefined,
      exportSession: () => undefined
    });
    Widget.attach(sidebar, document.body);
    try {
      sidebar.render(s, 'J');
      const box = sidebar.node.querySelector('.cm-sidebar-cluster')!;
      expect(box.querySelector('.cm-cluster-head')!.textContent).toBe(
        `Cluster (dask): 2 nodes · idle ${formatEnergy(3600, 'J')}`
      );
      const a = box.querySelector('[data-node="node-a"]')!;
      expect(a.textContent).toBe('node-a: cpu:package-0 (counter) · zone FR');
      expect((a as HTMLElement).title).toBe('gpu: no NVIDIA driver');
      const b = box.querySelector('[data-node="node-b"]')!;
      expect(b.textContent).toContain(
        'node-b: sensors unreadable (PermissionError: energy_uj is not readable)'
      );
      expect(b.textContent).toContain(
        'lost: worker tcp://10.0.0.2:1234 left the cluster'
      );
      expect(b.classList.contains('cm-mod-warn')).toBe(true);
    } finally {
      sidebar.dispose();
    }
  });

  it('replaces a record by its revision in the session list', () => {
    const s = new CarbonSession();
    s.addRecord(record({ revision: 0, energy_j: 10 }));
    s.addRecord(record({ revision: 1, energy_j: 30 }));
    s.addRecord(
      record({ revision: 1, energy_j: 5, started_at: '2026-11-23T19:00:00Z' })
    );
    expect(s.records.map(r => r.energy_j)).toEqual([30, 5]);
    expect(s.revisions).toBe(1);
    expect(s.cellTotals().energy_j).toBe(35);
  });
});

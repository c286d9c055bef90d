import { chartGeometry, toPoint } from '../chart';
import { CarbonSession, MAX_POINTS } from '../session';
import { ISampleMessage } from '../protocol';

function sample(t: number, cpu: number, intensity: number | null): ISampleMessage {
  return {
    type: 'sample',
    t,
    power_w: { cpu, 'gpu:0': 10 },
    methods: {},
    intensity_g_per_kwh: intensity,
    intensity: null,
    energy_j: t,
    emissions_g: t / 100
  };
}

describe('chartGeometry', () => {
  it('is empty without points', () => {
    expect(chartGeometry([], 100, 50).powerPath).toBe('');
  });

  it('maps time to x and each series to its own y scale', () => {
    const pts = [sample(0, 0, 100), sample(5, 45, 200), sample(10, 100, null)].map(toPoint);
    expect(pts[1].power_w).toBe(55);
    const g = chartGeometry(pts, 100, 50);
    expect(g.spanS).toBe(10);
    expect(g.maxPowerW).toBeCloseTo(121);
    // first point at x=0; power 10 of 121 -> y = 50 - 10/121*50
    expect(g.powerPath.startsWith('M0.0,45.9')).toBe(true);
    expect(g.powerPath.split(' ')).toHaveLength(3);
    // the null intensity is left out rather than drawn as 0
    expect(g.intensityPath.split(' ')).toHaveLength(2);
    expect(g.intensityPath).toBe('M0.0,27.3 L50.0,4.5');
  });
});

describe('CarbonSession', () => {
  it('keeps a bounded window of points but counts every sample', () => {
    const s = new CarbonSession();
    for (let i = 0; i < MAX_POINTS + 10; i++) {
      s.addSample(sample(i, 1, 1));
    }
    expect(s.points).toHaveLength(MAX_POINTS);
    expect(s.points[0].t).toBe(10);
    expect(s.sampleCount).toBe(MAX_POINTS + 10);
  });

  it('starts a new chart when the kernel session changes', () => {
    const s = new CarbonSession();
    const hello = { type: 'hello' as const, version: '0', session_id: 'a', sensors: [], skipped: [], zone: null };
    s.setHello(hello);
    s.addSample(sample(1, 1, 1));
    s.setHello({ ...hello, session_id: 'b' });
    expect(s.points).toHaveLength(0);
    expect(s.lastSample).toBeNull();
  });
});

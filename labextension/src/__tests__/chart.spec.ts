import { chartGeometry, niceCeil, toPoint } from '../chart';
import { CarbonSession, MAX_POINTS } from '../session';
import { ISampleMessage } from '../protocol';

function sample(
  t: number,
  cpu: number,
  intensity: number | null
): ISampleMessage {
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

const BOX = { width: 100, height: 50, left: 0, right: 0, top: 0, bottom: 0 };

describe('chartGeometry', () => {
  it('is empty without points', () => {
    const g = chartGeometry([], BOX);
    expect(g.powerPath).toBe('');
    expect(g.timeTicks).toEqual([]);
  });

  it('maps time to x and each series to its own y scale, up to a nice top', () => {
    const pts = [
      sample(0, 0, 100),
      sample(5, 45, 200),
      sample(10, 100, null)
    ].map(toPoint);
    expect(pts[1].power_w).toBe(55);
    const g = chartGeometry(pts, BOX);
    expect(g.spanS).toBe(10);
    expect(g.maxPowerW).toBe(200); // 110 W + 10 % head room, rounded up to 200
    // first point at x=0; power 10 of 200 -> y = 50 - 10/200*50
    expect(g.powerPath.startsWith('M0.0,47.5')).toBe(true);
    expect(g.powerPath.split(' ')).toHaveLength(3);
    // the null intensity is left out rather than drawn as 0
    expect(g.intensityPath).toBe('M0.0,30.0 L50.0,10.0');
  });

  it('labels its axes with units: W on the left, g/kWh on the right, time before now below', () => {
    const pts = [
      sample(0, 0, 100),
      sample(5, 45, 200),
      sample(250, 100, 150)
    ].map(toPoint);
    const g = chartGeometry(pts);
    expect(g.powerTicks.map(t => t.label)).toEqual(['0 W', '100 W', '200 W']);
    expect(g.intensityTicks.map(t => t.label)).toEqual([
      '0 g/kWh',
      '125 g/kWh',
      '250 g/kWh'
    ]);
    expect(g.timeTicks.map(t => t.label)).toEqual(['\u22124 min 10 s', 'now']);
    // inside the margins: ticks from the plot's bottom (0) to its top
    expect(g.powerTicks[0].pos).toBe(g.plot.y1);
    expect(g.powerTicks[2].pos).toBe(g.plot.y0);
    expect(g.timeTicks.map(t => t.pos)).toEqual([g.plot.x0, g.plot.x1]);
  });
});

describe('niceCeil', () => {
  it.each([
    [0, 1],
    [0.3, 0.5],
    [1, 1],
    [1.1, 2],
    [2.2, 2.5],
    [61.6, 100],
    [121, 200],
    [4400, 5000]
  ])('%p -> %p', (v, top) => {
    expect(niceCeil(v)).toBeCloseTo(top, 12);
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
    const hello = {
      type: 'hello' as const,
      version: '0',
      session_id: 'a',
      sensors: [],
      skipped: [],
      zone: null
    };
    s.setHello(hello);
    s.addSample(sample(1, 1, 1));
    s.setHello({ ...hello, session_id: 'b' });
    expect(s.points).toHaveLength(0);
    expect(s.lastSample).toBeNull();
  });
});

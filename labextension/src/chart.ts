/**
 * Geometry of the sidebar's live chart: power and grid intensity over time as
 * SVG path strings. Pure; the sidebar only puts the strings into the DOM.
 */
import { ISampleMessage } from './protocol';

export interface IChartPoint {
  /** Unix seconds. */
  t: number;
  /** Total power over all components, W. */
  power_w: number;
  intensity_g_per_kwh: number | null;
  /** Session cumulative grams CO2e. */
  emissions_g: number;
}

export interface IChartGeometry {
  powerPath: string;
  intensityPath: string;
  maxPowerW: number;
  maxIntensity: number;
  spanS: number;
}

export function toPoint(sample: ISampleMessage): IChartPoint {
  const power = Object.values(sample.power_w).reduce((a, b) => a + b, 0);
  return {
    t: sample.t,
    power_w: power,
    intensity_g_per_kwh: sample.intensity_g_per_kwh,
    emissions_g: sample.emissions_g
  };
}

/** Upper bound for an axis: the maximum with 10 % head room, never 0. */
function axisMax(values: number[]): number {
  const max = values.length ? Math.max(...values) : 0;
  return max > 0 ? max * 1.1 : 1;
}

function path(xy: Array<[number, number]>): string {
  return xy
    .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`)
    .join(' ');
}

/**
 * Paths for `points` (oldest first) in a `width` x `height` box; the x axis
 * spans the points' time range, each series has its own y scale from 0.
 */
export function chartGeometry(
  points: ReadonlyArray<IChartPoint>,
  width: number,
  height: number
): IChartGeometry {
  if (points.length === 0) {
    return { powerPath: '', intensityPath: '', maxPowerW: 1, maxIntensity: 1, spanS: 0 };
  }
  const t0 = points[0].t;
  const spanS = points[points.length - 1].t - t0;
  const x = (t: number) => (spanS > 0 ? ((t - t0) / spanS) * width : width / 2);
  const maxPowerW = axisMax(points.map(p => p.power_w));
  const withIntensity = points.filter(p => p.intensity_g_per_kwh !== null);
  const maxIntensity = axisMax(withIntensity.map(p => p.intensity_g_per_kwh as number));
  const y = (v: number, max: number) => height - (v / max) * height;
  return {
    powerPath: path(points.map(p => [x(p.t), y(p.power_w, maxPowerW)])),
    intensityPath: path(
      withIntensity.map(p => [x(p.t), y(p.intensity_g_per_kwh as number, maxIntensity)])
    ),
    maxPowerW,
    maxIntensity,
    spanS
  };
}

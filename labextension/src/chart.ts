/**
 * Geometry of the sidebar's live chart: power (left axis, W) and grid intensity (right axis,
 * g/kWh) over time (bottom axis, seconds before the newest sample), as SVG path strings and
 * tick labels. Pure; the sidebar only puts them into the DOM. Tick labels use format.ts, the
 * kernel's formatting contract.
 */
import { formatDuration, formatIntensity, formatPower } from './format';
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

/** The SVG's viewBox and the margins the axes' labels sit in. */
export interface IChartBox {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export const CHART_BOX: IChartBox = {
  width: 300,
  height: 130,
  left: 42,
  right: 54,
  top: 8,
  bottom: 16
};

export interface ITick {
  /** x for the time axis, y for the value axes, in viewBox units. */
  pos: number;
  label: string;
}

export interface IChartGeometry {
  powerPath: string;
  intensityPath: string;
  maxPowerW: number;
  maxIntensity: number;
  spanS: number;
  /** The plot area inside the margins. */
  plot: { x0: number; y0: number; x1: number; y1: number };
  powerTicks: ITick[];
  intensityTicks: ITick[];
  timeTicks: ITick[];
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

/** The smallest 1, 2, 2.5 or 5 × 10^k at or above `v` (an axis top that reads well); 1 for v <= 0. */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) {
    return 1;
  }
  const magnitude = Math.pow(10, Math.floor(Math.log10(v)));
  for (const step of [1, 2, 2.5, 5, 10]) {
    const top = step * magnitude;
    if (top >= v * (1 - 1e-12)) {
      return top;
    }
  }
  return 10 * magnitude;
}

/** Upper bound for an axis: the maximum with 10 % head room, rounded up to a nice number. */
function axisMax(values: number[]): number {
  const max = values.length ? Math.max(...values) : 0;
  return niceCeil(max * 1.1);
}

function path(xy: Array<[number, number]>): string {
  return xy
    .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`)
    .join(' ');
}

/**
 * Paths and ticks for `points` (oldest first) in `box`: x spans the points' time range, each
 * series has its own y scale from 0 to a nice top; ticks at 0, half and the top.
 */
export function chartGeometry(
  points: ReadonlyArray<IChartPoint>,
  box: IChartBox = CHART_BOX
): IChartGeometry {
  const plot = {
    x0: box.left,
    y0: box.top,
    x1: box.width - box.right,
    y1: box.height - box.bottom
  };
  const w = plot.x1 - plot.x0;
  const h = plot.y1 - plot.y0;
  const t0 = points.length ? points[0].t : 0;
  const spanS = points.length ? points[points.length - 1].t - t0 : 0;
  const x = (t: number) =>
    plot.x0 + (spanS > 0 ? ((t - t0) / spanS) * w : w / 2);
  const maxPowerW = axisMax(points.map(p => p.power_w));
  const withIntensity = points.filter(p => p.intensity_g_per_kwh !== null);
  const maxIntensity = axisMax(
    withIntensity.map(p => p.intensity_g_per_kwh as number)
  );
  const y = (v: number, max: number) => plot.y1 - (v / max) * h;
  const ticks = (max: number, fmt: (v: number) => string) =>
    [0, max / 2, max].map(v => ({ pos: y(v, max), label: fmt(v) }));
  return {
    powerPath: path(points.map(p => [x(p.t), y(p.power_w, maxPowerW)])),
    intensityPath: path(
      withIntensity.map(p => [
        x(p.t),
        y(p.intensity_g_per_kwh as number, maxIntensity)
      ])
    ),
    maxPowerW,
    maxIntensity,
    spanS,
    plot,
    powerTicks: ticks(maxPowerW, formatPower),
    intensityTicks: ticks(maxIntensity, formatIntensity),
    timeTicks: points.length
      ? [
          {
            pos: plot.x0,
            label: spanS > 0 ? `\u2212${formatDuration(spanS)}` : 'now'
          },
          ...(spanS > 0 ? [{ pos: plot.x1, label: 'now' }] : [])
        ]
      : []
  };
}

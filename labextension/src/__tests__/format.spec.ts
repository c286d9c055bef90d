import { readFileSync } from 'fs';
import { join } from 'path';

import {
  formatChange,
  formatDuration,
  formatEmissions,
  formatEnergy,
  formatIntensity,
  formatMass,
  formatNumber,
  formatPower,
  formatTimestamp,
  plural,
  provenanceLabel
} from '../format';

const nb = (s: string | null) =>
  s === null ? null : s.replace(/\u00a0/g, ' ');

/** The cases the kernel's tests read too (tests/test_format_contract.py): one contract. */
const CASES = JSON.parse(
  readFileSync(
    join(__dirname, '..', '..', '..', 'tests', 'data', 'format_cases.json'),
    'utf-8'
  )
);

describe('the formatting contract shared with the kernel (tests/data/format_cases.json)', () => {
  const table: Array<[string, (x: any) => string]> = [
    ['number', formatNumber],
    ['energy_j', (x: number) => formatEnergy(x)],
    ['mass_g', formatMass],
    ['power_w', formatPower],
    ['duration_s', formatDuration],
    ['intensity_g_per_kwh', formatIntensity],
    ['provenance', provenanceLabel]
  ];
  for (const [kind, fn] of table) {
    it.each(CASES[kind] as Array<[unknown, string]>)(
      `${kind} %p -> %p`,
      (x, expected) => {
        expect(fn(x)).toBe(expected);
      }
    );
  }

  it('covers every kind in the file', () => {
    expect(
      Object.keys(CASES)
        .filter(k => k !== 'about')
        .sort()
    ).toEqual(table.map(([k]) => k).sort());
  });

  it('shows a dash for non-finite numbers', () => {
    expect(formatNumber(NaN)).toBe('\u2013');
    expect(formatEnergy(Infinity)).toBe('\u2013');
  });

  it('writes CO2e after the mass', () => {
    expect(formatEmissions(0.000497)).toBe('0.497 mg CO\u2082e');
  });
});

describe('formatEnergy with a fixed unit (the extension setting)', () => {
  it('honours a fixed unit', () => {
    expect(formatEnergy(7200, 'Wh')).toBe('2 Wh');
    expect(formatEnergy(7200, 'kWh')).toBe('0.002 kWh');
    expect(formatEnergy(7200, 'J')).toBe('7200 J');
  });
});

describe('formatChange', () => {
  it('uses a real minus sign for a decrease', () => {
    expect(nb(formatChange(62, 100))).toBe('\u221238 % vs last run');
  });
  it('uses a plus sign for an increase', () => {
    expect(nb(formatChange(112, 100))).toBe('+12 % vs last run');
  });
  it('marks no change', () => {
    expect(nb(formatChange(100, 100))).toBe('\u00b10 % vs last run');
  });
  it('has nothing to say without a positive previous value', () => {
    expect(formatChange(10, null)).toBeNull();
    expect(formatChange(10, 0)).toBeNull();
  });
});

describe('formatTimestamp', () => {
  it('formats times in UTC', () => {
    expect(formatTimestamp('2026-11-23T18:20:05.123Z')).toBe(
      '2026-11-23 18:20:05 UTC'
    );
    expect(formatTimestamp('not a date')).toBe('not a date');
    expect(formatTimestamp(1795458412.5)).toBe('2026-11-23 18:26:52 UTC');
  });
});

describe('provenanceLabel', () => {
  it('keeps a kind that adds information', () => {
    expect(
      provenanceLabel({ zone: 'GB', provider: 'uk', kind: 'forecast' })
    ).toBe('GB, UK Carbon Intensity API, forecast');
  });
});

describe('plural', () => {
  it('says run and runs', () => {
    expect(plural(1, 'run')).toBe('1 run');
    expect(plural(3, 'run')).toBe('3 runs');
  });
});

import {
  formatChange,
  formatDuration,
  formatEmissions,
  formatEnergy,
  formatIntensity,
  formatNumber,
  formatPower,
  formatTimestamp,
  plural,
  provenanceLabel
} from '../format';

const nb = (s: string | null) => (s === null ? null : s.replace(/\u00a0/g, ' '));

describe('formatNumber', () => {
  it.each([
    [0, '0'],
    [1.234, '1.23'],
    [12.34, '12.3'],
    [123.4, '123'],
    [1234.5, '1235'],
    [0.01234, '0.0123'],
    [9.999, '10.0'],
    [99.96, '100'],
    [-2.5, '-2.50']
  ])('%p -> %p', (x, expected) => {
    expect(formatNumber(x)).toBe(expected);
  });

  it('shows a dash for non-finite numbers', () => {
    expect(formatNumber(NaN)).toBe('\u2013');
    expect(formatNumber(Infinity)).toBe('\u2013');
  });
});

describe('formatEnergy', () => {
  it('auto picks mWh below 1 Wh', () => {
    expect(nb(formatEnergy(36))).toBe('10.0 mWh');
  });
  it('auto picks Wh from 1 Wh', () => {
    expect(nb(formatEnergy(3600 * 41.2))).toBe('41.2 Wh');
  });
  it('auto picks kWh from 1000 Wh', () => {
    expect(nb(formatEnergy(3.6e6 * 2.5))).toBe('2.50 kWh');
  });
  it('honours a fixed unit', () => {
    expect(nb(formatEnergy(7200, 'Wh'))).toBe('2.00 Wh');
    expect(nb(formatEnergy(7200, 'kWh'))).toBe('0.00200 kWh');
    expect(nb(formatEnergy(7200, 'J'))).toBe('7200 J');
  });
  it('shows zero as 0 Wh', () => {
    expect(nb(formatEnergy(0))).toBe('0 Wh');
  });
});

describe('formatEmissions', () => {
  it.each([
    [15.6, '15.6 g CO\u2082e'],
    [0.112, '112 mg CO\u2082e'],
    [0.0000213, '21.3 \u00b5g CO\u2082e'],
    [2500, '2.50 kg CO\u2082e'],
    [0, '0 g CO\u2082e']
  ])('%p g -> %p', (g, expected) => {
    expect(nb(formatEmissions(g))).toBe(expected);
  });
});

describe('formatDuration', () => {
  it.each([
    [0.42, '0.420 s'],
    [4.2, '4.20 s'],
    [242, '4 min 02 s'],
    [3780, '1 h 03 min']
  ])('%p s -> %p', (s, expected) => {
    expect(nb(formatDuration(s))).toBe(expected);
  });
  it('rejects negative durations', () => {
    expect(formatDuration(-1)).toBe('\u2013');
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

describe('other units', () => {
  it('formats power, intensity and time', () => {
    expect(nb(formatPower(12.5))).toBe('12.5 W');
    expect(nb(formatPower(1500))).toBe('1.50 kW');
    expect(nb(formatIntensity(379))).toBe('379 g/kWh');
    expect(formatIntensity(null)).toBe('intensity unknown');
    expect(formatTimestamp('2026-11-23T18:20:05.123Z')).toBe('2026-11-23 18:20:05 UTC');
    expect(formatTimestamp('not a date')).toBe('not a date');
    expect(formatTimestamp(1795458412.5)).toBe('2026-11-23 18:26:52 UTC');
  });
});

describe('provenanceLabel', () => {
  it('does not repeat a kind equal to the provider', () => {
    expect(provenanceLabel({ zone: 'FR', provider: 'static', kind: 'static' })).toBe('FR, static');
  });
  it('keeps a kind that adds information', () => {
    expect(provenanceLabel({ zone: 'GB', provider: 'uk', kind: 'forecast' })).toBe('GB, uk, forecast');
  });
  it('is empty without provenance', () => {
    expect(provenanceLabel(null)).toBe('');
  });
});

describe('plural', () => {
  it('says run and runs', () => {
    expect(plural(1, 'run')).toBe('1 run');
    expect(plural(3, 'run')).toBe('3 runs');
  });
});

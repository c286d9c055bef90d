import { DEFAULT_SETTINGS, readSettings } from '../settings';

import schema from '../../schema/plugin.json';

describe('readSettings', () => {
  it('gives the defaults for empty settings, matching the schema defaults', () => {
    expect(readSettings({})).toEqual(DEFAULT_SETTINGS);
    expect(DEFAULT_SETTINGS).toEqual({
      unit: schema.properties.units.default,
      showBadges: schema.properties.showBadges.default,
      historyLength: schema.properties.historyLength.default
    });
  });

  it('reads every unit the schema allows', () => {
    for (const unit of schema.properties.units.enum) {
      expect(readSettings({ units: unit }).unit).toBe(unit);
    }
  });

  it('falls back on invalid values', () => {
    expect(
      readSettings({ units: 'BTU', showBadges: 'no', historyLength: -3 })
    ).toEqual({
      unit: 'auto',
      showBadges: true,
      historyLength: 1
    });
    expect(
      readSettings({ showBadges: false, historyLength: 12 })
    ).toMatchObject({
      showBadges: false,
      historyLength: 12
    });
  });
});

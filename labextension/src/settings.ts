/**
 * The user settings (schema/plugin.json) as the extension uses them; unknown or
 * invalid values fall back to the defaults rather than failing.
 */
import { ENERGY_UNITS, EnergyUnit } from './format';
import { clampHistoryLength, DEFAULT_HISTORY_LENGTH } from './history';

export interface ICarbonSettings {
  unit: EnergyUnit;
  showBadges: boolean;
  historyLength: number;
}

export const DEFAULT_SETTINGS: ICarbonSettings = {
  unit: 'auto',
  showBadges: true,
  historyLength: DEFAULT_HISTORY_LENGTH
};

export function readSettings(
  composite: Partial<Record<string, unknown>>
): ICarbonSettings {
  return {
    unit: ENERGY_UNITS.includes(composite.units as EnergyUnit)
      ? (composite.units as EnergyUnit)
      : DEFAULT_SETTINGS.unit,
    showBadges: composite.showBadges !== false,
    historyLength: clampHistoryLength(composite.historyLength)
  };
}

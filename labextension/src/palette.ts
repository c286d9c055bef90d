/**
 * The extension's colours: one meaning each, the same values as the kernel's live widget
 * (carbon_magic/live/palette.py). tests/test_palette.py reads both files and compares them.
 */
export const PALETTE = {
  power: '#1f77b4',
  intensity: '#ff7f0e',
  co2: '#8c564b'
} as const;

export type PaletteKey = keyof typeof PALETTE;

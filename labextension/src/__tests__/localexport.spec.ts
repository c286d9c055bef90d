import { csvField, exportRecords } from '../localexport';
import { record } from './fixtures';

describe('exportRecords', () => {
  const records = [record({ label: 'a, "quoted" label' }), record({ cell_id: null, label: '=cmd|x' })];

  it('writes CSV with a header and quoted user text', () => {
    const lines = exportRecords(records, 'csv').trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'cell_id,label,execution_count,started_at,ended_at,duration_s,status,energy_j,emissions_g,' +
        'intensity_g_per_kwh,zone,provider,pue,measured_by'
    );
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain('"a, ""quoted"" label"');
    expect(lines[1]).toContain(',7200,0.112,56,FR,static,1,cpu:package-0:counter dram:counter');
    expect(lines[2].startsWith(",'=cmd|x,")).toBe(true);
  });

  it('writes JSON that parses back to the records', () => {
    expect(JSON.parse(exportRecords(records, 'json'))).toEqual(records);
  });

  it('writes a Markdown table with escaped pipes', () => {
    const lines = exportRecords(records, 'md').trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toContain('=cmd\\|x');
  });

  it('leaves numbers alone in CSV', () => {
    expect(csvField('-1.5')).toBe('-1.5');
    expect(csvField('+x')).toBe("'+x");
  });
});

import { exportFilename, noKernelExportNote } from '../download';

describe('one export, one name', () => {
  it('names the file as the kernel does: <notebook>-carbon.<ext>', () => {
    expect(exportFilename('work/analysis.ipynb', 'csv')).toBe(
      'analysis-carbon.csv'
    );
    expect(exportFilename('my notebook (1).ipynb', 'json')).toBe(
      'my_notebook_1-carbon.json'
    );
    expect(exportFilename('._.ipynb', 'md')).toBe('notebook-carbon.md');
  });

  it("without a kernel, gives the command that writes the kernel's file from the notebook", () => {
    expect(noKernelExportNote('work/analysis.ipynb', 'csv')).toContain(
      'carbon-magic report work/analysis.ipynb -o analysis-carbon.csv'
    );
    expect(noKernelExportNote("it's here.ipynb", 'csv')).toContain(
      "carbon-magic report 'it'\\''s here.ipynb' -o it_s_here-carbon.csv"
    );
    expect(noKernelExportNote('a.ipynb', 'csv')).toContain(
      '%load_ext carbon_magic'
    );
  });
});

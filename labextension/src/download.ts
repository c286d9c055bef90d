/**
 * Exports: offering the kernel's `export` replies as a browser download, and what to say when
 * there is no kernel to ask. There is one export, the kernel's (CodeCarbon's columns first, then
 * carbon_magic's; carbon_magic/report/csv_export.py), named `<notebook>-carbon.<ext>`; without a
 * kernel the extension writes no file of another shape but gives the command that writes that
 * one from the notebook's stored records (`carbon-magic report`, no kernel needed).
 */
import { ExportFormat } from './protocol';

export const EXPORT_MIME: Record<ExportFormat, string> = {
  csv: 'text/csv',
  json: 'application/json',
  md: 'text/markdown'
};

export function downloadText(
  filename: string,
  content: string,
  mime: string
): void {
  const url = URL.createObjectURL(new Blob([content], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** The kernel's file name for an export of this notebook (report/commands.py `export_text`). */
export function exportFilename(
  notebookPath: string,
  format: ExportFormat
): string {
  const name = notebookPath.split('/').pop() ?? '';
  const stem = name
    .replace(/\.ipynb$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+|[._]+$/g, '');
  return `${stem || 'notebook'}-carbon.${format}`;
}

/** A shell word: quoted unless it is plainly safe. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9._/@%+=:,-]+$/.test(text)
    ? text
    : `'${text.replace(/'/g, "'\\''")}'`;
}

/** What the sidebar says when an export is asked for and no kernel has carbon_magic loaded. */
export function noKernelExportNote(
  notebookPath: string,
  format: ExportFormat
): string {
  return (
    'The export comes from the kernel: run %load_ext carbon_magic in this notebook, or write ' +
    'the same file from the records this notebook stores (save it first), in a terminal: ' +
    `carbon-magic report ${shellWord(notebookPath)} -o ${shellWord(exportFilename(notebookPath, format))}`
  );
}

/**
 * carbon_magic JupyterLab extension: wiring only. Per-notebook logic is in
 * notebook.ts, rendering in badge.ts / sidebar.ts, formatting in format.ts.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { noKernelExportNote } from './download';
import { logError, NotebookCarbon } from './notebook';
import { ExportFormat } from './protocol';
import { readSettings } from './settings';
import { CarbonSidebar } from './sidebar';

const PLUGIN_ID = 'carbon-magic-labextension:plugin';

const CommandIds = {
  exportSummary: 'carbon-magic:export-summary',
  clearMetadata: 'carbon-magic:clear-metadata',
  showSidebar: 'carbon-magic:show-sidebar'
};

const leafIcon = new LabIcon({
  name: 'carbon-magic:leaf',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" ' +
    'd="M17 8C8 10 5.9 16.17 3.82 21.34l1.89.66.95-2.3c.48.17.98.3 1.34.3C19 20 22 3 22 3c-1 2-8 ' +
    '2.25-13 3.25S2 11.5 2 13.5s1.75 3.75 1.75 3.75C7 8 17 8 17 8z"/></svg>'
});

function activate(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  settingRegistry: ISettingRegistry | null,
  palette: ICommandPalette | null
): void {
  let settings = readSettings({});
  const controllers = new Map<NotebookPanel, NotebookCarbon>();
  const current = () =>
    tracker.currentWidget
      ? (controllers.get(tracker.currentWidget) ?? null)
      : null;

  // One export, the kernel's: without a kernel, the sidebar says how to get that same file.
  const exportSession = (format: ExportFormat) => {
    const c = current();
    if (!c) {
      sidebar.showExportNote('Open a notebook to export its emissions.');
    } else if (c.requestExport(format)) {
      sidebar.showExportNote(null);
    } else {
      sidebar.showExportNote(noKernelExportNote(c.panel.context.path, format));
      app.shell.activateById(sidebar.id);
    }
  };

  const sidebar = new CarbonSidebar({
    selectCell: cellId => current()?.selectCell(cellId),
    exportSession
  });
  sidebar.title.icon = leafIcon;
  app.shell.add(sidebar, 'right', { rank: 900 });
  const refresh = () =>
    sidebar.render(current()?.session ?? null, settings.unit);

  const host = {
    settings: () => settings,
    changed: (source: NotebookCarbon) => {
      if (source === current()) {
        refresh();
      }
    }
  };
  const track = (panel: NotebookPanel) => {
    try {
      controllers.set(panel, new NotebookCarbon(panel, host));
      panel.disposed.connect(() => controllers.delete(panel));
    } catch (err) {
      logError('setting up a notebook', err);
    }
  };
  tracker.forEach(track);
  tracker.widgetAdded.connect((_, panel) => track(panel));
  tracker.currentChanged.connect(refresh);

  app.commands.addCommand(CommandIds.exportSummary, {
    label: 'Export emissions summary',
    caption: 'Download the emissions of this notebook session as CSV',
    execute: () => exportSession('csv')
  });
  app.commands.addCommand(CommandIds.clearMetadata, {
    label: 'Clear stored emissions metadata',
    caption: 'Remove carbon_magic records from this notebook',
    execute: () => current()?.clearMetadata()
  });
  app.commands.addCommand(CommandIds.showSidebar, {
    label: 'Show emissions sidebar',
    execute: () => app.shell.activateById(sidebar.id)
  });
  for (const command of Object.values(CommandIds)) {
    palette?.addItem({ command, category: 'Carbon' });
  }

  if (settingRegistry) {
    settingRegistry
      .load(PLUGIN_ID)
      .then(loaded => {
        const apply = () => {
          settings = readSettings(loaded.composite as Record<string, unknown>);
          controllers.forEach(c => c.renderAllBadges());
          refresh();
        };
        loaded.changed.connect(apply);
        apply();
      })
      .catch(err => logError('loading settings', err));
  }
  console.log('[carbon_magic] JupyterLab extension activated');
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Per-cell energy and CO2e badges, a live sidebar and emissions stored in the notebook.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, ICommandPalette],
  activate
};

export default plugin;

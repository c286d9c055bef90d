/**
 * Per-notebook wiring: the `carbon_magic` comm on every kernel of the panel,
 * records written into cell/notebook metadata, badges rendered from metadata.
 */
import { Cell, ICellModel } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';

import { renderBadge } from './badge';
import { downloadText, EXPORT_MIME } from './download';
import {
  appendRecord,
  ICellCarbon,
  readCellCarbon,
  summarise
} from './history';
import {
  CarbonMessage,
  COMM_TARGET,
  ExportFormat,
  ICarbonRecord,
  METADATA_KEY,
  parseMessage,
  isNested
} from './protocol';
import { CarbonSession } from './session';
import { ICarbonSettings } from './settings';

const EXPORT_REPLY_TIMEOUT_MS = 15000;

export interface INotebookCarbonHost {
  settings(): ICarbonSettings;
  /** Something the sidebar shows changed. */
  changed(source: NotebookCarbon): void;
}

/** Log with the extension's prefix; the extension never throws into Lab. */
export function logError(what: string, err: unknown): void {
  console.error(`[carbon_magic] ${what}:`, err);
}

export class NotebookCarbon {
  readonly session = new CarbonSession();

  constructor(panel: NotebookPanel, host: INotebookCarbonHost) {
    this.panel = panel;
    this._host = host;
    const ctx = panel.sessionContext;
    ctx.kernelChanged.connect(
      (_, change) => this._connectKernel(change.newValue),
      this
    );
    void ctx.ready
      .then(() => this._connectKernel(ctx.session?.kernel ?? null))
      .catch(err => logError('session not ready', err));
    this._connectKernel(ctx.session?.kernel ?? null);

    const cells = panel.content.model?.cells;
    if (cells) {
      cells.changed.connect(this._onCellsChanged, this);
      for (let i = 0; i < cells.length; i++) {
        this._watchCell(cells.get(i));
      }
    }
    void panel.context.ready.then(() => {
      this.renderAllBadges();
      this.restoreStoredRecords();
    });
    panel.disposed.connect(() => this._dispose());
  }

  readonly panel: NotebookPanel;

  /** The open comm, if the kernel has loaded carbon_magic. */
  get comm(): Kernel.IComm | null {
    return this._comm;
  }

  /** Ask the kernel for an export; it answers with an `export` message. */
  requestExport(format: ExportFormat): boolean {
    if (!this._comm || this._comm.isDisposed) {
      return false;
    }
    this._comm.send({ type: 'export_request', format });
    clearTimeout(this._exportTimer);
    this._exportTimer = setTimeout(
      () =>
        console.warn(
          `[carbon_magic] the kernel has not answered the ${format} export request`
        ),
      EXPORT_REPLY_TIMEOUT_MS
    );
    return true;
  }

  /** The stored value of every cell that has one, in notebook order. */
  storedCells(): Array<{ model: ICellModel; carbon: ICellCarbon }> {
    const out: Array<{ model: ICellModel; carbon: ICellCarbon }> = [];
    const cells = this.panel.content.model?.cells;
    for (let i = 0; cells && i < cells.length; i++) {
      const model = cells.get(i);
      const carbon = readCellCarbon(model.getMetadata(METADATA_KEY));
      if (carbon) {
        out.push({ model, carbon });
      }
    }
    return out;
  }

  /**
   * List the records the notebook stores (after a page reload, or a notebook reopened) in the
   * sidebar, as the badges show them.
   */
  restoreStoredRecords(): void {
    this.session.seedRecords(this.storedCells().map(c => c.carbon.last));
    this._host.changed(this);
  }

  /** Remove every stored record from this notebook (cells and summary). */
  clearMetadata(): void {
    const cells = this.panel.content.model?.cells;
    for (let i = 0; cells && i < cells.length; i++) {
      const model = cells.get(i);
      if (model.getMetadata(METADATA_KEY) !== undefined) {
        model.deleteMetadata(METADATA_KEY);
      }
    }
    this.panel.content.model?.deleteMetadata(METADATA_KEY);
  }

  /** Scroll to the cell with this id and make it active. */
  selectCell(cellId: string): void {
    const notebook = this.panel.content;
    const index = notebook.widgets.findIndex(w => w.model.id === cellId);
    if (index < 0) {
      console.warn(
        `[carbon_magic] cell ${cellId} is no longer in the notebook`
      );
      return;
    }
    notebook.activeCellIndex = index;
    void notebook
      .scrollToCell(notebook.widgets[index], 'center')
      .catch(err => logError('scroll to cell', err));
  }

  renderAllBadges(): void {
    const cells = this.panel.content.model?.cells;
    for (let i = 0; cells && i < cells.length; i++) {
      this._renderCellBadge(cells.get(i));
    }
  }

  private _connectKernel(kernel: Kernel.IKernelConnection | null): void {
    if (!kernel || this._kernels.has(kernel)) {
      return;
    }
    this._kernels.add(kernel);
    try {
      kernel.registerCommTarget(COMM_TARGET, this._onCommOpen);
    } catch (err) {
      logError('registering the comm target', err);
    }
    void this._adoptOpenComms(kernel);
  }

  /**
   * Attach to a comm the kernel opened before this connection existed (page
   * reload, notebook reopened while its kernel runs): no hello is replayed,
   * but samples, records and exports flow again.
   */
  private async _adoptOpenComms(
    kernel: Kernel.IKernelConnection
  ): Promise<void> {
    try {
      const reply = await kernel.requestCommInfo({ target_name: COMM_TARGET });
      if (reply.content.status !== 'ok' || kernel.isDisposed) {
        return;
      }
      for (const commId of Object.keys(reply.content.comms)) {
        if (!kernel.hasComm(commId)) {
          this._attach(kernel.createComm(COMM_TARGET, commId));
          this.session.reattached = true;
          this._host.changed(this);
        }
      }
    } catch (err) {
      console.warn('[carbon_magic] could not look for an open comm:', err);
    }
  }

  private _onCommOpen = (
    comm: Kernel.IComm,
    msg: KernelMessage.ICommOpenMsg
  ): void => {
    this._attach(comm);
    this._handle(msg.content.data);
  };

  private _attach(comm: Kernel.IComm): void {
    this._comm = comm;
    comm.onMsg = m => this._handle(m.content.data);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
      }
    };
  }

  private _handle(data: unknown): void {
    try {
      const message = parseMessage(data);
      if (message) {
        this._apply(message);
        this._host.changed(this);
      }
    } catch (err) {
      logError('handling a comm message', err);
    }
  }

  private _apply(message: CarbonMessage): void {
    switch (message.type) {
      case 'hello':
        this.session.setHello(message);
        break;
      case 'sample':
        this.session.addSample(message);
        break;
      case 'record':
        this.session.addRecord(message.record, message.totals);
        this._store(message.record);
        break;
      case 'cluster':
        this.session.setCluster(message);
        break;
      case 'export':
        clearTimeout(this._exportTimer);
        downloadText(
          message.filename,
          message.content,
          EXPORT_MIME[message.format]
        );
        break;
    }
  }

  /** Write the record into its cell's metadata and refresh the notebook summary. */
  private _store(record: ICarbonRecord): void {
    const model = this.panel.content.model;
    if (!record.cell_id || !model || isNested(record)) {
      return; // e.g. nbclient sends no cell id; a nested record is not its cell's: the sidebar lists both
    }
    const cells = model.cells;
    for (let i = 0; i < cells.length; i++) {
      const cell = cells.get(i);
      if (cell.id === record.cell_id) {
        const value = appendRecord(
          cell.getMetadata(METADATA_KEY),
          record,
          this._host.settings().historyLength
        );
        cell.setMetadata(METADATA_KEY, value as any);
        this._updateSummary();
        return;
      }
    }
    console.warn(`[carbon_magic] record for unknown cell ${record.cell_id}`);
  }

  private _updateSummary(): void {
    const summary = summarise(
      this.storedCells().map(c => c.carbon),
      new Date()
    );
    this.panel.content.model?.setMetadata(METADATA_KEY, summary as any);
  }

  private _onCellsChanged(): void {
    const cells = this.panel.content.model?.cells;
    for (let i = 0; cells && i < cells.length; i++) {
      this._watchCell(cells.get(i));
    }
    // New cell widgets are created by the notebook's own handler of this
    // signal; render once they exist.
    setTimeout(() => this.renderAllBadges(), 0);
  }

  private _watchCell(model: ICellModel): void {
    if (this._watched.has(model)) {
      return;
    }
    this._watched.add(model);
    model.metadataChanged.connect((_, change) => {
      if (change.key === METADATA_KEY) {
        this._renderCellBadge(model);
      }
    }, this);
  }

  private _renderCellBadge(model: ICellModel): void {
    const cell = this.panel.content.widgets.find(w => w.model === model);
    if (!cell) {
      return;
    }
    const { showBadges, unit } = this._host.settings();
    const carbon = showBadges
      ? readCellCarbon(model.getMetadata(METADATA_KEY))
      : null;
    const render = (c: Cell) => {
      try {
        renderBadge(c.node, carbon, unit);
      } catch (err) {
        logError('rendering a badge', err);
      }
    };
    if (carbon === null) {
      render(cell); // removing needs no rendered cell
      return;
    }
    // Windowed notebooks render cells lazily: wait until the cell exists.
    void cell.ready.then(() => !cell.isDisposed && render(cell));
  }

  private _dispose(): void {
    clearTimeout(this._exportTimer);
    for (const kernel of this._kernels) {
      if (!kernel.isDisposed) {
        kernel.removeCommTarget(COMM_TARGET, this._onCommOpen);
      }
    }
    this._kernels.clear();
    this._comm = null;
  }

  private _host: INotebookCarbonHost;
  private _comm: Kernel.IComm | null = null;
  private _kernels = new Set<Kernel.IKernelConnection>();
  private _watched = new WeakSet<ICellModel>();
  private _exportTimer: ReturnType<typeof setTimeout> | undefined = undefined;
}

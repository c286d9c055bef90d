/**
 * End to end: a real ipykernel with carbon_magic (fake RAPL tree from
 * jupyter_server_test_config.py) -> comm -> badges, metadata, sidebar.
 */
import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test
} from '@jupyterlab/galata';

const BADGE = '.cm-badge';
const SIDEBAR = '#carbon-magic-sidebar';

/** Write an nbformat 4.5 notebook with `cells` (Python 3 kernel) to `path` through the contents API. */
async function uploadNotebook(
  page: IJupyterLabPageFixture,
  path: string,
  cells: object[]
): Promise<void> {
  const notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3',
        language: 'python'
      }
    },
    cells
  };
  await page.contents.uploadContent(JSON.stringify(notebook), 'text', path);
}

/** Replace the notebook's cells with code cells holding `sources` (no typing, no auto-indent). */
async function setCells(
  page: IJupyterLabPageFixture,
  sources: string[]
): Promise<void> {
  await page.evaluate(srcs => {
    const model = (window as any).jupyterapp.shell.currentWidget.content.model;
    const shared = model.sharedModel;
    shared.transact(() => {
      shared.deleteCellRange(0, shared.cells.length);
      shared.insertCells(
        0,
        srcs.map((source: string) => ({
          cell_type: 'code',
          source,
          metadata: {}
        }))
      );
    });
  }, sources);
}

async function cellModelInfo(
  page: IJupyterLabPageFixture,
  index: number
): Promise<any> {
  return page.evaluate(i => {
    const cell = (
      window as any
    ).jupyterapp.shell.currentWidget.content.model.cells.get(i);
    return { id: cell.id, carbon: cell.getMetadata('carbon_magic') ?? null };
  }, index);
}

async function newNotebook(
  page: IJupyterLabPageFixture,
  stem: string
): Promise<string> {
  const name = `${stem}-${test.info().repeatEachIndex}.ipynb`;
  await page.notebook.createNew(name);
  return name;
}

/** Run cell `index` and wait for it to finish. */
async function run(page: IJupyterLabPageFixture, index: number): Promise<void> {
  await page.notebook.runCell(index);
}

async function output(
  page: IJupyterLabPageFixture,
  index: number
): Promise<string> {
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('');
}

async function showSidebar(page: IJupyterLabPageFixture): Promise<void> {
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('carbon-magic:show-sidebar')
  );
  await expect(page.locator(SIDEBAR)).toBeVisible();
}

test.describe('carbon_magic in JupyterLab', () => {
  test.beforeEach(async ({ page }) => {
    page.on('console', msg => {
      if (msg.text().includes('[carbon_magic]')) {
        console.log(`browser: ${msg.text()}`);
      }
    });
  });

  test('badge shows the numbers of the kernel record, saved and rendered again on reopen', async ({
    page,
    tmpPath
  }) => {
    const name = await newNotebook(page, 'badge');
    await setCells(page, [
      '%load_ext carbon_magic',
      '%%carbon -o r\nimport time; time.sleep(1.5)',
      'print(repr(r.energy_j), repr(r.emissions_g), r.cell_id, r.components[0].method, repr(r.uncertainty_j))',
      'from carbon_magic.units import fmt_mass_g\nprint(r.energy_text()); print(fmt_mass_g(r.emissions_g) + " CO\u2082e"); print(r.intensity_label())'
    ]);
    await run(page, 0);
    await run(page, 1);
    await run(page, 2);
    await run(page, 3);

    const [energyJ, emissionsG, cellId, method] = (await output(page, 2))
      .trim()
      .split(/\s+/);
    expect(Number(energyJ)).toBeGreaterThan(0);
    const cell1 = await cellModelInfo(page, 1);
    expect(cellId).toBe(cell1.id);

    // The badge under cell 1 carries exactly the kernel's numbers.
    const badge = (await page.notebook.getCellLocator(1))!.locator(BADGE);
    await expect(badge).toHaveCount(1);
    await test.info().attach('cell-with-badge', {
      body: await (await page.notebook.getCellLocator(1))!.screenshot(),
      contentType: 'image/png'
    });
    expect(Number(await badge.getAttribute('data-energy-j'))).toBe(
      Number(energyJ)
    );
    expect(Number(await badge.getAttribute('data-emissions-g'))).toBe(
      Number(emissionsG)
    );
    // ... and shows them as the kernel writes them: the summary line's energy (with the record's
    // uncertainty after '±': the estimated RAM component is ±50 %), its CO2e and the intensity's
    // provenance, character for character (one formatting contract).
    const [energyText, co2Text, provenance] = (await output(page, 3))
      .trim()
      .split('\n');
    await expect(badge.locator('.cm-badge-energy')).toHaveText(energyText);
    expect(energyText).toContain(' \u00b1 ');
    await expect(badge.locator('.cm-badge-emissions')).toHaveText(co2Text);
    expect(await badge.getAttribute('title')).toContain(`(${provenance})`);
    expect(method).toBe('counter'); // the fake RAPL zone is a real counter
    expect(await badge.getAttribute('title')).toContain('cpu:package-0 (cpu)');
    // The metadata holds the same record and a history entry.
    expect(cell1.carbon.last.energy_j).toBe(Number(energyJ));
    expect(cell1.carbon.history).toHaveLength(1);

    // Saving writes the records into the .ipynb.
    await page.notebook.save();
    const response = await page.request.get(
      `/api/contents/${tmpPath}/${name}?content=1`
    );
    expect(response.ok()).toBe(true);
    const file = (await response.json()).content;
    expect(file.cells[1].metadata.carbon_magic.last.energy_j).toBe(
      Number(energyJ)
    );
    expect(file.cells[1].metadata.carbon_magic.last.cell_id).toBe(cell1.id);
    expect(file.cells[0].metadata.carbon_magic).toBeUndefined();
    expect(file.metadata.carbon_magic.cells).toBe(1);
    expect(file.metadata.carbon_magic.energy_j).toBe(Number(energyJ));

    // Reopen with the kernels shut down: the badge comes from the file alone.
    await page.notebook.close(true);
    await page.evaluate(() =>
      (window as any).jupyterapp.serviceManager.sessions.shutdownAll()
    );
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    const again = (await page.notebook.getCellLocator(1))!.locator(BADGE);
    await expect(again).toHaveCount(1);
    expect(Number(await again.getAttribute('data-energy-j'))).toBe(
      Number(energyJ)
    );
    await expect(
      (await page.notebook.getCellLocator(0))!.locator(BADGE)
    ).toHaveCount(0);
    // Nothing ran: the sidebar lists the record the notebook stores (the new session sent none).
    await showSidebar(page);
    await expect(page.locator(SIDEBAR)).toHaveAttribute(
      'data-record-count',
      '1'
    );

    // No carbon_magic in this kernel: no file of another shape, but the command that writes the
    // kernel's file from the records the notebook stores.
    let downloads = 0;
    page.on('download', () => downloads++);
    await page
      .locator(`${SIDEBAR} .cm-export-button[data-format="csv"]`)
      .click();
    const note = page.locator(`${SIDEBAR} .cm-sidebar-export-note`);
    await expect(note).toBeVisible();
    await expect(note).toContainText(
      `carbon-magic report ${tmpPath}/${name} -o ${name.replace('.ipynb', '-carbon.csv')}`
    );
    await page.waitForTimeout(1000);
    expect(downloads).toBe(0);

    // "Clear stored emissions metadata" removes badges and metadata.
    await page.evaluate(() =>
      (window as any).jupyterapp.commands.execute('carbon-magic:clear-metadata')
    );
    await expect(page.locator(BADGE)).toHaveCount(0);
    expect((await cellModelInfo(page, 1)).carbon).toBeNull();
    const nbMeta = await page.evaluate(() =>
      (window as any).jupyterapp.shell.currentWidget.content.model.getMetadata(
        'carbon_magic'
      )
    );
    expect(nbMeta).toBeUndefined();
  });

  test('second run shows the change against the previous run', async ({
    page
  }) => {
    await newNotebook(page, 'change');
    await setCells(page, [
      '%load_ext carbon_magic',
      '%%carbon\nimport time; time.sleep(0.5)'
    ]);
    await run(page, 0);
    await run(page, 1);
    await run(page, 1);
    const badge = (await page.notebook.getCellLocator(1))!.locator(BADGE);
    await expect(badge.locator('.cm-badge-change')).toHaveText(
      /^[+\u2212\u00b1]\d+\u00a0% vs last run$/
    );
    const info = await cellModelInfo(page, 1);
    expect(info.carbon.history).toHaveLength(2);
  });

  test('sidebar updates at least 3 times during a 5 s cell and its chart shows data', async ({
    page
  }) => {
    await newNotebook(page, 'sidebar');
    await showSidebar(page);
    const chart = page.locator(`${SIDEBAR} .cm-chart`);
    const emptyChart = await chart.screenshot();

    await setCells(page, [
      '%load_ext carbon_magic',
      '%%carbon\nimport time; time.sleep(5)'
    ]);
    await run(page, 0);
    await page.evaluate(sel => {
      const node = document.querySelector(sel) as HTMLElement;
      const w = window as any;
      w.carbonUpdates = [];
      new MutationObserver(() =>
        w.carbonUpdates.push({
          t: Date.now(),
          now: node.querySelector('.cm-sidebar-now')!.textContent
        })
      ).observe(node, {
        attributes: true,
        attributeFilter: ['data-sample-count']
      });
    }, SIDEBAR);

    const started = await page.evaluate(() => Date.now());
    await run(page, 1);
    const ended = await page.evaluate(() => Date.now());
    const updates: Array<{ t: number; now: string }> = await page.evaluate(
      () => (window as any).carbonUpdates
    );
    const during = updates.filter(u => u.t >= started && u.t <= ended);
    expect(ended - started).toBeGreaterThanOrEqual(5000);
    expect(during.length).toBeGreaterThanOrEqual(3);
    expect(during[during.length - 1].now).toMatch(/^Power: [\d.]+ W/);

    // The chart has drawn a power line through the samples.
    const d = (await page
      .locator(`${SIDEBAR} .cm-chart-power`)
      .getAttribute('d'))!;
    expect(d.split(' ').length).toBeGreaterThanOrEqual(5);
    const dataChart = await chart.screenshot();
    await test
      .info()
      .attach('sidebar-chart', { body: dataChart, contentType: 'image/png' });
    expect(dataChart.equals(emptyChart)).toBe(false);
    await test.info().attach('sidebar', {
      body: await page.locator(SIDEBAR).screenshot(),
      contentType: 'image/png'
    });

    // The run is listed; clicking it selects its cell.
    const item = page.locator(`${SIDEBAR} .cm-cell-item`).first();
    await expect(item).toContainText('import time; time.sleep(5)');
    await page.notebook.selectCells(0);
    await item.click();
    await expect
      .poll(() =>
        page.evaluate(
          () =>
            (window as any).jupyterapp.shell.currentWidget.content
              .activeCellIndex
        )
      )
      .toBe(1);
  });

  test('a label containing HTML renders literally', async ({ page }) => {
    const dialogs: string[] = [];
    page.on('dialog', async dialog => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    await newNotebook(page, 'label');
    await showSidebar(page);
    const label = '<img src=x onerror=alert(1)>';
    await setCells(page, [
      '%load_ext carbon_magic',
      `%%carbon --label "${label}"\nx = 1`
    ]);
    await run(page, 0);
    await run(page, 1);
    const badge = (await page.notebook.getCellLocator(1))!.locator(BADGE);
    await expect(badge.locator('.cm-badge-label')).toHaveText(label);
    await expect(page.locator(`${SIDEBAR} .cm-cell-name`).first()).toHaveText(
      label
    );
    expect(await badge.getAttribute('title')).toContain(`Label: ${label}`);
    await expect(page.locator('img[src="x"]')).toHaveCount(0);
    expect(dialogs).toEqual([]);
  });

  test('export button downloads the kernel export', async ({ page }) => {
    await newNotebook(page, 'export');
    await showSidebar(page);
    await setCells(page, [
      '%load_ext carbon_magic',
      '%%carbon --label exported\nx = 1'
    ]);
    await run(page, 0);
    await run(page, 1);
    const downloadPromise = page.waitForEvent('download', { timeout: 20000 });
    await page
      .locator(`${SIDEBAR} .cm-export-button[data-format="csv"]`)
      .click();
    const download = await downloadPromise;
    expect(download.suggestedFilename()).toMatch(/-carbon\.csv$/);
    const path = await download.path();
    const text: string = require('fs').readFileSync(path, 'utf-8');
    expect(text).toContain('exported');
    // The one shape: CodeCarbon's 38 columns first, then carbon_magic's (csv_export.COLUMNS).
    const header = text.split('\n')[0].split(',');
    expect(header.slice(0, 3)).toEqual(['timestamp', 'project_name', 'run_id']);
    expect(header[37]).toBe('wue');
    expect(header[38]).toBe('carbon_magic_version');
  });

  test('%carbon live renders a bqplot figure', async ({ page }) => {
    await newNotebook(page, 'live');
    await setCells(page, ['%load_ext carbon_magic', '%carbon live']);
    await run(page, 0);
    await run(page, 1);
    const out = (await page.notebook.getCellOutputLocator(1))!;
    // The bqplot figure's own SVG (not an icon of the output area), with a drawn line.
    await expect(
      out.locator('.jp-OutputArea-output .bqplot svg path').first()
    ).toBeAttached({
      timeout: 30000
    });
    await expect(
      out.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    ).toHaveCount(0);
  });
});

/** WCAG contrast ratio of two CSS rgb()/rgba() colours (alpha ignored). */
function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const [r, g, bl] = c
      .match(/[\d.]+/g)!
      .slice(0, 3)
      .map(Number)
      .map(v => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
      });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** The first non-transparent background at or above `selector`. */
async function colours(
  page: IJupyterLabPageFixture,
  selector: string
): Promise<{ fg: string; bg: string }> {
  return page.evaluate(sel => {
    const node = document.querySelector(sel) as HTMLElement;
    let bg = 'rgba(0, 0, 0, 0)';
    for (let n: HTMLElement | null = node; n; n = n.parentElement) {
      bg = getComputedStyle(n).backgroundColor;
      if (!/rgba\(.*, 0\)$/.test(bg) && bg !== 'transparent') {
        break;
      }
    }
    return { fg: getComputedStyle(node).color, bg };
  }, selector);
}

async function setTheme(
  page: IJupyterLabPageFixture,
  theme: 'JupyterLab Light' | 'JupyterLab Dark'
): Promise<void> {
  await page.evaluate(
    t =>
      (window as any).jupyterapp.commands.execute('apputils:change-theme', {
        theme: t
      }),
    theme
  );
  await expect
    .poll(() => page.evaluate(() => document.body.dataset.jpThemeName))
    .toBe(theme);
  await page.waitForTimeout(500); // CSS variables applied, bqplot redrawn
}

/** A screenshot kept as an artefact: attached to the report and saved under test-results/. */
async function keep(name: string, body: Buffer): Promise<void> {
  require('fs').writeFileSync(test.info().outputPath(`${name}.png`), body);
  await test.info().attach(name, { body, contentType: 'image/png' });
}

test.describe('carbon_magic views in light and dark themes', () => {
  test.use({ viewport: { width: 1500, height: 1000 } });

  test('live chart follows the running cell, the toggle shows the session; badge, sidebar and chart in both themes', async ({
    page
  }) => {
    test.setTimeout(240000);
    await newNotebook(page, 'views');
    await page.sidebar.close('left');
    await showSidebar(page);
    await setCells(page, [
      '%load_ext carbon_magic',
      '%carbon live',
      'import time; time.sleep(6)  # idle before the measured cell',
      '%%carbon --label train\nimport time; time.sleep(10)'
    ]);
    await run(page, 0);
    await run(page, 1);
    await run(page, 2);
    const live = (await page.notebook.getCellOutputLocator(1))!;
    const cellPanel = live.locator('.cm-live-cell');
    await expect(cellPanel.locator('.bqplot').first()).toBeVisible({
      timeout: 30000
    });

    // Run the 10 s cell without waiting for it: the chart follows it while it runs.
    await page.notebook.selectCells(3);
    await page.evaluate(() => {
      void (window as any).jupyterapp.commands.execute('notebook:run-cell');
    });
    await expect(cellPanel.locator('text', { hasText: 'train' })).toBeVisible({
      timeout: 20000
    });
    await page.waitForTimeout(3000);
    // The legend is outside the plot: above both of the panel's figures, overlapping neither.
    const legend = await live.locator('.cm-live-legend').boundingBox();
    const plot = await cellPanel.locator('.bqplot').first().boundingBox();
    expect(legend!.y + legend!.height).toBeLessThanOrEqual(plot!.y + 1);
    // Axes with units and the intensity's provenance; the cumulative CO2e panel under the chart.
    await expect(
      cellPanel.locator('text', { hasText: 'power, W' })
    ).toHaveCount(1);
    await expect(
      cellPanel.locator('text', {
        hasText: 'g CO\u2082e/kWh \u00b7 FR, static'
      })
    ).toHaveCount(1);
    await expect(
      cellPanel.locator('text', { hasText: /^(mg|g|kg) CO\u2082e$/ })
    ).toHaveCount(1);
    await expect(live.locator('.cm-live-legend')).toContainText(
      'CO\u2082e, cumulative'
    );
    await keep('live-chart-cell-light', await live.screenshot());

    // While the kernel is still busy in the cell, the toggle switches to the whole session.
    await live.locator('button', { hasText: 'session' }).click();
    await expect(live.locator('.cm-live-session .bqplot').first()).toBeVisible({
      timeout: 10000
    });
    await expect(live.locator('.cm-live-cell')).toHaveCount(0);
    const busy = await page.evaluate(
      () =>
        (window as any).jupyterapp.shell.currentWidget.sessionContext.session
          .kernel.status
    );
    expect(busy).toBe('busy');
    await page.waitForTimeout(1500);
    await keep('live-chart-session-light', await live.screenshot());
    await live.locator('button', { hasText: 'cell' }).click();
    await expect(cellPanel.locator('.bqplot').first()).toBeVisible();

    // Wait for the cell's record: badge and sidebar.
    const badge = (await page.notebook.getCellLocator(3))!.locator(BADGE);
    await expect(badge).toHaveCount(1, { timeout: 30000 });
    await expect(page.locator(`${SIDEBAR} .cm-chart-tick-power`)).toHaveCount(
      3
    );
    await expect(
      page.locator(`${SIDEBAR} .cm-chart-tick-power`).last()
    ).toHaveText(/^\d+ W$/);
    await expect(
      page.locator(`${SIDEBAR} .cm-chart-tick-intensity`).last()
    ).toHaveText(/^\d+ g\/kWh$/);
    await page.waitForTimeout(1500);

    const shots = async (theme: string) => {
      await keep(
        `badge-${theme}`,
        await (await page.notebook.getCellLocator(3))!.screenshot()
      );
      await keep(`sidebar-${theme}`, await page.locator(SIDEBAR).screenshot());
      await keep(`live-chart-${theme}`, await live.screenshot());
      // Readable in this theme: the badge's text and the sidebar's axis labels on their backgrounds.
      const b = await colours(page, '.jp-Cell .cm-badge .cm-badge-energy');
      expect(
        contrast(b.fg, b.bg),
        `badge ${theme}: ${b.fg} on ${b.bg}`
      ).toBeGreaterThanOrEqual(4.5);
      const r = await colours(page, '.cm-live-readout');
      expect(
        contrast(r.fg, r.bg),
        `live readout ${theme}: ${r.fg} on ${r.bg}`
      ).toBeGreaterThanOrEqual(4.5);
      const t = await colours(page, `${SIDEBAR} .cm-sidebar-totals`);
      expect(
        contrast(t.fg, t.bg),
        `sidebar ${theme}: ${t.fg} on ${t.bg}`
      ).toBeGreaterThanOrEqual(4.5);
      const tick = await page.evaluate(sel => {
        const node = document.querySelector(sel)!;
        return getComputedStyle(node).fill;
      }, `${SIDEBAR} .cm-chart-tick-power`);
      const chartBg = await page.evaluate(
        sel => getComputedStyle(document.querySelector(sel)!).backgroundColor,
        `${SIDEBAR} .cm-chart`
      );
      expect(
        contrast(tick, chartBg),
        `chart ticks ${theme}: ${tick} on ${chartBg}`
      ).toBeGreaterThanOrEqual(3);
    };
    await setTheme(page, 'JupyterLab Light');
    await shots('light');
    await setTheme(page, 'JupyterLab Dark');
    await shots('dark');
    await live.locator('button', { hasText: 'session' }).click();
    await expect(
      live.locator('.cm-live-session .bqplot').first()
    ).toBeVisible();
    await page.waitForTimeout(1000);
    await keep('live-chart-session-dark', await live.screenshot());
    await setTheme(page, 'JupyterLab Light');
  });
});

test.describe('carbon_magic after a page reload', () => {
  // No galata session tracking (a route mock of /api/sessions) across the
  // reload: the page sees the server's sessions; the test shuts its kernel down.
  test.use({
    sessions: async ({}, use: (v: any) => Promise<void>) => {
      await use(null);
    }
  } as any);

  test('after a page reload the running session still feeds badges and sidebar', async ({
    page,
    tmpPath
  }) => {
    // Uploaded rather than created: galata's createNew renames the file behind
    // the session's back, and a reload would then start a new kernel.
    const name = `reload-${test.info().repeatEachIndex}.ipynb`;
    const cells = [
      '%load_ext carbon_magic',
      '%%carbon\nimport time; time.sleep(2)'
    ].map(source => ({
      cell_type: 'code',
      source,
      metadata: {},
      outputs: [],
      execution_count: null
    }));
    await uploadNotebook(page, `${tmpPath}/${name}`, cells);
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    await run(page, 0);
    await page.reload({ waitForIsReady: false }); // the notebook, not a launcher, comes back
    await expect
      .poll(() =>
        page.evaluate(
          () =>
            (window as any).jupyterapp.shell.currentWidget?.content?.model
              ?.cells.length
        )
      )
      .toBe(2);
    await showSidebar(page);
    await expect(page.locator(`${SIDEBAR} .cm-sidebar-status`)).toContainText(
      'Connected to a running carbon_magic session'
    );
    await run(page, 1);
    await expect(
      (await page.notebook.getCellLocator(1))!.locator(BADGE)
    ).toHaveCount(1);
    await expect(page.locator(SIDEBAR)).toHaveAttribute(
      'data-record-count',
      '1'
    );
    expect(
      Number(await page.locator(SIDEBAR).getAttribute('data-sample-count'))
    ).toBeGreaterThan(0);
    await page.evaluate(() =>
      (window as any).jupyterapp.serviceManager.sessions.shutdownAll()
    );
  });

  test('after a page reload the sidebar lists the cells the notebook stores', async ({
    page,
    tmpPath
  }) => {
    const name = `stored-${test.info().repeatEachIndex}.ipynb`;
    const cells = [
      '%load_ext carbon_magic',
      '%%carbon --label stored\nx = 1'
    ].map(source => ({
      cell_type: 'code',
      source,
      metadata: {},
      outputs: [],
      execution_count: null
    }));
    await uploadNotebook(page, `${tmpPath}/${name}`, cells);
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    await run(page, 0);
    await run(page, 1);
    await expect(
      (await page.notebook.getCellLocator(1))!.locator(BADGE)
    ).toHaveCount(1);
    await page.notebook.save();
    await page.reload({ waitForIsReady: false });
    await expect
      .poll(() =>
        page.evaluate(
          () =>
            (window as any).jupyterapp.shell.currentWidget?.content?.model
              ?.cells.length ?? 0
        )
      )
      .toBeGreaterThanOrEqual(2); // running the last cell may have added an empty one
    await showSidebar(page);
    // Before any new record: the list comes from the cell metadata the badges come from.
    await expect(page.locator(SIDEBAR)).toHaveAttribute(
      'data-record-count',
      '1'
    );
    await expect(page.locator(`${SIDEBAR} .cm-cell-name`).first()).toHaveText(
      'stored'
    );
    await page.evaluate(() =>
      (window as any).jupyterapp.serviceManager.sessions.shutdownAll()
    );
  });
});

test.describe('carbon_magic in a windowed notebook', () => {
  const tracker = '@jupyterlab/notebook-extension:tracker';
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      [tracker]: {
        ...(galata.DEFAULT_SETTINGS as any)[tracker],
        windowingMode: 'full'
      }
    }
  });

  test('badges come from stored metadata, also for cells rendered late', async ({
    page,
    tmpPath
  }) => {
    const stored = (energy_j: number, cell_id: string) => {
      const last = {
        schema: 'carbon_magic.record/1',
        session_id: 's',
        cell_id,
        execution_count: 1,
        label: null,
        started_at: '2026-11-23T18:00:00Z',
        ended_at: '2026-11-23T18:00:02Z',
        duration_s: 2,
        status: 'ok',
        energy_j,
        components: [
          { name: 'cpu:package-0', kind: 'cpu', method: 'counter', energy_j }
        ],
        intensity_g_per_kwh: 56,
        intensity: {
          provider: 'static',
          zone: 'FR',
          kind: 'static',
          fetched_at: null
        },
        emissions_g: (energy_j / 3.6e6) * 56,
        pue: 1
      };
      return {
        last,
        history: [
          {
            started_at: last.started_at,
            energy_j,
            emissions_g: last.emissions_g,
            duration_s: 2,
            status: 'ok'
          }
        ]
      };
    };
    const cells = Array.from({ length: 80 }, (_, i) => ({
      id: `cell-${i}`,
      cell_type: 'code',
      source: `x = ${i}`,
      metadata:
        i === 1
          ? { carbon_magic: stored(111, 'cell-1') }
          : i === 79
            ? { carbon_magic: stored(7979, 'cell-79') }
            : {},
      outputs: [],
      execution_count: null
    }));
    const name = `windowed-${test.info().repeatEachIndex}.ipynb`;
    await uploadNotebook(page, `${tmpPath}/${name}`, cells);
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    const first = page.locator(
      '.jp-Cell[data-windowed-list-index="1"] .cm-badge'
    );
    await expect(first).toHaveAttribute('data-energy-j', '111');
    // The last cell is not rendered yet in 'full' windowing mode...
    await expect(
      page.locator('.jp-Cell[data-windowed-list-index="79"]')
    ).toHaveCount(0);
    // ...and gets its badge once scrolled into view.
    await page.evaluate(() => {
      const nb = (window as any).jupyterapp.shell.currentWidget.content;
      return nb.scrollToItem(79, 'center');
    });
    await expect(
      page.locator('.jp-Cell[data-windowed-list-index="79"] .cm-badge')
    ).toHaveAttribute('data-energy-j', '7979');
    await page.evaluate(() =>
      (window as any).jupyterapp.serviceManager.sessions.shutdownAll()
    );
  });
});

test.describe('carbon_magic in Notebook 7', () => {
  test.use({ autoGoto: false });

  test('badge and sidebar work in the Notebook 7 interface', async ({
    page,
    tmpPath,
    baseURL
  }) => {
    const name = `nb7-${test.info().repeatEachIndex}.ipynb`;
    const cells = [
      '%load_ext carbon_magic',
      '%%carbon -o r\nimport time; time.sleep(1)',
      'print(repr(r.energy_j))'
    ].map(source => ({
      cell_type: 'code',
      source,
      metadata: {},
      outputs: [],
      execution_count: null
    }));
    await uploadNotebook(page, `${tmpPath}/${name}`, cells);
    await page.page.goto(`${baseURL}/notebooks/${tmpPath}/${name}`);
    await expect
      .poll(
        () =>
          page.page.evaluate(async () => {
            const app = (window as any).jupyterapp;
            if (!app) {
              return false;
            }
            await app.started;
            return app.name;
          }),
        { timeout: 60000 }
      )
      .toBe('Jupyter Notebook');
    const panel = page.page.locator('.jp-NotebookPanel');
    await expect(panel.locator('.jp-Cell')).toHaveCount(3, { timeout: 30000 });
    await expect
      .poll(
        () =>
          page.page.evaluate(() => {
            const ctx = (window as any).jupyterapp.shell.currentWidget
              ?.sessionContext;
            return ctx?.session?.kernel?.status ?? 'none';
          }),
        { timeout: 60000 }
      )
      .toBe('idle');
    await page.page.evaluate(() =>
      (window as any).jupyterapp.commands.execute('notebook:run-all-cells')
    );
    const output = panel
      .locator('.jp-Cell')
      .nth(2)
      .locator('.jp-OutputArea-output');
    await expect(output).toHaveText(/^\d+(\.\d+)?(e[-+]?\d+)?\s*$/, {
      timeout: 60000
    });
    const energyJ = Number((await output.textContent())!.trim());
    const badge = panel.locator('.jp-Cell').nth(1).locator('.cm-badge');
    await expect(badge).toHaveCount(1);
    expect(Number(await badge.getAttribute('data-energy-j'))).toBe(energyJ);
    await page.page.evaluate(() =>
      (window as any).jupyterapp.commands.execute('carbon-magic:show-sidebar')
    );
    await expect(page.page.locator('#carbon-magic-sidebar')).toBeVisible();
    await expect(page.page.locator('#carbon-magic-sidebar')).toHaveAttribute(
      'data-record-count',
      '1'
    );
    await page.page.evaluate(() =>
      (window as any).jupyterapp.serviceManager.sessions.shutdownAll()
    );
  });
});

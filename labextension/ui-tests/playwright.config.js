/**
 * Galata configuration: Debian's Chromium (no browser download), no video/trace
 * (they need Playwright's ffmpeg), one worker (2-core CI machines).
 *
 * The server's port comes from CARBON_MAGIC_UI_PORT (run_ui_tests.sh picks a free one, so the
 * tests run beside a `./dev.sh lab` on 8888); the server and every page use that one port.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.CARBON_MAGIC_UI_PORT || '8888';
const baseURL = `http://localhost:${port}`;

module.exports = {
  ...baseConfig,
  timeout: 90000,
  retries: 0,
  workers: 1,
  reporter: [['list'], ['html', { open: 'never' }]],
  use: {
    ...baseConfig.use,
    baseURL,
    video: 'off',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage']
    }
  },
  webServer: {
    command: 'jlpm start',
    url: `${baseURL}/lab`,
    env: { ...process.env, CARBON_MAGIC_UI_PORT: port },
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI
  }
};

/**
 * Headless Chromium for the tests that open the editor or a Dashboard page: Debian's chromium
 * (EDGEML_CHROMIUM for another), the flags that keep it quiet and offline, and screenshots under
 * test-output/screenshots/ (EDGEML_UPDATE_DOCS_SCREENSHOTS=1 also copies them to docs/screenshots/).
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT } from './flow';

export const CHROMIUM = process.env.EDGEML_CHROMIUM || '/usr/bin/chromium';
export const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** A test's `skip` option: the reason when there is no browser. */
export const NO_CHROMIUM: string | false = !existsSync(CHROMIUM) && `no chromium at ${CHROMIUM}`;
export const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots');

/** Saves a full-page screenshot as `<name>.png`; for the docs too when asked. Returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (process.env.EDGEML_UPDATE_DOCS_SCREENSHOTS === '1') copyFileSync(file, path.join(ROOT, 'docs', 'screenshots', `${name}.png`));
  return file;
}

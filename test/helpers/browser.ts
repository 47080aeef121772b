/**
 * Debian's chromium driven by playwright-core (no browser download): the live page as a person sees it.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Teardown } from './ferry.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`;
}

export async function launchChromium(t: Teardown): Promise<Browser> {
  // As root chromium needs --no-sandbox; it only loads ferry's own page, on loopback.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  return browser;
}

/** Opens a daemon's page: its login form first (401), then the page once the token is in. */
export async function logIn(page: Page, url: string, token: string): Promise<void> {
  const form = await page.goto(`${url}/`);
  if (form?.status() !== 401) throw new Error(`expected the login form (401) at ${url}/, got ${form?.status()}`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(`${url}/`), page.click('button[type=submit]')]);
  await page.waitForSelector('#link[data-state="open"]');
}

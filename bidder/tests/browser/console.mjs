// Signs in to the console in headless Chromium as a person would (pastes a
// token into the form), pauses one campaign with its button, opens its
// gallery through the session, and reports as one JSON object on stdout
// what happened: statuses, the row's status before and after, the console
// pages' console errors (a CSP violation or a missing resource is one),
// and the screenshots taken.
//
// Usage: node console.mjs BASE_URL TOKEN CAMPAIGN_NAME SCREENSHOT_DIR

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, token, campaign, shots] = process.argv.slice(2);
if (!base || !token || !campaign || !shots) {
  console.error('usage: node console.mjs BASE_URL TOKEN CAMPAIGN_NAME SCREENSHOT_DIR');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

const report = { console: [], screenshots: [] };
const shot = async (page, name) => {
  const file = path.join(shots, name);
  await page.screenshot({ path: file, fullPage: true });
  report.screenshots.push(file);
};
try {
  fs.mkdirSync(shots, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      report.console.push(`${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));

  const first = await page.goto(`${base}/console`, { waitUntil: 'load' });
  report.landedOn = new URL(page.url()).pathname;
  report.signInStatus = first.status();
  await page.getByLabel('API token').fill(token);
  await shot(page, '01-sign-in.png');
  await Promise.all([page.waitForURL('**/console/campaigns'), page.getByRole('button', { name: 'Sign in' }).click()]);
  report.afterSignIn = new URL(page.url()).pathname;
  report.cookies = (await context.cookies()).map((c) => ({
    name: c.name,
    httpOnly: c.httpOnly,
    sameSite: c.sameSite,
    secure: c.secure,
  }));
  report.scriptVisibleCookie = await page.evaluate(() => document.cookie);

  const row = page.locator('tr', { has: page.getByRole('rowheader', { name: new RegExp(campaign) }) });
  report.statusBefore = (await row.locator('.status').textContent()).trim();
  await shot(page, '02-campaigns.png');
  await Promise.all([
    page.waitForLoadState('load'),
    row.getByRole('button', { name: `Pause ${campaign}` }).click(),
  ]);
  await page.waitForURL('**/console/campaigns');
  report.statusAfter = (await row.locator('.status').textContent()).trim();
  report.resumeOffered = await row.getByRole('button', { name: `Resume ${campaign}` }).count();
  await shot(page, '03-paused.png');

  // The gallery is the admin API's page, with the creatives' own images;
  // what the console's pages logged is kept apart from it.
  report.consolePages = [...report.console];
  const gallery = row.getByRole('link', { name: 'gallery' });
  if (await gallery.count()) {
    const [resp] = await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), gallery.click()]);
    report.galleryStatus = resp.status();
    report.galleryFrames = await page.locator('iframe').count();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));

// Signs in to the console in headless Chromium as a person would (pastes a
// token into the form), pauses one campaign with its button, opens its
// gallery through the session, and reports as one JSON object on stdout
// what happened: statuses, the row's status before and after, the console
// pages' console errors (a CSP violation or a missing resource is one),
// and the screenshots taken. Then, as a buyer, it sees a field error in
// the new-campaign form, creates the campaign, opens its budget charts and
// explains a request that gets no bid; and it visits every console page
// (as that buyer, as an admin, and signed out), keeping what each page
// logged (a CSP violation is logged) and what axe-core finds on it.
//
// Usage: node console.mjs BASE_URL TOKEN CAMPAIGN_NAME SCREENSHOT_DIR ADMIN_TOKEN

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const [base, token, campaign, shots, adminToken] = process.argv.slice(2);
if (!base || !token || !campaign || !shots || !adminToken) {
  console.error('usage: node console.mjs BASE_URL TOKEN CAMPAIGN_NAME SCREENSHOT_DIR ADMIN_TOKEN');
  process.exit(2);
}
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

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
  // What the console's own pages log: not the gallery's or previews'
  // (the creatives' images), and not a page's own error status after a
  // refused form (a 422 is that page's answer).
  const consolePage = (url) => url.startsWith(`${base}/console`) && !/\/gallery|\/preview/.test(url);
  page.on('console', (m) => {
    const at = m.location().url || page.url();
    const own = at === page.url() && m.text().startsWith('Failed to load resource: the server responded');
    if ((m.type() === 'error' || m.type() === 'warning') && consolePage(page.url()) && consolePage(at) && !own) {
      report.console.push(`${m.type()}: ${m.text()} (${at})`);
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
  const gallery = row.getByRole('link', { name: 'gallery' });
  if (await gallery.count()) {
    const [resp] = await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), gallery.click()]);
    report.galleryStatus = resp.status();
    // A couple of hundred sandboxed frames: slow on a loaded machine.
    await page.waitForLoadState('load', { timeout: 120_000 });
    report.galleryFrames = await page.locator('iframe').count();
    // Every picture on the page and in its creatives' frames loaded: the
    // demo's pictures are the bidder's own, allowed by the page's policy.
    const pictures = { total: 0, broken: [] };
    for (const frame of page.frames()) {
      const seen = await frame.evaluate(() =>
        [...document.images].map((i) => ({ src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0 })));
      pictures.total += seen.length;
      pictures.broken.push(...seen.filter((i) => !i.ok).map((i) => i.src));
    }
    report.galleryPictures = pictures;
    await shot(page, '03b-gallery.png');
  }

  // Forms: a field error, then the campaign created; its charts.
  await page.goto(`${base}/console/campaigns/new`);
  await page.getByLabel('Name', { exact: true }).fill('Browser spring sale');
  await page.getByLabel('Daily budget').fill('12,50');
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Create campaign' }).click()]);
  report.fieldError = ((await page.locator('#e-daily_budget').textContent()) || '').trim();
  report.keptName = await page.getByLabel('Name', { exact: true }).inputValue();
  await shot(page, '04-field-error.png');
  await page.getByLabel('Daily budget').fill('50.00');
  await page.getByLabel('Total budget').fill('500');
  await page.getByLabel('Base CPM').fill('2.50');
  await page.getByLabel('Maximum CPM').fill('5');
  await page.getByLabel('Advertiser domains').fill('acme-outdoor.example');
  await Promise.all([page.waitForURL(/\/console\/campaigns\/\d+$/), page.getByRole('button', { name: 'Create campaign' }).click()]);
  report.createdAt = new URL(page.url()).pathname;
  report.charts = await page.locator('svg[role="img"]').count();
  await shot(page, '05-campaign-charts.png');

  // Explain a request that gets no bid.
  await page.goto(`${base}/console/explain`);
  await page.getByLabel('Start from a sample').selectOption('floor');
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Explain' }).click()]);
  report.explained = ((await page.locator('#answer-h').textContent()) || '').trim();
  report.steps = await page.locator('td .step').count();
  await shot(page, '06-explain.png');
  report.consolePages = [...report.console];

  // Every page: as the buyer, as an admin, signed out. Each is loaded under
  // its own policy first (what it logs is kept), then checked by axe-core
  // in a context that lets the checker's script in.
  const admin = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const adminPage = await admin.newPage();
  await adminPage.goto(`${base}/console/sign-in`);
  await adminPage.getByLabel('API token').fill(adminToken);
  await Promise.all([adminPage.waitForURL('**/console/campaigns'), adminPage.getByRole('button', { name: 'Sign in' }).click()]);
  const signedOut = await browser.newContext();
  const buyerPages = [
    '/console/campaigns', '/console/campaigns/new', '/console/campaigns/1', '/console/campaigns/1/edit',
    '/console/reports', '/console/reports?by=fragment', '/console/explain', '/console/fragments',
    '/console/fragments/1', '/console/funnels', '/console/campaigns/999', '/console/campaigns/1/audits',
  ];
  const tours = [
    ['buyer', context, buyerPages],
    ['admin', admin, ['/console/tokens', '/console/exchanges', '/console/live', '/console/campaigns']],
    ['signed out', signedOut, ['/console/sign-in']],
  ];
  report.pages = {};
  for (const [who, ctx, paths] of tours) {
    const checker = await browser.newContext({ bypassCSP: true, viewport: { width: 1400, height: 900 } });
    await checker.addCookies(await ctx.cookies());
    const strict = await ctx.newPage();
    const logged = [];
    strict.on('console', (m) => {
      // An error page's own status is logged too; it is expected there.
      const own = m.location().url === strict.url() && m.text().startsWith('Failed to load resource');
      if ((m.type() === 'error' || m.type() === 'warning') && !own) logged.push(m.text());
    });
    const axePage = await checker.newPage();
    for (const p of paths) {
      logged.length = 0;
      const resp = await strict.goto(`${base}${p}`, { waitUntil: 'load' });
      const status = resp.status();
      const consoleLines = [...logged];
      await axePage.goto(`${base}${p}`, { waitUntil: 'load' });
      await axePage.evaluate(axeSource);
      const result = await axePage.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { resultTypes: ['violations'] });
        return {
          rulesPassed: r.passes.length,
          violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) })),
        };
      });
      report.pages[`${who} ${p}`] = { status, console: consoleLines, ...result };
    }
    await checker.close();
  }
  // The live view's own script runs under its page's policy: it shows
  // the pause button and swaps in fresh figures.
  await adminPage.goto(`${base}/console/live`);
  await adminPage.getByRole('button', { name: 'Pause updates' }).waitFor({ state: 'visible' });
  await adminPage.evaluate(() => { document.getElementById('live-figures').dataset.old = '1'; });
  await adminPage.waitForFunction(() => !document.getElementById('live-figures').dataset.old, null, { timeout: 10000 });
  report.liveRefreshed = true;
  // The explanation's answer too (a POST's page).
  const checker = await browser.newContext({ bypassCSP: true });
  await checker.addCookies(await context.cookies());
  const x = await checker.newPage();
  await x.goto(`${base}/console/explain`);
  await x.getByLabel('Start from a sample').selectOption('floor');
  await Promise.all([x.waitForLoadState('load'), x.getByRole('button', { name: 'Explain' }).click()]);
  await x.evaluate(axeSource);
  report.pages['buyer POST /console/explain'] = {
    status: 200,
    console: [],
    ...(await x.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return {
        rulesPassed: r.passes.length,
        violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) })),
      };
    })),
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));

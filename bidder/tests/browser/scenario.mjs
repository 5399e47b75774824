// One working day in the console, end to end in headless Chromium, as the
// issue's people would live it: a buyer creates a campaign (first with a
// field error), meets a version conflict, uploads a funnel CSV and watches
// the job finish; an advertiser saves a fragment too long for two banner
// sizes and sees the warning; the buyer approves it and opens the gallery
// (which shows the fragment); a few seconds of traffic
// with win, billing, impression and click notices move the reports' and
// the pacing chart; and a request that gets no bid is explained.
//
// Every page visited is checked by axe-core and screenshotted; what the
// console's own pages log (a blocked script or style is logged) is kept.
// Prints one JSON report on stdout.
//
// Usage: node scenario.mjs BASE_URL BUYER_TOKEN ADVERTISER_TOKEN SCREENSHOT_DIR

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const [base, buyerToken, advertiserToken, shots] = process.argv.slice(2);
if (!base || !buyerToken || !advertiserToken || !shots) {
  console.error('usage: node scenario.mjs BASE_URL BUYER_TOKEN ADVERTISER_TOKEN SCREENSHOT_DIR');
  process.exit(2);
}
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

const report = { pages: [], console: [], screenshots: [], steps: {} };
let shotNo = 0;
const t0 = Date.now();
report.timings = {};

// axe-core on what the page shows now, and a screenshot of it.
const audit = async (page, name) => {
  shotNo += 1;
  const file = path.join(shots, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  report.screenshots.push(file);
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return {
      passes: r.passes.length,
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) })),
    };
  });
  report.pages.push({ name, path: new URL(page.url()).pathname, ...r });
  report.timings[name] = Date.now() - t0;
};

const signIn = async (context, token) => {
  const page = await context.newPage();
  page.on('console', (m) => {
    const at = m.location().url || page.url();
    // A refused form's own status (422, 409) is that page's answer.
    const own = at === page.url() && m.text().startsWith('Failed to load resource: the server responded');
    const consolePage = (u) => u.startsWith(`${base}/console`) && !/\/gallery|\/preview/.test(u);
    if ((m.type() === 'error' || m.type() === 'warning') && consolePage(at) && !own) {
      report.console.push(`${m.type()}: ${m.text()} (${at})`);
    }
  });
  page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));
  await page.goto(`${base}/console/sign-in`);
  await page.getByLabel('API token').fill(token);
  await Promise.all([page.waitForURL('**/console/campaigns'), page.getByRole('button', { name: 'Sign in' }).click()]);
  return page;
};

// Clicks a form's button and waits for the answer's page (which may be
// the same URL, as a refused form is).
const submit = async (page, button, url) => {
  await Promise.all([
    page.waitForEvent('framenavigated', (f) => f === page.mainFrame()),
    page.getByRole('button', { name: button, exact: true }).click(),
  ]);
  await page.waitForLoadState('load');
  if (url) await page.waitForURL(url);
};

// Every chart's description on a page: what the numbers say.
const chartWords = (page) => page.locator('svg[role="img"] desc').allTextContents();

// Fills the notice URL's macros as an exchange would.
const filled = (url, id, price) => url
  .replaceAll('${AUCTION_ID}', id).replaceAll('${AUCTION_IMP_ID}', '1')
  .replaceAll('${AUCTION_PRICE}', price).replaceAll('${AUCTION_CURRENCY}', 'USD');

try {
  fs.mkdirSync(shots, { recursive: true });
  const viewport = { width: 1400, height: 900 };
  const buyerContext = await browser.newContext({ viewport });
  const buyer = await signIn(buyerContext, buyerToken);
  await audit(buyer, 'campaigns');

  // A campaign: a field error first, then created.
  await buyer.goto(`${base}/console/campaigns/new`);
  await audit(buyer, 'new-campaign');
  await buyer.getByLabel('Name', { exact: true }).fill('Scenario autumn sale');
  await buyer.getByLabel('Daily budget').fill('twelve');
  await submit(buyer, 'Create campaign');
  report.steps.fieldError = ((await buyer.locator('#e-daily_budget').textContent()) || '').trim();
  await audit(buyer, 'field-error');
  await buyer.getByLabel('Daily budget').fill('40');
  await buyer.getByLabel('Total budget').fill('400');
  await buyer.getByLabel('Base CPM').fill('2');
  await buyer.getByLabel('Maximum CPM').fill('4');
  await buyer.getByLabel('Advertiser domains').fill('acme-outdoor.example');
  await submit(buyer, 'Create campaign', /\/console\/campaigns\/\d+$/);
  const created = new URL(buyer.url()).pathname;
  report.steps.created = created;
  await audit(buyer, 'created');

  // A version conflict: the same campaign edited in two tabs.
  const other = await buyerContext.newPage();
  await other.goto(`${base}${created}/edit`);
  await buyer.goto(`${base}${created}/edit`);
  await other.getByLabel('Name', { exact: true }).fill('Scenario autumn sale (renamed)');
  await submit(other, 'Save changes', /\/console\/campaigns\/\d+$/);
  await buyer.getByLabel('Daily budget').fill('45');
  await submit(buyer, 'Save changes');
  const conflict = buyer.locator('section[aria-labelledby="conflict"]');
  report.steps.conflictRows = await conflict.locator('tbody tr').count();
  report.steps.conflictText = ((await conflict.textContent()) || '').replace(/\s+/g, ' ').trim();
  await audit(buyer, 'version-conflict');
  await other.close();

  // A funnel upload: the form, then the job's page until it ends.
  await buyer.goto(`${base}/console/funnels`);
  await audit(buyer, 'funnels');
  await Promise.all([buyer.waitForURL('**/upload'), buyer.getByRole('link', { name: /^Upload members/ }).first().click()]);
  await audit(buyer, 'upload-form');
  await buyer.getByLabel('Mode').selectOption('add');
  const rows = ['key_type,id,stage'];
  for (let i = 0; i < 200; i += 1) rows.push(`buyeruid,scenario-${i},${i % 2 ? 'intent' : 'consideration'}`);
  rows.push('buyeruid,scenario-bad,nowhere');
  await buyer.getByLabel('Members file').setInputFiles({
    name: 'members.csv', mimeType: 'text/csv', buffer: Buffer.from(`${rows.join('\n')}\n`),
  });
  await submit(buyer, 'Upload', /\/console\/jobs\/\d+$/);
  // The page reloads itself (a Refresh header) while the job runs.
  await buyer.locator('#state .status', { hasText: /completed|failed|interrupted/ }).waitFor({ timeout: 20_000 });
  report.steps.job = {
    state: (await buyer.locator('#state .status').textContent()).trim(),
    read: (await buyer.locator('#rows-read').textContent()).trim(),
    committed: (await buyer.locator('#rows-committed').textContent()).trim(),
    rejected: (await buyer.locator('#rows-rejected').textContent()).trim(),
    report: await buyer.locator('#rejections tbody tr').allTextContents(),
  };
  await audit(buyer, 'upload-job');

  // The advertiser saves a fragment too long for two banner sizes.
  const advertiserContext = await browser.newContext({ viewport });
  const advertiser = await signIn(advertiserContext, advertiserToken);
  await advertiser.goto(`${base}/console/fragments`);
  await audit(advertiser, 'fragments');
  await advertiser.getByLabel('Set').fill('tents');
  await advertiser.getByLabel('Kind').selectOption('content');
  await advertiser.getByLabel(/^Body/).fill(JSON.stringify({
    language: 'en',
    body: 'Storm-tested tents with quick-pitch poles, built for summits.',
    landing_url: 'https://acme-outdoor.example/tents?src=scenario',
  }));
  await submit(advertiser, 'Upload', /\/console\/fragments\/\d+/);
  const fragment = new URL(advertiser.url()).pathname;
  report.steps.fragment = fragment;
  report.steps.warning = ((await advertiser.locator('.warning').first().textContent()) || '').replace(/\s+/g, ' ').trim();
  await audit(advertiser, 'fragment-warning');

  // The buyer approves it and opens the gallery.
  await buyer.goto(`${base}${fragment}`);
  await submit(buyer, 'Approve');
  report.steps.approved = ((await buyer.locator('.status').first().textContent()) || '').trim();
  await audit(buyer, 'fragment-approved');
  // The gallery: the approved fragment's text is in it. (That every
  // picture in it loads is console.mjs's check: waiting for its couple of
  // hundred frames here would double this scenario's time.)
  const gallery = await buyer.goto(`${base}/console/campaigns/1/gallery`, { waitUntil: 'domcontentloaded' });
  report.timings['gallery-parsed'] = Date.now() - t0;
  const approvedShown = (await buyer.content()).includes('built for summits.');
  report.steps.gallery = { status: gallery.status(), frames: await buyer.locator('iframe').count(), approvedShown };
  shotNo += 1;
  const galleryShot = path.join(shots, `${String(shotNo).padStart(2, '0')}-gallery.png`);
  // Its top only, and only if Chromium paints it soon: a busy machine may
  // still be laying out frames below.
  if (await buyer.screenshot({ path: galleryShot, timeout: 5_000 }).then(() => true, () => false)) {
    report.screenshots.push(galleryShot);
  }

  // Traffic with notices, as an exchange sends them; the charts before and
  // after.
  await buyer.goto(`${base}/console/campaigns/1`);
  const pacingBefore = await chartWords(buyer);
  await buyer.goto(`${base}/console/reports`);
  const reportsBefore = await chartWords(buyer);
  const traffic = { requests: 0, bids: 0, notices: 0, clicks: 0 };
  const until = Date.now() + 3_000;
  while (Date.now() < until) {
    traffic.requests += 1;
    const id = `scenario-${traffic.requests}`;
    const resp = await fetch(`${base}/openrtb2/bid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id, at: 1, tmax: 500,
        imp: [{ id: '1', banner: { w: 300, h: 250 } }],
        site: { domain: 'news.example', page: 'https://news.example/a' },
        device: { ua: 'Mozilla/5.0', ip: '203.0.113.7', language: 'en' },
        user: { buyeruid: 'demo-intent' },
      }),
    });
    if (resp.status !== 200) continue;
    const bid = (await resp.json()).seatbid?.[0]?.bid?.[0];
    if (!bid) continue;
    traffic.bids += 1;
    const urls = [bid.nurl, bid.burl].filter(Boolean).map((u) => filled(u, id, '2.40'));
    const trackers = [...(bid.adm || '').matchAll(/(https?:\/\/[^"'\s<>]*\/events\/(?:imp|click)\?[^"'\s<>]*)/g)]
      .map((m) => filled(m[1].replaceAll('&amp;', '&'), id, '2.40'));
    const impression = trackers.find((u) => u.includes('/events/imp?'));
    if (impression) urls.push(impression);
    const click = trackers.find((u) => u.includes('/events/click?'));
    if (click && traffic.bids % 4 === 0) {
      urls.push(click);
      traffic.clicks += 1;
    }
    for (const u of urls) {
      const r = await fetch(u, { redirect: 'manual' });
      if (r.status < 400) traffic.notices += 1;
    }
  }
  report.steps.traffic = traffic;
  report.timings.traffic = Date.now() - t0;
  await buyer.goto(`${base}/console/campaigns/1`);
  const pacingAfter = await chartWords(buyer);
  await audit(buyer, 'pacing-after-traffic');
  await buyer.goto(`${base}/console/reports`);
  const reportsAfter = await chartWords(buyer);
  await audit(buyer, 'reports-after-traffic');
  report.steps.charts = { pacingBefore, pacingAfter, reportsBefore, reportsAfter };

  // A request that gets no bid, explained.
  await buyer.goto(`${base}/console/explain`);
  await buyer.getByLabel('Start from a sample').selectOption('floor');
  await submit(buyer, 'Explain');
  report.steps.explained = ((await buyer.locator('#answer-h').textContent()) || '').trim();
  report.steps.reason = ((await buyer.locator('td .step').first().textContent()) || '').trim();
  await audit(buyer, 'explain-no-bid');
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));

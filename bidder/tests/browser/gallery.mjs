// Loads a campaign's gallery page in headless Chromium and reports, as one
// JSON object on stdout, what a reviewer would see go wrong: console errors,
// failed requests, and text that does not fit its box in any banner frame.
// Also saves a screenshot of each format section.
//
// Usage: node gallery.mjs URL TOKEN SCREENSHOT_DIR
// With NETLOG=DIR set, Chromium also writes its network log there
// (open it in https://netlog-viewer.appspot.com).
//
// The gallery forbids every script (CSP) and renders banners in sandboxed
// frames; Playwright measures them from its own isolated world, which
// neither the CSP nor the sandbox affect, so the page is checked exactly as
// it is served. The machine has no network: every host name resolves to a
// loopback https server (testdata/tls) that answers a small PNG, so a
// console error means a real fault of the page, not a missing CDN.
// (Playwright's request routing does not see requests from sandboxed
// srcdoc frames, hence a real server.)

import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [url, token, shots] = process.argv.slice(2);
if (!url || !token || !shots) {
  console.error('usage: node gallery.mjs URL TOKEN SCREENSHOT_DIR');
  process.exit(2);
}

// An 8x8 sage-green PNG: visible in the screenshot where the image sits.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGPI7svGihiGlgQAxsZZAc71ZrgAAAAASUVORK5CYII=',
  'base64',
);

const tls = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../testdata/tls');
let imagesServed = 0;
const images = https.createServer(
  {
    key: fs.readFileSync(path.join(tls, 'images-key.pem')),
    cert: fs.readFileSync(path.join(tls, 'images-cert.pem')),
  },
  (_req, res) => {
    imagesServed += 1;
    res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
    res.end(PNG);
  },
);
// Node closes an idle keep-alive socket after 5 s; a gallery on a loaded
// machine takes longer. Keep sockets open for the whole run.
images.keepAliveTimeout = 120_000;
images.headersTimeout = 121_000;
await new Promise((resolve) => images.listen(0, '127.0.0.1', resolve));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // Without the background-networking flags Chromium keeps trying to reach
  // Google's hosts, which a closed network refuses.
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // The image server's certificate is self-signed. Not Playwright's
    // ignoreHTTPSErrors: that lets each certificate error surface and
    // restarts the request past it, and on a busy machine the restarts
    // kept landing on fresh sockets with the same error until Chromium
    // gave up (ERR_TOO_MANY_RETRIES after 32; the net log showed the
    // loop). This flag accepts the certificate in the TLS handshake, so
    // no request ever restarts.
    '--ignore-certificate-errors',
    // Sandboxed frames stay in the page's renderer, as before Chromium
    // began isolating them in a process of their own: isolated, the demo
    // gallery's 150 frames took four times as long to load (82 s against
    // 21 s on a loaded machine). Layout, the policy and the sandbox are
    // the same.
    '--disable-features=IsolateSandboxedIframes',
    ...(process.env.NETLOG ? [`--log-net-log=${process.env.NETLOG}/${process.pid}.json`, '--net-log-capture-mode=Default'] : []),
    `--host-resolver-rules=MAP * 127.0.0.1:${images.address().port}, EXCLUDE 127.0.0.1, EXCLUDE localhost`,
  ],
});

const report = { frames: [], console: [], failed: [], problems: [], screenshots: [] };
try {
  const context = await browser.newContext({
    viewport: { width: 1400, height: 900 },
    extraHTTPHeaders: { authorization: `Bearer ${token}` },
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    // The API's gallery has no icon; Chromium asks for /favicon.ico anyway.
    if ((m.location().url || '').endsWith('/favicon.ico')) return;
    if (m.type() === 'error' || m.type() === 'warning') {
      report.console.push(`${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));
  // The demo's pictures come from the bidder itself, not the image server.
  report.bidderPictures = 0;
  page.on('requestfinished', async (r) => {
    if (r.url().includes('/assets/demo/') && (await r.response())?.status() === 200) report.bidderPictures += 1;
  });
  page.on('response', (r) => {
    if (r.status() >= 400) report.failed.push(`${r.url()}: ${r.status()}`);
  });
  page.on('requestfailed', (r) =>
    report.failed.push(`${r.url()}: ${r.failure()?.errorText}`),
  );

  // A couple of hundred sandboxed frames, their pictures from the bidder:
  // slow on a loaded machine.
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
  report.status = resp.status();
  report.csp = resp.headers()['content-security-policy'] || null;

  // Every frame is measured at once: one round trip each, in parallel,
  // rather than one after another.
  const measured = await Promise.all(page.frames().filter((f) => f !== page.mainFrame()).map(async (frame) => {
    const element = await frame.frameElement();
    const crid = await element.getAttribute('title');
    const found = await frame.evaluate(() => {
      const problems = [];
      const vw = document.documentElement.clientWidth;
      const vh = document.documentElement.clientHeight;
      const boxes = document.querySelectorAll('.t, .h, .s, .b, .o, .c, .i');
      for (const el of boxes) {
        const name = el.className;
        const r = el.getBoundingClientRect();
        // Boxes clip with overflow:hidden, so clipped text shows up as
        // scroll size beyond client size; half a pixel absorbs rounding.
        if (el.scrollHeight > el.clientHeight + 0.5) {
          problems.push(`.${name} text is ${el.scrollHeight}px high in a ${el.clientHeight}px box: "${el.textContent}"`);
        }
        if (el.scrollWidth > el.clientWidth + 0.5) {
          problems.push(`.${name} text is ${el.scrollWidth}px wide in a ${el.clientWidth}px box: "${el.textContent}"`);
        }
        if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5) {
          problems.push(`.${name} lies outside the ${vw}x${vh} creative at ${r.left},${r.top},${r.right},${r.bottom}`);
        }
        if (r.width < 1 || r.height < 1) {
          problems.push(`.${name} is not visible (${r.width}x${r.height})`);
        }
      }
      for (const img of document.images) {
        if (img.className === 'i' && !(img.complete && img.naturalWidth > 0)) {
          problems.push(`image ${img.src} did not load`);
        }
      }
      return {
        size: `${vw}x${vh}`,
        boxes: boxes.length,
        headline: document.querySelector('.h')?.textContent ?? null,
        problems,
      };
    });
    return { crid, found };
  }));
  for (const { crid, found } of measured) {
    report.frames.push({ crid, size: found.size, boxes: found.boxes, headline: found.headline });
    for (const p of found.problems) report.problems.push(`${crid}: ${p}`);
  }

  // Chromium paints frames only near the viewport, so one full-page
  // screenshot of a tall gallery shows empty frames below the fold: take
  // one per format section instead, in a viewport grown once to hold the
  // tallest whole (a resize per section relaid every frame each time).
  fs.mkdirSync(shots, { recursive: true });
  const sections = await page.$$('section.format');
  const heights = await Promise.all(sections.map(async (s) => (await s.boundingBox()).height));
  await page.setViewportSize({ width: 1400, height: Math.min(Math.ceil(Math.max(0, ...heights)) + 32, 12000) });
  for (const [i, section] of sections.entries()) {
    await section.scrollIntoViewIfNeeded();
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
    const title = (await section.$eval('h2', (h) => h.textContent)).replace(/[^A-Za-z0-9]+/g, '-');
    const file = path.join(shots, `${String(i + 1).padStart(2, '0')}-${title}.png`);
    await section.screenshot({ path: file });
    report.screenshots.push(file);
  }
} finally {
  await browser.close();
  images.close();
}
report.imagesServed = imagesServed;
console.log(JSON.stringify(report));

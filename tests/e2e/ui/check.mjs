// Drives the live page in Debian's Chromium (headless, through playwright-core) against
// a running example server under load, with basic authentication on, and checks what a
// person would see: the operations table agrees with a scrape taken around one refresh,
// sparklines and the heatmap draw, the slowest traced calls are listed, there are no
// console errors, it fits a phone and goes dark, it says when the endpoint goes away and
// recovers, and it refuses a browser without credentials. Writes a screenshot and checks
// that it is not blank. Usage:
//   node check.mjs --url http://127.0.0.1:PORT --user U --password P --pid SERVER_PID --shot FILE
//     [--docs FILE: the picture of docs/live-page.png] [--warmup SECONDS before the checks, 4]
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const base = args.url;
const auth = 'Basic ' + Buffer.from(`${args.user}:${args.password}`).toString('base64');
let passed = 0;
const failures = [];
function check(ok, what, detail = '') {
  if (ok) passed += 1;
  else failures.push(`${what}${detail ? ': ' + detail : ''}`);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? ' (' + detail + ')' : ''}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// keychain_operations_total summed over status, by operation and backend.
async function scrape() {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: auth } })).text();
  const calls = new Map();
  for (const line of text.split('\n')) {
    const m = /^keychain_operations_total\{(.*)\} (\d+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const k = `${labels.operation}/${labels.backend}`;
    calls.set(k, (calls.get(k) ?? 0) + Number(m[2]));
  }
  return calls;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  // ---- without credentials: refused, and nothing in the URL lets a browser in ----
  const anonymous = await browser.newContext();
  const refused = await anonymous.request.get(`${base}/`, { failOnStatusCode: false });
  check(refused.status() === 401 && /Basic/.test(refused.headers()['www-authenticate'] ?? ''),
    'without credentials the page answers 401 with a Basic challenge', String(refused.status()));
  const inUrl = await anonymous.request.get(`${base}/api/v1/snapshot?access_token=x&token=x`, { failOnStatusCode: false });
  check(inUrl.status() === 401, 'a token in the URL is not accepted', String(inUrl.status()));
  await anonymous.close();

  // ---- the page, 1280×800, light ----
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    httpCredentials: { username: args.user, password: args.password },
  });
  const page = await context.newPage();
  const errors = [];
  let outage = false;
  page.on('console', (m) => { if (m.type() === 'error' && !outage) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400 && !outage) errors.push(`${r.status()} ${r.url()}`); });
  const response = await page.goto(`${base}/`);
  check(response.status() === 200, 'the page opens with basic authentication');
  const csp = response.headers()['content-security-policy'] ?? '';
  check(csp.includes("default-src 'none'") && csp.includes("script-src 'self'"), 'a strict Content-Security-Policy', csp);

  await page.waitForSelector('#ops[data-time] td[data-value]', { timeout: 15000 });
  // A minute of refreshes would be slow; a few give the rates, sparklines and heatmap.
  await page.waitForFunction(() => Number(document.getElementById('heatmap').dataset.cells ?? 0) > 0, null, { timeout: 20000 });
  await sleep(1000 * Number(args.warmup ?? 4));

  // ---- the table agrees with scrapes taken before and after one refresh ----
  const before = await scrape();
  const after0 = Date.now() + 50;
  await page.waitForFunction((t) => Number(document.getElementById('ops').dataset.time) >= t, after0, { timeout: 10000 });
  const rows = await page.$$eval('#ops tbody tr', (trs) => trs.map((tr) => ({
    key: `${tr.cells[0].textContent}/${tr.cells[1].textContent}`,
    calls: Number(tr.cells[2].dataset.value),
    shown: tr.cells[2].textContent,
    points: tr.querySelector('polyline')?.getAttribute('points') ?? '',
    p99: tr.cells[7].textContent,
  })));
  const after = await scrape();
  const busy = [...after].filter(([k, n]) => n > (before.get(k) ?? 0));
  check(busy.length >= 3, 'the server is under load (three operations or more moved)', String(busy.length));
  const disagree = rows.filter((r) => !(r.calls >= (before.get(r.key) ?? 0) && r.calls <= (after.get(r.key) ?? 0)));
  check(rows.length >= 3 && disagree.length === 0,
    `the operations table (${rows.length} rows) agrees with the scrapes around its refresh`,
    JSON.stringify(disagree.slice(0, 3)));
  const missing = [...before].filter(([k, n]) => n > 0 && !rows.some((r) => r.key === k));
  check(missing.length === 0, 'every operation of the scrape is in the table', JSON.stringify(missing));
  check(rows.every((r) => r.p99 !== '–' || r.calls === 0) && rows.some((r) => /(µs|ms|s)$/.test(r.p99)),
    'latency quantiles are shown in time units', rows.map((r) => r.p99).join(' '));

  // ---- sparklines and the heatmap draw ----
  const moving = rows.filter((r) => r.points.split(' ').length >= 2 && new Set(r.points.split(' ').map((p) => p.split(',')[1])).size > 1);
  check(moving.length >= 1, 'sparklines draw the rate', rows.map((r) => r.points.slice(0, 40)).join(' | '));
  const heat = await page.$eval('#heatmap', (c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
    return { painted, total: data.length / 4, note: document.getElementById('heat-note').textContent };
  });
  check(heat.painted > heat.total * 0.005, 'the heatmap draws', JSON.stringify(heat));
  check(/native buckets/.test(heat.note), 'the heatmap reads native buckets when they are on', heat.note);

  // ---- the slowest traced calls, from exemplars ----
  const traces = await page.$$eval('#slow tbody tr', (trs) => trs.map((tr) => tr.cells[3]?.textContent ?? ''));
  check(traces.length >= 1 && traces.every((t) => /^[0-9a-f]{32}$/.test(t)), 'the slowest recent calls show trace ids', traces.join(' '));

  // ---- table semantics, other panels ----
  const tables = await page.getByRole('table').count();
  const header = await page.getByRole('columnheader', { name: 'Calls/s' }).count();
  check(tables >= 9 && header === 1, 'tables with column headers for screen readers', `${tables} tables`);
  const http = await page.$$eval('#http tbody td', (tds) => tds.map((t) => t.textContent));
  const grpc = await page.$$eval('#grpc tbody td', (tds) => tds.map((t) => t.textContent));
  check(http.includes('200') && grpc.includes('OK'), 'HTTP and gRPC by method and code', `${http.slice(0, 4)} | ${grpc.slice(0, 4)}`);
  const backends = await page.$$eval('#backends tbody td', (tds) => tds.map((t) => t.textContent));
  check(backends.includes('pkcs8') && backends.includes('healthy'), 'backend health, keys and certs', backends.slice(0, 8).join(' '));
  const proc = await page.$$eval('#process tbody td', (tds) => tds.map((t) => t.textContent));
  check(proc.some((t) => /MiB|KiB/.test(t)), 'process and runtime gauges, in units', proc.slice(0, 6).join(' '));

  await page.screenshot({ path: args.shot });
  if (args.docs) {
    // The picture in the docs: the end of the operations table, the heatmap, the slowest calls.
    await page.evaluate(() => window.scrollTo(0, document.getElementById('heat-title').getBoundingClientRect().top + window.scrollY - 250));
    await page.screenshot({ path: args.docs });
    await page.evaluate(() => window.scrollTo(0, 0));
  }

  // ---- the screenshot is not blank ----
  const png = (await import('node:fs')).readFileSync(args.shot).toString('base64');
  const blank = await browser.newPage();
  const colours = await blank.evaluate(async (data) => {
    const img = new Image();
    img.src = `data:image/png;base64,${data}`;
    await img.decode();
    const c = document.createElement('canvas');
    [c.width, c.height] = [img.width, img.height];
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const seen = new Map();
    for (let i = 0; i < px.length; i += 4) {
      const k = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    const most = Math.max(...seen.values());
    return { distinct: seen.size, background: most / (px.length / 4), width: c.width, height: c.height };
  }, png);
  await blank.close();
  check(colours.width === 1280 && colours.distinct > 50 && colours.background < 0.9,
    'the screenshot is not blank', JSON.stringify(colours));

  // ---- phone width, dark ----
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await sleep(2000);
  const phone = await page.evaluate(() => ({
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    background: getComputedStyle(document.body).backgroundColor,
  }));
  const [r, g, b] = phone.background.match(/\d+/g).map(Number);
  check(phone.overflow <= 1, 'fits a phone (390 px) without scrolling sideways', String(phone.overflow));
  check(r + g + b < 150, 'dark when the system is', phone.background);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });

  // ---- the endpoint goes away and comes back ----
  if (args.pid) {
    outage = true;
    process.kill(Number(args.pid), 'SIGSTOP');
    let said = '';
    try {
      await page.waitForFunction(() => document.getElementById('status').classList.contains('down'), null, { timeout: 15000 });
      said = await page.textContent('#status');
    } finally {
      process.kill(Number(args.pid), 'SIGCONT');
    }
    check(/does not answer/.test(said), 'the page says when the endpoint goes away', said);
    await page.waitForFunction(() => !document.getElementById('status').classList.contains('down'), null, { timeout: 15000 });
    outage = false;
    const back = await page.textContent('#status');
    check(/^Live/.test(back), 'and recovers when it returns', back);
  }
  check(errors.length === 0, 'no console errors', errors.slice(0, 5).join(' | '));
  await context.close();
} finally {
  await browser.close();
}

console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);

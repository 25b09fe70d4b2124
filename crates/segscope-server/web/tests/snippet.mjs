// End-to-end test of the tracking snippet in headless Chromium.
//
// Starts `segscope serve` on a fresh data directory (127.0.0.1:<port>) and a
// small test site with node's http module on another host name
// (localhost:<port>), so the visitor cookie is first-party to the site and
// every collect request is cross-origin (CORS). Three browser contexts:
//   - Dana accepts the consent banner, browses 3 pages (landing with UTM,
//     pricing, signup), submits the signup form (identify with her email)
//     and leaves (page-leave beacon);
//   - an anonymous visitor accepts and browses 2 pages;
//   - a visitor who never accepts browses 2 pages (nothing may be sent);
//   - a visitor accepts on the first page, withdraws (consent false: the
//     cookie goes) and browses on (nothing more may be sent);
//   - a HeadlessChrome user agent accepts and browses (a bot: no contact).
// Then the segscope API (secret key) must give exactly: 1 known and 2
// anonymous contacts, Dana with 1 session of 3 page views and a duration,
// first touch "email", and the "Pricing visitors" segment 1 known + 1
// anonymous. Prints `figure:` lines; exits non-zero with a message on failure.
//
// Env: SEGSCOPE_BIN (default target/debug/segscope), CHROMIUM
// (default /usr/bin/chromium).

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../../..');
const bin = process.env.SEGSCOPE_BIN || path.join(repo, 'target/debug/segscope');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const HEADLESS_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36';
const EMAIL = 'dana.tester@example.com';

const cleanups = [];
let failed = false;

function fail(message) {
  failed = true;
  throw new Error(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function equal(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function startSegscope(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--data', dataDir, 'serve', '--bind', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => child.kill('SIGTERM'));
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`segscope serve printed no URL in 20 s:\n${out}\n${err}`)), 20000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], child, stderr: () => err });
      }
    });
    child.stderr.on('data', (chunk) => { err += chunk; });
    child.on('exit', (code) => reject(new Error(`segscope serve exited (${code}):\n${out}\n${err}`)));
  });
}

function page(title, body, snippetTag) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<script>window.segscope=window.segscope||function(){(segscope.q=segscope.q||[]).push(arguments)};</script>
${snippetTag}
</head><body><h1>${title}</h1>
<div id="banner"><button id="accept" onclick="segscope('consent', true); this.parentNode.remove()">Accept analytics</button></div>
<nav><a id="to-pricing" href="/pricing">Pricing</a> <a id="to-signup" href="/signup">Sign up</a> <a id="to-home" href="/">Home</a></nav>
${body}
</body></html>`;
}

function startSite(segscopeUrl, workspace, writeKey) {
  const tag = `<script async src="${segscopeUrl}/t.js" data-workspace="${workspace}" data-key="${writeKey}"></script>`;
  const form = `<form id="signup"><input id="email" name="email" type="email"><button id="submit" type="submit">Create account</button></form>
<p id="done" hidden>Thanks!</p>
<script>
document.getElementById('signup').addEventListener('submit', function (e) {
  e.preventDefault();
  segscope('identify', { email: document.getElementById('email').value, traits: { first_name: 'Dana' } });
  document.getElementById('done').hidden = false;
});
</script>`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const pages = { '/': ['Home', '<p>Welcome</p>'], '/pricing': ['Pricing', '<p>Plans</p>'], '/signup': ['Sign up', form] };
    const found = pages[url.pathname];
    if (!found) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page(found[0], found[1], tag));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      cleanups.push(() => server.close());
      // "localhost" ≠ "127.0.0.1": another site, so the collect is cross-origin.
      resolve(`http://localhost:${server.address().port}`);
    });
  });
}

async function api(base, key, route) {
  const response = await fetch(`${base}/api/v1/workspaces/${route}`, { headers: { authorization: `Bearer ${key}` } });
  const body = await response.json();
  return { status: response.status, body };
}

/// Watches a context's collect requests and their answers.
function watch(context) {
  const seen = { requests: 0, aborted: 0, failures: [], statuses: [] };
  context.on('request', (request) => { if (request.url().includes('/collect/')) seen.requests += 1; });
  context.on('requestfailed', (request) => {
    if (!request.url().includes('/collect/')) return;
    const error = request.failure()?.errorText || '';
    // A keepalive request or beacon still in flight when its page goes
    // away is reported aborted to the page, though the browser delivers
    // it; the server-side counts below check delivery. Anything else
    // (a CORS refusal is net::ERR_FAILED) is a failure.
    if (error === 'net::ERR_ABORTED') seen.aborted += 1;
    else seen.failures.push(`${request.url()}: ${error}`);
  });
  context.on('response', (response) => { if (response.url().includes('/collect/')) seen.statuses.push(response.status()); });
  return seen;
}

async function cookieOf(context, site) {
  const cookies = await context.cookies(site);
  return cookies.find((c) => c.name === 'segscope_vid');
}

async function main() {
  check(fs.existsSync(bin), `the segscope binary ${bin} is missing: run scripts/browser-snippet (it builds it) or set SEGSCOPE_BIN`);
  check(fs.existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install -y chromium (or set CHROMIUM)`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'segscope-snippet-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const created = execFileSync(bin, ['--data', dataDir, 'workspace', 'create', 'shop'], { encoding: 'utf8' });
  const secret = created.match(/secret API key[^:]*: (sk_[0-9a-f]+)/)?.[1];
  const writeKey = created.match(/write key[^:]*: +(wk_[0-9a-f]+)/)?.[1];
  check(secret && writeKey, `could not read the keys from \`segscope workspace create\`:\n${created}`);

  const server = await startSegscope(dataDir);
  const site = await startSite(server.url, 'shop', writeKey);
  console.log(`segscope on ${server.url}, test site on ${site}`);

  const segment = await fetch(`${server.url}/api/v1/workspaces/shop/segments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Pricing visitors', criteria_text: 'visited "/pricing" in last 30 days' }),
  });
  const segmentBody = await segment.json();
  equal(segment.status, 201, `creating the segment (${JSON.stringify(segmentBody)})`);

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  cleanups.unshift(() => browser.close());
  const started = Date.now();

  // Dana: consent, 3 pages, identify, leave.
  const dana = await browser.newContext({ userAgent: CHROME_UA });
  const danaSeen = watch(dana);
  const tab = await dana.newPage();
  const consoleErrors = [];
  tab.on('pageerror', (e) => consoleErrors.push(String(e)));
  await tab.goto(`${site}/?utm_source=newsletter&utm_medium=email&utm_campaign=spring`);
  // The first page view is stamped no later than this (async scripts run before `load`).
  const firstPageLoaded = Date.now();
  await tab.waitForFunction(() => typeof window.segscope === 'function' && !window.segscope.q);
  await sleep(300);
  equal(danaSeen.requests, 0, 'collect requests before consent');
  check(!(await cookieOf(dana, site)), 'a cookie was set before consent');
  const firstSent = tab.waitForResponse((r) => r.url().includes('/collect/'));
  await tab.click('#accept');
  await firstSent;
  const cookie = await cookieOf(dana, site);
  check(cookie && /^[0-9a-f]{32}$/.test(cookie.value), `the visitor cookie after consent: ${JSON.stringify(cookie)}`);
  check(cookie.domain === 'localhost' && cookie.sameSite === 'Lax', `the cookie is first-party to the site: ${JSON.stringify(cookie)}`);
  await sleep(1200);
  await tab.click('#to-pricing');
  await tab.waitForURL(`${site}/pricing`);
  await sleep(1200);
  await tab.click('#to-signup');
  await tab.waitForURL(`${site}/signup`);
  await tab.fill('#email', EMAIL);
  await sleep(800);
  const identified = tab.waitForResponse((r) => r.url().includes('/collect/') && r.request().postData()?.includes('identify'));
  await tab.click('#submit');
  const identifyResponse = await identified;
  const identifyBody = await identifyResponse.json();
  equal(identifyResponse.status(), 200, `identify answer ${JSON.stringify(identifyBody)}`);
  equal(identifyBody.rejected, [], 'identify rejected items');
  equal(identifyResponse.headers()['access-control-allow-origin'], '*', 'CORS header on the collect answer');
  // Stay on the last page long enough that only the page-leave beacon can
  // account for the session's length.
  await sleep(3000);
  const leftAt = Date.now();
  await tab.goto('about:blank'); // pagehide → the page-leave beacon
  await sleep(500);
  await dana.close();
  const elapsed = (Date.now() - started) / 1000;

  // An anonymous visitor: consent, 2 pages.
  const anon = await browser.newContext({ userAgent: CHROME_UA });
  const anonSeen = watch(anon);
  const anonTab = await anon.newPage();
  await anonTab.goto(`${site}/`);
  const anonFirst = anonTab.waitForResponse((r) => r.url().includes('/collect/'));
  await anonTab.click('#accept');
  await anonFirst;
  const anonSecond = anonTab.waitForResponse((r) => r.url().includes('/collect/'));
  await anonTab.click('#to-pricing');
  await anonTab.waitForURL(`${site}/pricing`);
  await anonSecond;
  await anonTab.goto('about:blank');
  await sleep(300);
  await anon.close();

  // A visitor who never consents: nothing sent, no cookie.
  const shy = await browser.newContext({ userAgent: CHROME_UA });
  const shySeen = watch(shy);
  const shyTab = await shy.newPage();
  await shyTab.goto(`${site}/`);
  await shyTab.click('#to-pricing');
  await shyTab.waitForURL(`${site}/pricing`);
  await sleep(500);
  const shyCookie = await cookieOf(shy, site);
  await shyTab.goto('about:blank');
  await sleep(300);
  await shy.close();
  equal(shySeen.requests, 0, 'collect requests from a visitor who never consented');
  check(!shyCookie, 'a cookie was set without consent');

  // A visitor who accepts, then withdraws: the cookie goes, nothing more is sent.
  const revoker = await browser.newContext({ userAgent: CHROME_UA });
  const revokerSeen = watch(revoker);
  const revokerTab = await revoker.newPage();
  await revokerTab.goto(`${site}/`);
  const revokerFirst = revokerTab.waitForResponse((r) => r.url().includes('/collect/'));
  await revokerTab.click('#accept');
  await revokerFirst;
  check(await cookieOf(revoker, site), 'the cookie after consent');
  await revokerTab.evaluate(() => window.segscope('consent', false));
  check(!(await cookieOf(revoker, site)), 'consent(false) deletes the cookie');
  const sentBeforeRevoking = revokerSeen.requests;
  await revokerTab.click('#to-pricing');
  await revokerTab.waitForURL(`${site}/pricing`);
  await sleep(500);
  await revokerTab.goto('about:blank');
  await sleep(300);
  await revoker.close();
  equal(revokerSeen.requests, sentBeforeRevoking, 'collect requests after consent was withdrawn');

  // A headless-browser user agent: a bot, never a contact.
  const bot = await browser.newContext({ userAgent: HEADLESS_UA });
  const botTab = await bot.newPage();
  await botTab.goto(`${site}/`);
  const botSent = botTab.waitForResponse((r) => r.url().includes('/collect/'));
  await botTab.click('#accept');
  const botResponse = await botSent;
  const botBody = await botResponse.json();
  await bot.close();
  equal(botBody.bot_hits, 1, `the HeadlessChrome page view is a bot hit (${JSON.stringify(botBody)})`);

  for (const [who, seen] of [['dana', danaSeen], ['anonymous', anonSeen]]) {
    equal(seen.failures, [], `${who}: failed collect requests (CORS?)`);
    check(seen.statuses.every((s) => s === 200), `${who}: collect answers ${JSON.stringify(seen.statuses)}`);
  }
  equal(consoleErrors, [], 'page errors');

  // The server side, through the API. The leave beacon may land a moment later.
  let contact;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const got = await api(server.url, secret, `shop/contacts/${encodeURIComponent(EMAIL)}`);
    contact = got.body;
    const sessions = contact.recent_sessions || [];
    if (got.status === 200 && sessions.length === 1 && sessions[0].duration_secs >= Math.floor((leftAt - firstPageLoaded) / 1000) - 1) break;
    await sleep(200);
  }
  check(contact && contact.kind === 'known', `Dana is a known contact: ${JSON.stringify(contact)}`);
  equal(contact.first_name, 'Dana', 'Dana\'s first name (identify trait)');
  equal(contact.first_touch_source, 'email', 'first-touch source from utm_medium=email');
  equal(contact.recent_sessions.length, 1, `Dana's sessions ${JSON.stringify(contact.recent_sessions)}`);
  const session = contact.recent_sessions[0];
  equal(session.page_views, 3, 'page views in Dana\'s session');
  const atLeast = Math.floor((leftAt - firstPageLoaded) / 1000) - 1;
  check(session.duration_secs >= atLeast && session.duration_secs <= Math.ceil(elapsed) + 1,
    `Dana's session lasts ${session.duration_secs} s, expected at least ${atLeast} s: the page-leave beacon must extend it over the 3 s spent on the last page (browsing took ${elapsed.toFixed(1)} s)`);

  const ws = await api(server.url, secret, 'shop');
  // Dana (known), the anonymous visitor and the one who withdrew after one page (anonymous).
  equal([ws.body.stats.contacts, ws.body.stats.known, ws.body.stats.anonymous], [3, 1, 2], 'workspace contacts / known / anonymous');
  check(ws.body.stats.bot_hits >= 1, `bot hits counted: ${JSON.stringify(ws.body.stats)}`);
  const all = await api(server.url, secret, 'shop/segments/0/summary');
  equal([all.body.overall.known, all.body.overall.anonymous, all.body.overall.sessions], [1, 2, 3], 'all contacts: known / anonymous / sessions');
  const pricing = await api(server.url, secret, `shop/segments/${segmentBody.id}/summary`);
  equal([pricing.body.overall.known, pricing.body.overall.anonymous, pricing.body.overall.total], [1, 1, 2], 'Pricing visitors: known / anonymous / total');

  console.log(`figure: snippet e2e: Dana 1 known contact, 1 session, ${session.page_views} page views, ${session.duration_secs} s (browsing took ${elapsed.toFixed(1)} s), first touch ${contact.first_touch_source}`);
  console.log(`figure: snippet e2e: workspace ${ws.body.stats.known} known + ${ws.body.stats.anonymous} anonymous, ${ws.body.stats.bot_hits} bot hit(s); Pricing visitors ${pricing.body.overall.known} known + ${pricing.body.overall.anonymous} anonymous`);
  console.log(`figure: snippet e2e: collect requests: Dana ${danaSeen.requests} (all cross-origin; ${danaSeen.statuses.length} answers seen by the page, all 200; ${danaSeen.aborted} left in flight at navigation), no-consent visitor ${shySeen.requests}, after withdrawing ${revokerSeen.requests - sentBeforeRevoking}`);
  console.log(`figure: snippet e2e: avg session ${all.body.overall.avg_session_secs} s over ${all.body.overall.sessions} sessions`);
}

try {
  await main();
  console.log('snippet e2e: ok');
} catch (err) {
  console.error(`snippet e2e FAILED: ${err.message}`);
  if (!failed) console.error(err.stack);
  process.exitCode = 1;
} finally {
  for (const cleanup of cleanups) {
    try { await cleanup(); } catch { /* best effort */ }
  }
}

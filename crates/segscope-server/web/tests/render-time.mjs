// How long the summary page takes to render, in headless Chromium, on an
// existing data directory (e.g. a 100k-contact workspace from
// `segscope-bench load`). A measurement, not a test: it prints figures and
// asserts nothing about time.
//
//   node tests/render-time.mjs <segscope binary> <data dir> [runs]
//
// For every segment of the directory's first workspace it opens the
// summary page (view All, last 30 days) and reads the time from the start
// of the navigation to the moment the page has rendered every block
// (`document.body.dataset.ready`), cold (first open after the server
// started) and warm (median of the next runs).
import { spawn } from "node:child_process";
import { chromium } from "playwright-core";

const [bin, data, runsArg = "5"] = process.argv.slice(2);
if (!bin || !data) {
  console.error("usage: node tests/render-time.mjs <segscope binary> <data dir> [runs]");
  process.exit(2);
}
const runs = Number(runsArg);
const server = spawn(bin, ["--data", data, "serve", "--bind", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
const { url, admin } = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (chunk) => {
    out += chunk;
    const url = out.match(/on (http:\/\/127\.0\.0\.1:\d+)\//)?.[1];
    const admin = out.match(/\b(adm_[0-9a-f]+)/)?.[1];
    if (url && admin) resolve({ url, admin });
    if (url && /admin token printed at the first start/.test(out)) {
      reject(new Error(`${data} already has an admin token: delete its dashboard-admin-token.sha256 to measure`));
    }
  });
  server.on("exit", (code) => reject(new Error(`the server exited (${code}):\n${out}`)));
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(url + "/");
  await page.fill("#token", admin);
  await page.click("button[type=submit]");
  const session = await page.evaluate(() => fetch("/api/v1/session").then((r) => r.json()));
  const ws = session.workspaces[0].id;
  const segments = await page.evaluate((ws) => fetch(`/api/v1/workspaces/${ws}/segments`).then((r) => r.json()), ws);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = [];
  for (const s of segments.items) {
    const times = [];
    for (let i = 0; i <= runs; i++) {
      // A full load each time: the app starts, signs in from its cookie,
      // fetches the segment, the settings and the summary, and draws.
      await page.goto("about:blank");
      await page.goto(`${url}/#/w/${ws}/s/${s.id}`);
      await page.waitForFunction(() => document.body.dataset.ready === "summary", null, { timeout: 60000 });
      times.push(await page.evaluate(() => performance.now()));
    }
    rows.push({ name: s.name, members: s.members.total, cold: times[0], warm: median(times.slice(1)) });
  }
  rows.sort((a, b) => b.members - a.members);
  const contacts = session.workspaces[0].contacts;
  console.log(`figure: summary page render time in headless Chromium, workspace ${ws} (${contacts} contacts), navigation start to every block drawn`);
  console.log("segment                                   members   cold ms   warm ms (median of " + runs + ")");
  for (const r of rows) console.log(`${r.name.slice(0, 40).padEnd(40)} ${String(r.members).padStart(9)} ${r.cold.toFixed(0).padStart(9)} ${r.warm.toFixed(0).padStart(9)}`);
  console.log(`figure: slowest warm render ${Math.max(...rows.map((r) => r.warm)).toFixed(0)} ms; slowest cold render ${Math.max(...rows.map((r) => r.cold)).toFixed(0)} ms`);
} finally {
  await browser.close();
  server.kill("SIGTERM");
}

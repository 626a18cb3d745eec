// vigil's dashboard in a real browser (issue #17): Debian's chromium, driven by playwright-core,
// against this build's svscan and vigild on a temporary tree. Each test saves a screenshot in
// screenshots/; docs/dashboard-overview.png and docs/dashboard-service.png are two of them.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Sandbox, eventually, launchBrowser, missingPeer, openPage, shot } from "./harness.mjs";

const skip = missingPeer();
if (skip) console.log(`# ${skip}`);

const row = (name) => `[data-service="${name}"]`;
const cell = (name, field) => `${row(name)} [data-field="${field}"]`;

describe("dashboard", { skip: skip ?? false }, () => {
  let sb;
  let chrome;
  before(async () => {
    sb = await Sandbox.start();
    await sb.settle([["web", "up"], ["web/log", "up"], ["worker", "up"], ["idle", "down"]]);
    await eventually("crasher backing off", () => sb.svstat("crasher").state === "backoff");
    chrome = await launchBrowser();
  });
  after(async () => {
    await chrome?.close();
    await sb?.stop();
  });

  test("every service shows with its state, as svstat says", { timeout: 60000 }, async () => {
    sb.svc("-u", "worker");
    await sb.settle([["worker", "up"]]);
    const { context, page } = await openPage(chrome.browser, sb, "admin");
    try {
      await page.goto(`${sb.base}/`);
      await page.waitForSelector('body[data-connection="live"]');
      for (const [name, word] of [["web", "up"], ["web/log", "up"], ["worker", "up"], ["idle", "down"], ["crasher", "backoff"]]) {
        await eventually(`${name} shows ${word}`, async () => (await page.textContent(cell(name, "state"))).startsWith(word));
        if (word === "up") {
          assert.equal(await page.textContent(cell(name, "pid")), String(sb.svstat(name).pid), `${name}'s pid`);
        } else {
          assert.equal(await page.textContent(cell(name, "pid")), "", `${name} has no pid`);
        }
      }
      assert.match(await page.textContent(cell("crasher", "last-exit")), /^code 3$/);
      assert.match(await page.textContent(cell("crasher", "state")), /^backoff, restart in \d+s$/);
      // The logger is a sub-row right after its service, and each name links to its page.
      const order = await page.$$eval("[data-service]", (rows) => rows.map((r) => r.dataset.service));
      assert.deepEqual(order, ["crasher", "idle", "web", "web/log", "worker"]);
      assert.equal(await page.getAttribute(`${row("web/log")} a`, "href"), "/services/web/log");
      // Buttons that do not apply are disabled, not hidden; each has an accessible name.
      assert.equal(await page.isDisabled(`${row("web")} [data-action="up"]`), true);
      assert.equal(await page.isDisabled(`${row("web")} [data-action="restart"]`), false);
      assert.equal(await page.isDisabled(`${row("idle")} [data-action="restart"]`), true);
      assert.equal(await page.isDisabled(`${row("idle")} [data-action="up"]`), false);
      await page.getByRole("button", { name: "Restart worker" }).waitFor();
      // Usage arrives on the stream while the page is open.
      await eventually("web's memory", async () => /\d.* (KiB|MiB)$/.test(await page.textContent(cell("web", "memory"))));
      assert.deepEqual(page.errors, []);
      await shot(page, "overview");
    } finally {
      await context.close();
    }
  });

  test("restart by click: the new pid shows in the page and in svstat", { timeout: 60000 }, async () => {
    sb.svc("-u", "worker");
    await sb.settle([["worker", "up"]]);
    const { context, page } = await openPage(chrome.browser, sb, "admin");
    try {
      await page.goto(`${sb.base}/`);
      await page.waitForSelector('body[data-connection="live"]');
      const old = sb.svstat("worker").pid;
      assert.equal(await page.textContent(cell("worker", "pid")), String(old));
      await page.click(`${row("worker")} [data-action="restart"]`);
      const fresh = await eventually("svstat shows a new pid", () => {
        const s = sb.svstat("worker");
        return s.pid && s.pid !== old && s.state === "up" ? s.pid : null;
      });
      await eventually("the page shows the new pid", async () => (await page.textContent(cell("worker", "pid"))) === String(fresh), 2000);
      assert.match(await page.textContent(cell("worker", "uptime")), /^\ds$/);
      assert.equal(await page.textContent(cell("worker", "restarts")), String(sb.svstat("worker").restarts));
      await shot(page, "restart");
    } finally {
      await context.close();
    }
  });

  test("svc -d in a terminal turns the row down within a second, nothing else changes, no request", { timeout: 60000 }, async () => {
    sb.svc("-u", "worker");
    await sb.settle([["worker", "up"]]);
    const { context, page } = await openPage(chrome.browser, sb, "admin");
    try {
      sb.svc("-u", "worker");
      await sb.settle([["worker", "up"]]);
      await page.goto(`${sb.base}/`);
      await page.waitForSelector('body[data-connection="live"]');
      await eventually("worker up", async () => (await page.textContent(cell("worker", "state"))) === "up");
      // Watch what changes from now on: which rows, and which requests the page makes.
      const requests = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.evaluate(() => {
        window.changedRows = new Set();
        new MutationObserver((list) => {
          for (const m of list) {
            const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
            const field = el?.closest("[data-field]")?.dataset.field;
            if (["uptime", "cpu", "memory"].includes(field) || el?.closest("svg")) continue; // the clock and usage move
            const r = el?.closest("[data-service]");
            if (r) window.changedRows.add(r.dataset.service);
          }
        }).observe(document.querySelector("tbody"), { subtree: true, childList: true, characterData: true, attributes: true });
      });
      const t0 = Date.now();
      sb.svc("-d", "worker");
      await eventually("worker down in the page", async () => (await page.textContent(cell("worker", "state"))).startsWith("down"), 1000, 10);
      const ms = Date.now() - t0;
      assert.ok(ms < 1000, `${ms} ms`);
      assert.equal(await page.textContent(cell("worker", "pid")), "");
      assert.match(await page.textContent(cell("worker", "last-exit")), /^signal TERM$/);
      await new Promise((r) => setTimeout(r, 300)); // let any stray update show
      assert.deepEqual([...(await page.evaluate(() => [...window.changedRows]))], ["worker"]);
      assert.deepEqual(requests, [], "the page made requests besides its one event stream");
      assert.equal(await page.isDisabled(`${row("worker")} [data-action="down"]`), true);
      assert.equal(await page.isDisabled(`${row("worker")} [data-action="up"]`), false);
      await shot(page, "svc-down");
      sb.svc("-u", "worker");
      await eventually("worker up again", async () => (await page.textContent(cell("worker", "state"))) === "up");
    } finally {
      await context.close();
    }
  });

  test("a service's page follows its log live, with its events and settings", { timeout: 60000 }, async () => {
    sb.svc("-u", "worker");
    await sb.settle([["worker", "up"]]);
    const { context, page } = await openPage(chrome.browser, sb, "admin");
    try {
      await page.goto(`${sb.base}/`);
      await page.click(`${row("web")} a`);
      await page.waitForURL(`${sb.base}/services/web`);
      await page.waitForSelector('body[data-connection="live"]');
      await page.waitForSelector('[data-log="web"] .line');
      assert.match(await page.textContent('[data-log="web"] .line'), /talker: starting as pid \d+/);
      // The time is the TAI64N label, shown as local time.
      assert.match(await page.textContent('[data-log="web"] .line time'), /^\d\d:\d\d:\d\d\.\d{3}$/);
      const before = await page.$$eval('[data-log="web"] .line', (l) => l.length);
      const t0 = Date.now();
      sb.svc("-h", "web");
      await eventually("a new line in the log view", async () => (await page.$$eval('[data-log="web"] .line', (l) => l.length)) > before, 1000, 10);
      assert.ok(Date.now() - t0 < 1000);
      assert.match(await page.textContent('[data-log="web"] .line:last-child'), /pong \d+/);
      // The filter box hides the lines that do not match.
      await page.fill('input[aria-label="Filter log lines"]', "pong");
      assert.ok((await page.$$eval('[data-log="web"] .line:not([hidden])', (l) => l.length)) >= 1);
      assert.equal(await page.$$eval('[data-log="web"] .line:not([hidden])', (l) => l.every((e) => e.textContent.includes("pong"))), true);
      await page.fill('input[aria-label="Filter log lines"]', "");
      // The event timeline: a restart shows as it happens.
      sb.svc("-t", "web");
      await page.waitForSelector('[data-events="web"] li[data-event="up"]', { timeout: 2000 });
      await page.waitForSelector('[data-events="web"] li[data-event="down"]', { timeout: 2000 });
      assert.match(await page.textContent('[data-events="web"] li[data-event="down"]'), /exited, signal TERM/);
      await eventually("the new pid", async () => (await page.textContent(cell("web", "pid"))) === String(sb.svstat("web").pid));
      await page.waitForSelector('[data-settings="web"]');
      assert.match(await page.textContent('[data-settings="web"]'), /Readiness/);
      assert.deepEqual(page.errors, []);
      await shot(page, "service");
    } finally {
      await context.close();
    }
  });

  test("a read-only user sees no buttons, and a forged POST gets 403", { timeout: 60000 }, async () => {
    const { context, page } = await openPage(chrome.browser, sb, "viewer");
    try {
      await page.goto(`${sb.base}/`);
      await page.waitForSelector('body[data-connection="live"]');
      await page.waitForSelector(row("worker"));
      assert.equal(await page.locator("[data-action]").count(), 0);
      assert.match(await page.textContent("#who"), /viewer · read-only/);
      const pid = sb.svstat("worker").pid;
      // The page's own origin and the viewer's credentials: only the server's check stops it.
      const status = await page.evaluate(async () => (await fetch("/v1/services/worker/restart", { method: "POST" })).status);
      assert.equal(status, 403);
      assert.equal(sb.svstat("worker").pid, pid);
      await page.goto(`${sb.base}/services/worker`);
      await page.waitForSelector('[data-log="worker"]');
      assert.equal(await page.locator("[data-action]").count(), 0);
      await shot(page, "read-only");
    } finally {
      await context.close();
    }
  });

  test("a POST from another origin gets 403; one without Origin or from this origin passes", { timeout: 60000 }, async () => {
    const post = (origin, extra = {}) =>
      fetch(`${sb.base}/v1/services/idle/once`, {
        method: "POST",
        headers: { ...sb.authHeader("admin"), ...(origin ? { Origin: origin } : {}), ...extra },
      });
    for (const foreign of ["http://evil.example", `http://127.0.0.1:${sb.port + 1}`, `https://127.0.0.1:${sb.port}`, "null"]) {
      const res = await post(foreign);
      assert.equal(res.status, 403, foreign);
      assert.match(res.headers.get("content-type") ?? "", /json/);
    }
    assert.equal((await post(null, { "Sec-Fetch-Site": "cross-site" })).status, 403, "Sec-Fetch-Site: cross-site");
    assert.equal(sb.svstat("idle").state, "down", "nothing was done");
    for (const same of [`http://127.0.0.1:${sb.port}`, `http://localhost:${sb.port}`]) {
      assert.equal((await post(same)).status, 200, same);
    }
    assert.equal((await post(null)).status, 200, "no Origin: curl, scripts, supervisorctl");
    // A page served by another site: the browser sends that site's Origin, the server refuses.
    sb.svc("-u", "worker");
    await sb.settle([["worker", "up"]]);
    const { context, page } = await openPage(chrome.browser, sb, "admin");
    try {
      const pid = sb.svstat("worker").pid;
      await page.route("http://evil.test/", (r) => r.fulfill({ contentType: "text/html", body: "<h1>not vigil</h1>" }));
      await page.goto("http://evil.test/");
      const target = `${sb.base}/v1/services/worker/restart`;
      // The browser either sends it with evil.test's Origin (and vigild answers 403) or blocks
      // it itself (Chromium's private network access rules): either way nothing is done.
      const answered = Promise.race([
        page.waitForResponse((r) => r.url() === target).then(async (r) => ({ status: r.status(), origin: (await r.request().allHeaders()).origin })),
        page.waitForEvent("requestfailed", (r) => r.url() === target).then(() => ({ status: "blocked by the browser" })),
      ]);
      await page.evaluate((url) => fetch(url, { method: "POST", mode: "no-cors", credentials: "include" }).catch(() => null), target);
      const res = await answered;
      if (res.status !== "blocked by the browser") {
        assert.equal(res.status, 403);
        assert.equal(res.origin, "http://evil.test");
      }
      assert.equal(sb.svstat("worker").pid, pid);
      await shot(page, "foreign-origin");
    } finally {
      await context.close();
    }
  });

  test("killing and restarting vigild: the page says reconnecting, then catches up", { timeout: 90000 }, async () => {
    sb.svc("-u", "worker");
    await sb.settle([["worker", "up"]]);
    const { context, page } = await openPage(chrome.browser, sb, "admin");
    try {
      await page.goto(`${sb.base}/`);
      await page.waitForSelector('body[data-connection="live"]');
      await eventually("worker up", async () => (await page.textContent(cell("worker", "state"))) === "up");
      await sb.killVigild();
      await page.waitForSelector('body[data-connection="reconnecting"]', { timeout: 5000 });
      assert.match(await page.textContent(".conn"), /reconnecting/);
      await shot(page, "reconnecting");
      // While vigild is away, a service goes down and another restarts.
      const oldWeb = sb.svstat("web").pid;
      sb.svc("-d", "worker");
      sb.svc("-t", "web");
      await sb.settle([["worker", "down"]]);
      await eventually("web restarted", () => sb.svstat("web").pid !== oldWeb && sb.svstat("web").state === "up");
      await sb.startVigild();
      await page.waitForSelector('body[data-connection="live"]', { timeout: 10000 });
      await eventually("worker down in the page", async () => (await page.textContent(cell("worker", "state"))).startsWith("down"), 5000);
      await eventually("web's new pid", async () => (await page.textContent(cell("web", "pid"))) === String(sb.svstat("web").pid), 5000);
      // and it is live again
      sb.svc("-u", "worker");
      await eventually("worker up after the reconnect", async () => (await page.textContent(cell("worker", "state"))) === "up", 2000);
      await shot(page, "reconnected");
    } finally {
      await context.close();
    }
  });

  test("at 390 px (a phone) nothing scrolls sideways; the keyboard alone restarts a service", { timeout: 60000 }, async () => {
    sb.svc("-u", "worker");
    await sb.settle([["worker", "up"]]);
    const { context, page } = await openPage(chrome.browser, sb, "admin", { width: 390, height: 844, colorScheme: "dark" });
    try {
      for (const url of ["/", "/services/web", "/services/web/log"]) {
        await page.goto(`${sb.base}${url}`);
        await page.waitForSelector('body[data-connection="live"]');
        await page.waitForSelector("[data-service]");
        const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
        assert.ok(scroll <= client, `${url}: scrollWidth ${scroll} > ${client}`);
      }
      await page.goto(`${sb.base}/`);
      await page.waitForSelector('body[data-connection="live"]');
      await shot(page, "phone");
      // Keyboard: tab to worker's restart button and press Enter.
      const old = sb.svstat("worker").pid;
      let found = false;
      for (let i = 0; i < 200 && !found; i++) {
        await page.keyboard.press("Tab");
        found = await page.evaluate(() => document.activeElement?.getAttribute("aria-label") === "Restart worker");
      }
      assert.ok(found, "Restart worker is reachable with Tab");
      await page.keyboard.press("Enter");
      await eventually("worker restarted", () => sb.svstat("worker").pid !== old && sb.svstat("worker").state === "up");
      // The signal menu, by keyboard: open, arrow to USR1... Escape closes it, focus goes back.
      await page.focus(`${row("worker")} [data-action="signal"]`);
      await page.keyboard.press("Enter");
      await page.waitForSelector('[role="menu"]:not([hidden])');
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.signal), "HUP");
      await page.keyboard.press("Escape");
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.action), "signal");
    } finally {
      await context.close();
    }
  });
});

describe("dashboard with 500 services", { skip: skip ?? false }, () => {
  let sb;
  let chrome;
  before(async () => {
    sb = await Sandbox.start({ services: "many", count: 500 });
    await eventually("500 services supervised", () => sb.svstat("svc499").supervised, 60000, 200);
    await sb.settle([["svc000", "up"]]);
    chrome = await launchBrowser();
  });
  after(async () => {
    await chrome?.close();
    await sb?.stop();
  });

  test("first paint under a second; an update changes only its row", { timeout: 120000 }, async () => {
    const { context, page } = await openPage(chrome.browser, sb, "admin");
    try {
      // Warm the credentials and the cache, as a second visit would be; then time a load.
      await page.goto(`${sb.base}/`);
      await page.waitForSelector(row("svc499"));
      await page.goto(`${sb.base}/`);
      await page.waitForSelector(row("svc499"));
      const rows = await page.locator("[data-service]").count();
      assert.equal(rows, 500);
      // The page marks the frame after its rows went in ("vigil:rows", a User Timing mark).
      const ms = await eventually("the rows' mark", () =>
        page.evaluate(() => performance.getEntriesByName("vigil:rows")[0]?.startTime ?? null));
      console.log(`# 500 services: rows painted ${ms.toFixed(0)} ms after navigation start`);
      assert.ok(ms < 1000, `first paint of the rows ${ms} ms`);
      await page.waitForSelector('body[data-connection="live"]');
      await page.evaluate(() => {
        window.changedRows = new Set();
        new MutationObserver((list) => {
          for (const m of list) {
            const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
            const field = el?.closest("[data-field]")?.dataset.field;
            if (["uptime", "cpu", "memory"].includes(field) || el?.closest("svg")) continue;
            const r = el?.closest("[data-service]");
            if (r) window.changedRows.add(r.dataset.service);
          }
        }).observe(document.querySelector("tbody"), { subtree: true, childList: true, characterData: true, attributes: true });
      });
      sb.svc("-u", "svc250");
      await eventually("svc250 up", async () => (await page.textContent(cell("svc250", "state"))).startsWith("up"), 2000, 10);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await page.evaluate(() => [...window.changedRows]), ["svc250"]);
      await shot(page, "many");
    } finally {
      await context.close();
    }
  });
});

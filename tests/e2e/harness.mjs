// The end-to-end tests' sandbox: the real svscan and vigild of this build (by absolute path
// from target/debug, never PATH) on a temporary service tree, and Debian's chromium driven by
// playwright-core (nothing downloads a browser). Processes are killed by pid at the end.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository's root. */
export const ROOT = path.resolve(here, "../..");
/** This build's binaries. */
export const BIN = path.resolve(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target"), "debug");
/** Where each test's screenshot goes. */
export const SHOTS = path.join(here, "screenshots");
/** Debian's chromium. */
export const CHROMIUM = process.env.VIGIL_CHROMIUM ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here, or null; under CI=true a missing chromium fails. */
export function missingPeer() {
  const missing = [];
  if (!fs.existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium)`);
  for (const b of ["svscan", "supervise", "vigild", "svc", "svstat"]) {
    if (!fs.existsSync(path.join(BIN, b))) missing.push(`${path.join(BIN, b)} (cargo build --workspace)`);
  }
  if (missing.length === 0) return null;
  const why = `missing ${missing.join(", ")}`;
  if (process.env.CI === "true") throw new Error(`e2e: ${why}, and CI=true`);
  return `e2e skipped: ${why}`;
}

/** Waits until `cond()` is truthy (polled; tests may poll, bounded), else throws `what`. */
export async function eventually(what, cond, timeoutMs = 10000, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await cond();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function write(file, text, mode = 0o644) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

/** A service that says `pong N` on every HUP (so a test makes a log line when it wants). */
const TALKER = `#!/bin/sh
exec 2>&1
n=0
trap 'n=$((n + 1)); echo "pong $n"' HUP
echo "talker: starting as pid $$"
while :; do sleep 1 & wait $!; done
`;
const SLEEPER = "#!/bin/sh\nexec sleep 100000\n";
const CRASHER = "#!/bin/sh\necho 'crasher: giving up'\nexit 3\n";
const LOGGER = "#!/bin/sh\nexec multilog t s100000 n5 ./main\n";

/**
 * A temporary tree with services, svscan running on it, and vigild on a loopback port with an
 * auth file (`admin` may act, `viewer` is read-only). `extra(scandir)` may add services.
 */
export class Sandbox {
  static async start({ services = "default", count = 0 } = {}) {
    const sb = new Sandbox();
    sb.dir = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-e2e-"));
    sb.scandir = path.join(sb.dir, "service");
    fs.mkdirSync(sb.scandir);
    if (services === "default") {
      write(path.join(sb.scandir, "web/run"), TALKER, 0o755);
      write(path.join(sb.scandir, "web/log/run"), LOGGER, 0o755);
      write(path.join(sb.scandir, "worker/run"), SLEEPER, 0o755);
      write(path.join(sb.scandir, "crasher/run"), CRASHER, 0o755);
      write(path.join(sb.scandir, "idle/run"), SLEEPER, 0o755);
      write(path.join(sb.scandir, "idle/down"), "");
    } else {
      // many: services that stay down (a supervise each, no run), one that runs
      for (let i = 0; i < count; i++) {
        const name = `svc${String(i).padStart(3, "0")}`;
        write(path.join(sb.scandir, name, "run"), SLEEPER, 0o755);
        if (i !== 0) write(path.join(sb.scandir, name, "down"), "");
      }
    }
    sb.auth = path.join(sb.dir, "users");
    write(sb.auth, "admin:secret\nviewer:look:ro\n", 0o600);
    sb.svscan = spawn(path.join(BIN, "svscan"), [sb.scandir], {
      detached: true, // its own process group, killed by id at the end
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: `${BIN}:/usr/bin:/bin`, HOME: sb.dir },
    });
    sb.svscanErr = "";
    sb.svscan.stderr.on("data", (d) => (sb.svscanErr += d));
    sb.port = await freePort();
    sb.base = `http://127.0.0.1:${sb.port}`;
    await sb.startVigild();
    return sb;
  }

  /** Starts vigild (again, after `killVigild`) and waits until it answers. */
  async startVigild() {
    this.vigildErr = "";
    this.vigild = spawn(
      path.join(BIN, "vigild"),
      ["--listen", `127.0.0.1:${this.port}`, "--auth-file", this.auth, this.scandir],
      { detached: true, stdio: ["ignore", "ignore", "pipe"], env: { PATH: "/usr/bin:/bin", HOME: this.dir } },
    );
    this.vigild.stderr.on("data", (d) => (this.vigildErr += d));
    const exited = new Promise((r) => this.vigild.once("exit", (code) => r(code)));
    await eventually(`vigild on ${this.base}`, async () => {
      const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 0))]);
      if (early !== undefined) throw new Error(`vigild exited ${early}: ${this.vigildErr}`);
      const res = await fetch(`${this.base}/v1/services`, { headers: this.authHeader("admin") });
      return res.status === 200;
    });
  }

  /** Kills vigild (SIGKILL, by pid) and waits for its exit. */
  async killVigild() {
    const p = this.vigild;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    process.kill(p.pid, "SIGKILL");
    await gone;
  }

  /** The Authorization header of `user`. */
  authHeader(user) {
    const pass = { admin: "secret", viewer: "look" }[user];
    return { Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` };
  }

  /** `svstat --json` of a service, parsed. */
  svstat(name) {
    return JSON.parse(execFileSync(path.join(BIN, "svstat"), ["--json", path.join(this.scandir, name)]).toString());
  }

  /** `svc ARGS DIR` from a terminal, as a person would. */
  svc(flag, name) {
    execFileSync(path.join(BIN, "svc"), [flag, path.join(this.scandir, name)]);
  }

  /** Waits until every named service is supervised and its run in `state`. */
  async settle(pairs) {
    for (const [name, state] of pairs) {
      await eventually(`${name} ${state}`, () => {
        const s = this.svstat(name);
        return s.supervised && s.state === state;
      });
    }
  }

  /** Stops vigild and svscan (TERM: svscan brings every service down), then removes the tree. */
  async stop() {
    await this.killVigild().catch(() => {});
    const p = this.svscan;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once("exit", r));
      process.kill(p.pid, "SIGTERM");
      const ok = await Promise.race([gone.then(() => true), new Promise((r) => setTimeout(() => r(false), 15000))]);
      if (!ok) {
        try {
          process.kill(-p.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Chromium, headless, talking to nothing but the test's vigild. Its profile is fresh: launch()
 * gives it a new temporary --user-data-dir (and refuses one of ours), removed on close.
 */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/** A page logged in as `user` (HTTP basic auth, as the browser's prompt would give it). */
export async function openPage(browser, sb, user, { width = 1280, height = 800, colorScheme = "light" } = {}) {
  const pass = { admin: "secret", viewer: "look" }[user];
  const context = await browser.newContext({
    viewport: { width, height },
    colorScheme,
    httpCredentials: { username: user, password: pass, origin: sb.base },
  });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  return { context, page };
}

/** Saves a screenshot of the test's page as screenshots/NAME.png. */
export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// What the page knows of a service: the API's object, kept current by the event stream.
//
// The page fetches each service once (GET /v1/services) and from then on applies the events of
// the one SSE stream to that object, so an idle page makes no request and a busy one none but the
// stream. `apply` mirrors supervise's state table as far as events reveal it (docs/events.md).

/** The state words the page shows first; the API's, as issue #17 fixes them. */
export const STATES = ["up", "starting", "down", "backoff", "paused", "stopping", "fatal"];

/** Signals the menu offers: the ones vigil's svc can send. */
export const SIGNALS = ["HUP", "INT", "TERM", "KILL", "QUIT", "ALRM", "USR1", "USR2", "CONT", "STOP", "WINCH"];

const SIGNAL_NAMES = {
  1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE", 9: "KILL",
  10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM", 17: "CHLD", 18: "CONT",
  19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU", 24: "XCPU", 25: "XFSZ", 26: "VTALRM", 28: "WINCH",
};

/** A service's name in the API: "name", else its directory as svstat/svwatch print it. */
export function nameOf(obj) {
  if (typeof obj.name === "string") return obj.name;
  return typeof obj.service === "string" ? obj.service : "";
}

/** Makes the page's record of a service from an API object, `now` in ms (Date.now()). */
export function fromApi(obj, now) {
  const s = {
    name: nameOf(obj),
    supervised: obj.supervised !== false,
    pid: obj.pid ?? null,
    want: obj.want ?? null,
    normally: obj.normally ?? null,
    paused: !!obj.paused,
    apiState: obj.state ?? null,
    ready: !!obj.ready,
    restarts: obj.restarts ?? 0,
    lastExit: obj.last_exit ?? null,
    backoffCause: obj.backoff?.cause ?? null,
    backoffUntil: obj.backoff?.seconds != null ? now + obj.backoff.seconds * 1000 : null,
    since: obj.seconds != null ? now - obj.seconds * 1000 : null,
    cpu: obj.cpu_percent ?? null,
    memory: obj.memory_bytes ?? null,
    breaches: obj.breaches ?? 0,
    lastBreach: obj.last_breach?.kind ?? null,
    error: obj.error ?? null,
    startedOnce: true,
    afterDown: false,
    cpuHistory: [],
    memoryHistory: [],
  };
  if (s.cpu != null) s.cpuHistory.push(s.cpu);
  if (s.memory != null) s.memoryHistory.push(s.memory);
  return s;
}

const HISTORY = 150; // samples kept for a sparkline: five minutes at one sample per 2 s

function pushSample(list, v) {
  list.push(v);
  if (list.length > HISTORY) list.splice(0, list.length - HISTORY);
}

/** Records a usage sample (`event: usage`): CPU percent and resident bytes, null when down. */
export function applyUsage(s, cpu, memory) {
  s.cpu = cpu ?? null;
  s.memory = memory ?? null;
  pushSample(s.cpuHistory, s.cpu ?? 0);
  pushSample(s.memoryHistory, s.memory ?? 0);
}

/** Applies one event (the JSON object svwatch prints) to a record. */
export function apply(s, ev) {
  const at = Date.parse(ev.time);
  const time = Number.isFinite(at) ? at : Date.now();
  switch (ev.event) {
    case "start": // a new supervise: its restarts count from zero
      s.supervised = true;
      s.restarts = 0;
      s.startedOnce = false;
      s.error = null;
      break;
    case "up":
      if (s.startedOnce) s.restarts += 1;
      s.startedOnce = true;
      s.pid = ev.pid ?? s.pid;
      s.apiState = "starting";
      s.ready = false;
      s.paused = false;
      s.since = time;
      s.want = "up";
      s.backoffUntil = null;
      s.backoffCause = null;
      s.afterDown = false;
      break;
    case "ready":
      s.ready = true;
      if (s.pid != null) s.apiState = "up";
      break;
    case "down":
      s.pid = null;
      s.paused = false;
      s.ready = false;
      s.apiState = "down";
      s.since = time;
      s.lastExit = exitOf(ev);
      s.cpu = null;
      s.memory = null;
      break;
    case "finish":
      break;
    case "really_down":
      s.apiState = "down";
      s.want = "down"; // a restart or a backoff follows at once when it is wanted up
      s.afterDown = true;
      break;
    case "backoff": {
      const until = Date.parse(ev.until);
      s.backoffUntil = Number.isFinite(until) ? until : null;
      s.want = "up";
      // A backoff right after an exit is a quick exit; one without an exit is a run that
      // could not be started at all, which vigild calls fatal.
      s.backoffCause = s.afterDown ? "quick exit" : "start failed";
      s.apiState = s.afterDown ? "backoff" : "fatal";
      s.afterDown = false;
      s.since = s.since ?? time;
      break;
    }
    case "pause":
      s.paused = true;
      break;
    case "continue":
      s.paused = false;
      break;
    case "limit":
      s.breaches += 1;
      s.lastBreach = s.lastBreach ?? "limit";
      break;
    case "exit": // supervise is exiting
      s.supervised = false;
      s.pid = null;
      s.apiState = "down";
      s.since = time;
      break;
    default:
      break; // letters the page does not know: skipped, as docs/events.md asks
  }
}

/** "TERM" for 15, "SIGTERM" or "TERM". */
export function signalName(x) {
  if (typeof x === "number") return SIGNAL_NAMES[x] ?? String(x);
  if (/^\d+$/.test(String(x))) return SIGNAL_NAMES[Number(x)] ?? String(x);
  return String(x).replace(/^SIG/, "");
}

/** The exit an event reports ({ code } or { signal }), or null. */
export function exitOf(ev) {
  if (ev.exitcode != null) return { code: ev.exitcode, signal: null };
  if (ev.signal != null) return { code: null, signal: signalName(ev.signal) };
  if (typeof ev.status === "number") {
    const st = ev.status;
    if ((st & 0x7f) === 0) return { code: (st >> 8) & 0xff, signal: null };
    const n = st & 0x7f;
    return { code: null, signal: SIGNAL_NAMES[n] ?? String(n) };
  }
  return null;
}

/** The state word the page shows: one of STATES, from what the API and the events said. */
export function stateOf(s) {
  if (s.pid != null && s.paused) return "paused";
  const st = s.apiState;
  if (st === "backoff" && s.backoffCause === "start failed") return "fatal";
  if (STATES.includes(st)) return st;
  if (st === "finishing") return "stopping";
  if (s.pid != null) return s.ready ? "up" : "starting";
  return "down";
}

/** The words shown for the state: the state word, then what qualifies it. */
export function stateText(s, now) {
  const st = stateOf(s);
  let text = st;
  if (st === "starting") text = "starting (not ready)";
  if ((st === "backoff" || st === "fatal") && s.backoffUntil != null) {
    const left = Math.max(0, Math.ceil((s.backoffUntil - now) / 1000));
    text += st === "fatal" ? `, cannot start, retry in ${left}s` : `, restart in ${left}s`;
  }
  if (st === "down" && !s.supervised) text = "down, not supervised";
  if (st === "down" && s.want === "up" && s.supervised && s.apiState !== "down") text = "down, wanted up";
  return text;
}

/** Which actions apply now; the others are shown disabled. */
export function actionsFor(s) {
  const st = stateOf(s);
  const running = s.pid != null;
  return {
    up: s.supervised && (s.want !== "up" || (!running && st === "down")),
    down: s.supervised && (running || st === "backoff" || st === "fatal" || s.want === "up"),
    restart: s.supervised && running,
    once: s.supervised && !running,
    pause: s.supervised && running && !s.paused,
    continue: s.supervised && running && s.paused,
    signal: s.supervised && running,
  };
}

/** "3 s", "4 m 05 s", "3 h 12 m", "2 d 4 h": precise when recent, coarser (and so rarer to change) later. */
export function duration(ms) {
  const t = Math.max(0, Math.floor(ms / 1000));
  if (t < 60) return `${t}s`;
  const m = Math.floor(t / 60);
  if (m < 60) return `${m}m ${String(t % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** The uptime or downtime column. */
export function uptimeText(s, now) {
  if (s.since == null) return "";
  const d = duration(now - s.since);
  return s.pid != null ? d : `down ${d}`;
}

/** "code 3", "signal KILL", or empty. */
export function exitText(e) {
  if (!e) return "";
  if (e.signal != null) return `signal ${signalName(e.signal)}`;
  if (e.code != null) return `code ${e.code}`;
  return "";
}

/** "12.5%" */
export function cpuText(v) {
  return v == null ? "" : `${Number(v).toFixed(1)}%`;
}

/** "3.2 MiB" */
export function bytesText(v) {
  if (v == null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let x = Number(v);
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  return i === 0 ? `${x} B` : `${x.toFixed(1)} ${units[i]}`;
}

/** The points of a sparkline of `values` in a 100 x 20 box, newest at the right. */
export function sparkPoints(values) {
  if (values.length === 0) return "";
  const max = Math.max(...values);
  const min = Math.min(...values);
  const span = max - min || 1;
  const step = 100 / (HISTORY - 1);
  const first = HISTORY - values.length;
  return values
    .map((v, i) => `${((first + i) * step).toFixed(1)},${(19 - ((v - min) / span) * 18).toFixed(1)}`)
    .join(" ");
}

/** Sorts names so that a logger follows its service. */
export function compareNames(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The URL path of a service's API resource (`hello/log` becomes `hello%2Flog`). */
export function apiPath(name) {
  return `/v1/services/${encodeURIComponent(name)}`;
}

/** The page of a service. */
export function pagePath(name) {
  return `/services/${name.split("/").map(encodeURIComponent).join("/")}`;
}

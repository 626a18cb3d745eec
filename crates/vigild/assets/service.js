// A service's page (GET /services/NAME): its state and actions, its log followed live, its
// recent events as a timeline, its limits and readiness settings.

import {
  apiPath, apply, applyUsage, bytesText, cpuText, exitOf, exitText, fromApi, nameOf, pagePath,
  sparkPoints, stateOf, stateText, uptimeText,
} from "./model.js";
import { follow } from "./stream.js";
import {
  actionButtons, getJson, h, notify, setAttr, setConnection, setText, spark, updateButtons,
  wireActions,
} from "./ui.js";

const FIRST_LINES = 200; // log lines shown at first; "Earlier lines" reaches back by this many more
const MAX_LINES = 5000; // lines kept in the page; the oldest go first
const MAX_EVENTS = 200; // timeline entries kept

/** Local time of an RFC 3339 instant, with milliseconds: "14:35:40.307". */
function localTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const t = d.toLocaleTimeString([], { hour12: false });
  return `${t}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

function localDateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.toLocaleDateString()} ${localTime(iso)}`;
}

function fact(label, field, ...extra) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, h("span", { "data-field": field }), ...extra));
}

/** The lines of a log answer: an array, or { lines: [...] }; each { time, text|line }. */
function linesOf(body) {
  const arr = Array.isArray(body) ? body : Array.isArray(body?.lines) ? body.lines : [];
  return arr.map(lineOf).filter(Boolean);
}

function lineOf(x) {
  if (typeof x === "string") return { time: null, text: x };
  if (!x || typeof x !== "object") return null;
  return { time: x.time ?? null, text: String(x.text ?? x.line ?? x.message ?? "") };
}

const EVENT_WORDS = {
  start: "supervise started",
  up: "started",
  ready: "ready",
  down: "exited",
  finish: "finish script ran",
  really_down: "down",
  backoff: "backing off",
  pause: "paused",
  continue: "continued",
  limit: "limit breached",
  exit: "supervise exited",
};

/** Shows the page of service `name`; `whoPromise` resolves to { user, readOnly }. */
export async function showService(main, name, whoPromise) {
  document.title = `vigil: ${name}`;
  const crumb = document.getElementById("crumb");
  crumb.replaceChildren(h("a", { href: "/" }, "services"), " / ", name);
  const [obj, who, settings] = await Promise.all([
    getJson(apiPath(name)),
    whoPromise,
    getJson(`${apiPath(name)}/settings`).catch(() => null),
  ]);
  const readOnly = who.readOnly;
  const s = fromApi({ ...obj, name }, Date.now());

  // The service's own block carries the same hooks as its row on the overview.
  const box = h("section", { "data-service": name, "aria-labelledby": "svc-title" });
  const stateEl = h("span", { class: "state" });
  const breachEl = h("span", { class: "breach", hidden: true });
  const cpuSpark = spark("cpu");
  const memSpark = spark("memory");
  const facts = h("dl", { class: "facts" },
    h("div", {}, h("dt", {}, "State"), h("dd", { "data-field": "state" }, stateEl, breachEl)),
    fact("PID", "pid"), fact("Uptime", "uptime"), fact("Restarts", "restarts"),
    fact("Last exit", "last-exit"), fact("CPU", "cpu", " ", cpuSpark), fact("Memory", "memory", " ", memSpark));
  const actions = readOnly ? null : actionButtons(name);
  const links = [];
  if (name.endsWith("/log")) links.push(h("a", { href: pagePath(name.slice(0, -4)) }, "the service"));
  else links.push(h("a", { href: pagePath(`${name}/log`) }, "its logger"));
  box.append(h("h1", { id: "svc-title" }, name), facts);
  if (actions) box.append(actions);
  box.append(h("p", {}, "See also ", ...links, "."));

  const field = (f) => box.querySelector(`[data-field="${f}"]`);
  function render() {
    const now = Date.now();
    setAttr(box, "data-state", stateOf(s));
    setText(stateEl, stateText(s, now));
    const breach = s.breaches > 0 && s.lastBreach ? `limit breached (${s.lastBreach})` : "";
    setText(breachEl, breach);
    setAttr(breachEl, "hidden", breach === "");
    setText(field("pid"), s.pid == null ? "" : String(s.pid));
    setText(field("uptime"), uptimeText(s, now));
    setText(field("restarts"), String(s.restarts));
    setText(field("last-exit"), exitText(s.lastExit));
    setText(field("cpu"), cpuText(s.cpu));
    setText(field("memory"), bytesText(s.memory));
    setAttr(cpuSpark.firstChild, "points", sparkPoints(s.cpuHistory));
    setAttr(memSpark.firstChild, "points", sparkPoints(s.memoryHistory));
    if (actions) updateButtons(actions, s);
  }
  render();

  // --- the log ---
  const logEl = h("div", { class: "log", "data-log": name, role: "log", "aria-label": `Log of ${name}`, tabindex: "0" });
  const logFilter = h("input", { type: "search", placeholder: "Filter lines", "aria-label": "Filter log lines" });
  const pauseBtn = h("button", { type: "button", "aria-pressed": "false", "data-log-control": "pause" }, "Pause scrolling");
  const earlierBtn = h("button", { type: "button", "data-log-control": "earlier" }, "Earlier lines");
  const logNote = h("span", { class: "count", "aria-live": "polite" });
  let shown = 0; // how many lines were asked for
  let paused = false;

  function lineEl(l) {
    const t = l.time ? h("time", { datetime: l.time, title: l.time }, localTime(l.time)) : h("time", {}, "");
    const el = h("div", { class: "line" }, t, h("span", { class: "text" }, l.text));
    if (!matches(l.text)) el.hidden = true;
    return el;
  }
  function matches(text) {
    const q = logFilter.value.trim().toLowerCase();
    return q === "" || text.toLowerCase().includes(q);
  }
  function scrollDown() {
    if (!paused) logEl.scrollTop = logEl.scrollHeight;
  }
  function trim() {
    while (logEl.childElementCount > MAX_LINES) logEl.firstElementChild.remove();
  }
  async function loadLines(n) {
    const body = await getJson(`${apiPath(name)}/log?lines=${n}`);
    return linesOf(body);
  }

  logFilter.addEventListener("input", () => {
    for (const el of logEl.querySelectorAll(".line")) {
      el.hidden = !matches(el.querySelector(".text").textContent);
    }
    scrollDown();
  });
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.setAttribute("aria-pressed", String(paused));
    pauseBtn.textContent = paused ? "Resume scrolling" : "Pause scrolling";
    scrollDown();
  });
  earlierBtn.addEventListener("click", async () => {
    // The API reaches into the rotated files for the older lines; the page puts back only what
    // it did not have, keeping the lines that came live since.
    earlierBtn.disabled = true;
    try {
      const want = Math.min(shown + FIRST_LINES * 5, MAX_LINES);
      const all = await loadLines(want);
      const have = logEl.querySelectorAll(".line").length;
      const older = all.slice(0, Math.max(0, all.length - have));
      const firstLine = logEl.querySelector(".line");
      const before = logEl.scrollHeight;
      const frag = document.createDocumentFragment();
      for (const l of older) frag.append(lineEl(l));
      logEl.insertBefore(frag, firstLine);
      logEl.scrollTop += logEl.scrollHeight - before;
      shown = want;
      setText(logNote, older.length === 0 ? "no earlier lines" : `${older.length} earlier lines`);
      earlierBtn.disabled = all.length < want || want >= MAX_LINES;
    } catch (e) {
      notify(e.message);
      earlierBtn.disabled = false;
    }
  });

  // --- the timeline ---
  const timeline = h("ol", { class: "timeline", "data-events": name, "aria-label": `Recent events of ${name}` });
  const noEvents = h("p", { class: "note" }, "No events since this page opened.");
  function addEvent(ev) {
    const seq = ev.seq != null ? String(ev.seq) : null;
    if (seq && timeline.querySelector(`li[data-seq="${seq}"]`)) return;
    let words = EVENT_WORDS[ev.event] ?? ev.event;
    if (ev.event === "down" || ev.event === "finish") {
      const x = exitText(exitOf(ev));
      if (x) words += `, ${x}`;
    }
    if (ev.pid != null && (ev.event === "up" || ev.event === "down")) words += ` (pid ${ev.pid})`;
    if (ev.event === "backoff" && ev.until) words += `, next start ${localTime(ev.until)}`;
    const li = h("li", { "data-event": ev.event, "data-seq": seq },
      h("time", { datetime: ev.time, title: ev.time }, localDateTime(ev.time)), words);
    timeline.prepend(li);
    noEvents.remove();
    while (timeline.childElementCount > MAX_EVENTS) timeline.lastElementChild.remove();
  }

  // --- the settings ---
  const settingsEl = h("table", { class: "settings", "data-settings": name });
  const rows = [];
  if (settings && typeof settings === "object") {
    // The files' first lines as written (docs/limits.md, docs/events.md "Readiness").
    const lim = settings.limits ?? {};
    const or = (v, dflt) => (v == null || v === "" ? dflt : String(v));
    rows.push(["Readiness", or(settings.readiness, "none: ready when started")]);
    rows.push(["Starts", settings.normally === "down" ? "down (a down file)" : "up"]);
    rows.push(["max-memory", or(lim["max-memory"], "none")]);
    rows.push(["max-cpu", or(lim["max-cpu"], "none")]);
    rows.push(["max-files", or(lim["max-files"], "none")]);
    rows.push(["max-threads", or(lim["max-threads"], "none")]);
    rows.push(["on-limit", or(lim["on-limit"], "restart (default)")]);
    rows.push(["limit-interval", or(lim["limit-interval"], "2000 ms (default)")]);
    rows.push(["timeout-kill", or(settings["timeout-kill"], "none")]);
  } else {
    rows.push(["Settings", "not available from this vigild"]);
  }
  for (const [k, v] of rows) settingsEl.append(h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)));

  main.replaceChildren(
    box,
    h("div", { class: "cols" },
      h("section", { "aria-labelledby": "log-title" },
        h("h2", { id: "log-title" }, "Log"),
        h("div", { class: "toolbar" }, logFilter, pauseBtn, earlierBtn, logNote),
        logEl),
      h("div", {},
        h("section", { "aria-labelledby": "ev-title" }, h("h2", { id: "ev-title" }, "Events"), noEvents, timeline),
        h("section", { "aria-labelledby": "set-title" }, h("h2", { id: "set-title" }, "Settings"), settingsEl))));

  if (actions) {
    // What the action changed comes over the event stream, like a change made elsewhere.
    wireActions(box, () => name, () => {
    }, (err) => notify(err.message));
  }

  // First the last lines, then the follow stream for what comes after them.
  try {
    const first = await loadLines(FIRST_LINES);
    shown = FIRST_LINES;
    earlierBtn.disabled = first.length < FIRST_LINES;
    const frag = document.createDocumentFragment();
    for (const l of first) frag.append(lineEl(l));
    logEl.append(frag);
    scrollDown();
  } catch (e) {
    logEl.append(h("p", { class: "note" }, `no log: ${e.message}`));
    earlierBtn.disabled = true;
  }
  follow(`${apiPath(name)}/log?follow=true`, {
    onState() {},
    onEvent(_type, text) {
      let l;
      try {
        l = lineOf(JSON.parse(text));
      } catch {
        l = { time: null, text };
      }
      if (!l) return;
      logEl.append(lineEl(l));
      trim();
      scrollDown();
    },
  });

  // The one event stream, for this service: its state, usage and the timeline.
  follow(`/v1/events?service=${encodeURIComponent(name)}&usage=1&history=1`, {
    onState: setConnection,
    onEvent(type, text) {
      let data;
      try {
        data = JSON.parse(text);
      } catch {
        return;
      }
      if (type === "usage") {
        const list = Array.isArray(data) ? data : Array.isArray(data?.services) ? data.services : [data];
        const u = list.find((x) => x && nameOf(x) === name) ?? (list.length === 1 && !nameOf(list[0]) ? list[0] : null);
        if (u) {
          applyUsage(s, u.cpu_percent ?? null, u.memory_bytes ?? null);
          render();
        }
        return;
      }
      if (!data || typeof data.event !== "string" || nameOf(data) !== name) return;
      apply(s, data);
      render();
      addEvent(data);
    },
  });

  setInterval(() => {
    const now = Date.now();
    setText(field("uptime"), uptimeText(s, now));
    if (s.backoffUntil != null) setText(stateEl, stateText(s, now));
  }, 1000);
}

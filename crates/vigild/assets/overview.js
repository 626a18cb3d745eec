// The overview (GET /): one row per service, live from the one event stream.

import {
  apply, applyUsage, bytesText, cpuText, exitText, fromApi, nameOf, pagePath,
  sparkPoints, stateOf, stateText, uptimeText,
} from "./model.js";
import { follow } from "./stream.js";
import {
  actionButtons, getJson, h, notify, setAttr, setConnection, setText, spark, updateButtons,
  wireActions,
} from "./ui.js";

/** Sorting key: a logger right after its service ("a/log" before "a-b"). */
function key(name) {
  return name.replaceAll("/", "\u0000");
}

/** Lists services in a table and keeps it live; `who` resolves to { user, readOnly }. */
export async function showOverview(main, whoPromise) {
  document.title = "vigil: services";
  document.getElementById("crumb").textContent = "services";
  const [list, who] = await Promise.all([getJson("/v1/services"), whoPromise]);
  const readOnly = who.readOnly;
  const services = new Map(); // name -> { s, row, cells }
  const now0 = Date.now();

  const filter = h("input", { type: "search", id: "filter", placeholder: "Filter services", "aria-label": "Filter services by name or state" });
  const count = h("span", { class: "count", "aria-live": "polite" });
  const head = h("tr", {},
    h("th", { scope: "col" }, "Service"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "PID"),
    h("th", { scope: "col" }, "Uptime"), h("th", { scope: "col" }, "Restarts"), h("th", { scope: "col" }, "Last exit"),
    h("th", { scope: "col" }, "CPU"), h("th", { scope: "col" }, "Memory"),
    readOnly ? null : h("th", { scope: "col" }, "Actions"));
  const tbody = h("tbody");
  const table = h("table", { class: "services", "aria-label": "Services" }, h("thead", {}, head), tbody);

  // One row built by hand, then cloned per service: 500 rows paint in a few milliseconds.
  const proto = h("tr", {},
    h("th", { scope: "row" }, h("a", {})),
    h("td", { "data-field": "state", "data-label": "" }, h("span", { class: "state" }), h("span", { class: "breach", hidden: true })),
    h("td", { "data-field": "pid", "data-label": "pid" }),
    h("td", { "data-field": "uptime", "data-label": "" }),
    h("td", { "data-field": "restarts", "data-label": "restarts" }),
    h("td", { "data-field": "last-exit", "data-label": "last exit" }),
    h("td", { class: "usage", "data-label": "cpu" }, h("span", { class: "val", "data-field": "cpu" }), spark("cpu")),
    h("td", { class: "usage", "data-label": "mem" }, h("span", { class: "val", "data-field": "memory" }), spark("memory")));

  function makeRow(s) {
    const row = proto.cloneNode(true);
    row.dataset.service = s.name;
    if (s.name.endsWith("/log")) row.classList.add("logger");
    const a = row.querySelector("a");
    a.href = pagePath(s.name);
    a.textContent = s.name;
    const cells = {
      state: row.querySelector('[data-field="state"] .state'),
      breach: row.querySelector(".breach"),
      pid: row.querySelector('[data-field="pid"]'),
      uptime: row.querySelector('[data-field="uptime"]'),
      restarts: row.querySelector('[data-field="restarts"]'),
      lastExit: row.querySelector('[data-field="last-exit"]'),
      cpu: row.querySelector('[data-field="cpu"]'),
      memory: row.querySelector('[data-field="memory"]'),
      cpuLine: row.querySelector('[data-spark="cpu"] polyline'),
      memoryLine: row.querySelector('[data-spark="memory"] polyline'),
      actions: null,
    };
    if (!readOnly) {
      cells.actions = actionButtons(s.name);
      row.append(h("td", { class: "actions-cell" }, cells.actions));
    }
    return { s, row, cells };
  }

  function render(e, now) {
    const { s, row, cells } = e;
    setAttr(row, "data-state", stateOf(s));
    setText(cells.state, stateText(s, now));
    const breach = s.breaches > 0 && s.pid != null && s.lastBreach ? `limit breached (${s.lastBreach})` : "";
    setText(cells.breach, breach);
    setAttr(cells.breach, "hidden", breach === "");
    setText(cells.pid, s.pid == null ? "" : String(s.pid));
    setText(cells.uptime, uptimeText(s, now));
    setText(cells.restarts, String(s.restarts));
    setText(cells.lastExit, exitText(s.lastExit));
    setText(cells.cpu, cpuText(s.cpu));
    setText(cells.memory, bytesText(s.memory));
    setAttr(cells.cpuLine, "points", sparkPoints(s.cpuHistory));
    setAttr(cells.memoryLine, "points", sparkPoints(s.memoryHistory));
    if (cells.actions) updateButtons(cells.actions, s);
  }

  function add(obj, now) {
    const s = fromApi(obj, now);
    if (!s.name) return null;
    const e = makeRow(s);
    services.set(s.name, e);
    render(e, now);
    return e;
  }

  function insert(e) {
    const k = key(e.s.name);
    for (const other of tbody.children) {
      if (key(other.dataset.service) > k) {
        tbody.insertBefore(e.row, other);
        return;
      }
    }
    tbody.append(e.row);
  }

  const items = Array.isArray(list) ? list : list?.services ?? [];
  items.sort((a, b) => (key(nameOf(a)) < key(nameOf(b)) ? -1 : 1));
  const frag = document.createDocumentFragment();
  for (const obj of items) {
    const e = add(obj, now0);
    if (e) frag.append(e.row);
  }
  tbody.append(frag);
  const toolbar = h("div", { class: "toolbar" }, filter, count);
  main.replaceChildren(h("h1", {}, "Services"), toolbar, table);
  summarize();
  // For measurements (docs/dashboard.md): the frame after the rows went in has been painted.
  requestAnimationFrame(() => setTimeout(() => performance.mark("vigil:rows"), 0));

  function summarize() {
    const by = {};
    for (const { s } of services.values()) {
      const st = stateOf(s);
      by[st] = (by[st] ?? 0) + 1;
    }
    const parts = Object.entries(by).sort().map(([st, n]) => `${n} ${st}`);
    setText(count, `${services.size} services${parts.length ? `: ${parts.join(", ")}` : ""}`);
  }

  function applyFilter() {
    const q = filter.value.trim().toLowerCase();
    for (const { s, row } of services.values()) {
      const show = q === "" || s.name.toLowerCase().includes(q) || stateOf(s).startsWith(q);
      setAttr(row, "hidden", !show);
    }
  }
  filter.addEventListener("input", applyFilter);

  if (!readOnly) {
    wireActions(
      tbody,
      (b) => b.closest("tr[data-service]")?.dataset.service ?? null,
      // What the action changed comes over the event stream, like a change made elsewhere.
      () => {},
      (err) => notify(err.message),
    );
  }

  // A service the page has not seen: fetched once, then live like the others.
  const pending = new Set();
  async function discover(name) {
    if (pending.has(name) || services.has(name)) return;
    pending.add(name);
    try {
      const obj = await getJson(`/v1/services/${encodeURIComponent(name)}`);
      if (!services.has(name)) {
        const e = add({ ...obj, name }, Date.now());
        if (e) insert(e);
        applyFilter();
        summarize();
      }
    } catch {
      // gone again, or not a service
    } finally {
      pending.delete(name);
    }
  }

  // After a break the stream resumes with Last-Event-ID and replays what the journals kept, so
  // the rows catch up from the events; the list is read again only for services added or
  // removed meanwhile (a replayed event must not count twice on a fresher object).
  async function catchUp() {
    try {
      const fresh = await getJson("/v1/services");
      const arr = Array.isArray(fresh) ? fresh : fresh?.services ?? [];
      const now = Date.now();
      const seen = new Set();
      for (const obj of arr) {
        const name = nameOf(obj);
        seen.add(name);
        if (!services.has(name)) {
          const n = add(obj, now);
          if (n) insert(n);
        }
      }
      for (const [name, e] of services) {
        if (!seen.has(name)) {
          e.row.remove();
          services.delete(name);
        }
      }
      applyFilter();
      summarize();
    } catch {
      // the stream will break again and bring us back here
    }
  }

  function onUsage(data) {
    const now = Date.now();
    let entries = [];
    if (Array.isArray(data)) entries = data;
    else if (Array.isArray(data?.services)) entries = data.services;
    else if (data && typeof data === "object" && (data.name || data.service)) entries = [data];
    else if (data && typeof data === "object") entries = Object.entries(data).map(([name, v]) => ({ name, ...v }));
    for (const u of entries) {
      const e = services.get(nameOf(u));
      if (!e) continue;
      applyUsage(e.s, u.cpu_percent ?? u.cpu ?? null, u.memory_bytes ?? u.memory ?? null);
      render(e, now);
    }
  }

  follow("/v1/events?usage=1", {
    onState: setConnection,
    onReconnect: catchUp,
    onEvent(type, text) {
      let data;
      try {
        data = JSON.parse(text);
      } catch {
        return;
      }
      if (type === "usage") {
        onUsage(data);
        return;
      }
      if (!data || typeof data.event !== "string") return;
      const name = nameOf(data);
      const e = services.get(name);
      if (!e) {
        discover(name);
        return;
      }
      apply(e.s, data);
      render(e, Date.now());
      summarize();
    },
  });

  // Uptimes and countdowns move with the clock; a row's text changes only when its words do.
  setInterval(() => {
    const now = Date.now();
    for (const e of services.values()) {
      setText(e.cells.uptime, uptimeText(e.s, now));
      if (e.s.backoffUntil != null) setText(e.cells.state, stateText(e.s, now));
    }
  }, 1000);
}

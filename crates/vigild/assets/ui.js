// What both views of the dashboard share: requests, the connection indicator, the action
// buttons and the one signal menu.

import { SIGNALS, actionsFor, apiPath } from "./model.js";

/** GET a JSON document of the API; throws an Error with the API's message. */
export async function getJson(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  return decode(res, path);
}

/** POST an action; resolves to the JSON the API answers (or null). */
export async function post(path) {
  const res = await fetch(path, { method: "POST", headers: { Accept: "application/json" }, credentials: "same-origin" });
  return decode(res, path);
}

async function decode(res, path) {
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const why = body && typeof body.error === "string" ? body.error : `HTTP ${res.status}`;
    throw new Error(`${path}: ${why}`);
  }
  return body;
}

/** Shows the event stream's state in `data-connection` and in words. */
export function setConnection(word) {
  document.body.dataset.connection = word;
  const el = document.getElementById("conn-word");
  if (el && el.textContent !== word) el.textContent = word;
}

/** Makes an element: `h("td", { "data-field": "pid" }, "12")`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) el.append(c);
  return el;
}

/** Sets an element's text only when it changed (so unchanged rows see no mutation). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Sets or removes an attribute only when it changed. */
export function setAttr(el, name, value) {
  if (value == null || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== String(value)) {
    el.setAttribute(name, value);
  }
}

const LABELS = {
  up: "Up", down: "Down", restart: "Restart", once: "Once", pause: "Pause", continue: "Continue",
  signal: "Signal…",
};
const TITLES = {
  up: "Start and keep running (svc -u)",
  down: "Stop and keep stopped (svc -d)",
  restart: "Stop and start again (svc -t)",
  once: "Run once, not restarted (svc -o)",
  pause: "Pause: send STOP (svc -p)",
  continue: "Continue: send CONT (svc -c)",
  signal: "Send a signal",
};

/** The buttons of a service: one per action, with accessible names ("Restart hello"). */
export function actionButtons(name) {
  const box = h("div", { class: "actions", role: "group", "aria-label": `Actions for ${name}` });
  for (const action of Object.keys(LABELS)) {
    const attrs = {
      type: "button",
      "data-action": action,
      "aria-label": `${LABELS[action].replace("…", "")} ${name}`,
      title: TITLES[action],
    };
    if (action === "signal") {
      attrs["aria-haspopup"] = "menu";
      attrs["aria-expanded"] = "false";
    }
    box.append(h("button", attrs, LABELS[action]));
  }
  return box;
}

/** Enables the buttons that apply to the service's record, disables the others. */
export function updateButtons(box, s) {
  const can = actionsFor(s);
  for (const b of box.querySelectorAll("button[data-action]")) {
    const off = !can[b.dataset.action] || b.classList.contains("busy");
    if (b.disabled !== off) b.disabled = off;
  }
}

/**
 * Handles a click on an action button inside `root`: POSTs the action (a signal through the
 * menu) and hands the API's answer to `onResult(name, body)`; an error goes to `onError`.
 */
export function wireActions(root, nameOfButton, onResult, onError) {
  root.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b || b.disabled || !root.contains(b)) return;
    const name = nameOfButton(b);
    if (name == null) return;
    const action = b.dataset.action;
    if (action === "signal") {
      openSignalMenu(b, (sig) => run(b, name, `${apiPath(name)}/signal?name=${encodeURIComponent(sig)}`));
      return;
    }
    run(b, name, `${apiPath(name)}/${action}`);
  });

  async function run(b, name, path) {
    b.classList.add("busy");
    b.setAttribute("aria-busy", "true");
    try {
      const body = await post(path);
      onResult(name, body);
    } catch (e) {
      onError(e);
    } finally {
      b.classList.remove("busy");
      b.removeAttribute("aria-busy");
    }
  }
}

let menu = null;

/** Opens the one signal menu below `button`; keyboard: arrows, Home/End, Enter, Escape. */
function openSignalMenu(button, choose) {
  if (!menu) {
    menu = h("div", { class: "menu", role: "menu", hidden: true });
    for (const sig of SIGNALS) menu.append(h("button", { type: "button", role: "menuitem", "data-signal": sig, tabindex: "-1" }, sig));
    document.body.append(menu);
  }
  const items = [...menu.querySelectorAll("button")];
  const name = button.getAttribute("aria-label").replace(/^Signal /, "");
  menu.setAttribute("aria-label", `Signal to send to ${name}`);
  const r = button.getBoundingClientRect();
  menu.hidden = false;
  const width = menu.offsetWidth;
  menu.style.left = `${Math.max(4, Math.min(window.scrollX + r.left, window.scrollX + document.documentElement.clientWidth - width - 4))}px`;
  menu.style.top = `${window.scrollY + r.bottom + 2}px`;
  button.setAttribute("aria-expanded", "true");
  items[0].focus();

  function close(refocus) {
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    menu.onkeydown = null;
    menu.onclick = null;
    document.removeEventListener("pointerdown", outside, true);
    menu.removeEventListener("focusout", leave);
    if (refocus) button.focus();
  }
  function outside(ev) {
    if (!menu.contains(ev.target)) close(false);
  }
  function leave(ev) {
    if (!menu.contains(ev.relatedTarget)) close(false);
  }
  menu.onkeydown = (ev) => {
    const i = items.indexOf(document.activeElement);
    const go = (j) => items[(j + items.length) % items.length].focus();
    if (ev.key === "ArrowDown") go(i + 1);
    else if (ev.key === "ArrowUp") go(i - 1);
    else if (ev.key === "Home") go(0);
    else if (ev.key === "End") go(items.length - 1);
    else if (ev.key === "Escape" || ev.key === "Tab") close(ev.key === "Escape");
    else return;
    ev.preventDefault();
  };
  menu.onclick = (ev) => {
    const it = ev.target.closest("button[data-signal]");
    if (!it) return;
    close(true);
    choose(it.dataset.signal);
  };
  document.addEventListener("pointerdown", outside, true);
  menu.addEventListener("focusout", leave);
}

/** Shows a passing message (an action's error) in a live region. */
export function notify(text) {
  let box = document.getElementById("notice");
  if (!box) {
    box = h("p", { id: "notice", class: "error", role: "alert" });
    document.getElementById("main").prepend(box);
  }
  box.textContent = text;
}

const SVG = "http://www.w3.org/2000/svg";

/** An empty sparkline (an SVG polyline filled by sparkPoints), `data-spark` = `label`. */
export function spark(label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 100 20");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  svg.dataset.spark = label;
  svg.append(document.createElementNS(SVG, "polyline"));
  return svg;
}

// The dashboard's entry: picks the view from the path (/ or /services/NAME) and learns who the
// user is (GET /v1/whoami, asked while the view fetches its data).

import { getJson, h } from "./ui.js";
import { showOverview } from "./overview.js";
import { showService } from "./service.js";

async function whoami() {
  let who = { user: null, read_only: false };
  try {
    who = (await getJson("/v1/whoami")) ?? who;
  } catch {
    // An older vigild without /v1/whoami: actions show, and the server still decides.
  }
  const readOnly = !!(who.read_only ?? who.readonly);
  document.body.dataset.readOnly = readOnly ? "true" : "false";
  document.getElementById("who").textContent = [who.user, readOnly ? "read-only" : null].filter(Boolean).join(" · ");
  return { user: who.user ?? null, readOnly };
}

async function start() {
  const who = whoami();
  const path = location.pathname;
  const main = document.getElementById("main");
  if (path.startsWith("/services/") && path.length > "/services/".length) {
    const name = path.slice("/services/".length).split("/").map(decodeURIComponent).join("/");
    await showService(main, name, who);
  } else {
    await showOverview(main, who);
  }
}

start().catch((e) => {
  const main = document.getElementById("main");
  main.replaceChildren(h("p", { class: "error", role: "alert" }, String(e.message ?? e)));
});

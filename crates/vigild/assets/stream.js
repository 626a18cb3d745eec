// A server-sent-events reader over fetch(), so that the page controls reconnection: it sends
// Last-Event-ID itself on every reconnect (also after the server was down, where a browser's
// EventSource may give up), and it says whether it is live or reconnecting.

/**
 * Follows `url` until `stop()`; calls `onEvent(type, data, id)` per event, `onState(word)` with
 * "live" or "reconnecting", and `onReconnect()` each time the stream comes back after a break.
 */
export function follow(url, { onEvent, onState, onReconnect, lastEventId = null }) {
  let stopped = false;
  let lastId = lastEventId;
  let controller = null;
  let delay = 250;
  let broken = false;

  async function once() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream" };
    if (lastId != null) headers["Last-Event-ID"] = lastId;
    const res = await fetch(url, { headers, signal: controller.signal, cache: "no-store", credentials: "same-origin" });
    if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status}`);
    onState("live");
    delay = 250;
    if (broken) {
      broken = false;
      onReconnect?.();
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let type = "";
    let data = [];
    let id = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
        if (line === "") {
          if (id != null) lastId = id;
          if (data.length > 0) onEvent(type || "message", data.join("\n"), lastId);
          type = "";
          data = [];
          id = null;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "event") type = val;
        else if (field === "data") data.push(val);
        else if (field === "id" && !val.includes("\0")) id = val;
        else if (field === "retry" && /^\d+$/.test(val)) delay = Math.min(Number(val), 5000);
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      broken = true;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  })();

  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
    get lastEventId() {
      return lastId;
    },
  };
}

// The daemon's log file in the console: the newest lines, a search, and the
// whole file as a download. Read on demand (not polled): the file can hold
// megabytes, the status poll runs every second.
"use strict";

(() => {
  const byId = (id) => document.querySelector(`[data-testid="${id}"]`);

  async function load() {
    const form = byId("log-form");
    const out = byId("log-lines");
    const note = byId("log-note");
    if (!form || !out || !note) return;
    const q = String(new FormData(form).get("q") || "");
    note.textContent = "reading…";
    try {
      const res = await fetch(`/api/log?limit=500&q=${encodeURIComponent(q)}`, { cache: "no-store", headers: { accept: "application/json" } });
      const body = await res.json().catch(() => null);
      if (!res.ok || !body || !Array.isArray(body.lines)) {
        out.textContent = "";
        note.textContent = body && body.error ? String(body.error) : `HTTP ${res.status}`;
        return;
      }
      out.textContent = body.lines.join("\n");
      const shown = body.lines.length;
      note.textContent = body.note ? String(body.note) : q
        ? `${body.matched} of ${body.total} lines contain "${q}"${shown < body.matched ? `; the newest ${shown} shown` : ""}`
        : `${body.total} lines${shown < body.total ? `; the newest ${shown} shown` : ""}`;
      out.scrollTop = out.scrollHeight;
    } catch {
      note.textContent = "the daemon could not be reached";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = byId("log-form");
    if (!form) return;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void load();
    });
    void load();
  });
})();

// The vigil console: polls /api/status every second and redraws the page.
// Plain browser JavaScript, no framework and no CDN, so it works offline.
// Every value from the daemon goes in through textContent, never as HTML.
"use strict";

(() => {
  const POLL_MS = 1000;
  const TIMEOUT_MS = 3000;
  const MAX_EVENTS = 200;

  // Colour is never the only signal: every badge also carries its state as text.
  const PEER_TONE = { up: "ok", late: "warn", dead: "bad", stopped: "idle", unknown: "idle" };
  const LINK_TONE = { up: "ok", down: "bad", unknown: "idle" };
  // WAIT and ALONE differ in colour and in words: one does not run here, the other runs without a partner.
  const MODULE_TONE = { PRIM: "ok", SECOND: "info", ALONE: "warn", WAIT: "wait", STOP: "idle" };
  const ROLE_WORDS = {
    PRIM: "running here",
    ALONE: "running here without a partner",
    SECOND: "standing by, ready to take over",
    WAIT: "not running here",
    STOP: "stopped here",
  };
  const RUNNING_ROLES = new Set(["PRIM", "ALONE"]);
  const NODE_ROLE_TONE = { ...MODULE_TONE, dead: "bad", unknown: "idle" };
  const COMMANDS = ["swap", "stop", "start", "restart", "prim", "second", "forceprim"];
  const TOKEN_KEY = "vigil.console-token";
  const VRRP_TONE = { master: "ok", backup: "info", fault: "bad", initialize: "idle" };
  const VRRP_ROLE = { master: "MASTER", backup: "BACKUP", fault: "FAULT", initialize: "INIT" };
  const LEVEL_TONE = { debug: "idle", info: "info", warn: "warn", error: "bad" };

  const byId = (id) => document.querySelector(`[data-testid="${id}"]`);

  const view = {
    uptimeMs: null, // uptime reported by the last good answer...
    uptimeAt: 0, // ...and when it arrived (performance.now()), so the clock ticks between polls
    reachable: null,
    lastContact: null,
    bannerKey: "",
    eventsKey: "",
    node: "", // this console's node: where prim, second and forceprim act
    moduleRows: new Map(), // module name -> { tr, cells, buttons }
    busyModule: null, // the module a command is running for
    events: [], // the last events the daemon sent, for redraws when a filter changes
    peers: [], // peer names, for the event filter
  };

  // ---- formatting ---------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");

  function formatDuration(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    if (d > 0) return `${d}d ${pad(h)}h ${pad(m)}m ${pad(s)}s`;
    if (h > 0) return `${h}h ${pad(m)}m ${pad(s)}s`;
    if (m > 0) return `${m}m ${pad(s)}s`;
    return `${s}s`;
  }

  function formatAgo(ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) return "never";
    if (ms < 1000) return `${Math.round(ms)} ms ago`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s ago`;
    return `${formatDuration(ms)} ago`;
  }

  function formatRtt(ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
    if (ms < 10) return `${ms.toFixed(2)} ms`;
    if (ms < 100) return `${ms.toFixed(1)} ms`;
    return `${Math.round(ms)} ms`;
  }

  function clockTime(date) {
    return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  /** Local time, 24 h; the date too when it is not today. */
  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    const now = new Date();
    const sameDay = date.toDateString() === now.toDateString();
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    return sameDay ? clockTime(date) : `${day} ${clockTime(date)}`;
  }

  function formatFields(fields) {
    if (fields === null || typeof fields !== "object") return "";
    return Object.entries(fields)
      .map(([k, v]) => {
        const s = String(v);
        return `${k}=${/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s)}`;
      })
      .join(" ");
  }

  const list = (v) => (Array.isArray(v) ? v : []);
  const text = (v) => (v === undefined || v === null ? "—" : String(v));

  // ---- DOM helpers --------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function badge(label, tone, testid) {
    const attrs = { className: `badge badge-${tone || "idle"}`, text: label };
    if (testid) attrs["data-testid"] = testid;
    return el("span", attrs);
  }

  function cell(label, attrs, ...children) {
    return el("td", { "data-label": label, ...attrs }, ...children);
  }

  function setText(testid, value) {
    const node = byId(testid);
    if (node && node.textContent !== value) node.textContent = value;
  }

  function roleBadge(role) {
    const r = text(role);
    const b = badge(r, NODE_ROLE_TONE[r], "role-badge");
    if (ROLE_WORDS[r]) b.title = ROLE_WORDS[r];
    return b;
  }

  const clusterView = window.vigilClusterView
    ? window.vigilClusterView({ el, badge, cell, text, list, byId, formatTime, roleBadge })
    : { render() {} };

  document.addEventListener("change", (e) => {
    const form = byId("event-filters");
    if (form && e.target instanceof Node && form.contains(e.target)) {
      view.eventsKey = "";
      renderEvents(view.events);
    }
  });

  // ---- rendering ----------------------------------------------------------

  function render(snap) {
    const node = snap.node || {};
    const cluster = snap.cluster || {};
    setText("node-name", text(node.name));
    view.node = typeof node.name === "string" ? node.name : "";
    setText("cluster-name", text(cluster.name));
    setText("version", text(snap.version));
    setText("config-file", text(snap.configFile));
    setText("pid", text(snap.pid));
    setText("state-dir", text(snap.stateDir));
    document.title = `${text(node.name)} · ${text(cluster.name)} — vigil`;

    view.uptimeMs = typeof snap.uptimeMs === "number" ? snap.uptimeMs : null;
    view.uptimeAt = performance.now();
    const uptime = byId("uptime");
    if (uptime && snap.startedAt) uptime.title = `started ${formatTime(snap.startedAt)}`;
    tickUptime();

    renderPeers(list(snap.peers));
    renderVrrp(list(snap.vrrp));
    // A farm module the farm engine runs is shown in the farm panel instead.
    const farmNames = new Set(list(snap.farms).map((f) => f.module));
    renderModules(list(snap.modules).filter((m) => !(m.type === "farm" && farmNames.has(m.name))));
    renderFarms(list(snap.farms));
    renderConflicts(list(snap.modules));
    view.peers = list(snap.peers).map((p) => text(p.name));
    view.events = list(snap.events);
    renderEvents(view.events);
    clusterView.render(snap);
    const logFile = snap.logFile;
    setText("log-path", logFile ? `${text(logFile.path)}${logFile.problem ? ` · ${logFile.problem}` : ""}` : "this daemon keeps no log file");

    const updated = byId("last-update");
    const now = new Date();
    updated.textContent = clockTime(now);
    updated.setAttribute("datetime", now.toISOString());
  }

  function renderPeers(peers) {
    const rows = peers.map((p) => {
      const links = list(p.links);
      const heard = links
        .map((l) => l.lastHeardMsAgo)
        .filter((ms) => typeof ms === "number" && Number.isFinite(ms));
      const lastHeard = heard.length > 0 ? Math.min(...heard) : null;
      return el(
        "tr",
        { "data-testid": "peer-row", "data-peer": text(p.name) },
        cell("Name", { className: "name", "data-testid": "peer-name" }, text(p.name)),
        cell("Addresses", { className: "addr" }, el("ul", { className: "addr-list" },
          ...list(p.addresses).map((a) => el("li", { text: String(a) })))),
        cell("State", {}, badge(text(p.state), PEER_TONE[p.state], "peer-state")),
        cell("Links", {}, links.length === 0 ? "—" : el("ul", { className: "link-list" },
          ...links.map((l) => el("li", { "data-testid": "peer-link" },
            el("span", { className: "mono", text: text(l.address) }),
            badge(text(l.state), LINK_TONE[l.state], "link-state"),
            el("span", { className: "ago", text: formatAgo(l.lastHeardMsAgo) }))))),
        cell("Last heard", { "data-testid": "peer-last-heard" }, formatAgo(lastHeard)),
        cell("RTT", { className: "mono", "data-testid": "peer-rtt" }, formatRtt(p.rttMs)),
      );
    });
    byId("peers-body").replaceChildren(...rows);
    byId("peers-empty").hidden = rows.length > 0;
  }

  // Rows are kept per module and filled in place, so a button keeps its focus
  // (and a click in flight its target) across the once-a-second redraw.
  function renderModules(modules) {
    const seen = new Set();
    const rows = modules.map((m) => {
      const name = text(m.name);
      seen.add(name);
      let row = view.moduleRows.get(name);
      if (!row) {
        row = moduleRow(name);
        view.moduleRows.set(name, row);
      }
      fillModuleRow(row, m);
      return row.tr;
    });
    for (const [name, row] of view.moduleRows) {
      if (!seen.has(name)) {
        row.tr.remove();
        view.moduleRows.delete(name);
      }
    }
    const body = byId("modules-body");
    const current = Array.from(body.children);
    if (current.length !== rows.length || rows.some((tr, i) => current[i] !== tr)) body.replaceChildren(...rows);
    byId("modules-empty").hidden = rows.length > 0;
    setText("modules-hint", rows.length > 0 && view.node ? `commands act from ${view.node}` : "");
  }

  function moduleRow(name) {
    const cells = {
      name: cell("Name", { className: "name", "data-testid": "module-name" }),
      type: cell("Type", { "data-testid": "module-type" }),
      state: cell("State", { "data-testid": "module-here" }),
      nodes: cell("Nodes", { "data-testid": "module-nodes" }),
      last: cell("Last change", { "data-testid": "module-last" }),
      checkers: cell("Checkers", { "data-testid": "module-checkers" }),
      actions: cell("Commands", { className: "actions" }),
    };
    const buttons = COMMANDS.map((command) => {
      const b = el("button", {
        type: "button",
        className: command === "forceprim" ? "danger" : "",
        "data-testid": "module-command",
        "data-command": command,
        text: command,
      });
      b.addEventListener("click", () => void onCommand(name, command));
      return b;
    });
    cells.actions.append(el("div", { className: "action-list" }, ...buttons));
    const tr = el("tr", { "data-testid": "module-row", "data-module": name }, ...Object.values(cells));
    return { tr, cells, buttons };
  }

  function fillModuleRow(row, m) {
    const c = row.cells;
    c.name.textContent = text(m.name);
    c.type.textContent = text(m.type);
    const flags = [];
    if (m.blocked) flags.push(el("li", { title: text(m.blocked) }, badge("blocked", "bad", "module-blocked"), el("span", { className: "why", text: text(m.blocked) })));
    if (m.pending) flags.push(el("li", {}, badge(`${text(m.pending.command)} pending`, "info", "module-pending"), el("span", { className: "ago", text: `since ${formatTime(m.pending.since)}` })));
    if (typeof m.restarts === "number" && m.restarts > 0) flags.push(el("li", {}, badge(`${m.restarts} restart${m.restarts === 1 ? "" : "s"}`, "warn", "module-restarts")));
    if (m.mirror) flags.push(...mirrorFlags(m.mirror));
    // One wrapper per cell: on a phone each cell is a two-column grid (label, value).
    c.state.replaceChildren(el("div", {}, badge(text(m.state), MODULE_TONE[m.state], "module-state"),
      ROLE_WORDS[m.state] ? el("span", { className: "role-words", "data-testid": "module-state-words", text: ROLE_WORDS[m.state] }) : null,
      flags.length ? el("ul", { className: "link-list flags" }, ...flags) : null));
    c.nodes.replaceChildren(el("ul", { className: "link-list roles" }, ...list(m.nodes).map((n) =>
      el("li", { "data-testid": "module-node", "data-node": text(n.node) },
        el("span", { className: "mono", text: text(n.node) }),
        badge(text(n.role), NODE_ROLE_TONE[n.role], "module-node-role")))));
    const last = m.lastTransition;
    c.last.replaceChildren(last
      ? el("div", {},
        el("span", { className: "mono", text: `${formatTime(last.time)} ` }),
        el("span", { "data-testid": "module-transition", text: `${text(last.from)} → ${text(last.to)}` }),
        el("span", { className: "why", "data-testid": "module-reason", text: `${text(last.reason)}${last.detail ? `: ${last.detail}` : ""}` }),
        // The reason the transition gave can be stale ("waiting to hear scada1" once scada1 is heard): say what holds now.
        m.why ? el("div", { className: "why", "data-testid": "module-why", text: `now: ${text(m.why.reason)}${m.why.detail ? `: ${text(m.why.detail)}` : ""}` }) : null)
      : "—");
    const checkers = list(m.checkers);
    c.checkers.replaceChildren(checkers.length === 0 ? "—" : el("ul", { className: "link-list" }, ...checkers.map((k) => {
      const [label, tone] = checkerState(k, m);
      return el("li", { "data-testid": "module-checker", title: `${text(k.target)} (on fail: ${text(k.onFail)})` },
        el("span", { text: text(k.name) }),
        badge(label, tone, "checker-state"),
        k.ok === false && k.detail ? el("span", { className: "why", text: text(k.detail) }) : null);
    })));
    const busy = view.busyModule !== null;
    for (const b of row.buttons) {
      b.disabled = busy;
      b.title = commandTitle(b.dataset.command, text(m.name));
    }
  }

  const DATA_LABEL = { uptodate: ["copy up to date", "ok"], outdated: ["copy OUTDATED", "bad"], inconsistent: ["copy being resynced", "warn"] };
  const WRITES_LABEL = { replicate: ["writes replicated", "ok"], hold: ["writes held", "warn"], alone: ["writes journaled (alone)", "warn"], standby: ["standby", "info"] };

  function formatBytes(n) {
    if (typeof n !== "number" || !Number.isFinite(n)) return "—";
    if (n < 1024) return `${n} B`;
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
  }

  // A mirror module's data: this copy, the link, the writes, and the resync with its progress bar.
  function mirrorFlags(mi) {
    const out = [];
    const [dl, dt] = DATA_LABEL[mi.data] || [text(mi.data), "idle"];
    out.push(el("li", { title: `gen ${text(mi.gen)} since ${formatTime(mi.since)}` }, badge(dl, dt, "mirror-data"),
      mi.serving ? el("span", { className: "why", "data-testid": "mirror-serving", text: text(mi.serving) }) : null));
    out.push(el("li", { title: text(mi.linkDetail) }, badge(`replication ${mi.link === "up" ? "up" : "DOWN"}`, mi.link === "up" ? "ok" : "bad", "mirror-link"),
      mi.link !== "up" ? el("span", { className: "why", text: text(mi.linkDetail) }) : null));
    const [wl, wt] = WRITES_LABEL[mi.writes] || [text(mi.writes), "idle"];
    out.push(el("li", {}, badge(wl, wt, "mirror-writes"), mi.waitingOps > 0 ? el("span", { className: "ago", text: `${mi.waitingOps} waiting` }) : null));
    // read: as this node's mount serves it; a direct that fell back to the page cache says why.
    if (mi.read) {
      const rd = mi.read;
      const mounted = rd.served === "cache" || rd.served === "direct";
      out.push(el("li", { "data-testid": "mirror-read", title: mounted ? `read: ${text(rd.configured)} in vigil.yaml` : "the folder is not mounted on this node yet" },
        badge(mounted ? `reads ${text(rd.served)}` : `reads ${text(rd.configured)} (configured)`, rd.fallback ? "warn" : "idle", "mirror-read-mode"),
        rd.fallback ? el("span", { className: "why", "data-testid": "mirror-read-fallback", text: `not ${text(rd.configured)}: ${text(rd.fallback)}` }) : null));
    }
    // Mode async: what the service was told is written and the peer may still lack (lost if this node dies now).
    if (mi.mode === "async" && mi.asyncLag && mi.writes !== "standby") {
      const behind = mi.asyncLag.bytes > 0;
      out.push(el("li", { "data-testid": "mirror-async" }, badge(behind ? `async: ${formatBytes(mi.asyncLag.bytes)} ahead` : "async: peer caught up", behind ? "warn" : "ok"),
        behind ? el("span", { className: "ago", text: `oldest ${mi.asyncLag.seconds.toFixed(1)} s; lost if this node dies now` }) : null));
    }
    if (mi.splitBrain) out.push(el("li", { "data-testid": "mirror-split-brain" }, badge(mi.keptKind === "unsent-writes" ? "async writes kept aside" : mi.keptKind === "first-sync" ? "files kept aside at first sync" : "split brain", "bad"), el("span", { className: "why", text: text(mi.splitBrain) })));
    if (mi.forcedAt) out.push(el("li", {}, badge("forced", "warn", "mirror-forced"), el("span", { className: "ago", text: `forceprim at ${formatTime(mi.forcedAt)}` })));
    if (mi.journalLost) out.push(el("li", { "data-testid": "mirror-journal-lost" }, badge("journal lost", "warn"), el("span", { className: "why", text: text(mi.journalLost) })));
    if (mi.diskHung) out.push(el("li", { "data-testid": "mirror-disk-hung" }, badge("disk hung", "bad"), el("span", { className: "why", text: text(mi.diskHung) })));
    const r = mi.resync;
    if (r && r.phase !== "done") {
      const total = Math.max(1, r.bytesTotal);
      const pct = Math.min(100, Math.round((100 * r.bytesDone) / total));
      const eta = typeof r.etaSec === "number" ? `, ${formatDuration(r.etaSec * 1000)} left` : "";
      out.push(el("li", { className: "resync", "data-testid": "mirror-resync" },
        el("span", { text: `resync (${text(r.mode)}, ${text(r.phase)}) ` }),
        el("progress", { max: "100", value: String(pct), "data-testid": "mirror-resync-bar", "aria-label": `resync ${pct} %` }),
        el("span", { className: "ago", "data-testid": "mirror-resync-text",
          text: ` ${pct} % · ${formatBytes(r.bytesDone)} of ${formatBytes(r.bytesTotal)} · files ${r.filesDone}/${r.filesTotal} · ${formatBytes(r.bytesPerSec)}/s${eta}` })));
    }
    // Several folders: the badges above sum them up (the least ready decides); a line per folder says which.
    for (const f of Array.isArray(mi.folders) ? mi.folders : []) {
      const [fl, ft] = DATA_LABEL[f.data] || [text(f.data), "idle"];
      const fr = f.resync && f.resync.phase !== "done" ? ` · resync ${Math.min(100, Math.round((100 * f.resync.bytesDone) / Math.max(1, f.resync.bytesTotal)))} %` : "";
      out.push(el("li", { "data-testid": "mirror-folder", title: `gen ${text(f.gen)} since ${formatTime(f.since)}` },
        el("span", { text: `${text(f.folder)} ` }), badge(fl, ft),
        badge(`replication ${f.link === "up" ? "up" : "DOWN"}`, f.link === "up" ? "ok" : "bad"),
        el("span", { className: "why", text: `${f.serving ? text(f.serving) : ""}${fr}` })));
    }
    return out;
  }

  /** A checker's badge; on a node where the service does not run, a result from before it stopped says nothing now. */
  function checkerState(k, m) {
    if (m && !RUNNING_ROLES.has(m.state)) {
      const checked = k.lastCheckedAt ? Date.parse(k.lastCheckedAt) : NaN;
      const stopped = m.lastTransition ? Date.parse(m.lastTransition.time) : NaN;
      if (!(checked > stopped)) return ["not checked (service stopped here)", "idle"];
    }
    if (k.ok === null || k.ok === undefined) return ["not run", "idle"];
    if (k.ok) return ["ok", "ok"];
    return k.failing ? ["failing", "bad"] : ["failed", "warn"];
  }

  function commandTitle(command, module) {
    const here = view.node || "this node";
    return {
      swap: `hand ${module} over: the node running it steps down and another takes it`,
      stop: `stop ${module} on ${here} and keep it stopped`,
      start: `let ${here} run ${module} again`,
      restart: `stop and start ${module} where it runs`,
      prim: `make ${here} run ${module}`,
      second: `make ${here} stand by for ${module}`,
      forceprim: `make ${here} run ${module} against the usual rules (asks first)`,
    }[command] || command;
  }

  // ---- module commands ----------------------------------------------------

  async function onCommand(module, command) {
    if (view.busyModule !== null) return;
    if (command === "forceprim" && !(await confirmForcePrim(module))) return;
    // Logged in (session.js): the login cookie and its CSRF token authorize the command.
    let token = window.vigilSession ? "session" : sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      token = await askToken("");
      if (!token) return;
    }
    setBusy(module);
    showOutcome("info", `${command} ${module}: waiting for the cluster…`, []);
    try {
      for (;;) {
        const answer = await sendCommand(module, command, token);
        if (answer.status !== 401) {
          showAnswer(module, command, answer);
          return;
        }
        // A wrong or outdated token (the cluster key changed): forget it and ask again.
        sessionStorage.removeItem(TOKEN_KEY);
        token = await askToken(answer.error || "the token was refused");
        if (!token) {
          showOutcome("bad", `${command} ${module}: not sent, no valid token`, []);
          return;
        }
      }
    } finally {
      setBusy(null);
    }
  }

  async function sendCommand(module, command, token) {
    const body = command === "forceprim" ? { yes: true } : {};
    try {
      const res = await fetch(`/api/modules/${encodeURIComponent(module)}/${encodeURIComponent(command)}`, {
        method: "POST",
        cache: "no-store",
        headers: { accept: "application/json", "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      let json = null;
      try {
        json = await res.json();
      } catch {
        json = null;
      }
      if (res.status === 200 || res.status === 409) sessionStorage.setItem(TOKEN_KEY, token);
      // An internal error's id is what the operator looks up in the daemon's log.
      const error = json && typeof json.error === "string" ? json.error : "";
      return { status: res.status, body: json, error: error && typeof json.id === "string" ? `${error} (id ${json.id}: the daemon's log has the details)` : error };
    } catch {
      return { status: 0, body: null, error: "the daemon could not be reached" };
    }
  }

  function showAnswer(module, command, answer) {
    const o = answer.body;
    if ((answer.status === 200 || answer.status === 409) && o && typeof o.ok === "boolean") {
      // The words of the CLI (src/cli/outcome-text.ts): done, failed, or still in progress (its detail says so).
      const line = o.inProgress === true ? `${command} ${module}: ${text(o.detail)}` : `${command} ${module}: ${o.ok ? "done" : "failed"}: ${text(o.detail)}`;
      showOutcome(o.ok ? "ok" : o.inProgress === true ? "warn" : "bad", line, list(o.nodes));
      return;
    }
    const why = answer.error || (answer.status ? `HTTP ${answer.status}` : "no answer");
    showOutcome("bad", `${command} ${module}: failed: ${why}`, []);
  }

  function showOutcome(tone, line, nodes) {
    const region = byId("command-outcome");
    region.replaceChildren(el("div", { className: `outcome outcome-${tone}`, "data-testid": "outcome", "data-tone": tone },
      el("p", { "data-testid": "outcome-text", text: line }),
      nodes.length === 0 ? null : el("ul", { className: "link-list" }, ...nodes.map((n) =>
        el("li", { "data-testid": "outcome-node", "data-node": text(n.node) },
          el("span", { className: "mono", text: text(n.node) }),
          badge(text(n.role), NODE_ROLE_TONE[n.role], "outcome-role"))))));
  }

  function setBusy(module) {
    view.busyModule = module;
    for (const row of view.moduleRows.values()) for (const b of row.buttons) b.disabled = module !== null;
  }

  /** Resolves with the token typed in, or "" when the operator cancels. */
  function askToken(problem) {
    const dialog = byId("token-dialog");
    const input = byId("token-input");
    const note = byId("token-problem");
    note.textContent = problem;
    note.hidden = problem === "";
    input.value = "";
    return ask(dialog, byId("token-form"), byId("token-cancel"), () => input.value.trim());
  }

  function confirmForcePrim(module) {
    setText("forceprim-module", module);
    setText("forceprim-node", view.node || "this node");
    return ask(byId("forceprim-dialog"), byId("forceprim-form"), byId("forceprim-cancel"), () => true)
      .then((v) => v === true);
  }

  /** Opens a modal dialog; resolves with value() on submit, "" on cancel or Escape. */
  function ask(dialog, form, cancel, value) {
    return new Promise((resolve) => {
      const finish = (result) => {
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("close", onClose);
        if (dialog.open) dialog.close();
        resolve(result);
      };
      // The form never submits anywhere (the page's policy forbids it); submit only confirms.
      const onSubmit = (e) => {
        e.preventDefault();
        finish(value());
      };
      const onCancel = () => finish("");
      const onClose = () => finish("");
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("close", onClose);
      dialog.showModal();
    });
  }

  // The VRRP section is built on first use, so nodes without VRRP show no empty table.
  function vrrpSection() {
    const existing = byId("vrrp-section");
    if (existing) return existing;
    const heads = ["Name", "VRID", "Interface", "Role", "Priority", "Master", "VIPs", "Last change"];
    const section = el("section", { "aria-labelledby": "vrrp-heading", "data-testid": "vrrp-section" },
      el("h2", { id: "vrrp-heading", text: "VRRP" }),
      el("div", { className: "table-wrap" },
        el("table", { "data-testid": "vrrp-table" },
          el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", { "data-testid": "vrrp-body" }))));
    const modules = byId("modules-table");
    const anchor = modules ? modules.closest("section") : null;
    if (anchor) anchor.before(section);
    else document.querySelector("main").append(section);
    return section;
  }

  function renderVrrp(instances) {
    const existing = byId("vrrp-section");
    if (instances.length === 0) {
      if (existing) existing.hidden = true;
      return;
    }
    const section = vrrpSection();
    section.hidden = false;
    const rows = instances.map((v) => {
      const prio = v.effectivePriority === v.priority ? text(v.priority) : `${text(v.effectivePriority)} (of ${text(v.priority)})`;
      const us = v.masterAddress !== null && v.masterAddress === v.primaryAddress;
      const down = list(v.tracks).filter((t) => !t.up);
      const last = v.lastTransition;
      return el(
        "tr",
        { "data-testid": "vrrp-row", "data-instance": text(v.name) },
        cell("Name", { className: "name" }, text(v.name)),
        cell("VRID", { className: "mono" }, text(v.vrid)),
        cell("Interface", { className: "mono" }, text(v.interface)),
        cell("Role", {}, badge(VRRP_ROLE[v.role] || text(v.role), VRRP_TONE[v.role], "vrrp-role")),
        cell("Priority", { "data-testid": "vrrp-priority" }, prio,
          down.length === 0 ? null : el("ul", { className: "link-list" },
            ...down.map((t) => el("li", { title: text(t.detail) }, badge(`${text(t.name)} down`, "warn", "vrrp-track-down"))))),
        cell("Master", { className: "addr", "data-testid": "vrrp-master" }, v.masterAddress ? `${v.masterAddress}${us ? " (this node)" : ""}` : "—"),
        cell("VIPs", { className: "addr" }, el("ul", { className: "addr-list" }, ...list(v.vips).map((a) => el("li", { text: String(a) })))),
        cell("Last change", { title: last ? text(last.detail) : "" }, last ? `${formatTime(last.time)} ${text(last.reason)}` : "—"),
      );
    });
    byId("vrrp-body").replaceChildren(...rows);
  }

  // The farm section is built on first use, like VRRP's: nodes without farms show no empty table.
  const FARM_TONE = { in: "ok", wait: "warn", out: "bad", drain: "warn", stopped: "idle", dead: "bad", unknown: "idle" };

  function farmSection() {
    const existing = byId("farm-section");
    if (existing) return existing;
    const section = el("section", { "aria-labelledby": "farm-heading", "data-testid": "farm-section" },
      el("h2", { id: "farm-heading", text: "Farms" }),
      el("div", { "data-testid": "farm-list" }));
    const modules = byId("modules-table");
    const anchor = modules ? modules.closest("section") : null;
    if (anchor) anchor.after(section);
    else document.querySelector("main").append(section);
    return section;
  }

  function renderFarms(farms) {
    const existing = byId("farm-section");
    if (farms.length === 0) {
      if (existing) existing.hidden = true;
      return;
    }
    const section = farmSection();
    section.hidden = false;
    const blocks = farms.map((f) => {
      const heads = ["Node", "State", "Weight", "Buckets", "Share", "Connections"];
      const rows = list(f.members).map((m) =>
        el("tr", { "data-testid": "farm-member", "data-node": text(m.node) },
          cell("Node", { className: "name" }, text(m.node), m.node === view.node ? " (this node)" : "",
            m.node === f.arpOwner ? badge("ARP owner", "info", "farm-arp-owner") : null),
          cell("State", {}, badge(text(m.state), FARM_TONE[m.state], "farm-member-state")),
          cell("Weight", { className: "mono" }, text(m.weight)),
          cell("Buckets", { className: "mono" }, text(m.buckets)),
          cell("Share", { className: "mono", "data-testid": "farm-share" }, `${Number(m.sharePct).toFixed(1)} %`),
          cell("Connections", { className: "mono", "data-testid": "farm-connections" }, m.connections === undefined ? "–" : text(m.connections))));
      const c = f.counters;
      const r = f.lastRebalance;
      return el("div", { className: "farm", "data-testid": "farm", "data-module": text(f.module) },
        el("h3", {}, text(f.module), " ", badge(text(f.mode), FARM_TONE[f.mode], "farm-mode")),
        el("p", { className: "detail", "data-testid": "farm-detail" },
          `${text(f.detail)} · VIP ${text(f.vip)} on ${text(f.interface)} (virtual MAC ${text(f.vmac)}) · split ${text(f.split)}, ports ${list(f.ports).join(" ")}`),
        el("div", { className: "table-wrap" },
          el("table", { "data-testid": "farm-table" },
            el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col", text: h })))),
            el("tbody", {}, ...rows))),
        el("p", { className: "detail", "data-testid": "farm-counters" },
          c ? `This node: ${text(c.connections)} connections accepted, ${text(c.othersConnections)} left to others, ${text(c.midstreamDropped)} mid-stream packets of others dropped` : "This node: counters not read yet"),
        el("p", { className: "detail", "data-testid": "farm-rebalance" },
          r ? `Last rebalance ${formatTime(r.time)}: ${text(r.reason)} (${text(r.node)}), +${text(r.gained)} −${text(r.lost)} buckets${r.nftMs === null ? "" : `, nft ${text(r.nftMs)} ms`}` : "No rebalance yet"));
    });
    byId("farm-list").replaceChildren(...blocks);
  }

  const LEVEL_RANK = { debug: 0, info: 1, warn: 2, error: 3 };

  function filters() {
    const form = byId("event-filters");
    const data = form ? new FormData(form) : new FormData();
    return { module: String(data.get("module") || ""), node: String(data.get("node") || ""), level: String(data.get("level") || "") };
  }

  /** Keeps each select's choices in step with the modules and nodes seen, without losing the choice made. */
  function fillSelect(testid, values) {
    const select = byId(testid);
    if (!select) return;
    const want = ["", ...values];
    const have = Array.from(select.options).map((o) => o.value);
    if (want.length === have.length && want.every((v, i) => v === have[i])) return;
    const chosen = select.value;
    select.replaceChildren(...want.map((v) => el("option", { value: v, text: v === "" ? "all" : v })));
    select.value = want.includes(chosen) ? chosen : "";
  }

  function eventNode(e) {
    return typeof e.peer === "string" && e.peer ? e.peer : view.node;
  }

  function renderEvents(events) {
    const modules = [...new Set(events.map((e) => e.module).filter((m) => typeof m === "string" && m))].sort();
    fillSelect("filter-module", modules);
    fillSelect("filter-node", [...new Set([view.node, ...view.peers].filter((n) => n))]);
    const f = filters();
    const shown = events.filter((e) =>
      (f.module === "" || e.module === f.module)
      && (f.node === "" || eventNode(e) === f.node)
      && (f.level === "" || (LEVEL_RANK[e.level] || 0) >= (LEVEL_RANK[f.level] || 0)));
    const first = shown[0];
    const last = shown[shown.length - 1];
    // Redraw only when the list changed, so scrolling and text selection survive polls.
    const key = `${shown.length}:${first ? first.seq : ""}:${last ? last.seq : ""}:${f.module}|${f.node}|${f.level}:${new Date().toDateString()}`;
    if (key === view.eventsKey) return;
    view.eventsKey = key;
    const items = shown
      .slice(-MAX_EVENTS)
      .reverse()
      .map((e) => {
        const fields = formatFields(e.fields);
        const sentence = typeof e.text === "string" && e.text ? e.text : text(e.msg);
        return el(
          "li",
          { "data-testid": "event", "data-seq": text(e.seq), "data-level": text(e.level), "data-module": text(e.module || ""), "data-node": text(eventNode(e)) },
          el("time", { datetime: text(e.time), title: text(e.time), text: formatTime(e.time) }),
          badge(text(e.level), LEVEL_TONE[e.level], "event-level"),
          el("span", { className: "msg" },
            el("span", { "data-testid": "event-text", text: sentence }),
            el("details", { className: "event-detail" },
              el("summary", { text: "details" }),
              el("span", { className: "fields" }, el("span", { "data-testid": "event-msg", text: text(e.msg) }), fields ? ` ${fields}` : ""))),
        );
      });
    byId("events-list").replaceChildren(...items);
    byId("events-empty").hidden = items.length > 0;
    const hidden = events.length - shown.length;
    setText("filter-count", hidden > 0 ? `${shown.length} of ${events.length} shown` : "");
  }

  function tickUptime() {
    if (view.uptimeMs === null || view.reachable === false) return;
    setText("uptime", formatDuration(view.uptimeMs + (performance.now() - view.uptimeAt)));
  }

  // A mirror module's split brain stays on top of the page until acknowledged on this node.
  let conflictKey = "";
  function renderConflicts(modules) {
    const hit = modules.filter((m) => m && m.mirror && m.mirror.splitBrain);
    const key = hit.map((m) => `${m.name}|${m.mirror.splitBrain}`).join("\n");
    if (key === conflictKey) return;
    conflictKey = key;
    byId("conflict-region").replaceChildren(...hit.map((m) =>
      el("p", { className: "banner", "data-testid": "split-brain-banner", "data-conflict": text(m.name) },
        el("span", { text: m.mirror.keptKind === "unsent-writes" ? `Writes of ${text(m.name)} that never reached the standby were kept aside` : m.mirror.keptKind === "first-sync" ? `Files this node held before the first sync of ${text(m.name)} were kept aside` : `Split brain on ${text(m.name)}` }),
        el("span", { className: "detail", text: `${text(m.mirror.splitBrain)} · look at what was kept, then run \`vigil ack ${text(m.name)}\` on ${text(view.node) || "this node"}` }))));
  }

  // ---- connection state ---------------------------------------------------

  function showProblem(headline, detail) {
    document.body.classList.add("stale");
    view.reachable = false;
    const since = view.lastContact ? `last contact ${clockTime(view.lastContact)}` : "no contact yet";
    // Rewriting the live region re-announces it, so touch it only when the words change.
    const key = `${headline}|${since}|${detail}`;
    if (key === view.bannerKey) return;
    view.bannerKey = key;
    byId("banner-region").replaceChildren(
      el("p", { className: "banner", "data-testid": "unreachable-banner" },
        el("span", { text: headline }),
        el("span", { className: "detail", text: `${since} · ${detail}` })),
    );
    document.title = `⚠ ${headline} — vigil`;
  }

  function showHealthy() {
    document.body.classList.remove("stale");
    view.reachable = true;
    view.lastContact = new Date();
    if (view.bannerKey !== "") {
      view.bannerKey = "";
      byId("banner-region").replaceChildren();
    }
  }

  async function fetchStatus() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const res = await fetch("/api/status", {
        cache: "no-store",
        headers: { accept: "application/json" },
        signal: abort.signal,
      });
      if (!res.ok) return { problem: "daemon answered with an error — retrying", detail: `HTTP ${res.status}` };
      try {
        return { snap: await res.json() };
      } catch {
        return { problem: "daemon answered with an error — retrying", detail: "the answer is not JSON" };
      }
    } catch {
      const detail = abort.signal.aborted ? `no answer within ${TIMEOUT_MS / 1000} s` : "connection failed";
      return { problem: "daemon unreachable — retrying", detail };
    } finally {
      clearTimeout(timer);
    }
  }

  async function poll() {
    try {
      const result = await fetchStatus();
      if (result.snap && typeof result.snap === "object") {
        showHealthy();
        render(result.snap);
      } else {
        showProblem(result.problem || "daemon answered with an error — retrying", result.detail || "unexpected answer");
      }
    } finally {
      // Whatever went wrong in this round, keep polling: the page must recover on its own.
      setTimeout(poll, POLL_MS);
    }
  }

  setInterval(tickUptime, 250);
  void poll();
})();

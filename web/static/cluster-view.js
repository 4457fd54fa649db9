// The cluster on one page: alarm banners (isolated node, a module running
// nowhere), every node side by side with its roles and a link to its
// console, each module summarised in words, and this node's resources.
// console.js calls it with its DOM helpers on every poll.
"use strict";

window.vigilClusterView = (h) => {
  const { el, badge, cell, text, list, byId, formatTime } = h;

  const NODE_TONE = { self: "ok", up: "ok", late: "warn", dead: "bad", stopped: "idle", unknown: "idle" };
  const NODE_WORDS = { self: "this node", up: "up", late: "late", dead: "dead", stopped: "stopped", unknown: "not heard yet" };
  const SEVERITY_TONE = { ok: "ok", warn: "warn", bad: "bad" };
  const SEVERITY_WORDS = { ok: "ok", warn: "attention", bad: "problem" };
  const RESOURCE_TONE = { up: "ok", down: "idle", failed: "bad", unknown: "idle" };

  let bannerKey = "";
  function renderBanners(health) {
    const alarms = list(health && health.alarms);
    const isolated = health && typeof health.isolated === "string" ? health.isolated : null;
    const nowhere = alarms.filter((a) => a.kind === "running-nowhere");
    const drift = health && typeof health.drift === "string" ? health.drift : null;
    const key = JSON.stringify([isolated, drift, nowhere.map((a) => [a.module, a.text])]);
    if (key === bannerKey) return;
    bannerKey = key;
    const banners = [];
    if (isolated !== null) {
      banners.push(el("p", { className: "banner", "data-testid": "isolated-banner" },
        el("span", { text: "This node is isolated" }),
        el("span", { className: "detail", text: isolated.replace(/^This node is isolated: /, "") })));
    }
    if (drift !== null) {
      banners.push(el("p", { className: "banner banner-warn", "data-testid": "drift-banner" },
        el("span", { text: "Config differs between nodes" }),
        el("span", { className: "detail", text: drift })));
    }
    for (const a of nowhere) {
      banners.push(el("p", { className: "banner", "data-testid": "nowhere-banner", "data-module": text(a.module) },
        el("span", { text: `${text(a.module)} runs nowhere` }),
        el("span", { className: "detail", text: `${text(a.text).replace(/^\S+ runs nowhere: /, "")} · since ${formatTime(a.since)}` })));
    }
    byId("health-region").replaceChildren(...banners);
  }

  function consoleLink(n) {
    if (!n.console) return null;
    if (n.self) return el("span", { className: "why", text: "you are here" });
    const href = `${location.protocol}//${n.console}/`;
    return el("a", { href, "data-testid": "node-console-link", rel: "noopener" }, `console ${n.console}`);
  }

  function renderNodes(nodes) {
    const cards = nodes.map((n) => {
      const state = text(n.state);
      const links = n.links && !n.self ? `${n.links.up} of ${n.links.total} links up` : "";
      return el("article", { className: `node-card node-${n.self ? "self" : state}`, "data-testid": "node-card", "data-node": text(n.name) },
        el("h3", {}, el("span", { className: "name", text: text(n.name) }), " ",
          badge(NODE_WORDS[state] || state, NODE_TONE[state], "node-state")),
        el("p", { className: "why" }, links, links ? " · " : "", consoleLink(n)),
        Array.isArray(n.configDrift) && n.configDrift.length > 0
          ? el("p", { className: "drift", "data-testid": "node-drift" }, badge("config differs", "warn"), ` ${n.configDrift.join(", ")}`)
          : null,
        el("ul", { className: "link-list roles" }, ...list(n.roles).map((r) =>
          el("li", { "data-testid": "node-role", "data-module": text(r.module) },
            el("span", { className: "mono", text: text(r.module) }),
            h.roleBadge(r.role)))));
    });
    byId("cluster-nodes").replaceChildren(...cards);
  }

  function renderSummaries(modules) {
    const items = modules.map((m) =>
      el("li", { "data-testid": "module-summary", "data-module": text(m.module), "data-severity": text(m.severity) },
        badge(SEVERITY_WORDS[m.severity] || text(m.severity), SEVERITY_TONE[m.severity], "summary-severity"),
        el("span", { "data-testid": "summary-text", text: text(m.text) })));
    byId("cluster-summaries").replaceChildren(...items);
    byId("cluster-summaries-empty").hidden = items.length > 0;
  }

  function renderResources(resources) {
    const rows = [];
    for (const m of resources) {
      for (const r of list(m.resources)) {
        rows.push(el("tr", { "data-testid": "resource-row", "data-module": text(m.module), "data-resource": text(r.name) },
          cell("Module", { className: "name" }, text(m.module)),
          cell("Resource", { className: "mono" }, text(r.name)),
          cell("State", {}, badge(text(r.state), RESOURCE_TONE[r.state], "resource-state"),
            r.expected === false ? badge("unexpected", "warn", "resource-unexpected") : null),
          cell("Detail", { "data-testid": "resource-detail" }, el("span", { className: "why", text: text(r.detail) }))));
      }
    }
    const section = byId("resources-section");
    section.hidden = rows.length === 0;
    byId("resources-body").replaceChildren(...rows);
  }

  return {
    render(snap) {
      const health = snap.health || null;
      renderBanners(health);
      const section = byId("cluster-section");
      section.hidden = health === null;
      if (health !== null) {
        renderNodes(list(health.nodes));
        renderSummaries(list(health.modules));
      }
      renderResources(list(snap.resources));
    },
  };
};

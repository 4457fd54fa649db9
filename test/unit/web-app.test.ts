import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FORCEPRIM_RISK } from "../../src/api/refusals.ts";
import type { LogEvent, StatusSnapshot } from "../../src/api/status.ts";
import { createConsoleApp, type ConsoleDeps } from "../../web/app.ts";

const STATIC = new URL("../../web/static/", import.meta.url);

function event(seq: number, msg: string, level: LogEvent["level"] = "info"): LogEvent {
  return { seq, time: `2026-11-22T08:00:0${seq % 10}.000Z`, level, msg, fields: { n: seq } };
}

function snapshot(events: LogEvent[] = [event(1, "vigil started"), event(2, "peer up"), event(5, "peer late", "warn")]): StatusSnapshot {
  return {
    version: "0.1.0",
    node: { name: "vms1", addresses: ["198.51.100.11"] },
    cluster: { name: "vms-pair" },
    pid: 4242,
    startedAt: "2026-11-22T08:00:00.000Z",
    uptimeMs: 12_000,
    configFile: "/etc/vigil/vigil.yaml",
    stateDir: "/var/lib/vigil",
    web: { listen: "0.0.0.0:9010" },
    peers: [{
      name: "vms2",
      addresses: ["198.51.100.12"],
      state: "up",
      links: [{ address: "198.51.100.12", state: "up", lastHeardMsAgo: 40 }],
      rttMs: 0.4,
      badFrames: 0,
    }],
    modules: [],
    events,
  };
}

function setup(overrides: Partial<ConsoleDeps> = {}) {
  let snap = snapshot();
  const calls = { status: 0, metrics: 0 };
  const deps: ConsoleDeps = {
    status: () => {
      calls.status++;
      return snap;
    },
    metrics: () => {
      calls.metrics++;
      return "# HELP vigil_up Always 1.\n# TYPE vigil_up gauge\nvigil_up 1\n";
    },
    ...overrides,
  };
  const app = createConsoleApp(deps);
  return {
    calls,
    setSnapshot: (s: StatusSnapshot) => (snap = s),
    request: (path: string, init?: RequestInit) => app.request(path, init),
  };
}

function expectSecurityHeaders(res: Response): void {
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("x-frame-options")).toBe("DENY");
  const csp = res.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("style-src 'self'");
  expect(csp).toContain("connect-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("unsafe");
  expect(csp).not.toMatch(/https?:|\*/);
}

describe("console page and assets", () => {
  it("serves the status page at / as HTML that loads only its own assets", async () => {
    const res = await setup().request("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expectSecurityHeaders(res);
    const html = await res.text();
    expect(html).toContain('<script src="/assets/console.js" defer></script>');
    expect(html).toContain('<link rel="stylesheet" href="/assets/console.css">');
    for (const id of ["node-name", "cluster-name", "version", "uptime", "config-file", "peers-table", "modules-table", "events-list", "banner-region"]) {
      expect(html).toContain(`data-testid="${id}"`);
    }
    expect(html).toMatch(/aria-live="assertive"/);
  });

  it("asks before forceprim with the same risk text the CLI and the API give", () => {
    const html = readFileSync(new URL("index.html", STATIC), "utf8").replace(/\s+/g, " ");
    expect(html).toContain(FORCEPRIM_RISK);
  });

  it("has no inline script, inline style or remote URL the policy would block", () => {
    const html = readFileSync(new URL("index.html", STATIC), "utf8");
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    expect(scripts).toContain('<script src="/assets/console.js" defer>');
    for (const tag of scripts) expect(tag).toMatch(/^<script src="\/assets\/[a-z-]+\.js" defer>$/);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    const files = readdirSync(STATIC).filter((n) => /\.(html|css|js)$/.test(n));
    expect(files).toEqual(expect.arrayContaining(["index.html", "login.html", "console.css", "console.js", "session.js", "login.js"]));
    for (const name of files) {
      const text = readFileSync(new URL(name, STATIC), "utf8");
      expect(text, name).not.toMatch(/(https?:)?\/\/[a-z0-9-]+\.[a-z]/i);
      if (name.endsWith(".html")) expect(text, name).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|<script\b(?![^>]*\bsrc=)/i);
    }
  });

  it.each([
    ["console.js", "text/javascript; charset=utf-8"],
    ["console.css", "text/css; charset=utf-8"],
    ["favicon.svg", "image/svg+xml; charset=utf-8"],
    ["index.html", "text/html; charset=utf-8"],
  ])("serves /assets/%s as %s, byte for byte what web/static holds", async (name, type) => {
    const res = await setup().request(`/assets/${name}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(type);
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expectSecurityHeaders(res);
    expect(await res.text()).toBe(readFileSync(new URL(name, STATIC), "utf8"));
  });

  it.each(["missing.js", "constructor", "__proto__", "toString", "..%2Fapp.ts", "hasOwnProperty"])(
    "answers 404 for /assets/%s instead of leaking anything",
    async (name) => {
      const res = await setup().request(`/assets/${name}`);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expectSecurityHeaders(res);
      expect(await res.text()).toContain("404");
    },
  );

  it("answers HEAD like GET without a body", async () => {
    const res = await setup().request("/", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await res.text()).toBe("");
  });
});

describe("JSON API", () => {
  it("GET /api/status returns the daemon's snapshot, fresh on every request", async () => {
    const t = setup();
    const res = await t.request("/api/status");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expectSecurityHeaders(res);
    expect(await res.json()).toEqual(snapshot());

    t.setSnapshot({ ...snapshot(), uptimeMs: 13_000 });
    expect(((await (await t.request("/api/status")).json()) as StatusSnapshot).uptimeMs).toBe(13_000);
    expect(t.calls.status).toBe(2);
  });

  it("GET /api/events returns every event without `after`", async () => {
    const res = await setup().request("/api/events");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as { events: LogEvent[] };
    expect(body.events.map((e) => e.seq)).toEqual([1, 2, 5]);
    expect(body.events[0]).toEqual(event(1, "vigil started"));
  });

  it.each([
    ["0", [1, 2, 5]],
    ["1", [2, 5]],
    ["2", [5]],
    ["3", [5]],
    ["5", []],
    ["9007199254740991", []],
  ])("GET /api/events?after=%s returns only later events", async (after, seqs) => {
    const res = await setup().request(`/api/events?after=${after}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { events: LogEvent[] };
    expect(body.events.map((e) => e.seq)).toEqual(seqs);
  });

  it.each([
    ["after=abc", '"abc"'],
    ["after=-1", '"-1"'],
    ["after=1.5", '"1.5"'],
    ["after=1e3", '"1e3"'],
    ["after=", '""'],
    ["after=%201", '" 1"'],
    ["after=99999999999999999", '"99999999999999999"'],
    ["after=1&after=2", "2 times"],
  ])("GET /api/events?%s is a 400 naming the parameter and what was expected", async (query, quoted) => {
    const res = await setup().request(`/api/events?${query}`);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expectSecurityHeaders(res);
    const body = (await res.json()) as { error: string; parameter: string };
    expect(body.parameter).toBe("after");
    expect(body.error).toContain('query parameter "after"');
    expect(body.error).toContain(quoted);
    expect(body.error).toMatch(query.includes("&") ? /at most once/ : /non-negative integer/);
  });

  it("answers an unknown /api path with a JSON 404 naming the path", async () => {
    for (const path of ["/api/nope", "/api", "/api/status/extra"]) {
      const res = await setup().request(path);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expectSecurityHeaders(res);
      expect(await res.json()).toEqual({ error: "not found", path });
    }
  });

  it("turns a failing status source into a JSON 500 with an id, without its message or a stack trace", async () => {
    const logged: Record<string, unknown>[] = [];
    const t = setup({
      status: () => {
        throw new Error("status source broke");
      },
      log: { error: (_msg, fields) => void logged.push(fields) },
    });
    const res = await t.request("/api/status");
    expect(res.status).toBe(500);
    expectSecurityHeaders(res);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: "internal error", id: logged[0]?.["id"] });
    expect(logged[0]).toMatchObject({ path: "/api/status", error: "Error: status source broke" });
    expect(text).not.toMatch(/\bat .*\.ts:\d+/);
  });
});

describe("health and metrics", () => {
  it("GET /healthz answers 200 ok as text", async () => {
    const res = await setup().request("/healthz");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expectSecurityHeaders(res);
    expect(await res.text()).toBe("ok");
  });

  it("GET /metrics serves the daemon's Prometheus text with the exposition content type", async () => {
    const t = setup();
    const res = await t.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4(; charset=utf-8)?$/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expectSecurityHeaders(res);
    expect(await res.text()).toBe("# HELP vigil_up Always 1.\n# TYPE vigil_up gauge\nvigil_up 1\n");
    expect(t.calls.metrics).toBe(1);
  });
});

describe("errors", () => {
  it("answers an unknown page with a plain HTML 404 that escapes the path", async () => {
    const res = await setup().request("/%3Cscript%3Ealert(1)%3C/script%3E");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expectSecurityHeaders(res);
    const html = await res.text();
    expect(html).toContain("404");
    expect(html).not.toContain("<script>");
    expect(html).toContain('<a href="/">');
  });

  it.each([
    ["POST", "/api/status", "json"],
    ["PUT", "/api/events", "json"],
    ["DELETE", "/", "text"],
    ["POST", "/healthz", "text"],
    ["PATCH", "/metrics", "text"],
    ["PUT", "/assets/console.js", "text"],
    ["OPTIONS", "/api/status", "json"],
  ])("answers %s %s with 405 and an allow header (the console is read-only)", async (method, path, kind) => {
    const t = setup();
    const res = await t.request(path, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    expectSecurityHeaders(res);
    const text = await res.text();
    const message = kind === "json" ? (JSON.parse(text) as { error: string }).error : text;
    expect(message).toContain(`method ${method} is not allowed on ${path}`);
    expect(t.calls.status + t.calls.metrics).toBe(0);
  });

  it("answers a write to an unknown /api path with 404, not 405", async () => {
    const res = await setup().request("/api/swap", { method: "POST" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not found", path: "/api/swap" });
  });
});

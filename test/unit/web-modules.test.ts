import { describe, expect, it } from "vitest";
import type { ModuleCommandOutcome, ModuleCommandRequest, ModuleControl, ModuleStatus } from "../../src/api/modules.ts";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { createConsoleApp, type ConsoleDeps } from "../../web/app.ts";
import { deriveCommandToken } from "../../src/api/command-token.ts";

const KEY = new Uint8Array(32).fill(7);
const TOKEN = deriveCommandToken(KEY);

function moduleStatus(name: string, overrides: Partial<ModuleStatus> = {}): ModuleStatus {
  return {
    name, type: "failover", state: "PRIM", prefer: "vms1", failback: "auto",
    nodes: [{ node: "vms1", role: "PRIM", generation: 4 }, { node: "vms2", role: "SECOND", generation: 4 }],
    lastTransition: { time: "2026-11-22T08:00:03.000Z", from: "SECOND", to: "PRIM", reason: "elected", detail: "preferred node" },
    checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null,
    ...overrides,
  };
}

function snapshot(modules: ModuleStatus[]): StatusSnapshot {
  return {
    version: "0.1.0", node: { name: "vms1", addresses: ["198.51.100.11"] }, cluster: { name: "vms-pair" }, pid: 1,
    startedAt: "2026-11-22T08:00:00.000Z", uptimeMs: 1, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil",
    web: { listen: "0.0.0.0:9010" }, peers: [], modules, events: [],
  };
}

/** A module engine that records what it is asked and answers as told. */
class FakeModules implements ModuleControl {
  requests: ModuleCommandRequest[] = [];
  answer: (req: ModuleCommandRequest) => ModuleCommandOutcome = (req) => ({
    ok: true, module: req.module, command: req.command, detail: "vms2 is PRIM",
    nodes: [{ node: "vms1", role: "SECOND", generation: 5 }, { node: "vms2", role: "PRIM", generation: 5 }],
  });
  constructor(public modules: ModuleStatus[] = [moduleStatus("vms"), moduleStatus("web", { state: "SECOND" })]) {}
  statuses(): ModuleStatus[] {
    return this.modules;
  }
  command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome> {
    this.requests.push(req);
    return Promise.resolve(this.answer(req));
  }
}

function app(deps: Partial<ConsoleDeps> = {}) {
  const engine = new FakeModules();
  const a = createConsoleApp({
    // As the daemon builds it: every configured module, STOP where no engine runs it.
    status: () => snapshot(["vms", "web", "idle"].map((n) => moduleStatus(n, { state: "STOP", lastTransition: null }))),
    metrics: () => "",
    modules: engine,
    commandToken: () => ({ ok: true, token: TOKEN }),
    ...deps,
  });
  return { engine, request: (path: string, init?: RequestInit) => a.request(path, init) };
}

const post = (body?: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
  ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
});
const bearer = (token = TOKEN) => ({ authorization: `Bearer ${token}` });

async function errorOf(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  return ((await res.json()) as { error: string }).error;
}

describe("module views", () => {
  it("GET /api/modules lists every configured module, with the engine's view where it runs one", async () => {
    const t = app();
    const res = await t.request("/api/modules");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as { modules: ModuleStatus[] };
    expect(body.modules.slice(0, 2)).toEqual(t.engine.modules);
    expect(body.modules.map((m) => [m.name, m.state])).toEqual([["vms", "PRIM"], ["web", "SECOND"], ["idle", "STOP"]]);
  });

  it("GET /api/modules shows the snapshot's modules without an engine", async () => {
    const res = await app({ modules: undefined }).request("/api/modules");
    expect(((await res.json()) as { modules: ModuleStatus[] }).modules.map((m) => [m.name, m.state])).toEqual([["vms", "STOP"], ["web", "STOP"], ["idle", "STOP"]]);
  });

  it("GET /api/modules/NAME shows one module, and 404 names the modules there are", async () => {
    const t = app();
    expect(await (await t.request("/api/modules/web")).json()).toEqual(t.engine.modules[1]);
    const res = await t.request("/api/modules/nope");
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toBe('no module "nope" is configured (modules: vms, web, idle)');
  });

  it("views need no token, even on a network listener", async () => {
    const res = await app({ commands: "token" }).request("/api/modules");
    expect(res.status).toBe(200);
  });
});

describe("module commands over the control socket", () => {
  it("carries out a command without a token and answers 200 with the outcome", async () => {
    const t = app({ commands: "socket", commandToken: undefined });
    const res = await t.request("/api/modules/vms/swap", post({ timeout: "45s" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({
      ok: true, module: "vms", command: "swap", detail: "vms2 is PRIM",
      nodes: [{ node: "vms1", role: "SECOND", generation: 5 }, { node: "vms2", role: "PRIM", generation: 5 }],
    });
    expect(t.engine.requests).toEqual([{ module: "vms", command: "swap", yes: false, timeoutMs: 45_000, source: "control socket (the client did not say who it is)" }]);
  });

  it("takes an empty body as the defaults: no --yes, 30 s", async () => {
    const t = app({ commands: "socket" });
    expect((await t.request("/api/modules/web/stop", post())).status).toBe(200);
    expect(t.engine.requests).toEqual([{ module: "web", command: "stop", yes: false, timeoutMs: 30_000, source: "control socket (the client did not say who it is)" }]);
  });

  it("answers 409 with the outcome when the engine refused or missed the goal", async () => {
    const t = app({ commands: "socket" });
    t.engine.answer = (req) => ({ ok: false, module: req.module, command: req.command, detail: "vms2 did not become PRIM within 30s", nodes: [] });
    const res = await t.request("/api/modules/vms/prim", post());
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ ok: false, detail: "vms2 did not become PRIM within 30s" });
  });

  it("refuses forceprim without yes, with 409 stating the risk, and never asks the engine", async () => {
    const t = app({ commands: "socket" });
    const res = await t.request("/api/modules/vms/forceprim", post({}));
    expect(res.status).toBe(409);
    const outcome = (await res.json()) as ModuleCommandOutcome;
    expect(outcome.ok).toBe(false);
    expect(outcome.command).toBe("forceprim");
    expect(outcome.detail).toMatch(/both nodes serve clients and write the same data/);
    expect(outcome.detail).toContain('{"yes": true}');
    expect(outcome.nodes).toEqual(t.engine.modules[0]?.nodes);
    expect(t.engine.requests).toEqual([]);

    expect((await t.request("/api/modules/vms/forceprim", post({ yes: true }))).status).toBe(200);
    expect(t.engine.requests).toEqual([{ module: "vms", command: "forceprim", yes: true, timeoutMs: 30_000, source: "control socket (the client did not say who it is)" }]);
  });

  it("answers 404 for an unknown module", async () => {
    const t = app({ commands: "socket" });
    const res = await t.request("/api/modules/nope/swap", post());
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toBe('no module "nope" is configured (modules: vms, web, idle)');
    expect(t.engine.requests).toEqual([]);
  });

  it("leaves a configured module the engine does not run to the engine to answer", async () => {
    const t = app({ commands: "socket" });
    t.engine.answer = (req) => ({ ok: false, module: req.module, command: req.command, detail: "idle is not run here", nodes: [] });
    const res = await t.request("/api/modules/idle/start", post());
    expect(res.status).toBe(409);
    expect(t.engine.requests.map((r) => r.module)).toEqual(["idle"]);
  });

  it("answers 503 when the daemon runs no module engine", async () => {
    const res = await app({ commands: "socket", modules: undefined }).request("/api/modules/vms/swap", post());
    expect(res.status).toBe(503);
    expect(await errorOf(res)).toContain("runs no module engine");
  });

  it.each([
    ["an unknown command", "/api/modules/vms/reboot", post(), 'unknown command "reboot"; commands: swap, stop, start, restart, prim, second, forceprim'],
    ["a body that is not JSON", "/api/modules/vms/swap", post("{yes"), "the body is not valid JSON"],
    ["a body that is an array", "/api/modules/vms/swap", post([1]), "the body must be a JSON object"],
    ["an unknown field", "/api/modules/vms/swap", post({ force: true }), 'unknown field "force" in the body; fields: yes, timeout'],
    ["a yes that is not a boolean", "/api/modules/vms/swap", post({ yes: "true" }), 'field "yes" must be true or false, not "true"'],
    ["a numeric timeout", "/api/modules/vms/swap", post({ timeout: 30 }), 'field "timeout" must be a duration string like "30s", not 30'],
    ["a timeout that is no duration", "/api/modules/vms/swap", post({ timeout: "soon" }), 'field "timeout": timeout "soon" is not a duration'],
    ["a timeout below 1 s", "/api/modules/vms/swap", post({ timeout: "10ms" }), 'field "timeout": timeout 10ms is out of range; use 1s to 10m'],
    ["a timeout above 10 min", "/api/modules/vms/swap", post({ timeout: "1h" }), "out of range"],
    ["a body that is not sent as JSON", "/api/modules/vms/swap", { method: "POST", body: "yes=1", headers: { "content-type": "application/x-www-form-urlencoded" } }, "content-type application/json"],
  ])("answers 400 naming the problem for %s", async (_what, path, init, message) => {
    const t = app({ commands: "socket" });
    const res = await t.request(path, init);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toContain(message);
    expect(t.engine.requests).toEqual([]);
  });

  it.each(["GET", "PUT", "DELETE"])("answers %s on a command with 405 and allow: POST", async (method) => {
    const t = app({ commands: "socket" });
    const res = await t.request("/api/modules/vms/swap", { method });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await errorOf(res)).toBe(`method ${method} is not allowed on /api/modules/vms/swap; module commands are sent with POST (allowed: POST)`);
    expect(t.engine.requests).toEqual([]);
  });

  it("answers writes to the module views with 405: they are read-only", async () => {
    for (const path of ["/api/modules", "/api/modules/vms"]) {
      const res = await app({ commands: "socket" }).request(path, post());
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
    }
  });
});

describe("module commands over the network", () => {
  it("needs the token: without it 401 with a challenge, and the engine is never asked", async () => {
    for (const deps of [{ commands: "token" as const }, {}]) {
      const t = app(deps);
      const res = await t.request("/api/modules/vms/swap", post());
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="vigil"');
      expect(await errorOf(res)).toBe("module commands over the network need the console token: send `Authorization: Bearer TOKEN`; `vigil token` on a cluster node prints it");
      expect(t.engine.requests).toEqual([]);
    }
  });

  it.each([
    ["a wrong token", bearer(deriveCommandToken(new Uint8Array(32).fill(8))), "the console token is wrong"],
    ["a token one character short", bearer(TOKEN.slice(1)), "the console token is wrong"],
    ["another scheme", { authorization: `Basic ${TOKEN}` }, 'the Authorization header must be "Bearer TOKEN"'],
    ["a bare token", { authorization: TOKEN }, 'the Authorization header must be "Bearer TOKEN"'],
  ])("answers 401 for %s", async (_what, headers, message) => {
    const t = app({ commands: "token" });
    const res = await t.request("/api/modules/vms/swap", post(undefined, headers));
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toContain(message);
    expect(t.engine.requests).toEqual([]);
  });

  it("checks the token before anything else, so strangers learn no module names", async () => {
    const t = app({ commands: "token" });
    expect((await t.request("/api/modules/nope/reboot", post("junk"))).status).toBe(401);
    expect((await app({ commands: "token", modules: undefined }).request("/api/modules/vms/swap", post())).status).toBe(401);
  });

  it("carries out a command that has the right token", async () => {
    const t = app({ commands: "token" });
    const res = await t.request("/api/modules/vms/second", post({ timeout: "5s" }, bearer()));
    expect(res.status).toBe(200);
    expect(t.engine.requests).toEqual([{ module: "vms", command: "second", yes: false, timeoutMs: 5_000, source: "http from unknown" }]);
    // The same checks as over the socket follow the token.
    expect((await t.request("/api/modules/nope/swap", post(undefined, bearer()))).status).toBe(404);
    expect((await t.request("/api/modules/vms/reboot", post(undefined, bearer()))).status).toBe(400);
  });

  it("turns network commands off, with 403 saying why, when there is no cluster key", async () => {
    const t = app({ commands: "token", commandToken: () => ({ ok: false, message: "cluster.key_file is not set" }) });
    const res = await t.request("/api/modules/vms/swap", post(undefined, bearer()));
    expect(res.status).toBe(403);
    expect(await errorOf(res)).toBe("module commands over the network are off: cluster.key_file is not set; use the vigil CLI on a node instead");
    expect(t.engine.requests).toEqual([]);
  });

  it("refuses every network command when the app was given no token source", async () => {
    const t = app({ commands: "token", commandToken: undefined });
    const res = await t.request("/api/modules/vms/swap", post(undefined, bearer()));
    expect(res.status).toBe(403);
    expect(t.engine.requests).toEqual([]);
  });

  it("derives one fixed token per key: HMAC-SHA256(key, \"vigil console commands\") in hex", () => {
    expect(TOKEN).toMatch(/^[0-9a-f]{64}$/);
    expect(deriveCommandToken(new Uint8Array(32).fill(7))).toBe(TOKEN);
    expect(deriveCommandToken(new Uint8Array(32).fill(8))).not.toBe(TOKEN);
  });
});

/**
 * The network console's login end to end in process: the Host check, login
 * and its cookies, CSRF and Origin, roles, the failed-login limit, HTTP
 * Basic and the API token, expiry, and the audit log of each.
 */
import { describe, expect, it } from "vitest";
import { deriveCommandToken } from "../../src/api/command-token.ts";
import type { ModuleCommandOutcome, ModuleCommandRequest, ModuleControl, ModuleStatus } from "../../src/api/modules.ts";
import { hashPassword } from "../../src/api/password.ts";
import type { StatusSnapshot } from "../../src/api/status.ts";
import type { ConsoleUser } from "../../src/config/types.ts";
import { createConsoleApp } from "../../web/app.ts";
import type { AuditEntry } from "../../web/auth/audit.ts";
import { ConsoleAuth } from "../../web/auth/console-auth.ts";
import { normalizedNames } from "../../web/auth/host-check.ts";

const CHEAP = { ln: 10, r: 8, p: 1 };
const TOKEN = deriveCommandToken(new Uint8Array(32).fill(9));

const vms: ModuleStatus = {
  name: "vms", type: "failover", state: "PRIM", prefer: "vms1", failback: "auto",
  nodes: [{ node: "vms1", role: "PRIM", generation: 4 }], lastTransition: null,
  checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null,
};

class FakeModules implements ModuleControl {
  requests: ModuleCommandRequest[] = [];
  /** Set: the next commands throw it (a defect of the engine). */
  fail: Error | undefined;
  statuses(): ModuleStatus[] {
    return [vms];
  }
  command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome> {
    this.requests.push(req);
    if (this.fail !== undefined) return Promise.reject(this.fail);
    return Promise.resolve({ ok: true, module: req.module, command: req.command, detail: "vms2 is PRIM", nodes: [] });
  }
}

function snapshot(): StatusSnapshot {
  return {
    version: "0.1.0", node: { name: "vms1", addresses: ["198.51.100.11"] }, cluster: { name: "vms-pair" }, pid: 1,
    startedAt: "2026-12-06T06:00:00.000Z", uptimeMs: 1, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil",
    web: { listen: "0.0.0.0:9010" }, peers: [], modules: [vms], events: [],
  };
}

function consoleWith(o: { apiToken?: boolean; secure?: boolean } = {}) {
  const audit: AuditEntry[] = [];
  let now = 1_000_000;
  let users: ConsoleUser[] = [
    { name: "alice", role: "operator", password: hashPassword("alice-password", CHEAP) },
    { name: "bob", role: "viewer", password: hashPassword("bob-password", CHEAP) },
    { name: "root", role: "admin", password: hashPassword("root-password", CHEAP) },
  ];
  const auth = new ConsoleAuth({
    users: () => users,
    sessionTimeoutMs: () => 3_600_000,
    allowedHosts: () => normalizedNames(["vms1", "198.51.100.11", "localhost"]),
    apiToken: () => (o.apiToken === true ? { ok: true, token: TOKEN } : null),
    audit: (e) => audit.push(e),
    now: () => now,
  });
  const engine = new FakeModules();
  const logged: Record<string, unknown>[] = [];
  const log = { error: (_msg: string, fields: Record<string, unknown>) => void logged.push(fields) };
  const app = createConsoleApp({ status: snapshot, metrics: () => "vigil_up 1\n", modules: engine, commands: "login", auth, log });
  const secure = o.secure ?? true;
  const origin = `${secure ? "https" : "http"}://vms1:9010`;
  const env = (source = "198.51.100.50") => ({ remoteAddress: source, secure, port: "9010" });
  const request = (path: string, init: RequestInit & { source?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has("host")) headers.set("host", "vms1:9010");
    return app.request(`${origin}${path}`, { ...init, headers }, env(init.source));
  };
  const login = async (user: string, password: string, source?: string) => {
    const res = await request("/login?next=%2F", {
      method: "POST", headers: { "content-type": "application/json", origin }, body: JSON.stringify({ user, password }), ...(source === undefined ? {} : { source }),
    });
    const cookies = res.headers.getSetCookie();
    const value = (prefix: string) => cookies.find((c) => c.startsWith(prefix))?.split(";")[0] ?? "";
    const session = value(secure ? "__Host-vigil-session-9010=" : "vigil-session-9010=");
    const csrf = value(secure ? "__Host-vigil-csrf-9010=" : "vigil-csrf-9010=");
    return { res, cookies, cookie: `${session}; ${csrf}`, csrf: csrf.slice(csrf.indexOf("=") + 1) };
  };
  return {
    audit, engine, request, login, origin, logged,
    advance: (ms: number) => (now += ms),
    setUsers: (u: ConsoleUser[]) => (users = u),
    users: () => users,
  };
}

describe("the network console's login", () => {
  it("answers only to its own host names", async () => {
    const c = consoleWith();
    for (const host of ["evil.example", "vms1.evil.example:9010", "198.51.100.12"]) {
      const res = await c.request("/healthz", { headers: { host } });
      expect(res.status).toBe(421);
      expect(((await res.json()) as { error: string }).error).toContain("add the name to console.names");
    }
    expect((await c.request("/healthz", { headers: { host: "198.51.100.11:9010" } })).status).toBe(200);
  });

  it("sends a page to the login form and refuses the API without a login", async () => {
    const c = consoleWith();
    const page = await c.request("/");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/login?next=%2F");
    for (const path of ["/api/status", "/api/events", "/api/modules", "/metrics"]) expect((await c.request(path)).status).toBe(401);
    expect((await c.request("/metrics")).headers.get("www-authenticate")).toMatch(/^Basic /);
    expect((await c.request("/api/status")).headers.get("www-authenticate")).toBeNull();
    const form = await c.request("/login");
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('data-testid="login-form"');
    expect((await c.request("/assets/login.js")).status).toBe(200);
  });

  it("logs in with a right password: HttpOnly session cookie, readable CSRF cookie, both Strict and Secure", async () => {
    const c = consoleWith();
    const { res, cookies, cookie } = await c.login("alice", "alice-password");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ user: "alice", role: "operator", next: "/" });
    expect(cookies).toHaveLength(2);
    const [session, csrf] = cookies;
    expect(session).toMatch(/^__Host-vigil-session-9010=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=3600; SameSite=Strict; HttpOnly; Secure$/);
    expect(csrf).toMatch(/^__Host-vigil-csrf-9010=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=3600; SameSite=Strict; Secure$/);
    expect((await c.request("/api/status", { headers: { cookie } })).status).toBe(200);
    expect(await (await c.request("/api/session", { headers: { cookie } })).json()).toMatchObject({ user: "alice", role: "operator", how: "session" });
    const again = await c.request("/login?next=%2Fapi%2Fstatus", { headers: { cookie } });
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe("/api/status");
    expect(c.audit).toEqual([{ event: "login", user: "alice", role: "operator", source: "198.51.100.50" }]);
  });

  it("without TLS the cookies carry no Secure flag and no __Host- prefix", async () => {
    const c = consoleWith({ secure: false });
    const { cookies } = await c.login("alice", "alice-password");
    expect(cookies[0]).toMatch(/^vigil-session-9010=.*HttpOnly$/);
  });

  it("refuses a wrong password or unknown user alike, and writes who tried from where", async () => {
    const c = consoleWith();
    for (const [user, password] of [["alice", "wrong"], ["mallory", "alice-password"]] as const) {
      const { res, cookies } = await c.login(user, password, "203.0.113.66");
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: "wrong user name or password" });
      expect(cookies).toEqual([]);
    }
    expect(c.audit).toEqual([
      { event: "login-failed", user: "alice", source: "203.0.113.66" },
      { event: "login-failed", user: "mallory", source: "203.0.113.66" },
    ]);
  });

  it("after 5 failed logins from one address refuses it, even with the right password, and not others", async () => {
    const c = consoleWith();
    for (let i = 0; i < 5; i++) expect((await c.login("alice", `guess-${i}`, "203.0.113.66")).res.status).toBe(401);
    const blocked = await c.login("alice", "alice-password", "203.0.113.66");
    expect(blocked.res.status).toBe(429);
    expect(blocked.res.headers.get("retry-after")).toBe("300");
    expect(((await blocked.res.json()) as { error: string }).error).toBe("too many failed logins from 203.0.113.66; try again in 300 s");
    expect(c.audit.at(-1)).toEqual({ event: "login-refused", user: "alice", source: "203.0.113.66", detail: "too many failed logins" });
    expect((await c.login("alice", "alice-password", "198.51.100.50")).res.status).toBe(200);
    c.advance(300_001);
    expect((await c.login("alice", "alice-password", "203.0.113.66")).res.status).toBe(200);
  });

  it("takes a command only with the login's CSRF token, and writes it to the audit log", async () => {
    const c = consoleWith();
    const { cookie, csrf } = await c.login("alice", "alice-password");
    const without = await c.request("/api/modules/vms/swap", { method: "POST", headers: { cookie } });
    expect(without.status).toBe(403);
    expect(((await without.json()) as { error: string }).error).toContain("CSRF token");
    const wrong = await c.request("/api/modules/vms/swap", { method: "POST", headers: { cookie, "x-csrf-token": `${csrf.slice(1)}A` } });
    expect(wrong.status).toBe(403);
    expect(c.engine.requests).toEqual([]);
    const right = await c.request("/api/modules/vms/swap", { method: "POST", headers: { cookie, "x-csrf-token": csrf } });
    expect(right.status).toBe(200);
    expect(c.engine.requests.map((r) => `${r.module} ${r.command}`)).toEqual(["vms swap"]);
    expect(c.audit.at(-1)).toEqual({ event: "command", user: "alice", role: "operator", source: "198.51.100.50", module: "vms", command: "swap", status: 200, detail: "vms2 is PRIM" });
  });

  it("a command that fails inside the daemon: the audit log has the answer's id, the client neither message nor stack", async () => {
    const c = consoleWith();
    const { cookie, csrf } = await c.login("alice", "alice-password");
    c.engine.fail = new Error("cannot read /var/lib/vigil/modules/vms.state: EIO");
    const res = await c.request("/api/modules/vms/swap", { method: "POST", headers: { cookie, "x-csrf-token": csrf } });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { id: string };
    expect(body).toEqual({ error: "internal error", id: c.logged[0]?.["id"] });
    expect(c.logged[0]).toMatchObject({ path: "/api/modules/vms/swap", error: "Error: cannot read /var/lib/vigil/modules/vms.state: EIO" });
    expect(c.audit.at(-1)).toEqual({ event: "command", user: "alice", role: "operator", source: "198.51.100.50", module: "vms", command: "swap", status: 500, detail: `internal error (id ${body.id})` });
  });

  it("refuses a POST from another site even with the token", async () => {
    const c = consoleWith();
    const { cookie, csrf } = await c.login("alice", "alice-password");
    const res = await c.request("/api/modules/vms/swap", { method: "POST", headers: { cookie, "x-csrf-token": csrf, origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    const login = await c.request("/login", { method: "POST", headers: { "content-type": "application/json", origin: "https://evil.example" }, body: '{"user":"alice","password":"alice-password"}' });
    expect(login.status).toBe(403);
    const form = await c.request("/login", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "user=alice&password=alice-password" });
    expect(form.status).toBe(415);
    expect(c.engine.requests).toEqual([]);
  });

  it("lets a viewer see but not command, an operator command but not forceprim, an admin forceprim", async () => {
    const c = consoleWith();
    const bob = await c.login("bob", "bob-password");
    expect((await c.request("/api/modules", { headers: { cookie: bob.cookie } })).status).toBe(200);
    const refused = await c.request("/api/modules/vms/stop", { method: "POST", headers: { cookie: bob.cookie, "x-csrf-token": bob.csrf } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe("user bob is a viewer; stop needs the operator role");
    expect(c.audit.at(-1)).toMatchObject({ event: "command-refused", user: "bob", role: "viewer", module: "vms", command: "stop", status: 403 });
    const other = await c.request("/api/anything-else", { method: "POST", headers: { cookie: bob.cookie, "x-csrf-token": bob.csrf } });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: string }).error).toBe("user bob is a viewer; POST /api/anything-else needs the operator role");
    const alice = await c.login("alice", "alice-password");
    const force = { method: "POST", headers: { cookie: alice.cookie, "x-csrf-token": alice.csrf, "content-type": "application/json" }, body: '{"yes":true}' };
    expect((await c.request("/api/modules/vms/forceprim", force)).status).toBe(403);
    const root = await c.login("root", "root-password");
    expect((await c.request("/api/modules/vms/forceprim", { ...force, headers: { ...force.headers, cookie: root.cookie, "x-csrf-token": root.csrf } })).status).toBe(200);
    expect(c.engine.requests.map((r) => r.command)).toEqual(["forceprim"]);
  });

  it("ends a login at its expiry, at logout, and when the user's password or role changes", async () => {
    const c = consoleWith();
    const a = await c.login("alice", "alice-password");
    c.advance(3_600_000);
    expect((await c.request("/api/status", { headers: { cookie: a.cookie } })).status).toBe(401);

    const b = await c.login("alice", "alice-password");
    const out = await c.request("/logout", { method: "POST", headers: { cookie: b.cookie, "x-csrf-token": b.csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie()[0]).toMatch(/Max-Age=0/);
    expect((await c.request("/api/status", { headers: { cookie: b.cookie } })).status).toBe(401);
    expect(c.audit.at(-1)).toEqual({ event: "logout", user: "alice", role: "operator", source: "198.51.100.50" });

    const d = await c.login("alice", "alice-password");
    c.setUsers(c.users().map((u) => (u.name === "alice" ? { ...u, password: hashPassword("new-password", CHEAP) } : u)));
    expect((await c.request("/api/status", { headers: { cookie: d.cookie } })).status).toBe(401);
    const e = await c.login("alice", "new-password");
    c.setUsers(c.users().map((u) => (u.name === "alice" ? { ...u, role: "viewer" } : u)));
    expect((await c.request("/api/status", { headers: { cookie: e.cookie } })).status).toBe(401);
  });

  it("takes HTTP Basic credentials of a user for scripts and Prometheus, counting failures", async () => {
    const c = consoleWith();
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
    const metrics = await c.request("/metrics", { headers: basic("bob", "bob-password") });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toBe("vigil_up 1\n");
    expect((await c.request("/metrics", { headers: basic("bob", "nope") })).status).toBe(401);
    expect(c.audit.at(-1)).toEqual({ event: "login-failed", user: "bob", source: "198.51.100.50", detail: "HTTP Basic" });
    // No CSRF token is needed: a browser never sends these credentials on its own (no Basic challenge on the API).
    expect((await c.request("/api/modules/vms/swap", { method: "POST", headers: basic("alice", "alice-password") })).status).toBe(200);
    expect((await c.request("/api/modules/vms/swap", { method: "POST", headers: basic("bob", "bob-password") })).status).toBe(403);
  });

  it("refuses the API token unless console.api_token is on, then takes it as an operator", async () => {
    const off = consoleWith();
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const refused = await off.request("/api/modules/vms/swap", { method: "POST", headers: bearer });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toContain("console.api_token");
    const on = consoleWith({ apiToken: true });
    expect((await on.request("/api/modules/vms/swap", { method: "POST", headers: bearer })).status).toBe(200);
    expect(on.audit.at(-1)).toMatchObject({ event: "command", user: "token", role: "operator", command: "swap", status: 200 });
    expect((await on.request("/api/modules/vms/swap", { method: "POST", headers: { authorization: `Bearer ${"0".repeat(64)}` } })).status).toBe(401);
    expect((await on.request("/api/modules/vms/forceprim", { method: "POST", headers: bearer })).status).toBe(403);
  });
});

/**
 * Logging in to the console through its page, in Debian's chromium, over
 * HTTPS with a certificate made by our own X.509 encoder. Chromium is told to
 * trust exactly that certificate's key (--ignore-certificate-errors-spki-list),
 * so the TLS handshake, the login form, the session cookies, the CSRF header
 * on a command, the viewer's refusal and the logout all run as an operator's
 * browser would run them.
 */
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModuleCommandOutcome, ModuleCommandRequest, ModuleControl, ModuleStatus } from "../../src/api/modules.ts";
import { hashPassword } from "../../src/api/password.ts";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { parseListen, type RunningServer, serveFetch } from "../../src/daemon/http-server.ts";
import { selfSignedCertificate } from "../../src/sys/tls/x509.ts";
import { createConsoleApp } from "../../web/app.ts";
import type { AuditEntry } from "../../web/auth/audit.ts";
import { ConsoleAuth } from "../../web/auth/console-auth.ts";
import { normalizedNames } from "../../web/auth/host-check.ts";
import { artifactPath, CHROMIUM, chromiumMissing, testid } from "./browser.ts";

const missing = chromiumMissing();
if (missing !== null && process.env.CI === "true") {
  it("has chromium to test the console login with", () => {
    throw new Error(missing);
  });
} else if (missing !== null) {
  console.warn(`skipping the console login tests: ${missing}`);
}

const CHEAP = { ln: 10, r: 8, p: 1 };

const vms: ModuleStatus = {
  name: "vms", type: "failover", state: "PRIM", prefer: "vms1", failback: "manual",
  nodes: [{ node: "vms1", role: "PRIM", generation: 7 }, { node: "vms2", role: "SECOND", generation: 7 }],
  lastTransition: null, checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null,
};

function snapshot(): StatusSnapshot {
  return {
    version: "9.8.7", node: { name: "vms1", addresses: ["127.0.0.1"] }, cluster: { name: "vms-pair" }, pid: 4242,
    startedAt: "2025-03-14T08:00:00.000Z", uptimeMs: 60_000, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil",
    web: { listen: "127.0.0.1:9010" }, peers: [], modules: [vms], events: [],
  };
}

class FakeModules implements ModuleControl {
  requests: ModuleCommandRequest[] = [];
  statuses(): ModuleStatus[] {
    return [vms];
  }
  command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome> {
    this.requests.push(req);
    return Promise.resolve({ ok: true, module: req.module, command: req.command, detail: "vms2 is PRIM", nodes: [{ node: "vms2", role: "PRIM", generation: 8 }] });
  }
}

describe.runIf(missing === null)("console: logging in through the page over HTTPS", () => {
  const engine = new FakeModules();
  const audit: AuditEntry[] = [];
  let server: RunningServer;
  let context: BrowserContext;
  let profile: string;
  let url: string;

  beforeAll(async () => {
    const now = new Date();
    const made = selfSignedCertificate({ commonName: "vigil vms1", names: ["localhost", "127.0.0.1"], notBefore: new Date(now.getTime() - 86_400_000), notAfter: new Date(now.getTime() + 86_400_000) });
    const users = [
      { name: "alice", role: "operator" as const, password: hashPassword("alice-password", CHEAP) },
      { name: "bob", role: "viewer" as const, password: hashPassword("bob-password", CHEAP) },
    ];
    const auth = new ConsoleAuth({
      users: () => users,
      sessionTimeoutMs: () => 3_600_000,
      allowedHosts: () => normalizedNames(["127.0.0.1", "localhost"]),
      apiToken: () => null,
      audit: (e) => audit.push(e),
    });
    const app = createConsoleApp({ status: snapshot, metrics: () => "", modules: engine, commands: "login", auth });
    server = await serveFetch(app.fetch, { host: "127.0.0.1", port: 0, tls: { cert: made.certPem, key: made.keyPem } });
    url = `https://127.0.0.1:${parseListen(server.where).port}`;
    const spki = new X509Certificate(made.certPem).publicKey.export({ type: "spki", format: "der" });
    const pin = createHash("sha256").update(spki).digest("base64");
    profile = mkdtempSync(join(tmpdir(), "vigil-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", `--ignore-certificate-errors-spki-list=${pin}`],
      viewport: { width: 1280, height: 800 },
      timezoneId: "UTC",
      locale: "en-GB",
    });
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
    await server?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  });

  const watched = async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // The login page's own 401 for a wrong password is expected; anything else is a problem.
      if (m.type() === "error" && !/status of 401/.test(m.text())) problems.push(`console error: ${m.text()}`);
    });
    return { page, problems };
  };

  const logIn = async (page: Page, user: string, password: string) => {
    await testid(page, "login-user").fill(user);
    await testid(page, "login-password").fill(password);
    await testid(page, "login-submit").click();
  };

  it("sends the page to the login form, refuses a wrong password, and logs in as an operator who can command", async () => {
    const { page, problems } = await watched();
    await page.goto(`${url}/`);
    await page.waitForURL(/\/login\?next=%2F$/);
    await logIn(page, "alice", "wrong-password");
    await expect.poll(() => testid(page, "login-problem").textContent()).toBe("wrong user name or password");

    await logIn(page, "alice", "alice-password");
    await page.waitForURL(`${url}/`);
    await expect.poll(() => testid(page, "node-name").textContent()).toBe("vms1");
    expect(await testid(page, "session-user").textContent()).toBe("alice");
    expect(await testid(page, "session-role").textContent()).toBe("operator");
    const opacity = (command: string) => page.locator(`[data-module="vms"] [data-command="${command}"]`).evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { opacity: string } }).getComputedStyle(e).opacity);
    await expect.poll(() => opacity("forceprim")).toBe("0.5");
    expect(await opacity("swap")).toBe("1");
    const cookies = await context.cookies(url);
    const session = cookies.find((c) => c.name.startsWith("__Host-vigil-session-"));
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict" });

    const row = page.locator('[data-module="vms"]');
    await row.locator('[data-testid="module-command"]', { hasText: "swap" }).click();
    await expect.poll(() => testid(page, "outcome-text").textContent()).toBe("swap vms: done: vms2 is PRIM");
    expect(engine.requests.map((r) => `${r.module} ${r.command}`)).toEqual(["vms swap"]);
    // No token was asked for: the login's CSRF header carried the command.
    expect(await page.locator('[data-testid="token-dialog"][open]').count()).toBe(0);
    await page.screenshot({ path: artifactPath("console-login-operator.png"), fullPage: true });
    expect(audit.map((e) => `${e.event} ${e.user}`)).toEqual(["login-failed alice", "login alice", "command alice"]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("logs a viewer in who sees the modules but whose command is refused, then logs out", async () => {
    await context.clearCookies();
    engine.requests = [];
    const { page, problems } = await watched();
    await page.goto(`${url}/login`);
    await logIn(page, "bob", "bob-password");
    await page.waitForURL(`${url}/`);
    await expect.poll(() => page.locator('[data-module="vms"]').count()).toBe(1);
    expect(await testid(page, "session-role").textContent()).toBe("viewer");
    const opacity = (command: string) => page.locator(`[data-module="vms"] [data-command="${command}"]`).evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { opacity: string } }).getComputedStyle(e).opacity);
    expect(await opacity("stop")).toBe("0.5");
    await page.locator('[data-module="vms"] [data-testid="module-command"]', { hasText: "stop" }).click();
    await expect.poll(() => testid(page, "outcome-text").textContent()).toBe("stop vms: failed: user bob is a viewer; stop needs the operator role");
    expect(engine.requests).toEqual([]);

    await testid(page, "logout").click();
    await page.waitForURL(/\/login\?next=/);
    const after = await page.evaluate(async () => (await fetch("/api/status")).status);
    expect(after).toBe(401);
    expect(audit.slice(-2).map((e) => `${e.event} ${e.user}`)).toEqual(["command-refused bob", "logout bob"]);
    expect(problems.filter((p) => !/status of 403/.test(p))).toEqual([]);
    await page.close();
  });
});

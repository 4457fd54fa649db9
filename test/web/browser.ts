import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { parseListen, serveFetch } from "../../src/daemon/http-server.ts";
import { createConsoleApp, type ConsoleDeps } from "../../web/app.ts";

/** Debian's chromium package unless VIGIL_CHROMIUM names another; the tests never download a browser. */
export const CHROMIUM = process.env.VIGIL_CHROMIUM || "/usr/bin/chromium";
export const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/web/", import.meta.url));

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The element a test names by its data-testid. */
export const testid = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

/** A node's status with nothing configured yet: what each console test starts from. */
export function bareSnapshot(node: string, address: string, cluster: string): StatusSnapshot {
  return {
    version: "0.1.0", node: { name: node, addresses: [address] }, cluster: { name: cluster }, pid: 1, startedAt: new Date().toISOString(),
    uptimeMs: 1000, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil", web: { listen: "0.0.0.0:9010" }, peers: [], modules: [], events: [],
  };
}

/** Why the browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  return `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) to run the console tests`;
}

export interface Browser {
  context: BrowserContext;
  newPage(viewport?: { width: number; height: number }): Promise<WatchedPage>;
  close(): Promise<void>;
}

export interface WatchedPage {
  page: Page;
  /** Script errors, failed console.error calls and CSP violations seen so far. */
  problems: string[];
}

/** Starts chromium with a fresh, throw-away profile directory. */
export async function launchBrowser(): Promise<Browser> {
  const missing = chromiumMissing();
  if (missing !== null) throw new Error(missing);
  const profile = mkdtempSync(join(tmpdir(), "vigil-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 800 },
      // Fixed so the times the page shows do not depend on the host's zone.
      timezoneId: "UTC",
      locale: "en-GB",
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  return {
    context,
    async newPage(viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console error: ${m.text()}`);
      });
      return { page, problems };
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface ServedConsole {
  url: string;
  /** Stops answering, as a dead daemon would. */
  stop(): Promise<void>;
  /** Answers again on the same port, as a restarted daemon would. */
  restart(): Promise<void>;
}

/** Serves the console app with fake status on a free loopback port. */
export async function serveConsole(deps: ConsoleDeps): Promise<ServedConsole> {
  const app = createConsoleApp(deps);
  let server: Awaited<ReturnType<typeof serveFetch>> | null = await serveFetch(app.fetch, { host: "127.0.0.1", port: 0 });
  const { port } = parseListen(server.where);
  return {
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      await server?.close();
      server = null;
    },
    async restart() {
      if (server === null) server = await serveFetch(app.fetch, { host: "127.0.0.1", port });
    },
  };
}

/** A browser and a console showing the snapshot a test last set, started before a describe block's tests and stopped after. */
export interface SnapshotConsole {
  browser(): Browser;
  /** The console's address. */
  url(): string;
  /** What /api/status answers from now on. */
  show(snapshot: StatusSnapshot): void;
}

export function useSnapshotConsole(first: StatusSnapshot, deps: Partial<Omit<ConsoleDeps, "status">> = {}): SnapshotConsole {
  let browser: Browser | undefined;
  let served: ServedConsole | undefined;
  let snap = first;
  beforeAll(async () => {
    browser = await launchBrowser();
    served = await serveConsole({ metrics: () => "", ...deps, status: () => snap });
  }, 60_000);
  afterAll(async () => {
    await served?.stop();
    await browser?.close();
  });
  const started = <T>(x: T | undefined): T => {
    if (x === undefined) throw new Error("the console is not started: use it inside the tests of the describe block");
    return x;
  };
  return {
    browser: () => started(browser),
    url: () => started(served).url,
    show: (s) => { snap = s; },
  };
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

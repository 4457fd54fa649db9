import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ModuleCommandOutcome, ModuleCommandRequest, ModuleControl, ModuleStatus } from "../../src/api/modules.ts";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { deriveCommandToken } from "../../src/api/command-token.ts";
import { artifactPath, chromiumMissing, launchBrowser, serveConsole, type Browser, type ServedConsole, testid } from "./browser.ts";

const missing = chromiumMissing();
const TOKEN = deriveCommandToken(new Uint8Array(32).fill(3));

if (missing !== null && process.env.CI === "true") {
  it("has chromium to test the console with", () => {
    throw new Error(missing);
  });
} else if (missing !== null) {
  console.warn(`skipping the console module tests: ${missing}`);
}

const vms: ModuleStatus = {
  name: "vms", type: "failover", state: "PRIM", prefer: "vms1", failback: "manual",
  nodes: [{ node: "vms1", role: "PRIM", generation: 7 }, { node: "vms2", role: "SECOND", generation: 7 }, { node: "vms3", role: "dead", generation: null }],
  lastTransition: { time: "2025-03-14T08:00:03.000Z", from: "SECOND", to: "PRIM", reason: "peer-dead", detail: "vms3 stopped answering" },
  checkers: [
    { name: "http", target: "http http://127.0.0.1:8080/", onFail: "restart", ok: true, failing: false, detail: "200", lastCheckedAt: "2025-03-14T08:00:04.000Z" },
    { name: "db", target: "tcp 127.0.0.1:5432", onFail: "failover", ok: false, failing: true, detail: "connection refused", lastCheckedAt: "2025-03-14T08:00:04.000Z" },
    { name: "gw", target: "ping 198.51.100.1", onFail: "wait", ok: null, failing: false, detail: "", lastCheckedAt: null },
  ],
  blocked: null, restarts: 2, pending: null, witness: null, lease: null,
};
const web: ModuleStatus = {
  ...vms, name: "web", state: "SECOND", failback: "auto",
  nodes: [{ node: "vms1", role: "SECOND", generation: 2 }, { node: "vms2", role: "PRIM", generation: 2 }, { node: "vms3", role: "unknown", generation: null }],
  lastTransition: { time: "2025-03-14T08:00:01.000Z", from: "WAIT", to: "SECOND", reason: "standby", detail: "waiting to hear vms2" },
  why: { reason: "peer-primary", detail: "vms2 (PRIM) runs it" },
  checkers: [], restarts: 0,
  blocked: "start failed on vms1 (exit 3)",
  pending: { command: "prim", since: "2025-03-14T08:00:05.000Z" },
};

function snapshot(): StatusSnapshot {
  return {
    version: "9.8.7", node: { name: "vms1", addresses: ["198.51.100.11"] }, cluster: { name: "vms-pair" }, pid: 4242,
    startedAt: "2025-03-14T08:00:00.000Z", uptimeMs: 60_000, configFile: "/media/usb0/vigil.yaml", stateDir: "/var/lib/vigil",
    web: { listen: "0.0.0.0:9010" }, peers: [], modules: [vms, web], events: [],
  };
}

/** The module engine behind the page: records commands and answers with a swapped cluster. */
class FakeModules implements ModuleControl {
  requests: ModuleCommandRequest[] = [];
  /** While set, answers wait for it: a cluster still getting there. */
  hold: Promise<void> | null = null;
  /** While set, commands throw it: a defect of the engine. */
  fail: Error | null = null;
  statuses(): ModuleStatus[] {
    return [vms, web];
  }
  async command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome> {
    this.requests.push(req);
    if (this.hold) await this.hold;
    if (this.fail) throw this.fail;
    return {
      ok: true, module: req.module, command: req.command, detail: "vms2 is PRIM",
      nodes: [{ node: "vms1", role: "SECOND", generation: 8 }, { node: "vms2", role: "PRIM", generation: 8 }, { node: "vms3", role: "dead", generation: null }],
    };
  }
}

describe.runIf(missing === null)("console: modules, as a person sees them and commands them", () => {
  let browser: Browser;
  let served: ServedConsole;
  const engine = new FakeModules();

  beforeAll(async () => {
    browser = await launchBrowser();
    // Served like the network listener: commands need the token.
    served = await serveConsole({ status: snapshot, metrics: () => "", modules: engine, commands: "token", commandToken: () => ({ ok: true, token: TOKEN }) });
  });
  afterAll(async () => {
    await served?.stop();
    await browser?.close();
  });
  beforeEach(() => {
    engine.requests = [];
    engine.fail = null;
  });

  it("shows each module's role on every node, the last transition and why, checkers, blocked and pending", async () => {
    const { page, problems } = await browser.newPage();
    await page.goto(served.url);
    await expect.poll(() => testid(page, "module-row").count()).toBe(2);
    const row = page.locator('[data-module="vms"]');

    expect(await row.locator('[data-testid="module-state"]').textContent()).toBe("PRIM");
    expect(await row.locator('[data-testid="module-node"]').allTextContents()).toEqual(["vms1PRIM", "vms2SECOND", "vms3dead"]);
    expect(await row.locator('[data-testid="module-node-role"]').evaluateAll((els) => els.map((e) => e.className))).toEqual([
      "badge badge-ok", "badge badge-info", "badge badge-bad",
    ]);
    expect(await row.locator('[data-testid="module-last"]').textContent()).toBe("2025-03-14 08:00:03 SECOND → PRIMpeer-dead: vms3 stopped answering");
    expect(await row.locator('[data-testid="module-checker"]').allTextContents()).toEqual(["httpok", "dbfailingconnection refused", "gwnot run"]);
    expect(await row.locator('[data-testid="module-restarts"]').textContent()).toBe("2 restarts");

    const other = page.locator('[data-module="web"]');
    expect(await other.locator('[data-testid="module-blocked"]').textContent()).toBe("blocked");
    expect(await other.locator('[data-testid="module-here"]').textContent()).toContain("start failed on vms1 (exit 3)");
    expect(await other.locator('[data-testid="module-pending"]').textContent()).toBe("prim pending");
    // The transition's reason is stale (vms2 was heard since): what holds now is said under it.
    expect(await other.locator('[data-testid="module-last"]').textContent()).toBe("2025-03-14 08:00:01 WAIT → SECONDstandby: waiting to hear vms2now: peer-primary: vms2 (PRIM) runs it");
    expect(await row.locator('[data-testid="module-why"]').count()).toBe(0);
    expect(await other.locator('[data-testid="module-checkers"]').textContent()).toBe("—");

    expect(await row.locator('[data-testid="module-command"]').allTextContents()).toEqual(["swap", "stop", "start", "restart", "prim", "second", "forceprim"]);
    expect(await testid(page, "modules-hint").textContent()).toBe("commands act from vms1");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows a mirror module's copy, replication and resync progress bar", async () => {
    const mirrored: ModuleStatus = {
      ...web, name: "rec", type: "mirror", blocked: null, pending: null,
      mirror: {
        folder: "/var/lib/vms", data: "inconsistent", gen: "7:vms2", since: "2025-03-14T08:00:06.000Z",
        serving: "this copy is being resynced from vms2 and is incomplete", link: "up", linkDetail: "connected to vms2",
        peerData: "uptodate", writes: "standby", waitingOps: 0, mode: "sync", asyncLag: null,
        resync: { phase: "data", mode: "full", filesTotal: 40, filesDone: 10, bytesTotal: 400 * 1048576, bytesDone: 100 * 1048576, bytesSent: 3 * 1048576, bytesPerSec: 20 * 1048576, etaSec: 15, elapsedMs: 5000 },
        splitBrain: "both copies changed while apart (ours gen 5:vms1, vms2's gen 7:vms2); vms2's tree was kept; this node's copy is in /var/lib/vigil/conflicts/rec/2025-03-14T08-00-06Z", forcedAt: null,
        read: { configured: "direct", served: null, fallback: null },
      },
    };
    let shown = mirrored;
    const mirrorServed = await serveConsole({ status: () => ({ ...snapshot(), modules: [shown] }), metrics: () => "", modules: engine, commands: "token", commandToken: () => ({ ok: true, token: TOKEN }) });
    try {
      const { page, problems } = await browser.newPage();
      await page.goto(mirrorServed.url);
      const row = page.locator('[data-module="rec"]');
      await expect.poll(() => row.count()).toBe(1);
      expect(await row.locator('[data-testid="mirror-data"]').textContent()).toBe("copy being resynced");
      expect(await row.locator('[data-testid="mirror-link"]').textContent()).toBe("replication up");
      expect(await row.locator('[data-testid="mirror-serving"]').textContent()).toContain("incomplete");
      expect(await row.locator('[data-testid="mirror-resync-bar"]').getAttribute("value")).toBe("25");
      expect(await row.locator('[data-testid="mirror-resync-text"]').textContent()).toBe(" 25 % · 100 MiB of 400 MiB · files 10/40 · 20 MiB/s, 15s left");
      const banner = testid(page, "split-brain-banner");
      expect(await banner.count()).toBe(1);
      expect(await banner.textContent()).toContain("Split brain on rec");
      expect(await banner.textContent()).toContain("vigil ack rec");
      await page.screenshot({ path: artifactPath("console-mirror-resync.png"), fullPage: true });
      // Writes kept aside after a failover in mode async are not called a split brain.
      const kept = "this node ran rec in mode async and its daemon died before its last writes reached vms2, which took over; what the resync replaces here is kept in /var/lib/vigil/conflicts/rec/T";
      if (mirrored.mirror === undefined) throw new Error("the fixture has a mirror");
      shown = { ...mirrored, mirror: { ...mirrored.mirror, resync: null, splitBrain: kept, keptKind: "unsent-writes" } };
      await expect.poll(() => banner.textContent()).toContain("Writes of rec that never reached the standby were kept aside");
      expect(await banner.textContent()).not.toContain("Split brain");
      expect(await row.locator('[data-testid="mirror-split-brain"]').textContent()).toContain("async writes kept aside");
      // read: as the mount serves it: configured only while not mounted here; a fallback says why.
      expect(await row.locator('[data-testid="mirror-read-mode"]').textContent()).toBe("reads direct (configured)");
      expect(await row.locator('[data-testid="mirror-read-fallback"]').count()).toBe(0);
      const fellBack = "this kernel cannot map direct-I/O files shared (FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6)";
      shown = { ...shown, mirror: { ...mirrored.mirror, read: { configured: "direct", served: "cache", fallback: fellBack } } };
      await expect.poll(() => row.locator('[data-testid="mirror-read-mode"]').textContent()).toBe("reads cache");
      expect(await row.locator('[data-testid="mirror-read-mode"]').getAttribute("class")).toContain("badge-warn");
      expect(await row.locator('[data-testid="mirror-read-fallback"]').textContent()).toBe(`not direct: ${fellBack}`);
      shown = { ...shown, mirror: { ...mirrored.mirror, read: { configured: "direct", served: "direct", fallback: null } } };
      await expect.poll(() => row.locator('[data-testid="mirror-read-mode"]').textContent()).toBe("reads direct");
      expect(problems).toEqual([]);
      await page.close();
    } finally {
      await mirrorServed.stop();
    }
  });

  it("asks for the token once, refuses a wrong one, sends swap and shows the outcome", async () => {
    const { page, problems } = await browser.newPage();
    await page.goto(served.url);
    await expect.poll(() => testid(page, "module-row").count()).toBe(2);
    const swap = page.locator('[data-module="vms"] [data-command="swap"]');

    await swap.click();
    const dialog = testid(page, "token-dialog");
    await dialog.waitFor({ state: "visible" });
    expect(await dialog.textContent()).toContain("vigil token");
    expect(await testid(page, "token-problem").isVisible()).toBe(false);
    await testid(page, "token-input").fill("not-the-token");
    await testid(page, "token-submit").click();

    // The daemon said 401: the page asks again, saying why.
    await expect.poll(() => testid(page, "token-problem").textContent()).toContain("the console token is wrong");
    expect(await dialog.isVisible()).toBe(true);
    expect(engine.requests).toEqual([]);
    await testid(page, "token-input").fill(TOKEN);
    await testid(page, "token-submit").click();

    const outcome = testid(page, "outcome-text");
    await expect.poll(() => outcome.textContent()).toBe("swap vms: done: vms2 is PRIM");
    expect(await testid(page, "outcome").getAttribute("data-tone")).toBe("ok");
    expect(await testid(page, "outcome-node").allTextContents()).toEqual(["vms1SECOND", "vms2PRIM", "vms3dead"]);
    expect(await testid(page, "command-outcome").getAttribute("aria-live")).toBe("polite");
    expect(await dialog.isVisible()).toBe(false);
    expect(engine.requests).toEqual([{ module: "vms", command: "swap", yes: false, timeoutMs: 30_000, source: "http from 127.0.0.1" }]);
    await page.screenshot({ path: artifactPath("console-modules-swap.png"), fullPage: true });

    // The token is kept for the tab: the next command goes straight out.
    await page.locator('[data-module="web"] [data-command="second"]').click();
    await expect.poll(() => outcome.textContent()).toBe("second web: done: vms2 is PRIM");
    expect(await dialog.isVisible()).toBe(false);
    expect(engine.requests.map((r) => `${r.command} ${r.module}`)).toEqual(["swap vms", "second web"]);
    expect(problems.filter((p) => !p.includes("401"))).toEqual([]);
    await page.close();
  });

  it("puts forceprim behind a confirm that states the risk, and sends it only when confirmed", async () => {
    const { page, problems } = await browser.newPage();
    await page.goto(served.url);
    await expect.poll(() => testid(page, "module-row").count()).toBe(2);
    await page.evaluate(`sessionStorage.setItem("vigil.console-token", ${JSON.stringify(TOKEN)})`);
    const force = page.locator('[data-module="vms"] [data-command="forceprim"]');

    await force.click();
    const dialog = testid(page, "forceprim-dialog");
    await dialog.waitFor({ state: "visible" });
    expect(await testid(page, "forceprim-module").textContent()).toBe("vms");
    expect(await testid(page, "forceprim-node").textContent()).toBe("vms1");
    expect(await testid(page, "forceprim-risk").textContent()).toMatch(/both nodes serve clients and write the same data \(split brain\)/);
    await page.screenshot({ path: artifactPath("console-modules-forceprim.png") });
    await testid(page, "forceprim-cancel").click();
    await dialog.waitFor({ state: "hidden" });
    expect(engine.requests).toEqual([]);
    expect(await testid(page, "outcome").count()).toBe(0);

    await force.click();
    await dialog.waitFor({ state: "visible" });
    await testid(page, "forceprim-confirm").click();
    await expect.poll(() => testid(page, "outcome-text").textContent()).toBe("forceprim vms: done: vms2 is PRIM");
    expect(engine.requests).toEqual([{ module: "vms", command: "forceprim", yes: true, timeoutMs: 30_000, source: "http from 127.0.0.1" }]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("says it is waiting for the cluster, and holds the other buttons, until the answer comes", async () => {
    const { page, problems } = await browser.newPage();
    await page.goto(served.url);
    await expect.poll(() => testid(page, "module-row").count()).toBe(2);
    await page.evaluate(`sessionStorage.setItem("vigil.console-token", ${JSON.stringify(TOKEN)})`);
    let release = (): void => {};
    engine.hold = new Promise((r) => (release = r));
    try {
      await page.locator('[data-module="vms"] [data-command="prim"]').click();
      const outcome = testid(page, "outcome-text");
      await expect.poll(() => outcome.textContent()).toBe("prim vms: waiting for the cluster…");
      expect(await testid(page, "outcome").getAttribute("data-tone")).toBe("info");
      // Through at least one redraw, every command button stays disabled.
      await expect.poll(() => testid(page, "last-update").textContent()).not.toBe(await testid(page, "last-update").textContent());
      const disabled = await testid(page, "module-command").evaluateAll((els) => els.map((e) => (e as unknown as { disabled: boolean }).disabled));
      expect(new Set(disabled)).toEqual(new Set([true]));
      release();
      await expect.poll(() => outcome.textContent()).toBe("prim vms: done: vms2 is PRIM");
      expect(await page.locator('[data-module="web"] [data-command="swap"]').isEnabled()).toBe(true);
    } finally {
      engine.hold = null;
      release();
    }
    expect(engine.requests).toEqual([{ module: "vms", command: "prim", yes: false, timeoutMs: 30_000, source: "http from 127.0.0.1" }]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows the id of an internal error, which the daemon's log has with the message; never the message", async () => {
    const logged: Record<string, unknown>[] = [];
    const failing = await serveConsole({
      status: snapshot, metrics: () => "", modules: engine, commands: "token", commandToken: () => ({ ok: true, token: TOKEN }),
      log: { error: (_msg, fields) => void logged.push(fields) },
    });
    try {
      engine.fail = new Error("cannot read /var/lib/vigil/modules/vms.state: EIO");
      const { page } = await browser.newPage();
      await page.goto(failing.url);
      await expect.poll(() => testid(page, "module-row").count()).toBe(2);
      await page.evaluate(`sessionStorage.setItem("vigil.console-token", ${JSON.stringify(TOKEN)})`);
      await page.locator('[data-module="vms"] [data-command="stop"]').click();
      const outcome = testid(page, "outcome-text");
      await expect.poll(() => outcome.textContent()).toMatch(/^stop vms: failed: internal error/);
      expect(logged).toHaveLength(1);
      expect(await outcome.textContent()).toBe(`stop vms: failed: internal error (id ${String(logged[0]?.["id"])}: the daemon's log has the details)`);
      expect(logged[0]?.["error"]).toBe("Error: cannot read /var/lib/vigil/modules/vms.state: EIO");
      expect(await testid(page, "outcome").getAttribute("data-tone")).toBe("bad");
      await page.close();
    } finally {
      await failing.stop();
    }
  });

  it("shows why when commands over the network are off (no cluster key)", async () => {
    const off = await serveConsole({
      status: snapshot, metrics: () => "", modules: engine, commands: "token",
      commandToken: () => ({ ok: false, message: "cluster.key_file is not set" }),
    });
    try {
      const { page } = await browser.newPage();
      await page.goto(off.url);
      await expect.poll(() => testid(page, "module-row").count()).toBe(2);
      await page.evaluate(`sessionStorage.setItem("vigil.console-token", "anything")`);
      await page.locator('[data-module="vms"] [data-command="stop"]').click();
      await expect.poll(() => testid(page, "outcome-text").textContent()).toBe(
        "stop vms: failed: module commands over the network are off: cluster.key_file is not set; use the vigil CLI on a node instead",
      );
      expect(await testid(page, "outcome").getAttribute("data-tone")).toBe("bad");
      expect(engine.requests).toEqual([]);
      await page.close();
    } finally {
      await off.stop();
    }
  });

  it("fits 390 px wide with the modules, their commands and an outcome", async () => {
    const { page, problems } = await browser.newPage({ width: 390, height: 844 });
    await page.goto(served.url);
    await expect.poll(() => testid(page, "module-row").count()).toBe(2);
    await page.evaluate(`sessionStorage.setItem("vigil.console-token", ${JSON.stringify(TOKEN)})`);
    await page.locator('[data-module="vms"] [data-command="restart"]').click();
    await expect.poll(() => testid(page, "outcome-text").textContent()).toBe("restart vms: done: vms2 is PRIM");
    const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"));
    expect(overflow).toBeLessThanOrEqual(0);
    for (const b of await page.locator('[data-module="vms"] [data-testid="module-command"]').all()) {
      const box = await b.boundingBox();
      expect(box, "a command button is off screen").not.toBeNull();
      expect((box?.x ?? 0) + (box?.width ?? 0)).toBeLessThanOrEqual(390);
    }
    expect(problems).toEqual([]);
    await page.screenshot({ path: artifactPath("console-modules-narrow.png"), fullPage: true });
    await page.close();
  });
});

/**
 * The console's health views fed recorded status (test/web/health-fixtures.ts):
 * WAIT and ALONE told apart, checker badges on a node whose service is
 * stopped, the cluster cards and summaries, resources, the failover in
 * progress and a stopped peer, event sentences and filters, the log view.
 * The real-daemon states (healthy, isolated, running nowhere) are in
 * test/lab/console-health.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { artifactPath, chromiumMissing, testid, useSnapshotConsole } from "./browser.ts";
import { configDrift, failoverInProgress, healthy, stoppedPeer, waitingNode } from "./health-fixtures.ts";

const missing = chromiumMissing();

if (missing !== null && process.env.CI === "true") {
  it("has chromium to test the console with", () => {
    throw new Error(missing);
  });
} else if (missing !== null) {
  console.warn(`skipping the console health tests: ${missing}`);
}

const LOG = [
  "2026-12-06T06:00:00.000Z info  vigil started node=scada1",
  "2026-12-06T06:00:01.000Z info  peer scada2 up peer=scada2",
  "2026-12-06T06:00:10.000Z info  module hmi WAIT -> PRIM module=hmi",
].join("\n") + "\n";

describe.skipIf(missing !== null)("console health views", () => {
  const ui = useSnapshotConsole(healthy(), { logText: () => LOG, nodeName: () => "scada1" });

  async function show(s: StatusSnapshot, shot: string): Promise<Page> {
    ui.show(s);
    const { page, problems } = await ui.browser().newPage({ width: 1280, height: 1000 });
    await page.goto(ui.url());
    await expect.poll(() => testid(page, "node-name").textContent()).toBe(s.node.name);
    await expect.poll(() => testid(page, "module-summary").count()).toBe(s.health?.modules.length ?? 0);
    await page.screenshot({ path: artifactPath(shot), fullPage: true });
    expect(problems).toEqual([]);
    return page;
  }

  it("healthy: both nodes side by side, the module in words, the resources, links to each console", async () => {
    const page = await show(healthy(), "health-healthy-recorded.png");
    expect(await testid(page, "node-card").evaluateAll((els) => els.map((e) => e.getAttribute("data-node")))).toEqual(["scada1", "scada2"]);
    expect(await testid(page, "node-state").allTextContents()).toEqual(["this node", "up"]);
    expect(await testid(page, "node-console-link").getAttribute("href")).toBe("http://198.51.100.12:9010/");
    expect(await testid(page, "summary-text").allTextContents()).toEqual(["hmi runs on scada1; scada2 is ready to take over."]);
    expect(await testid(page, "resource-row").evaluateAll((els) => els.map((e) => e.getAttribute("data-resource")))).toEqual(["vip 198.51.100.100/24", "script start.sh"]);
    expect(await testid(page, "resource-state").allTextContents()).toEqual(["up", "up"]);
    expect(await testid(page, "isolated-banner").count()).toBe(0);
    expect(await testid(page, "nowhere-banner").count()).toBe(0);
    expect(await testid(page, "checker-state").allTextContents()).toEqual(["ok"]);
    await page.close();
  });

  it("WAIT and ALONE differ in colour and words; checkers of a stopped service are not shown OK", async () => {
    const page = await show(waitingNode(), "health-wait-node.png");
    const state = testid(page, "module-state");
    expect(await state.textContent()).toBe("WAIT");
    expect(await state.getAttribute("class")).toBe("badge badge-wait");
    expect(await testid(page, "module-state-words").textContent()).toBe("not running here");
    expect(await testid(page, "checker-state").allTextContents()).toEqual(["not checked (service stopped here)"]);
    const roles = page.locator('[data-testid="module-node-role"]');
    expect(await roles.evaluateAll((els) => els.map((e) => `${e.textContent} ${e.className}`))).toEqual(["WAIT badge badge-wait", "ALONE badge badge-warn"]);
    expect(await testid(page, "summary-text").textContent()).toBe("hmi runs on scada2 without a partner: scada1 waits (start script start.sh exited 1).");
    expect(await testid(page, "resource-state").allTextContents()).toEqual(["down", "failed"]);
    await page.close();
  });

  it("failover in progress: the takeover in words while its start script runs", async () => {
    const page = await show(failoverInProgress(), "health-failover-in-progress.png");
    expect(await testid(page, "summary-text").textContent()).toBe("hmi is starting on scada2 (script start.sh starting); scada1 is dead.");
    expect(await testid(page, "module-state-words").textContent()).toBe("running here without a partner");
    expect(await testid(page, "node-state").allTextContents()).toEqual(["this node", "dead"]);
    expect(await testid(page, "resource-state").allTextContents()).toEqual(["up", "starting"]);
    await page.close();
  });

  it("a stopped peer shows stopped, not dead, and is no isolation", async () => {
    const page = await show(stoppedPeer(), "health-stopped-peer-recorded.png");
    expect(await testid(page, "node-state").allTextContents()).toEqual(["this node", "stopped"]);
    expect(await testid(page, "isolated-banner").count()).toBe(0);
    expect(await testid(page, "event-text").first().textContent()).toBe("Peer scada1 stopped cleanly (it said goodbye).");
    await page.close();
  });

  it("config drift: a banner naming the peer and the differing keys, and the keys on its card", async () => {
    const page = await show(configDrift(), "health-config-drift-recorded.png");
    expect(await testid(page, "drift-banner").textContent()).toBe(
      "Config differs between nodesscada2 runs another config: modules.hmi.checkers, modules.hmi.failback differ. Copy the same vigil.yaml to every node and reload it (SIGHUP).");
    expect(await page.locator('[data-node="scada2"] [data-testid="node-drift"]').textContent()).toBe("config differs modules.hmi.checkers, modules.hmi.failback");
    await page.close();
  });

  it("events read as sentences, keep their fields in the details, and filter by module, node and severity", async () => {
    const page = await show(healthy(), "health-events.png");
    const texts = testid(page, "event-text");
    expect(await texts.allTextContents()).toEqual([
      "This node ran late 4 times in the last minute, worst 310 ms; peer deadlines stretched.",
      "Module hmi: script start.sh started.",
      "Module hmi: vip 198.51.100.100/24 started.",
      "Module hmi went WAIT → PRIM: runs here (elected).",
      "Peer scada2 is up (first heartbeat received).",
      "vigil 0.9.0 started as node scada1 of cluster plant, config /media/usb0/vigil.yaml.",
    ]);
    expect(await testid(page, "event").nth(3).locator("details").textContent()).toContain("module hmi WAIT -> PRIM module=hmi from=WAIT to=PRIM reason=elected");

    await testid(page, "filter-module").selectOption("hmi");
    await expect.poll(() => texts.count()).toBe(3);
    await testid(page, "filter-module").selectOption("");
    await testid(page, "filter-node").selectOption("scada2");
    await expect.poll(() => texts.allTextContents()).toEqual(["Peer scada2 is up (first heartbeat received)."]);
    await testid(page, "filter-node").selectOption("");
    await testid(page, "filter-level").selectOption("warn");
    await expect.poll(() => testid(page, "event-level").allTextContents()).toEqual(["warn"]);
    expect(await testid(page, "filter-count").textContent()).toBe("1 of 6 shown");
    await page.screenshot({ path: artifactPath("health-events-filtered.png"), fullPage: true });
    await page.close();
  });

  it("fits a phone's 390 px: the cluster cards, summaries, resources and filters wrap instead of scrolling sideways", async () => {
    ui.show(failoverInProgress());
    const { page, problems } = await ui.browser().newPage({ width: 390, height: 844 });
    await page.goto(ui.url());
    await expect.poll(() => testid(page, "module-summary").count()).toBe(1);
    await expect.poll(() => testid(page, "log-lines").textContent()).not.toBe("");
    const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"));
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: artifactPath("health-narrow.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows the log file with a search and a download", async () => {
    const page = await show(healthy(), "health-log.png");
    const lines = testid(page, "log-lines");
    await expect.poll(() => lines.textContent()).toBe(LOG.trimEnd());
    expect(await testid(page, "log-path").textContent()).toBe("/var/lib/vigil/vigil.log");
    await testid(page, "log-search").fill("PEER");
    await testid(page, "log-submit").click();
    await expect.poll(() => lines.textContent()).toBe("2026-12-06T06:00:01.000Z info  peer scada2 up peer=scada2");
    expect(await testid(page, "log-note").textContent()).toBe('1 of 3 lines contain "PEER"');
    const [download] = await Promise.all([page.waitForEvent("download"), testid(page, "log-download").click()]);
    expect(download.suggestedFilename()).toBe("vigil-scada1.log");
    await page.close();
  });
});

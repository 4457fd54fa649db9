import { describe, expect, it } from "vitest";
import type { VrrpStatus } from "../../src/api/status.ts";
import { bareSnapshot, chromiumMissing, testid, useSnapshotConsole } from "./browser.ts";

const missing = chromiumMissing();

const base = bareSnapshot("gw1", "198.51.100.11", "pair");

const instance = (over: Partial<VrrpStatus>): VrrpStatus => ({
  name: "VI_1", vrid: 51, version: 3, interface: "eth0", primaryAddress: "198.51.100.11", role: "master", priority: 150, effectivePriority: 150,
  masterAddress: "198.51.100.11", vips: ["198.51.100.100/24"], syncGroup: null, unicastPeers: [],
  lastTransition: { time: "2025-03-14T08:00:01.000Z", from: "backup", to: "master", reason: "master-down", detail: "no advert for 3609 ms" },
  tracks: [], advertsSent: 10, advertsReceived: 0, becameMaster: 1, ...over,
});

describe.runIf(missing === null || process.env.CI === "true")("web console: VRRP instances", () => {
  const ui = useSnapshotConsole(base);

  it("shows no VRRP table on a node without VRRP, then one row per instance with its role, priority and master", async () => {
    const { page, problems } = await ui.browser().newPage();
    await page.goto(ui.url());
    await expect.poll(() => testid(page, "node-name").textContent()).toBe("gw1");
    expect(await testid(page, "vrrp-section").count()).toBe(0);

    ui.show({
      ...base,
      vrrp: [
        instance({}),
        instance({
          name: "VI_2", vrid: 52, role: "backup", effectivePriority: 90, masterAddress: "198.51.100.12",
          tracks: [{ name: "process node_exporter", weight: -60, up: false, detail: "not running" }],
        }),
        instance({ name: "<b>VI_3</b>", vrid: 53, role: "fault", masterAddress: null, lastTransition: null }),
      ],
    });
    await expect.poll(() => testid(page, "vrrp-row").count()).toBe(3);
    expect(await testid(page, "vrrp-table").locator("th[scope=col]").allTextContents()).toEqual([
      "Name", "VRID", "Interface", "Role", "Priority", "Master", "VIPs", "Last change",
    ]);
    expect(await testid(page, "vrrp-role").allTextContents()).toEqual(["MASTER", "BACKUP", "FAULT"]);
    expect(await testid(page, "vrrp-role").evaluateAll((els) => els.map((e) => e.className))).toEqual([
      "badge badge-ok", "badge badge-info", "badge badge-bad",
    ]);
    expect(await testid(page, "vrrp-master").allTextContents()).toEqual(["198.51.100.11 (this node)", "198.51.100.12", "—"]);
    expect(await page.locator('[data-instance="VI_2"] [data-testid="vrrp-priority"]').textContent()).toBe("90 (of 150)process node_exporter down");
    // Names are text, never markup.
    expect(await page.locator('[data-instance="<b>VI_3</b>"] td').first().textContent()).toBe("<b>VI_3</b>");
    // The section sits before the modules.
    const order = await page.evaluate(`[...document.querySelectorAll("main > section")].map((s) => s.getAttribute("aria-labelledby"))`);
    expect(order).toEqual(["cluster-heading", "peers-heading", "vrrp-heading", "modules-heading", "resources-heading", "events-heading", "log-heading"]);

    ui.show({ ...base, vrrp: [] });
    await expect.poll(() => testid(page, "vrrp-section").isHidden()).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  });
});

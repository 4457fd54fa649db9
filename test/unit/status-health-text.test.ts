import { describe, expect, it } from "vitest";
import { formatStatus } from "../../src/cli/status-table.ts";
import { configDrift, failoverInProgress, healthy, waitingNode } from "../web/health-fixtures.ts";

describe("vigil status: the cluster in words", () => {
  it("puts each module's sentence under the header, and its resources under the module", () => {
    const out = formatStatus(healthy()).split("\n");
    expect(out).toContain("ok        hmi runs on scada1; scada2 is ready to take over.");
    expect(out).toContain("  resource vip 198.51.100.100/24 up: on this node (eth0); started at 2026-12-06T06:00:11.000Z");
    expect(out).toContain("  resource script start.sh up: started at 2026-12-06T06:00:11.000Z");
    expect(out.filter((l) => l.startsWith("ALARM"))).toEqual([]);
  });

  it("prints an alarm first when a module runs nowhere or the node is isolated", () => {
    const s = failoverInProgress();
    const out = formatStatus({ ...s, health: { ...s.health!, alarms: [{ kind: "running-nowhere", module: "hmi", since: "2026-12-06T06:01:00.000Z", text: "hmi runs nowhere: scada2 waits; scada1 is dead." }] } });
    expect(out).toMatch(/^ALARM {5}This node is isolated: it hears no peer on any link \(scada1 silent on 198\.51\.100\.11, 203\.0\.113\.11\)/m);
    expect(out).toContain("ALARM     hmi runs nowhere: scada2 waits; scada1 is dead. (since 2026-12-06T06:01:00.000Z)");
    expect(out).toContain("ATTENTION hmi is starting on scada2 (script start.sh starting); scada1 is dead.");
  });

  it("says the checkers of a stopped service were not checked, and config drift", () => {
    expect(formatStatus(waitingNode())).toContain("  checkers: http not checked (service stopped here)");
    expect(formatStatus(configDrift())).toContain("ATTENTION scada2 runs another config: modules.hmi.checkers, modules.hmi.failback differ.");
  });

  it("prints recent events as sentences", () => {
    expect(formatStatus(healthy())).toContain("2026-12-06T06:00:01.000Z info  Peer scada2 is up (first heartbeat received).");
  });
});

import { describe, expect, it } from "vitest";
import { formatStatus } from "../../src/cli/status-table.ts";
import type { ModuleStatus } from "../../src/api/modules.ts";
import type { StatusSnapshot } from "../../src/api/status.ts";

function snapshot(modules: ModuleStatus[]): StatusSnapshot {
  return {
    version: "0.1.0", node: { name: "vms1", addresses: ["198.51.100.11"] }, cluster: { name: "vms-pair" }, pid: 7,
    startedAt: "2026-11-22T08:00:00.000Z", uptimeMs: 65_000, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil",
    web: { listen: "0.0.0.0:9010" }, peers: [], modules, events: [],
  };
}

const base: ModuleStatus = {
  name: "vms", type: "failover", state: "PRIM", prefer: "vms1", failback: "manual",
  nodes: [{ node: "vms1", role: "PRIM", generation: 4 }, { node: "vms2", role: "SECOND", generation: 4 }, { node: "vms3", role: "dead", generation: null }],
  lastTransition: { time: "2026-11-22T08:00:03.000Z", from: "SECOND", to: "PRIM", reason: "peer-dead", detail: "vms3 died" },
  checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null,
};

const modulesPart = (s: string) => s.split("\n").slice(s.split("\n").findIndex((l) => l.startsWith("MODULE")));

describe("vigil status: modules", () => {
  it("shows each module's role on every node and its last transition with reason and time", () => {
    const idle: ModuleStatus = { ...base, name: "web", state: "STOP", nodes: [{ node: "vms1", role: "STOP", generation: null }, { node: "vms2", role: "unknown", generation: null }], lastTransition: null };
    expect(modulesPart(formatStatus(snapshot([base, idle])))).toEqual([
      "MODULE  TYPE      STATE  NODES                            LAST TRANSITION",
      "vms     failover  PRIM   vms1:PRIM vms2:SECOND vms3:dead  2026-11-22T08:00:03.000Z SECOND->PRIM peer-dead: vms3 died",
      "web     failover  STOP   vms1:STOP vms2:unknown           -",
    ]);
  });

  it("adds compact lines for checkers, a blocked start, a pending command, restarts, witness and lease", () => {
    const busy: ModuleStatus = {
      ...base,
      checkers: [
        { name: "http", target: "http 127.0.0.1:8080", onFail: "restart", ok: true, failing: false, detail: "200", lastCheckedAt: "2026-11-22T08:00:04.000Z" },
        { name: "tcp", target: "tcp 127.0.0.1:5432", onFail: "failover", ok: false, failing: true, detail: "connection refused", lastCheckedAt: "2026-11-22T08:00:04.000Z" },
        { name: "disk", target: "file /srv/ok", onFail: "wait", ok: false, failing: false, detail: "missing", lastCheckedAt: null },
        { name: "gw", target: "ping 198.51.100.1", onFail: "wait", ok: null, failing: false, detail: "", lastCheckedAt: null },
      ],
      blocked: "start failed on vms1 (exit 3)",
      pending: { command: "swap", since: "2026-11-22T08:00:05.000Z" },
      restarts: 2,
      witness: { reachable: false, detail: "198.51.100.1 silent" },
      lease: { holder: "vms1", expiresInMs: 2000, detail: "renewed" },
    };
    expect(modulesPart(formatStatus(snapshot([busy]))).slice(2)).toEqual([
      "  checkers: http ok, tcp FAILING (connection refused), disk failed (missing), gw not run yet",
      "  blocked: start failed on vms1 (exit 3)",
      "  pending: swap since 2026-11-22T08:00:05.000Z",
      "  restarts: 2 in the current window",
      "  witness: UNREACHABLE (198.51.100.1 silent)",
      "  lease: vms1 (renewed)",
    ]);
  });

  it("shows a mirror's copy, link, writes and resync progress, and what needs the operator", () => {
    const mirror: ModuleStatus = {
      ...base, type: "mirror", state: "SECOND",
      mirror: {
        folder: "/var/lib/vms", data: "inconsistent", gen: "7:vms1", since: "2026-11-22T08:00:06.000Z",
        serving: "this copy is being resynced from vms1 and is incomplete", link: "up", linkDetail: "connected to vms1",
        peerData: "uptodate", writes: "standby", waitingOps: 0, mode: "sync", asyncLag: null,
        resync: { phase: "data", mode: "journal", filesTotal: 40, filesDone: 10, bytesTotal: 100 * 1048576, bytesDone: 25 * 1048576, bytesSent: 3 * 1048576, bytesPerSec: 5 * 1048576, etaSec: 15, elapsedMs: 5000 },
        splitBrain: "both copies changed while apart (ours gen 5:vms2, vms1's gen 6:vms1)", forcedAt: null,
      },
    };
    expect(modulesPart(formatStatus(snapshot([mirror]))).slice(2)).toEqual([
      "  mirror /var/lib/vms: copy being resynced (incomplete) (gen 7:vms1, since 2026-11-22T08:00:06.000Z); replication up; writes standby",
      "  not served here: this copy is being resynced from vms1 and is incomplete",
      "  resync journal data: 25 % (25.0 MiB of 100.0 MiB, files 10/40, 5.0 MiB/s, 15 s left)",
      "  SPLIT BRAIN: both copies changed while apart (ours gen 5:vms2, vms1's gen 6:vms1)",
    ]);
  });

  it("names writes kept aside after a failover in mode async as such, not as a split brain", () => {
    const mirror: ModuleStatus = {
      ...base, type: "mirror", state: "SECOND",
      mirror: {
        folder: "/var/lib/vms", data: "uptodate", gen: "7:vms1", since: "2026-11-22T08:00:06.000Z",
        serving: null, link: "up", linkDetail: "connected to vms1",
        peerData: "uptodate", writes: "standby", waitingOps: 0, mode: "async", asyncLag: null, resync: null,
        splitBrain: "this node ran vms in mode async and its daemon died before its last writes reached vms1, which took over; what the resync replaces here is kept in /var/lib/vigil/conflicts/vms/T",
        keptKind: "unsent-writes", forcedAt: null,
      },
    };
    expect(modulesPart(formatStatus(snapshot([mirror]))).filter((l) => /KEPT|SPLIT/.test(l))).toEqual([
      "  ASYNC WRITES KEPT ASIDE: this node ran vms in mode async and its daemon died before its last writes reached vms1, which took over; what the resync replaces here is kept in /var/lib/vigil/conflicts/vms/T",
    ]);
    const first = "this copy held files of its own before its first sync from vms1: those the sync replaced or removed are kept in /var/lib/vigil/conflicts/vms/T";
    const kept: ModuleStatus = { ...mirror, mirror: { ...(mirror.mirror as NonNullable<ModuleStatus["mirror"]>), splitBrain: first, keptKind: "first-sync" } };
    expect(modulesPart(formatStatus(snapshot([kept]))).filter((l) => /KEPT|SPLIT/.test(l))).toEqual([`  FILES KEPT ASIDE AT FIRST SYNC: ${first}`]);
  });

  it("shows how far a mirror in mode async is ahead of its peer", () => {
    const mirror: ModuleStatus = {
      ...base, type: "mirror", state: "PRIM",
      mirror: {
        folder: "/var/lib/vms", data: "uptodate", gen: "7:vms1", since: "2026-11-22T08:00:06.000Z",
        serving: null, link: "up", linkDetail: "connected to vms2",
        peerData: "uptodate", writes: "replicate", waitingOps: 0, mode: "async", asyncLag: { bytes: 3 * 1048576, seconds: 0.42 },
        resync: null, splitBrain: null, forcedAt: null,
      },
    };
    expect(modulesPart(formatStatus(snapshot([mirror]))).slice(2)).toEqual([
      "  mirror /var/lib/vms: copy up to date (gen 7:vms1, since 2026-11-22T08:00:06.000Z); replication up; writes replicate (mode async: 3.0 MiB not yet on the peer, oldest 0.4 s)",
    ]);
  });

  it("says when no modules are configured", () => {
    expect(formatStatus(snapshot([]))).toContain("\n(no modules configured)");
  });
});

/**
 * A mirror module's data gate in the failover module core: a node whose
 * copy may not be served never takes the module, forceprim overrides it,
 * and the mirror resource starts before everything else. A gate that closes
 * after a claim but before the folders are mounted (the takeover's copy
 * record could not be saved) sends the node back to WAIT, not blocked, and
 * it claims again by itself once the gate opens.
 */
import { describe, expect, it } from "vitest";
import type { ModuleAction, ModuleResource } from "../../src/core/module/module.ts";
import { ModuleScript, SCRIPT, testConfig, VIP } from "./module-driver.ts";

const MIRROR: ModuleResource = { kind: "mirror", folders: ["/srv/data"] };
const published = (actions: readonly ModuleAction[]) => actions.flatMap((a) => (a.type === "publish" ? [a.role] : []));

describe("module core: mirror data gate", () => {
  it("a node whose copy is not current rests in WAIT even when its peer is dead", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", resources: [MIRROR, VIP, SCRIPT] }));
    s.step({ type: "data", blocked: "this copy is outdated: b has newer data" }, 0);
    s.peer(0, "b", "dead");
    s.settle(10);
    expect(s.role).toBe("WAIT");
    expect(s.state.decision.reason).toBe("data-not-current");
    expect(s.state.decision.detail).toMatch(/outdated/);
    // The gate lifts (the copies were compared): it takes the module, mirror first.
    const out = s.step({ type: "data", blocked: null }, 20);
    expect(published(out)).toEqual(["ALONE"]);
    expect(out.find((a) => a.type === "start-resource")).toMatchObject({ index: 0, resource: MIRROR });
  });

  it("forceprim overrides the gate", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", resources: [MIRROR, VIP] }));
    s.step({ type: "data", blocked: "this copy is not known to be up to date" }, 0);
    s.peer(0, "b", "dead");
    s.settle(10);
    expect(s.role).toBe("WAIT");
    s.step({ type: "command", id: "f1", command: "forceprim" }, 20);
    expect(s.role).toBe("ALONE");
  });

  it("a running node is not stopped by a gate (its copy is the reference)", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", resources: [MIRROR, VIP] }));
    s.up(0, "b", "SECOND");
    s.settle(10);
    expect(s.role).toBe("PRIM");
    s.step({ type: "data", blocked: "whatever" }, 20);
    expect(s.role).toBe("PRIM");
  });

  it("a claim whose gate closes before the folders are mounted waits in WAIT, unblocked, and claims again once the gate opens", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", resources: [MIRROR, VIP, SCRIPT] }));
    s.up(0, "b", "SECOND");
    s.settle(10);
    expect(s.role).toBe("PRIM");
    // a is swapped away and b runs; then b dies: a claims (ALONE) and its mirror start is issued.
    s.step({ type: "command", id: "s1", command: "second" }, 20);
    s.settle(20);
    s.advert(30, "b", "PRIM", 5);
    s.settle(30);
    expect(s.role).toBe("SECOND");
    const claim = s.peer(40, "b", "dead");
    expect(published(claim)).toEqual(["ALONE"]);
    expect(s.pendingRun()).not.toBeNull();
    // The transition's record cannot be saved: the gate closes, then the mirror start is refused.
    s.step({ type: "data", blocked: "cannot take over: copy record not saved (state dir /x full (ENOSPC)); retrying every 1 s" }, 41);
    const refused = s.resource(42, false, "mirror /srv/data: cannot take over: copy record not saved");
    s.settle(43);
    expect(refused.find((a) => a.type === "start-resource" && a.index > 0)).toBeUndefined();
    expect(s.role).toBe("WAIT");
    expect(s.state.blocked).toBeNull();
    expect(s.state.decision.reason).toBe("data-not-current");
    expect(s.state.decision.detail).toMatch(/ENOSPC/);
    expect(s.actions.some((a) => a.type === "persist")).toBe(false);
    // Space again: the record is saved, the gate opens, and a takes the module by itself, mirror first.
    const again = s.step({ type: "data", blocked: null }, 2000);
    expect(published(again)).toEqual(["ALONE"]);
    expect(again.find((a) => a.type === "start-resource")).toMatchObject({ index: 0, resource: MIRROR });
    s.settle(2001);
    expect(s.role).toBe("ALONE");
    expect(s.state.started).toBe(3);
  });

  it("forceprim whose mirror start is refused by a closed gate waits too, instead of starting it again and again", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", resources: [MIRROR, VIP] }));
    s.step({ type: "data", blocked: "this copy is not known to be up to date" }, 0);
    s.peer(0, "b", "dead");
    s.settle(10);
    s.step({ type: "command", id: "f1", command: "forceprim" }, 20);
    expect(s.role).toBe("ALONE");
    s.step({ type: "data", blocked: "cannot take over: copy record not saved (state dir /x full (ENOSPC)); retrying every 1 s" }, 21);
    const out = s.resource(22, false, "mirror /srv/data: cannot take over");
    s.settle(23);
    expect(out.filter((a) => a.type === "start-resource")).toEqual([]);
    expect(s.role).toBe("WAIT");
    expect(s.state.blocked).toBeNull();
    s.step({ type: "data", blocked: null }, 1000);
    expect(s.role).toBe("ALONE");
  });

  it("a mirror start that fails with the gate open is a failed start (blocked until cleared)", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", resources: [MIRROR, VIP] }));
    s.peer(0, "b", "dead");
    s.until(10);
    expect(s.role).toBe("ALONE");
    s.resource(11, false, "mirror /srv/data: fuse: mount failed");
    s.settle(12);
    expect(s.role).toBe("WAIT");
    expect(s.state.blocked).toMatch(/mount failed/);
  });
});

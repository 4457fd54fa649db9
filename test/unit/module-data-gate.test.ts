/**
 * A mirror module's data gate in the failover module core: a node whose
 * copy may not be served never takes the module, forceprim overrides it,
 * and the mirror resource starts before everything else.
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
});

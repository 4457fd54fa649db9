/**
 * Issue #5, scenario 3 without an arbiter: split-brain behaviour with a
 * ping witness only (cluster.witness.ping: the client host h3).
 *
 * Documented behaviour, asserted here:
 * - Heartbeat cut while both nodes still reach the witness: each node hears
 *   no peer but reaches the witness, so each runs the module (ALONE) and
 *   both hold the VIP: a split brain. A ping witness only tells an isolated
 *   node from one whose own network is down; it cannot arbitrate between
 *   two healthy nodes (that needs the arbiter, `vigil witness`).
 * - When the heartbeat comes back, the claims meet: the later takeover (the
 *   higher generation) keeps the module, equal ones go to the preferred
 *   node; the other stops its resources and becomes SECOND. Exactly one
 *   PRIM, and only it holds the VIP.
 * - A node cut off completely (no heartbeat, no witness) goes WAIT: its
 *   service is stopped and its VIP released; the other node runs ALONE.
 *   When it hears the heartbeat again it stands by (SECOND). If instead its
 *   witness answers before the peer's first frame arrives, it takes the
 *   module again (ALONE), and its newer claim wins the conflict that
 *   follows: the module moves back to it, after running on both nodes
 *   until the conflict is settled (about 1.5 s in this lab).
 * Topology and service: module-lab.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { startModuleLab } from "./module-lab.ts";

describeLab("failover module: split brain without an arbiter (ping witness only)", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-module-split-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("heartbeat cut, witness reachable: both ALONE; healed: one PRIM; isolated node: WAIT, the other ALONE", async () => {
    const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, "c-")), failback: "manual" });
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    onTestFinished(async () => {
      await m.stop();
      await lab().linkUp(h1.host);
    });
    await m.waitRunsOn("h1", 0);

    // Cut the heartbeat only (link 2); link 1 with the witness and the client stays up.
    const cutAt = Date.now();
    await lab().linkDown(h1.host, { link: 2 });
    await m.waitRole(h1, ["ALONE"]);
    await m.waitRole(h2, ["ALONE"]);
    expect(await m.holdsVip(h1.host)).toBe(true);
    expect(await m.holdsVip(h2.host)).toBe(true);
    const took = h2.events().find((e) => e.at >= cutAt && e.msg === "module web SECOND -> ALONE");
    expect(took?.fields).toMatchObject({ reason: "isolated-witness-ok" });
    expect((await m.module(h2)).witness).toMatchObject({ reachable: true });

    // Healed: exactly one keeps it.
    const healAt = Date.now();
    await lab().linkUp(h1.host, { link: 2 });
    let roles: string[] = [];
    await waitUntil(async () => {
      roles = [(await m.module(h1)).state, (await m.module(h2)).state];
      return [...roles].sort().join(" ") === "PRIM SECOND";
    }, { timeoutMs: 20_000, what: "one PRIM and one SECOND after the heal" });
    const [prim, second] = roles[0] === "PRIM" ? [h1, h2] : [h2, h1];
    expect(await m.holdsVip(prim.host)).toBe(true);
    expect(await m.holdsVip(second.host)).toBe(false);
    expect(second.events().some((e) => e.at >= healAt && e.fields.to === "SECOND" && e.fields.reason === "conflict")).toBe(true);
    await m.waitServedBy(prim.name, Date.now());

    // h1 loses every link: no peer, no witness.
    const isolateAt = Date.now();
    await lab().linkDown(h1.host);
    await m.waitRole(h1, ["WAIT"]);
    await m.waitRole(h2, ["ALONE"]);
    expect(await m.holdsVip(h1.host)).toBe(false);
    expect(m.servicePid("h1")).toBeNull();
    expect((await m.module(h1)).witness).toMatchObject({ reachable: false });
    const waited = h1.events().find((e) => e.at >= isolateAt && e.fields.to === "WAIT");
    expect(waited?.fields).toMatchObject({ reason: "isolated-no-witness" });
    // It decided on a witness round made after the cut, never on the answer from before it.
    expect(h1.events().filter((e) => e.at >= isolateAt && e.fields.to === "ALONE")).toEqual([]);
    await m.waitServedBy("h2", isolateAt);

    // Back on the network, heartbeat link first: h1 hears h2 running it and stands by.
    // (Witness link first instead races: if the witness answers before h2's first
    // frame arrives, h1 claims again, and its newer claim wins the conflict.)
    await lab().linkUp(h1.host, { link: 2 });
    await m.waitRole(h1, ["SECOND"]);
    await m.waitRole(h2, ["PRIM"]);
    await lab().linkUp(h1.host, { link: 1 });
    await m.waitServedBy("h2", Date.now());
    expect((await m.module(h1)).state).toBe("SECOND");
  }, 150_000);
});

/**
 * Issue #5, scenario 4: the module commands from the CLI (`vigil swap`,
 * `second`, `prim`, `stop`, `start`, `forceprim` over the control socket),
 * each checked on both nodes (`vigil status`) and from the client (who
 * answers on the VIP). Each command returns only once the cluster reached
 * the new state, so the checks right after it need no waiting on the nodes.
 *
 * The ping witness is an address nobody has (198.51.100.99): a node that
 * hears no peer goes WAIT, which is where forceprim is for.
 * Topology and service: module-lab.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import type { VigilNode } from "./vigil-cluster.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { startModuleLab, type ModuleLab } from "./module-lab.ts";

const NOBODY = "198.51.100.99";

describeLab("failover module: CLI commands", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-module-cli-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  /** Both nodes' own roles for web, h1 first. */
  const roles = async (m: ModuleLab): Promise<string[]> => [(await m.module(m.node("h1"))).state, (await m.module(m.node("h2"))).state];

  async function run(m: ModuleLab, on: VigilNode, args: string[]): Promise<{ code: number; out: string }> {
    const r = await m.cli(on, args);
    return { code: r.code, out: `${r.stdout}${r.stderr}` };
  }

  labTest("swap, second, prim, stop, start and forceprim, seen on both nodes and by the client", async () => {
    const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, "c-")), failback: "manual", witness: NOBODY });
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    onTestFinished(async () => {
      await m.stop();
      await lab().linkUp(h1.host);
    });
    await m.waitRunsOn("h1", 0);

    // swap from the standby: it takes the module.
    let t = Date.now();
    let r = await run(m, h2, ["swap", "web"]);
    expect(r.code, r.out).toBe(0);
    expect(await roles(m)).toEqual(["SECOND", "PRIM"]);
    await m.waitServedBy("h2", t);

    // second where it runs: hands it back.
    t = Date.now();
    r = await run(m, h2, ["second", "web"]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("h1 runs web");
    expect(await roles(m)).toEqual(["PRIM", "SECOND"]);
    await m.waitServedBy("h1", t);

    // prim on the standby: asks h1 to hand over, then runs it.
    t = Date.now();
    r = await run(m, h2, ["prim", "web"]);
    expect(r.code, r.out).toBe(0);
    expect(await roles(m)).toEqual(["SECOND", "PRIM"]);
    await m.waitServedBy("h2", t);

    // stop where it runs: STOP there, the other node takes it.
    t = Date.now();
    r = await run(m, h2, ["stop", "web"]);
    expect(r.code, r.out).toBe(0);
    expect((await m.module(h2)).state).toBe("STOP");
    await m.waitRole(h1, ["PRIM"]);
    await m.waitServedBy("h1", t);
    expect(await m.holdsVip(h2.host)).toBe(false);

    // start: back as standby.
    r = await run(m, h2, ["start", "web"]);
    expect(r.code, r.out).toBe(0);
    expect(await roles(m)).toEqual(["PRIM", "SECOND"]);

    // forceprim: refused without --yes, and refused while h1 is heard running it.
    r = await run(m, h2, ["forceprim", "web"]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("--yes");
    r = await run(m, h2, ["forceprim", "web", "--yes"]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("use prim");
    expect(await roles(m)).toEqual(["PRIM", "SECOND"]);

    // h1 dies and goes off the network; h2 hears nobody and its witness does not answer: WAIT.
    t = Date.now();
    h1.proc.kill("SIGKILL");
    await lab().linkDown(h1.host);
    await m.waitRole(h2, ["WAIT"]);
    expect(await m.holdsVip(h2.host)).toBe(false);
    // The operator knows h1 is down: forceprim --yes runs it on h2.
    r = await run(m, h2, ["forceprim", "web", "--yes"]);
    expect(r.code, r.out).toBe(0);
    expect((await m.module(h2)).state).toBe("ALONE");
    await m.waitServedBy("h2", t);
  }, 150_000);
});

/**
 * Command outcomes through two module engines joined by the in-memory
 * wire: a swap answers done only once the other node's start script
 * finished; a failed takeover is answered as failed, naming the script and
 * where the module runs; past the caller's timeout the answer says how far
 * it got, never "done".
 */
import { afterEach, describe, expect, test } from "vitest";
import type { RunOptions, RunResult } from "../../src/sys/run-script.ts";
import { makeNode, ran, roleOf, until, Wire, type TestNode } from "./module-engine-harness.ts";

let wire: Wire | undefined;
afterEach(() => {
  wire?.stop();
  wire = undefined;
});

function pair(): [TestNode, TestNode, Wire] {
  const a = makeNode("a", ["a", "b"]);
  const b = makeNode("b", ["a", "b"]);
  wire = new Wire([a, b]);
  return [a, b, wire];
}

/** Makes the node's start script wait until release() is called. */
function holdStart(n: TestNode): { release: () => void; started: () => boolean } {
  let release: () => void = () => {};
  let started = false;
  const gate = new Promise<void>((r) => (release = r));
  const run = n.host.run;
  n.host.run = async (command: string, o: RunOptions): Promise<RunResult> => {
    if (command !== "/srv/start.sh") return run(command, o);
    started = true;
    await gate;
    return ran(true);
  };
  return { release, started: () => started };
}

describe("module command outcomes", { timeout: 15_000 }, () => {
  test("swap is done only after the other node's start script finished", async () => {
    const [a, b, w] = pair();
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND" && a.host.effects.includes("run /srv/start.sh"));
    const held = holdStart(b);
    let answered = false;
    const outcome = a.engine.command({ module: "web", command: "swap", yes: false, timeoutMs: 5000 }).then((o) => {
      answered = true;
      return o;
    });
    await until(() => held.started());
    // b claims and runs its start script: no answer while it runs.
    await new Promise((r) => setTimeout(r, 100));
    expect(roleOf(b)).toBe("PRIM");
    expect(answered).toBe(false);
    held.release();
    expect(await outcome).toMatchObject({ ok: true, detail: "b runs web now, all its resources started" });
  });

  test("a failed start on the other node: failed, naming the script, and the module back here", async () => {
    const [a, b, w] = pair();
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND" && a.host.effects.includes("run /srv/start.sh"));
    b.host.failing.add("/srv/start.sh");
    const o = await a.engine.command({ module: "web", command: "swap", yes: false, timeoutMs: 5000 });
    expect(o).toMatchObject({ ok: false, detail: "b could not start web (start of script start.sh failed: start.sh: exited 1); web is back on a" });
    expect(o.inProgress).toBeUndefined();
    expect(roleOf(a)).toBe("PRIM");
    expect(roleOf(b)).toBe("WAIT");
    const line = a.log.map((l) => JSON.parse(l) as { msg: string; detail?: string }).find((e) => e.msg === "module web command swap failed");
    expect(line?.detail).toBe(o.detail);
  });

  test("past the timeout: still in progress, saying where it is, and the command goes on", async () => {
    const [a, b, w] = pair();
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND" && a.host.effects.includes("run /srv/start.sh"));
    const held = holdStart(b);
    const o = await a.engine.command({ module: "web", command: "swap", yes: false, timeoutMs: 1000 });
    expect(o).toMatchObject({ ok: false, inProgress: true, detail: "still in progress after 1 s: b is still starting web; the command goes on" });
    expect(a.log.some((l) => (JSON.parse(l) as { msg: string }).msg === "module web command swap still in progress")).toBe(true);
    held.release();
    await until(() => a.engine.statuses()[0]?.pending === null);
    expect(roleOf(b)).toBe("PRIM");
  });

  test("a mirror command sent to a failover module is refused with what that command is for", async () => {
    const [a, , w] = pair();
    w.start();
    const says = async (command: "verify" | "resync" | "ack"): Promise<string> => {
      const o = await a.engine.command({ module: "web", command, yes: false, timeoutMs: 1000 });
      expect(o.ok).toBe(false);
      return o.detail;
    };
    expect(await says("verify")).toBe("web is not a mirror module: verify compares the two copies of a mirror module's folders");
    expect(await says("resync")).toBe("web is not a mirror module: resync sends a mirror module's folders to its standby again");
    expect(await says("ack")).toBe("web is not a mirror module: ack clears a mirror module's split brain");
  });
});

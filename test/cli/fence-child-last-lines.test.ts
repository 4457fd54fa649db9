/**
 * `vigil __fence` (the fallback fencing watchdog, src/daemon/fence/child.ts)
 * leaves once the daemon closed its stdin and every armed module is fenced;
 * its last lines, what it fenced, must reach its stderr's reader before it
 * exits (under Bun, process.exit drops what stderr still buffers).
 *
 * Many modules armed with empty plans, then stdin closed: the child fences
 * them all at once, some 500 KiB of lines. Its reader takes the first 64 KiB
 * and then pauses, so the child meets a full pipe when it has done its work
 * and leaves. No verdict rests on time: a child that never exits fails by the
 * test's timeout.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { VIGIL, requireBinary } from "./vigil-binary.ts";

const MODULES = 2500;
const EAGER_BYTES = 64 * 1024;
/** Well under the child's wait for a reader that makes no progress (3 s). */
const PAUSE_MS = 1000;

describe("vigil __fence", () => {
  it("its last lines reach a slow reader before it exits", async () => {
    requireBinary();
    const child = spawn(VIGIL, ["__fence"], { stdio: ["pipe", "ignore", "pipe"] });
    const stderr = child.stderr;
    if (stderr === null || child.stdin === null) throw new Error("no pipe");
    const chunks: Buffer[] = [];
    let bytes = 0;
    stderr.on("data", (b: Buffer) => {
      const before = bytes;
      bytes += b.length;
      chunks.push(b);
      if (before < EAGER_BYTES && bytes >= EAGER_BYTES) {
        stderr.pause();
        setTimeout(() => stderr.resume(), PAUSE_MS);
      }
    });
    const closed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    const arms: string[] = [];
    for (let m = 1; m <= MODULES; m++) arms.push(JSON.stringify({ type: "arm", module: `app${m}`, inMs: 600_000, vips: [], stops: [] }));
    child.stdin.end(arms.join("\n") + "\n");

    expect(await closed).toBe(0);
    const lines = Buffer.concat(chunks).toString("utf8").split("\n");
    expect(lines.pop()).toBe(""); // Ends with a whole line.
    const fenced = new Set<string>();
    for (const l of lines) {
      const j = JSON.parse(l) as { msg: string; module?: string };
      if (j.msg === "fence watchdog: module fenced" && j.module !== undefined) fenced.add(j.module);
    }
    expect(fenced.size).toBe(MODULES);
    expect(bytes).toBeGreaterThan(EAGER_BYTES * 4); // The reader did meet a full pipe.
    expect(JSON.parse(lines.at(-1) ?? "{}")).toMatchObject({ msg: "fence watchdog: module fenced" });
  }, 120_000);
});

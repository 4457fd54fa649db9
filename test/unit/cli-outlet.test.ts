/**
 * A verb's answer reaches a pipe whole before vigil exits, also when the
 * reader is slower than the writer (`vigil status --json | jq`), and a reader
 * that goes away early (`| head`) does not keep vigil waiting. The outlet is
 * run from source under Bun (fixtures/outlet-probe.ts: 400 writes of 1 KiB);
 * test/cli/output-to-pipe.test.ts checks the same through the built binary.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const BUN = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
const PROBE = path.resolve(import.meta.dirname, "fixtures/outlet-probe.ts");
const ANSWER_BYTES = 400 * 1024;

/**
 * Runs the probe and reads its stdout: the first `eagerBytes` at once, then nothing for `pauseMs`,
 * then the rest; or it closes the pipe once `keepBytes` arrived. The 'data' listener is there from
 * the start: Node resumes a child's unread pipe when the child exits, and a listener added later
 * misses what was buffered (the cause of an earlier version's "0 bytes, exit 0").
 */
function run(mode: string, eagerBytes: number, pauseMs: number, keepBytes = Infinity): Promise<{ bytes: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUN, [PROBE, mode], { stdio: ["ignore", "pipe", "inherit"] });
    let bytes = 0;
    child.stdout.on("data", (b: Buffer) => {
      const before = bytes;
      bytes += b.length;
      if (bytes >= keepBytes) child.stdout.destroy();
      else if (before < eagerBytes && bytes >= eagerBytes) {
        child.stdout.pause();
        setTimeout(() => child.stdout.resume(), pauseMs);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ bytes, code }));
  });
}

describe("the CLI's stdout through a pipe", () => {
  it("delivers the whole answer to a slow reader before exiting", async () => {
    expect(await run("wait", 64 * 1024, 500)).toEqual({ bytes: ANSWER_BYTES, code: 0 });
  });

  it("exits at once, with 0, when the reader closes the pipe early", async () => {
    const r = await run("wait", Infinity, 0, 4096);
    expect(r.code).toBe(0);
  });
});

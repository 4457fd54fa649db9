/**
 * A verb's answer reaches a pipe whole before vigil exits, also when the
 * reader is slower than the writer (`vigil status --json | jq`), and a reader
 * that goes away early (`| head`) does not keep vigil waiting.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const BUN = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
const PROBE = path.resolve(import.meta.dirname, "fixtures/outlet-probe.ts");
const ANSWER_BYTES = 400 * 1024;

/** Runs the probe; its stdout is first read `readAfterMs` later, and at most `keepBytes` of it before the pipe is closed. */
function run(mode: string, readAfterMs: number, keepBytes = Infinity): Promise<{ bytes: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUN, [PROBE, mode], { stdio: ["ignore", "pipe", "inherit"] });
    let bytes = 0;
    child.stdout.pause();
    setTimeout(() => {
      child.stdout.on("data", (b: Buffer) => {
        bytes += b.length;
        if (bytes >= keepBytes) child.stdout.destroy();
      });
      child.stdout.resume();
    }, readAfterMs);
    child.on("error", reject);
    child.on("close", (code) => resolve({ bytes, code }));
  });
}

describe("the CLI's stdout through a pipe", () => {
  it("exits at once, with 0, when the reader closes the pipe early", async () => {
    const r = await run("wait", 0, 4096);
    expect(r.code).toBe(0);
  });
});

import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/** The fake tools signal the group of the process that ran them (its parent), then finish their work. */
const SIGNAL_PARENT_GROUP = 'kill -TERM "-$PPID"\nsleep 0.2\necho done\n';

describe("ip and nft helpers, when a stop signal is sent to the daemon's process group", () => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-helper-group-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("are in a group of their own: they finish, and the runners report success", async () => {
    const ip = join(dir, "ip");
    const nftDir = join(dir, "bin");
    mkdirSync(nftDir);
    for (const file of [ip, join(nftDir, "nft")]) {
      writeFileSync(file, `#!/bin/sh\n${SIGNAL_PARENT_GROUP}`);
      chmodSync(file, 0o755);
    }
    const bun = resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    // Detached: the child leads its own group, as the daemon does under a supervisor, and the
    // fakes' group signal does not reach this test runner.
    const child = spawn(bun, [resolve(import.meta.dirname, "helper-child-group-child.ts"), ip, nftDir], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((done) => child.on("close", done));
    expect(code, err).toBe(0);
    const r = JSON.parse(out) as { ip: unknown; nft: unknown };
    expect(r.ip).toMatchObject({ ok: true, stdout: "done\n" });
    expect(r.nft).toMatchObject({ ok: true, stdout: "done\n" });
  }, 60_000);
});

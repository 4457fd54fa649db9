import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireStateLock } from "../../src/daemon/state-lock.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "vigil-lock-"));

describe("state dir lock", () => {
  it("lets one holder in, refuses a second naming the holder's PID, and frees on release", () => {
    const dir = tmp();
    const a = acquireStateLock(dir);
    expect(a.ok).toBe(true);
    expect(readFileSync(join(dir, "vigil.lock"), "utf8").trim()).toBe(String(process.pid));
    // A live process other than us holds it: use our parent's PID as "another daemon".
    writeFileSync(join(dir, "vigil.lock"), `${process.ppid}\n`);
    const b = acquireStateLock(dir);
    expect(b.ok).toBe(false);
    if (!b.ok) expect(b.message).toContain(`PID ${process.ppid}`);
    writeFileSync(join(dir, "vigil.lock"), `${process.pid}\n`);
    if (a.ok) a.release();
    expect(existsSync(join(dir, "vigil.lock"))).toBe(false);
  });

  it("takes over a lock left by a dead process", async () => {
    const dir = tmp();
    const child = spawn("true");
    const deadPid = child.pid as number;
    await new Promise((r) => child.on("exit", r));
    writeFileSync(join(dir, "vigil.lock"), `${deadPid}\n`);
    const r = acquireStateLock(dir);
    expect(r.ok).toBe(true);
    expect(readFileSync(join(dir, "vigil.lock"), "utf8").trim()).toBe(String(process.pid));
  });

  it("takes over a lock file with garbage in it", () => {
    const dir = tmp();
    writeFileSync(join(dir, "vigil.lock"), "not a pid");
    expect(acquireStateLock(dir).ok).toBe(true);
  });

  it("explains when the state dir cannot be made", () => {
    const dir = tmp();
    writeFileSync(join(dir, "file"), "");
    const r = acquireStateLock(join(dir, "file", "sub"));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/cannot create state dir .*file\/sub: ENOTDIR/);
  });
});

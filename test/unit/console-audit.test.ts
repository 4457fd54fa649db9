import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AUDIT_FILE, consoleAudit } from "../../src/daemon/console-audit.ts";
import { Logger } from "../../src/daemon/log.ts";
import { BURST_FIRST, BURST_MAX_KEYS, burstKey, RefusalBursts, splitBurstKey } from "../../src/daemon/refusal-bursts.ts";

describe("refusal bursts", () => {
  it("lets the first few of a minute through per kind and address, counts the rest, reports them when the minute ends", () => {
    const b = new RefusalBursts();
    const k = burstKey("login-failed", "192.0.2.9");
    const admitted = Array.from({ length: 50 }, (_, i) => b.admit(k, 1000 + i)).filter(Boolean).length;
    expect(admitted).toBe(BURST_FIRST);
    expect(b.admit(burstKey("login-failed", "192.0.2.10"), 1100)).toBe(true);
    expect(b.admit(burstKey("command-refused", "192.0.2.9"), 1100)).toBe(true);
    expect(b.nextDue()).toBe(61_000);
    expect(b.flush(60_999)).toEqual([]);
    expect(b.flush(61_000)).toEqual([{ key: k, held: 50 - BURST_FIRST, windowMs: 60_000 }]);
    expect(splitBurstKey(k)).toEqual({ event: "login-failed", source: "192.0.2.9" });
    expect(b.nextDue()).toBeNull();
    // A new minute: logged one by one again.
    expect(b.admit(k, 70_000)).toBe(true);
  });

  it("keeps at most BURST_MAX_KEYS addresses; the rest share one count", () => {
    const b = new RefusalBursts();
    for (let i = 0; i < BURST_MAX_KEYS + 500; i++) for (let j = 0; j < BURST_FIRST + 1; j++) b.admit(burstKey("login-failed", `a${i}`), 0);
    const held = b.flush(60_000);
    expect(held.length).toBe(BURST_MAX_KEYS);
    expect(held.find((h) => splitBurstKey(h.key).source === "many other addresses")?.held).toBe(501 * (BURST_FIRST + 1) - BURST_FIRST);
  });
});

describe("the console's audit log under a flood of refusals", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "audit-"));
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it("logs every command, the first refusals of a minute one by one, then one line with the count", () => {
    const lines: string[] = [];
    const audit = consoleAudit(dir, new Logger("json", (l) => lines.push(l)));
    audit({ event: "command", user: "admin", source: "198.51.100.7", module: "vms", command: "swap", status: 200 });
    for (let i = 0; i < 1000; i++) audit({ event: "command-refused", user: "token", source: "192.0.2.9", status: 401 });
    audit({ event: "login-failed", user: "root", source: "192.0.2.9", status: 401 });
    const fileLines = () => readFileSync(join(dir, AUDIT_FILE), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(fileLines().length).toBe(1 + BURST_FIRST + 1);
    vi.advanceTimersByTime(60_000);
    const all = fileLines();
    expect(all.length).toBe(1 + BURST_FIRST + 1 + 1);
    expect(all.at(-1)).toMatchObject({ event: "command-refused", source: "192.0.2.9", repeated: 1000 - BURST_FIRST });
    expect(lines.filter((l) => l.includes("counted, not logged one by one"))).toHaveLength(1);
    expect(all.filter((l) => l["event"] === "command")).toHaveLength(1);
  });
});

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { setUpSoakMirror } from "../../bench/soak-mirror.ts";

const record = (n: number) => `record ${n} ${"x".repeat(100)}\n`;

describe("the soak's mirror losses", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function setUp() {
    const dir = mkdtempSync(join(tmpdir(), "vigil-soak-mirror-test-"));
    dirs.push(dir);
    const m = setUpSoakMirror(join(dir, "m"), { bun: "/bin/true", vigilBin: "/bin/true", nodes: ["h1", "h2"] });
    const at = (f: string) => join(dir, "m", f);
    return { m, at };
  }

  it("counts a record acknowledged on the old runner and missing on the new one, not one its writer dropped", () => {
    const { m, at } = setUp();
    writeFileSync(at("acked-h1.log"), ["rec 1 0.5 1000", "rec 2 0.5 1001", "seg 1 2", "drop 1 2", "rec 3 0.5 1002", "rec 4 0.5 1003", "rec 5 0.5 1004", ""].join("\n"));
    // h2's copy: a segment with record 3, and rec.log with 4 and a torn tail where 5 was.
    mkdirSync(at("h2-data/seg"), { recursive: true });
    writeFileSync(at("h2-data/seg/000000003-000000003"), record(3));
    writeFileSync(at("h2-data/rec.log"), record(4) + record(5).slice(0, 20));
    writeFileSync(at("service.log"), ["h1 start-begin 100", "h1 start-end 110", "h1 stop-begin 2000", "h1 stop-end 2010", "h2 start-begin 2100", "h2 start-end 2110", ""].join("\n"));
    m.checkMoves();
    const r = m.report({ startedAt: 0, endAt: 3000, windows: [{ what: "swap", node: "h2", from: 1900, to: 2500 }], events: new Map() });
    expect(r.json["lostRecords"]).toBe(1);
    expect(r.json["losses"]).toMatchObject([{ node: "h2", expected: 3, missing: 1, firstMissing: [5] }]);
    const kept = (r.json["losses"] as { keptIn?: string }[])[0]?.keptIn;
    expect(kept !== undefined && existsSync(join(kept, "h2-data", "rec.log"))).toBe(true);
    if (kept !== undefined) dirs.push(kept);
    expect(r.json["moves"]).toBe(1);
    expect(r.json["unexpectedMoves"]).toBe(0);
  });

  it("finds nothing missing when the new runner's copy has every record, and checks each move once", () => {
    const { m, at } = setUp();
    writeFileSync(at("acked-h1.log"), ["rec 1 0.5 1000", "rec 2 0.5 1001", ""].join("\n"));
    writeFileSync(at("h2-data/rec.log"), record(1) + record(2));
    writeFileSync(at("service.log"), ["h1 start-begin 100", "h1 stop-end 2010", "h2 start-begin 2100", ""].join("\n"));
    m.checkMoves();
    m.checkMoves();
    const r = m.report({ startedAt: 0, endAt: 3000, windows: [], events: new Map() });
    expect(r.json["lostRecords"]).toBe(0);
    expect(r.json["losses"]).toMatchObject([{ node: "h2", expected: 2, missing: 0 }]);
    expect(r.json["unexpectedMoves"]).toBe(1);
  });
});

/** How `vigil swap` and its siblings word an outcome: done, failed, or still in progress. */
import { describe, expect, it } from "vitest";
import { formatOutcome } from "../../src/cli/outcome-text.ts";

const nodes = [{ node: "scada1", role: "PRIM" as const, generation: 4 }, { node: "scada2", role: "WAIT" as const, generation: 4 }];

describe("command outcome text", () => {
  it("done, failed and still in progress, each with every node's role", () => {
    expect(formatOutcome({ ok: true, module: "hmi", command: "swap", detail: "scada2 runs hmi now, all its resources started", nodes })).toBe(
      "swap hmi: done: scada2 runs hmi now, all its resources started\n  scada1  PRIM\n  scada2  WAIT",
    );
    expect(formatOutcome({ ok: false, module: "hmi", command: "swap", detail: "scada2 could not start hmi (start of script start.sh failed: start.sh: exited 1); hmi is back on scada1", nodes: [] })).toBe(
      "swap hmi: failed: scada2 could not start hmi (start of script start.sh failed: start.sh: exited 1); hmi is back on scada1",
    );
    expect(formatOutcome({ ok: false, inProgress: true, module: "hmi", command: "swap", detail: "still in progress after 30 s: scada2 is still starting hmi; the command goes on", nodes: [] })).toBe(
      "swap hmi: still in progress after 30 s: scada2 is still starting hmi; the command goes on",
    );
  });
});

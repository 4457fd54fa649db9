/**
 * Rule 9 of the mirror core (journal-state.ts): an ALONE journal that gave
 * up holding the changes is shown until a completed resync empties it, and
 * one that cannot be opened holds the copy still (no takeover, nothing
 * acknowledged alone) and is tried again every second until it opens.
 */
import { describe, expect, it } from "vitest";
import { mirrorWakeAt } from "../../src/core/mirror/mirror.ts";
import { journalLostText } from "../../src/core/mirror/journal-state.ts";
import type { MirrorAction } from "../../src/core/mirror/types.ts";
import { inSyncCorePair, MirrorCoreNode } from "./mirror-core-node.ts";

const notes = (n: MirrorCoreNode, kind: string) => n.log.filter((x) => x.type === "note" && x.kind === kind);
const opens = (actions: readonly MirrorAction[]) => actions.filter((x) => x.type === "open-journal");

describe("mirror core: the ALONE journal (rule 9)", () => {
  it("a lost journal is shown with its reason, named by the next resync, and forgotten once a resync emptied it", () => {
    const { a, b } = inSyncCorePair();
    a.step({ type: "link-down", detail: "connection reset" }, 100);
    a.step({ type: "peer", liveness: "dead" }, 600);
    a.step({ type: "role", role: "ALONE" }, 610);
    expect(a.s.writes).toBe("alone");
    a.step({ type: "journal-lost", detail: "the journal could not be written: ENOSPC" }, 700);
    // A later reason does not replace the one that made it give up.
    a.step({ type: "journal-lost", detail: "more than 100000 changed paths" }, 800);
    expect(a.s.journalLost?.detail).toBe("the journal could not be written: ENOSPC");
    expect(journalLostText(a.s, a.s.journalLost!)).toBe(
      "the journal could not be written: ENOSPC: the next resync to b compares every file (size and mtime, then block checksums)",
    );
    // Nothing else changes: it runs, writes alone, serves.
    expect(a.s.writes).toBe("alone");
    expect(a.s.gate).toBeNull();
    a.log = [];
    a.step({ type: "peer", liveness: "up" }, 900);
    a.step({ type: "link-up", peer: b.wire(), gap: false }, 901);
    expect(notes(a, "resync-start").map((x) => (x as { detail: string }).detail)).toEqual([
      "resync to b (full compare: the journal could not be written: ENOSPC)",
    ]);
    a.step({ type: "resync-done" }, 950);
    expect(a.s.journalLost).not.toBeNull();
    a.step({ type: "journal-cleared" }, 951);
    expect(a.s.journalLost).toBeNull();
  });

  it("a journal that cannot be opened keeps the copy from being served and writes from being acknowledged alone; tried every second, it opens by itself", () => {
    const { b } = inSyncCorePair();
    b.step({ type: "journal-unopened", detail: "state dir /state full (ENOSPC)" }, 50);
    expect(b.s.gate).toBe("cannot take over: the ALONE journal cannot be opened (state dir /state full (ENOSPC)); retrying every 1 s");
    expect(notes(b, "journal-unopened")).toHaveLength(1);
    // Its mark still says what its copy holds: the peer's writes are not held for it.
    expect(b.s.mark).toBe("u");
    b.step({ type: "link-down", detail: "connection reset" }, 100);
    b.step({ type: "peer", liveness: "dead" }, 600);
    // Claimed anyway (the module core asked before it learned the gate): nothing is acknowledged alone.
    b.step({ type: "role", role: "ALONE" }, 610);
    expect(b.s.writes).toBe("hold");
    b.step({ type: "role", role: "WAIT" }, 611);
    expect(b.s.gate).toMatch(/^cannot take over: the ALONE journal cannot be opened/);
    // Tried again every second, not sooner; logged once.
    expect(opens(b.step({ type: "tick" }, 1000))).toEqual([]);
    // The driver answers each try, as it would on a disk that stays full.
    const tried: number[] = [];
    for (let i = 0; i < 3; i++) {
      const at = mirrorWakeAt(b.s);
      expect(opens(b.step({ type: "tick" }, at!))).toHaveLength(1);
      tried.push(at!);
      expect(mirrorWakeAt(b.s)).toBeNull();
      b.step({ type: "journal-unopened", detail: "state dir /state full (ENOSPC)" }, at! + 5);
    }
    expect(tried).toEqual([1050, 2055, 3060]);
    expect(notes(b, "journal-unopened")).toHaveLength(1);
    expect(b.s.gate).toMatch(/ALONE journal cannot be opened/);
    b.step({ type: "journal-opened" }, 4200);
    expect(b.s.gate).toBeNull();
    expect(mirrorWakeAt(b.s)).toBeNull();
    expect(notes(b, "journal-opened").map((x) => (x as { detail: string }).detail)).toEqual([
      "the ALONE journal opened after 4 s of failures (last: state dir /state full (ENOSPC)): this copy may serve again",
    ]);
    b.step({ type: "role", role: "ALONE" }, 4300);
    expect(b.s.writes).toBe("alone");
  });
});

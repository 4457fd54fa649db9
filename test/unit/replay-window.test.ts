import { describe, expect, it } from "vitest";
import { checkReplay, REPLAY_WINDOW, type ReplayWindow } from "../../src/core/replay-window.ts";

/** Feeds (epoch, seq) pairs in order; returns the verdict of each. */
function run(inputs: [bigint, number][]): string[] {
  let w: ReplayWindow | null = null;
  return inputs.map(([epoch, seq]) => {
    const v = checkReplay(w, epoch, seq);
    if (!v.ok) return v.why;
    w = v.window;
    return v.how;
  });
}

describe("replay window", () => {
  it("accepts a stream in order and refuses every repeat", () => {
    expect(run([[5n, 1], [5n, 2], [5n, 3], [5n, 3], [5n, 1]])).toEqual(["first", "in-order", "in-order", "replayed", "replayed"]);
  });

  it("accepts a message overtaken by a later one, once", () => {
    expect(run([[5n, 1], [5n, 3], [5n, 2], [5n, 2], [5n, 4]])).toEqual(["first", "in-order", "reordered", "replayed", "in-order"]);
  });

  it("refuses what fell out of the window", () => {
    expect(run([[5n, 1], [5n, 1 + REPLAY_WINDOW], [5n, 2], [5n, 1]])).toEqual(["first", "in-order", "reordered", "too-old"]);
  });

  it("a jump beyond the window forgets everything before it", () => {
    expect(run([[5n, 10], [5n, 10 + 1000], [5n, 10 + 1000 - REPLAY_WINDOW + 1], [5n, 10]])).toEqual(["first", "in-order", "reordered", "too-old"]);
  });

  it("a newer epoch is a restart and starts afresh; an older one is refused", () => {
    expect(run([[5n, 100], [6n, 1], [6n, 2], [5n, 101], [6n, 1]])).toEqual(["first", "in-order", "in-order", "stale-epoch", "replayed"].map((v, i) => (i === 1 ? "restarted" : v)));
  });

  it("names the problem in its detail", () => {
    const w = checkReplay(null, 7n, 9);
    if (!w.ok) throw new Error("first message refused");
    const again = checkReplay(w.window, 7n, 9);
    expect(again).toMatchObject({ ok: false, why: "replayed", detail: "seq 9 of epoch 7 was already received" });
    expect(checkReplay(w.window, 6n, 10)).toMatchObject({ ok: false, detail: "epoch 6 is older than 7, already heard" });
  });
});

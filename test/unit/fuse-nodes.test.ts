import { describe, expect, it } from "vitest";
import { NodeTable, ROOT_NODEID } from "../../src/replicator/intercept-nodes.ts";

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (p: Uint8Array | null): string | null => (p === null ? null : new TextDecoder().decode(p));

describe("NodeTable", () => {
  it("gives the root the empty path and new objects new nodeids", () => {
    const t = new NodeTable(1n, 2n);
    expect(text(t.path(ROOT_NODEID))).toBe("");
    const d = t.found(ROOT_NODEID, b("d"), 1n, 10n);
    const f = t.found(d, b("f"), 1n, 11n);
    expect(d).not.toBe(f);
    expect(text(t.path(f))).toBe("d/f");
    expect(text(t.childPath(d, b("g")))).toBe("d/g");
  });

  it("maps every hard link of one inode to one nodeid", () => {
    const t = new NodeTable(1n, 2n);
    const a = t.found(ROOT_NODEID, b("a"), 1n, 10n);
    const c = t.found(ROOT_NODEID, b("c"), 1n, 10n);
    expect(c).toBe(a);
    t.removed(ROOT_NODEID, b("a"));
    expect(text(t.path(a))).toBe("c");
  });

  it("moves names on rename, replacing what was at the target, and swaps them on exchange", () => {
    const t = new NodeTable(1n, 2n);
    const d = t.found(ROOT_NODEID, b("d"), 1n, 10n);
    const x = t.found(d, b("x"), 1n, 11n);
    const y = t.found(ROOT_NODEID, b("y"), 1n, 12n);
    t.renamed(d, b("x"), ROOT_NODEID, b("y"));
    expect(text(t.path(x))).toBe("y");
    expect(t.path(y)).toBeNull();
    expect(t.child(ROOT_NODEID, b("y"))).toBe(x);
    const z = t.found(ROOT_NODEID, b("z"), 1n, 13n);
    t.exchanged(ROOT_NODEID, b("y"), ROOT_NODEID, b("z"));
    expect(text(t.path(x))).toBe("z");
    expect(text(t.path(z))).toBe("y");
    // A renamed directory carries its children along.
    const f = t.found(d, b("f"), 1n, 14n);
    t.renamed(ROOT_NODEID, b("d"), ROOT_NODEID, b("e"));
    expect(text(t.path(f))).toBe("e/f");
    // The moved object is still found by its inode (a later hard link gets the same nodeid).
    expect(t.found(ROOT_NODEID, b("x-again"), 1n, 11n)).toBe(x);
  });

  it("gives a reused inode number a new nodeid once the old object has no name left", () => {
    const t = new NodeTable(1n, 2n);
    const a = t.found(ROOT_NODEID, b("a"), 1n, 10n);
    t.removed(ROOT_NODEID, b("a"));
    const again = t.found(ROOT_NODEID, b("new"), 1n, 10n);
    expect(again).not.toBe(a);
    expect(t.path(a)).toBeNull();
  });

  it("forgets a node once the kernel has given back every lookup", () => {
    const t = new NodeTable(1n, 2n);
    const a = t.found(ROOT_NODEID, b("a"), 1n, 10n);
    t.found(ROOT_NODEID, b("a"), 1n, 10n);
    t.forget(a, 1n);
    expect(t.has(a)).toBe(true);
    t.forget(a, 1n);
    expect(t.has(a)).toBe(false);
    expect(t.child(ROOT_NODEID, b("a"))).toBeUndefined();
    t.forget(ROOT_NODEID, 100n);
    expect(t.has(ROOT_NODEID)).toBe(true);
  });

  it("replaces a stale name when the name now leads to another object", () => {
    const t = new NodeTable(1n, 2n);
    const a = t.found(ROOT_NODEID, b("n"), 1n, 10n);
    const other = t.found(ROOT_NODEID, b("n"), 1n, 20n);
    expect(other).not.toBe(a);
    expect(t.path(a)).toBeNull();
    expect(text(t.path(other))).toBe("n");
  });

  it("keeps names with any bytes apart", () => {
    const t = new NodeTable(1n, 2n);
    const one = t.found(ROOT_NODEID, new Uint8Array([0xe9]), 1n, 10n);
    const two = t.found(ROOT_NODEID, new Uint8Array([0xc3, 0xa9]), 1n, 11n);
    expect(one).not.toBe(two);
    expect(t.path(one)).toEqual(new Uint8Array([0xe9]));
  });
});

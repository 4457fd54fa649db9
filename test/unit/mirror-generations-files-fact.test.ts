/**
 * Rule 7's fact of whether a new copy's folders hold files: how a node
 * measures it at its start (src/daemon/mirror/holds-files.ts) and how its
 * hello carries it (src/proto/mirror-control.ts) so that a node of the
 * previous release still decodes the hello and a hello of that release
 * reads as "not told".
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CopyWire } from "../../src/proto/mirror-control.ts";
import { folderHoldsFiles } from "../../src/daemon/mirror/holds-files.ts";
import { compileExclude } from "../../src/replicator/exclude.ts";
import { decodeCopy as decode, encodeCopy as encode } from "./codec-test-helpers.ts";

const newCopy: CopyWire = { gen: "0:", history: [], data: "uptodate", running: false, unclean: false };

describe("the hello of a new copy tells whether its folders hold files", () => {
  it("round-trips both answers, and a hello that does not tell reads as not told", () => {
    expect(decode(encode({ ...newCopy, holdsFiles: true }))).toEqual({ ...newCopy, holdsFiles: true });
    expect(decode(encode({ ...newCopy, holdsFiles: false }))).toEqual({ ...newCopy, holdsFiles: false });
    expect(decode(encode(newCopy))).toEqual(newCopy);
    expect(decode(encode(newCopy)).holdsFiles).toBeUndefined();
  });

  it("is, byte for byte, a copy whose history is one gen: what a decoder of the previous release reads", () => {
    // The previous release's readCopy reads a history of gens ("<counter>:<node>") and no more.
    expect(encode({ ...newCopy, holdsFiles: true })).toEqual(encode({ ...newCopy, history: ["0:+files"] }));
    expect(encode({ ...newCopy, holdsFiles: false })).toEqual(encode({ ...newCopy, history: ["0:+empty"] }));
  });

  it("a copy that is not new never carries the fact, and a real history is never read as one", () => {
    const held: CopyWire = { gen: "2:a", history: ["1:b", "0:"], data: "uptodate", running: true, unclean: false };
    expect(decode(encode({ ...held, holdsFiles: true }))).toEqual(held);
    // A new copy whose history says something else keeps it as it is.
    expect(decode(encode({ ...newCopy, history: ["0:x"] }))).toEqual({ ...newCopy, history: ["0:x"] });
  });
});

describe("a folder holds files: any entry but a directory, outside exclude", () => {
  const made: string[] = [];
  const dir = (): string => {
    const d = mkdtempSync(join(tmpdir(), "vigil-holds-"));
    made.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("an empty folder and a tree of empty directories hold none", () => {
    const d = dir();
    expect(folderHoldsFiles(d, null).holds).toBe(false);
    mkdirSync(join(d, "db", "wal"), { recursive: true });
    mkdirSync(join(d, "logs"));
    expect(folderHoldsFiles(d, null).holds).toBe(false);
  });

  it("a file at any depth, or a symbolic link, is one", () => {
    const d = dir();
    mkdirSync(join(d, "db", "wal"), { recursive: true });
    writeFileSync(join(d, "db", "wal", "000001"), "x");
    expect(folderHoldsFiles(d, null)).toMatchObject({ holds: true, why: expect.stringMatching(/000001 is a file/) });
    const e = dir();
    symlinkSync("/nonexistent", join(e, "current"));
    expect(folderHoldsFiles(e, null).holds).toBe(true);
  });

  it("excluded names and what is beneath them do not count", () => {
    const d = dir();
    writeFileSync(join(d, "a.tmp"), "x");
    mkdirSync(join(d, "cache"));
    writeFileSync(join(d, "cache", "blob"), "x");
    const ex = compileExclude(["*.tmp", "cache"]);
    expect(folderHoldsFiles(d, ex).holds).toBe(false);
    expect(folderHoldsFiles(d, null).holds).toBe(true);
  });

  it("a folder that cannot be read counts as holding files", () => {
    expect(folderHoldsFiles(join(dir(), "missing"), null)).toMatchObject({ holds: true, why: expect.stringMatching(/cannot be read/) });
  });

  it("measures the same under Bun, the runtime the daemon runs on", () => {
    const d = dir();
    mkdirSync(join(d, "empty", "tree"), { recursive: true });
    writeFileSync(join(d, "x.tmp"), "x");
    const full = dir();
    mkdirSync(join(full, "db"));
    writeFileSync(join(full, "db", "000001"), "x");
    const mod = resolve(import.meta.dirname, "../../src/daemon/mirror/holds-files.ts");
    const ex = resolve(import.meta.dirname, "../../src/replicator/exclude.ts");
    const script = `import { folderHoldsFiles } from ${JSON.stringify(mod)}; import { compileExclude } from ${JSON.stringify(ex)};
console.log(JSON.stringify([folderHoldsFiles(${JSON.stringify(d)}, compileExclude(["*.tmp"])), folderHoldsFiles(${JSON.stringify(full)}, null)]));`;
    const bun = resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const r = spawnSync(bun, ["-e", script], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject([{ holds: false }, { holds: true, why: expect.stringMatching(/000001 is a file/) }]);
  });
});

import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compareRelPaths } from "../../src/replicator/resync-types.ts";
import { relPath, relPathText } from "../../src/replicator/ops.ts";
import { collect, scanTree, statEntry } from "../../src/replicator/tree-scan.ts";
import { tmpDir, writeFile } from "./resync-fixture.ts";

let root: string;
beforeEach(() => {
  root = tmpDir("scan");
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe("tree scan", () => {
  it("lists in manifest order (pre-order, siblings by bytes), never following symlinks", async () => {
    writeFile(root, "a/b", "1");
    writeFile(root, "a-c", "22");
    writeFile(root, "B", "333");
    fs.mkdirSync(path.join(root, "real"));
    writeFile(root, "real/inside", "x");
    fs.symlinkSync("real", path.join(root, "to-real"));
    const entries = await collect(scanTree(root, new Uint8Array(), true));
    expect(entries.map((e) => `${relPathText(e.path) || "."} ${e.type}`)).toEqual([
      ". dir", "B file", "a dir", "a/b file", "a-c file", "real dir", "real/inside file", "to-real symlink",
    ]);
    const sorted = [...entries].sort((x, y) => compareRelPaths(x.path, y.path));
    expect(sorted.map((e) => relPathText(e.path))).toEqual(entries.map((e) => relPathText(e.path)));
    const link = entries.find((e) => relPathText(e.path) === "to-real")!;
    expect(relPathText(link.target!)).toBe("real");
    expect(entries.find((e) => relPathText(e.path) === "a-c")!.size).toBe(2);
  });

  it("keeps names that are not UTF-8, and shows hard links as one inode", async () => {
    const odd = Buffer.from([0x6e, 0xff, 0x0a]);
    fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/`), odd]), "x");
    fs.linkSync(Buffer.concat([Buffer.from(`${root}/`), odd]), path.join(root, "other"));
    const entries = await collect(scanTree(root, new Uint8Array(), true));
    const a = entries.find((e) => Buffer.from(e.path).equals(odd))!;
    const b = entries.find((e) => relPathText(e.path) === "other")!;
    expect(relPathText(a.path)).toBe("n\\xff\\x0a");
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
  });

  it("lists one level when not recursive, a subtree from `under`, nothing for a missing path", async () => {
    writeFile(root, "d/e/f", "1");
    writeFile(root, "d/g", "1");
    const one = await collect(scanTree(root, relPath("d"), false));
    expect(one.map((e) => relPathText(e.path))).toEqual(["d", "d/e", "d/g"]);
    const sub = await collect(scanTree(root, relPath("d/e"), true));
    expect(sub.map((e) => relPathText(e.path))).toEqual(["d/e", "d/e/f"]);
    expect(await collect(scanTree(root, relPath("nope"), true))).toEqual([]);
    expect(await statEntry(root, relPath("d/g/under-a-file"))).toBe(null);
  });

  it("reads mode, owner, nanosecond mtime of the entry itself", async () => {
    writeFile(root, "f", "1");
    fs.chownSync(path.join(root, "f"), 4321, 8765);
    fs.chmodSync(path.join(root, "f"), 0o4750);
    const e = (await statEntry(root, relPath("f")))!;
    const st = fs.statSync(path.join(root, "f"), { bigint: true });
    expect(e).toMatchObject({ type: "file", mode: 0o4750, uid: 4321, gid: 8765, size: 1, mtimeNs: st.mtimeNs, nlink: 1 });
  });
});

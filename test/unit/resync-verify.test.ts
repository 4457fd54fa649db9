import * as fs from "node:fs";
import * as path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { verifyTrees } from "../../src/replicator/verify.ts";
import { noise, tmpDirsEachTest, writeFile } from "./resync-fixture.ts";

let src: string;
let dst: string;
tmpDirsEachTest(["verify-src", "verify-dst"], (dirs) => ([src, dst] = dirs));
beforeEach(async () => {
  writeFile(src, "data/a.bin", noise(1, 300_000));
  writeFile(src, "data/b.txt", "bee");
  writeFile(src, "same-size", "0123456789");
  fs.symlinkSync("data/a.bin", path.join(src, "ln"));
  fs.linkSync(path.join(src, "data/b.txt"), path.join(src, "b-again"));
  await new Resync({ root: src, peer: new LocalResyncPeer(dst) }).run();
});

describe("verify", () => {
  it("finds nothing in identical copies, and reads every byte of both", async () => {
    const r = await verifyTrees(src, new LocalResyncPeer(dst));
    expect(r.differences).toEqual([]);
    expect(r.filesCompared).toBe(4);
    expect(r.bytesCompared).toBe(300_000 + 3 + 3 + 10);
  });

  it("lists each difference with what differs, and changes nothing", async () => {
    // Same size and same mtime, other bytes: only checksums can tell.
    const st = fs.statSync(path.join(dst, "same-size"));
    fs.writeFileSync(path.join(dst, "same-size"), "0123456780");
    fs.utimesSync(path.join(dst, "same-size"), st.atime, st.mtime);
    fs.chmodSync(path.join(dst, "data/b.txt"), 0o600);
    fs.rmSync(path.join(dst, "ln"));
    fs.symlinkSync("elsewhere", path.join(dst, "ln"));
    writeFile(dst, "extra", "not on the source");
    fs.rmSync(path.join(dst, "b-again"));
    fs.copyFileSync(path.join(dst, "data/b.txt"), path.join(dst, "b-again"));
    fs.chmodSync(path.join(dst, "b-again"), 0o600);
    fs.utimesSync(path.join(dst, "b-again"), fs.statSync(path.join(src, "b-again")).atime, fs.statSync(path.join(src, "b-again")).mtime);
    fs.rmSync(path.join(dst, "data/a.bin"));
    const before = fs.readdirSync(dst).sort();
    const r = await verifyTrees(src, new LocalResyncPeer(dst));
    const found = r.differences.map((d) => `${d.path} ${d.kind}`);
    expect(found).toContain("same-size content");
    expect(found).toContain("data/b.txt mode");
    expect(found).toContain("ln target");
    expect(found).toContain("extra extra");
    expect(found).toContain("data/a.bin missing");
    // The group b-again = data/b.txt is split on the copy: reported on the name found second.
    expect(found).toContain("data/b.txt hardlink");
    expect(found).not.toContain("same-size size");
    expect(fs.readdirSync(dst).sort()).toEqual(before);
    expect(r.differences.find((d) => d.kind === "mode")!.detail).toBe("0644 vs 0600");
  });

  it("stops at maxDifferences and says so", async () => {
    for (let i = 0; i < 5; i++) writeFile(dst, `x${i}`, "x");
    const r = await verifyTrees(src, new LocalResyncPeer(dst), { maxDifferences: 3 });
    expect(r.truncated).toBe(true);
    expect(r.differences.length).toBe(3);
  });
});

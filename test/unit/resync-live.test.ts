import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { relPath, type MirrorOp } from "../../src/replicator/ops.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { expectSameTrees, noise, tmpDirsEachTest, writeFile } from "./resync-fixture.ts";

let src: string;
let dst: string;
tmpDirsEachTest(["live-src", "live-dst"], (dirs) => ([src, dst] = dirs));

const FILES = 3;
const SIZE = 4 << 20;
const HOT = 4;
const hotBlock = (n: number): number => ((n % HOT) * 97) % (SIZE / 4096);

describe("resync while the service writes", () => {
  it("live writes, appends and atomic saves during the resync leave no stale data on the copy", async () => {
    for (let i = 0; i < FILES; i++) writeFile(src, `f${i}`, noise(i + 1, SIZE));
    fs.cpSync(src, dst, { recursive: true });
    // The copy is stale in places, so the resync has work in every file.
    for (let i = 0; i < FILES; i++) {
      const fd = fs.openSync(path.join(dst, `f${i}`), "r+");
      for (let b = 0; b < HOT; b++) fs.writeSync(fd, noise(500 + b, 4096), 0, 4096, hotBlock(b) * 4096);
      fs.closeSync(fd);
    }
    const peer = new LocalResyncPeer(dst);
    const resync = new Resync({ root: src, peer, checksumAll: true, concurrency: 2, windowBytes: 256 * 1024 });
    const liveFailures: string[] = [];
    // The live stream: each op is sent after its local effect is complete.
    const live = (op: MirrorOp): void => {
      void peer.apply(op).then((r) => {
        if (!r.ok) liveFailures.push(`${op.op} ${r.errno}`);
      });
    };
    const times = (name: string): void => {
      const st = fs.lstatSync(path.join(src, name), { bigint: true });
      live({ op: "utimes", path: relPath(name), atimeNs: st.atimeNs, mtimeNs: st.mtimeNs });
    };
    let running = true;
    let liveOps = 0;
    const writer = (async () => {
      for (let n = 0; running; n++) {
        const name = `f${n % FILES}`;
        const file = path.join(src, name);
        if (n % 61 === 60) {
          // Atomic save: a new file renamed over the old one.
          const data = noise(9000 + n, SIZE);
          fs.writeFileSync(path.join(src, "save.tmp"), data);
          live({ op: "create", path: relPath("save.tmp"), mode: 0o644, uid: 0, gid: 0 });
          live({ op: "write", path: relPath("save.tmp"), offset: 0, data, mtimeNs: 0n });
          times("save.tmp");
          fs.renameSync(path.join(src, "save.tmp"), file);
          live({ op: "rename", from: relPath("save.tmp"), to: relPath(name), flags: 0 });
        } else if (n % 5 === 4) {
          const data = noise(7000 + n, 1000);
          const at = fs.statSync(file).size;
          fs.appendFileSync(file, data);
          live({ op: "write", path: relPath(name), offset: at, data, mtimeNs: 0n });
          times(name);
        } else {
          const data = noise(5000 + n, 4096);
          // The blocks the resync is sending: where the copy is stale.
          const at = hotBlock(n) * 4096;
          const fd = fs.openSync(file, "r+");
          fs.writeSync(fd, data, 0, data.length, at);
          fs.closeSync(fd);
          live({ op: "write", path: relPath(name), offset: at, data, mtimeNs: 0n });
          times(name);
        }
        liveOps++;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const result = await resync.run();
    running = false;
    await writer;
    await peer.apply({ op: "fsync", path: null, dataOnly: false });
    expect(result.completed).toBe(true);
    expect(liveFailures).toEqual([]);
    expect(liveOps).toBeGreaterThan(10);
    await expectSameTrees(src, dst);
  });
});

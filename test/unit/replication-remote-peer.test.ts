import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ReplicationClient, ReplicationServer } from "../../src/net/replication-link.ts";
import { Applier } from "../../src/replicator/apply.ts";
import { relPath } from "../../src/replicator/ops.ts";
import { FolderAnswerer } from "../../src/replicator/remote-peer-answers.ts";
import { LinkDownError, PeerAnswerError, RemoteResyncPeer } from "../../src/replicator/remote-peer.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { collect } from "../../src/replicator/tree-scan.ts";
import { expectSameTrees, noise, tmpDir, writeFile } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(11);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Pair {
  second: string;
  server: ReplicationServer;
  client: ReplicationClient;
  peer: RemoteResyncPeer;
  local: LocalResyncPeer;
}

async function pair(): Promise<Pair> {
  const second = tmpDir("remote-peer");
  cleanups.push(() => fs.rmSync(second, { recursive: true, force: true }));
  const applier = new Applier(second, { fsCalls: null });
  cleanups.push(() => applier.close());
  const server = new ReplicationServer({
    cluster: "c",
    node: "b",
    peer: "a",
    key: KEY,
    listen: [{ address: "127.0.0.1", port: 0 }],
    apply: (op) => applier.apply(op),
    answerer: new FolderAnswerer(second, { fsCalls: null }),
  });
  await server.start();
  cleanups.push(() => server.close());
  const client = new ReplicationClient({ cluster: "c", node: "a", peer: "b", key: KEY, addresses: [`127.0.0.1:${server.bound()[0]!.port}`], retryMs: 50 });
  client.start();
  cleanups.push(() => client.close());
  while (!client.up) await new Promise((r) => setTimeout(r, 5));
  return { second, server, client, peer: new RemoteResyncPeer(client, { mtimeWindowNs: applier.mtimeWindowNs }), local: new LocalResyncPeer(second) };
}

describe("the SECOND's copy as a ResyncPeer over the link", () => {
  it("manifests, entries and block sums equal the ones read locally, across many batches", async () => {
    const p = await pair();
    for (let i = 0; i < 1500; i++) writeFile(p.second, `d${i % 7}/${"n".repeat(120)}-${i}`, `x${i}`);
    writeFile(p.second, "big", noise(1, 300_000));
    fs.symlinkSync("big", path.join(p.second, "ln"));
    fs.writeFileSync(Buffer.concat([Buffer.from(p.second + "/"), Buffer.from([0xff, 0x41])]), "latin1 name");
    const remote = await collect(p.peer.manifest(new Uint8Array(0), true));
    const local = await collect(p.local.manifest(new Uint8Array(0), true));
    expect(remote.length).toBe(1500 + 7 + 4);
    expect(remote).toEqual(local);
    expect(await collect(p.peer.manifest(relPath("d3"), false))).toEqual(await collect(p.local.manifest(relPath("d3"), false)));
    expect(await collect(p.peer.manifest(relPath("missing"), true))).toEqual([]);
    expect(await p.peer.entry(relPath("ln"))).toEqual(await p.local.entry(relPath("ln")));
    expect(await p.peer.entry(relPath("nope"))).toBeNull();
    expect(await p.peer.blockSums(relPath("big"), 4096, 8192, 50)).toEqual(await p.local.blockSums(relPath("big"), 4096, 8192, 50));
    expect(await p.peer.blockSums(relPath("d0"), 4096, 0, 1)).toBeNull();
    expect(await p.peer.blockSums(relPath("nope"), 4096, 0, 1)).toBeNull();
  });

  it("more block sums than one answer carries are asked in parts and joined", async () => {
    const p = await pair();
    writeFile(p.second, "f", noise(2, 70_000 * 16));
    const remote = await p.peer.blockSums(relPath("f"), 16, 0, 70_000);
    const local = await p.local.blockSums(relPath("f"), 16, 0, 70_000);
    expect(remote?.sums.length).toBe(70_000 * 16);
    // A deep equality of a megabyte array element by element takes seconds: compare the bytes at once.
    expect(Buffer.from(remote!.sums).equals(Buffer.from(local!.sums))).toBe(true);
    expect({ ...remote, sums: null }).toEqual({ ...local, sums: null });
  });

  it("a manifest left early is cancelled, and the next one works", async () => {
    const p = await pair();
    // Long names: the manifest takes several batches.
    for (let i = 0; i < 2000; i++) fs.writeFileSync(path.join(p.second, `${"f".repeat(150)}${i}`), "");
    let n = 0;
    for await (const _e of p.peer.manifest(new Uint8Array(0), true)) if (++n === 10) break;
    expect((await collect(p.peer.manifest(new Uint8Array(0), true))).length).toBe(2001);
  });

  it("never answers about what lies behind a symlinked parent", async () => {
    const p = await pair();
    const outside = tmpDir("remote-peer-outside");
    cleanups.push(() => fs.rmSync(outside, { recursive: true, force: true }));
    writeFile(outside, "secret", "s");
    fs.symlinkSync(outside, path.join(p.second, "esc"));
    await expect(p.peer.entry(relPath("esc/secret"))).rejects.toThrow(PeerAnswerError);
    await expect(p.peer.blockSums(relPath("esc/secret"), 4096, 0, 1)).rejects.toThrow(/EOUTSIDE/);
    await expect(collect(p.peer.manifest(relPath("esc"), true))).resolves.toHaveLength(1); // the symlink itself
    await expect(collect(p.peer.manifest(relPath("esc/x"), true))).rejects.toThrow(/EOUTSIDE/);
  });

  it("ops applied through the peer land in the copy, in order with other sends", async () => {
    const p = await pair();
    // Live sends and the peer's ops share one stream: issued together, they apply in call order.
    const results = await Promise.all([
      p.peer.apply({ op: "create", path: relPath("f"), mode: 0o600, uid: 0, gid: 0 }),
      p.client.sendNext({ op: "write", path: relPath("f"), offset: 0, data: relPath("hello"), mtimeNs: 5n }),
      p.peer.apply({ op: "write", path: relPath("f"), offset: 0, data: relPath("HE"), mtimeNs: 5n }),
      p.client.sendNext({ op: "truncate", path: relPath("f"), size: 4, mtimeNs: 5n }),
    ]);
    expect(results).toEqual([{ ok: true }, { delivered: true, result: { ok: true } }, { ok: true }, { delivered: true, result: { ok: true } }]);
    expect(fs.readFileSync(path.join(p.second, "f"), "utf8")).toBe("HEll");
    const r = await p.peer.apply({ op: "rmdir", path: relPath("f") });
    expect(r).toMatchObject({ ok: false, errno: "ENOTDIR" });
  });

  it("a whole resync runs over the link and leaves identical trees", async () => {
    const p = await pair();
    const prim = tmpDir("remote-peer-prim");
    cleanups.push(() => fs.rmSync(prim, { recursive: true, force: true }));
    for (let i = 0; i < 40; i++) writeFile(prim, `dir${i % 4}/file${i}`, noise(i + 10, 1000 + i * 997), 1_700_000_000 + i);
    writeFile(prim, "large", noise(99, 3 * 1024 * 1024), 1_700_000_100);
    writeFile(p.second, "large", Buffer.concat([noise(99, 1024 * 1024), Buffer.alloc(4096, 1), noise(99, 3 * 1024 * 1024).subarray(1024 * 1024 + 4096)]), 1_600_000_000);
    writeFile(p.second, "stale", "remove me");
    fs.symlinkSync("dir0/file0", path.join(prim, "link"));
    fs.linkSync(path.join(prim, "dir1", "file1"), path.join(prim, "hard"));
    const result = await new Resync({ root: prim, peer: p.peer }).run();
    expect(result.error).toBeNull();
    expect(result.failures).toEqual([]);
    expect(result.completed).toBe(true);
    await expectSameTrees(prim, p.second);
    // Only the changed block of "large" was sent, not the whole file.
    expect(result.progress.bytesSent).toBeLessThan(2 * 1024 * 1024);
  });

  it("with the link down, questions reject with LinkDownError and ops are not applied", async () => {
    const p = await pair();
    await p.server.close();
    while (p.client.up) await new Promise((r) => setTimeout(r, 5));
    await expect(p.peer.entry(relPath("x"))).rejects.toThrow(LinkDownError);
    await expect(collect(p.peer.manifest(new Uint8Array(0), true))).rejects.toThrow(LinkDownError);
    expect(await p.peer.apply({ op: "unlink", path: relPath("x") })).toMatchObject({ ok: false, errno: "ENOTCONN" });
  });
});

/**
 * The feature exchange on a real link (loopback TCP): a PRIM and a SECOND of
 * this release agree on their features; either side of the previous release
 * (features: null, which neither marks its nonce nor tells features) still
 * replicates, with none in use; a listing asked without xattrs reads none on
 * a SECOND that agreed, is asked plainly of one that did not, and closes the
 * connection when sent unagreed; a malformed features message closes it,
 * naming the peer.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { tmpdir } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { LINK_FEATURES_ALL, type LinkFeatures } from "../../src/core/link-features.ts";
import { ReplicationClient, ReplicationServer, type RequestAnswerer } from "../../src/net/replication-link.ts";
import { clientHandshake } from "../../src/net/replication-link-handshake.ts";
import { RecordSocket } from "../../src/net/replication-link-records.ts";
import { HANDSHAKE_MAX_RECORD } from "../../src/proto/replication-handshake.ts";
import { REPLICATION_VERSION } from "../../src/proto/replication.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { FolderAnswerer } from "../../src/replicator/remote-peer-answers.ts";
import { RemoteResyncPeer } from "../../src/replicator/remote-peer.ts";
import type { FsCalls } from "../../src/sys/ffi/fs-calls.ts";
import { until } from "./until.ts";

const KEY = new Uint8Array(32).map((_, i) => i * 5 + 3);
const QUIET = { pingIntervalMs: 60_000, deadtimeMs: 120_000 };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** xattr calls that count how often the answerer reads a listing's xattrs. */
function countingXattrs(): { calls: FsCalls; reads: () => number } {
  let reads = 0;
  const calls = {
    llistxattr: () => {
      reads++;
      return [new TextEncoder().encode("user.tag")];
    },
    lgetxattr: () => new TextEncoder().encode("v"),
  } as unknown as FsCalls;
  return { calls, reads: () => reads };
}

interface Second {
  server: ReplicationServer;
  port: number;
  applied: number[];
  refused: string[];
  xattrReads: () => number;
}

async function second(features?: LinkFeatures | null, answerer?: (xattrs: FsCalls) => RequestAnswerer): Promise<Second> {
  const applied: number[] = [];
  const refused: string[] = [];
  const x = countingXattrs();
  const server = new ReplicationServer({
    cluster: "pair", node: "b", peer: "a", key: KEY, listen: [{ address: "127.0.0.1", port: 0 }], timers: QUIET,
    apply: (_op, seq) => {
      applied.push(seq);
      return { ok: true };
    },
    ...(answerer === undefined ? {} : { answerer: answerer(x.calls) }),
    ...(features === undefined ? {} : { features }),
  });
  server.onRefused((_f, r) => refused.push(r));
  await server.start();
  cleanups.push(() => server.close());
  return { server, port: server.bound()[0]!.port, applied, refused, xattrReads: x.reads };
}

function prim(port: number, features?: LinkFeatures | null): { client: ReplicationClient; failures: string[]; downs: string[] } {
  const client = new ReplicationClient({ cluster: "pair", node: "a", peer: "b", key: KEY, addresses: [`127.0.0.1:${port}`], timers: QUIET, retryMs: 100, ...(features === undefined ? {} : { features }) });
  const failures: string[] = [];
  const downs: string[] = [];
  client.onConnectFailed((_a, r) => failures.push(r));
  client.onDown((r) => downs.push(r));
  client.start();
  cleanups.push(() => client.close());
  return { client, failures, downs };
}

const op = (n: number): MirrorOp => ({ op: "write", path: relPath(`f${n}`), offset: 0, data: new Uint8Array(8).fill(n), mtimeNs: 1n });

/** A SECOND's folder with a few files, answered by a FolderAnswerer whose xattr reads are counted. */
function folder(): string {
  const dir = fs.mkdtempSync(path.join(tmpdir(), "link-features-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, "d"));
  for (const n of ["a", "b", "d/c"]) fs.writeFileSync(path.join(dir, n), n);
  return dir;
}

describe("replication link feature exchange", () => {
  it("a PRIM and a SECOND of this release agree on every feature both have, and replicate", async () => {
    const s = await second();
    const p = prim(s.port);
    await until(() => p.client.up && s.server.up, "up");
    expect(p.client.agreed).toEqual({ peer: { version: REPLICATION_VERSION, bits: LINK_FEATURES_ALL }, common: LINK_FEATURES_ALL });
    expect(s.server.agreed).toEqual({ peer: { version: REPLICATION_VERSION, bits: LINK_FEATURES_ALL }, common: LINK_FEATURES_ALL });
    expect(await p.client.send(1, op(1))).toMatchObject({ delivered: true });
    expect(s.applied).toEqual([1]);
  });

  it("a PRIM of the previous release and a SECOND of this one replicate, with no features in use", async () => {
    const s = await second();
    const p = prim(s.port, null);
    await until(() => p.client.up && s.server.up, "up");
    expect(p.client.agreed.common).toBe(0);
    expect(s.server.agreed).toEqual({ peer: null, common: 0 });
    expect(await p.client.send(1, op(1))).toMatchObject({ delivered: true });
    expect(s.applied).toEqual([1]);
    expect(s.refused).toEqual([]);
  });

  it("a PRIM of this release and a SECOND of the previous one replicate, with no features in use", async () => {
    const s = await second(null);
    const p = prim(s.port);
    await until(() => p.client.up && s.server.up, "up");
    expect(p.client.agreed).toEqual({ peer: null, common: 0 });
    expect(await p.client.send(1, op(1))).toMatchObject({ delivered: true });
    expect(s.applied).toEqual([1]);
    expect(p.failures).toEqual([]);
  });

  it("a SECOND of a later version is served with the features both have", async () => {
    const s = await second({ version: REPLICATION_VERSION + 1, bits: 0xffff_fff0 | LINK_FEATURES_ALL });
    const p = prim(s.port);
    await until(() => p.client.up && s.server.up, "up");
    expect(p.client.agreed).toEqual({ peer: { version: REPLICATION_VERSION + 1, bits: (0xffff_fff0 | LINK_FEATURES_ALL) >>> 0 }, common: LINK_FEATURES_ALL });
    expect(await p.client.send(1, op(1))).toMatchObject({ delivered: true });
  });

  it("a listing without xattrs reads none on a SECOND that agreed; one that did not is asked plainly and reads them", async () => {
    const dir = folder();
    for (const features of [undefined, null]) {
      const s = await second(features, (calls) => new FolderAnswerer(dir, { fsCalls: calls }));
      const p = prim(s.port);
      await until(() => p.client.up && s.server.up, "up");
      const peer = new RemoteResyncPeer(p.client);
      const bare: unknown[] = [];
      for await (const e of peer.manifest(relPath(""), true, false)) bare.push(e);
      expect(bare).toHaveLength(5);
      expect(bare.every((e) => (e as { xattrs?: unknown }).xattrs === undefined), "entries without xattrs").toBe(features === null ? false : true);
      expect(s.xattrReads(), `xattrs read on a SECOND ${features === null ? "of the previous release" : "that agreed"}`).toBe(features === null ? 5 : 0);
      // Asked with them, they are read either way.
      let withX = 0;
      for await (const e of peer.manifest(relPath(""), true)) if (e.xattrs !== undefined) withX++;
      expect(withX).toBe(5);
      expect(s.refused).toEqual([]);
      await p.client.close();
      await s.server.close();
    }
  });

  it("a listing without xattrs asked on a link that did not agree on it closes the connection, naming the PRIM", async () => {
    const s = await second(undefined, (calls) => new FolderAnswerer(folder(), { fsCalls: calls }));
    const downs: string[] = [];
    s.server.onDown((r) => downs.push(r));
    const p = prim(s.port, null);
    await until(() => p.client.up && s.server.up, "up");
    const answers: unknown[] = [];
    p.client.request({ kind: "manifest", under: relPath(""), recursive: true, withoutXattrs: true }, (r) => answers.push(r));
    await until(() => downs.length > 0, "the SECOND to close");
    expect(downs[0]).toBe("a asked a manifest with listingWithoutXattrs, which the link's feature exchange did not agree on: connection closed");
    expect(s.xattrReads()).toBe(0);
  });

  /** A raw link client as node a that has offered the feature exchange and finished the handshake, nothing sent after. */
  async function handshakenAsA(port: number) {
    const sock = net.connect({ host: "127.0.0.1", port });
    const rs = new RecordSocket(sock, HANDSHAKE_MAX_RECORD);
    cleanups.push(() => rs.close("test over"));
    const h = await clientHandshake(rs, { cluster: "pair", node: "a", peer: "b", key: KEY }, 3000, true);
    if (!h.ok) throw new Error(h.reason);
    return { rs, h };
  }

  it("a malformed features message closes the connection in its start, naming the peer, and nothing is applied", async () => {
    const s = await second();
    const { rs, h } = await handshakenAsA(s.port);
    // Version 1 never tells features: not a features message this release reads.
    rs.write(Buffer.from(h.sealer.seal(new Uint8Array([9, 0, 1, 0, 0, 0, 1]))));
    await until(() => s.refused.length > 0, "the SECOND to refuse");
    expect(s.refused[0]).toBe("a malformed message from a (malformed: version at offset 1 is 1; the features message began with version 2): connection closed");
    expect(s.server.up).toBe(false);
    expect(s.applied).toEqual([]);
  });

  it("a PRIM that offered the exchange and sends an op before its features is refused, naming it", async () => {
    const s = await second();
    const { rs, h } = await handshakenAsA(s.port);
    const { encodeReplication } = await import("../../src/proto/replication.ts");
    rs.write(Buffer.from(h.sealer.seal(encodeReplication({ type: "op", seq: 1, op: op(1) }))));
    await until(() => s.refused.length > 0, "the SECOND to refuse");
    expect(s.refused[0]).toBe("a offered the link's feature exchange but sent an op message before its features: connection closed");
    expect(s.applied).toEqual([]);
  });
});

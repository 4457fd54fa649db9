import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryLinkNetwork } from "../../src/net/replication-link-memory.ts";
import { ReplicationClient } from "../../src/net/replication-link.ts";
import { startApplyEndpoint } from "../../src/replicator/apply-endpoint.ts";
import { relPath } from "../../src/replicator/ops.ts";
import { RemoteResyncPeer } from "../../src/replicator/remote-peer.ts";
import { collect } from "../../src/replicator/tree-scan.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(5);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("the SECOND's replication endpoint", () => {
  it("applies ops, answers the resync from the same folder, passes control requests on, and syncs at close", async () => {
    const root = tmpDir("apply-endpoint");
    cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
    const net = createMemoryLinkNetwork();
    const controls: string[] = [];
    const ep = await startApplyEndpoint({
      cluster: "c",
      node: "b",
      peer: "a",
      key: KEY,
      root,
      listen: [{ address: "198.51.100.12", port: 7696 }],
      transport: net.transport(["198.51.100.12"]),
      control: {
        request: (_id, q, reply) => {
          controls.push(q.kind);
          reply({ kind: "error", errno: "ENOTSUP", message: "test" });
        },
        reset: () => {},
      },
    });
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await ep.close();
    });
    expect(ep.inlineReason).toMatch(/cannot start a Worker/);
    const client = new ReplicationClient({ cluster: "c", node: "a", peer: "b", key: KEY, addresses: ["198.51.100.12"], transport: net.transport(["198.51.100.11"]) });
    client.start();
    cleanups.push(() => client.close());
    while (!client.up) await new Promise((r) => setTimeout(r, 2));
    const peer = new RemoteResyncPeer(client);
    expect(await peer.apply({ op: "mkdir", path: relPath("d"), mode: 0o750, uid: 0, gid: 0 })).toEqual({ ok: true });
    expect(await client.sendNext({ op: "create", path: relPath("d/f"), mode: 0o600, uid: 0, gid: 0 })).toEqual({ delivered: true, result: { ok: true } });
    expect((await collect(peer.manifest(new Uint8Array(0), true))).map((e) => Buffer.from(e.path).toString())).toEqual(["", "d", "d/f"]);
    const answers: string[] = [];
    await new Promise<void>((resolve) => {
      client.request({ kind: "control", action: "state", copy: { gen: "1:a", history: [], data: "uptodate", running: true, unclean: false } }, (r) => {
        if (r === null) resolve();
        else answers.push(r.kind);
      });
    });
    expect(controls).toEqual(["control"]);
    expect(answers).toEqual(["error"]);
    expect(ep.counters()?.recordsReceived).toBeGreaterThan(0);
    await ep.close();
    closed = true;
    expect(fs.statSync(path.join(root, "d")).mode & 0o777).toBe(0o750);
  });
});

/**
 * One end of a replication link in a lab host, run with bun:
 *
 *   bun replication-agent.ts server '{"listen":["198.51.100.12"],"port":7696}'
 *   bun replication-agent.ts client '{"addresses":["198.51.100.12","203.0.113.12"],"port":7696}'
 *
 * The client sends one small op every `everyMs` while the link is up. Both
 * print JSON lines: {"event":"listening"|"up"|"down"|"fail"|"sent", "t": Date.now(), ...}.
 */
import { ReplicationClient, ReplicationServer } from "../../src/net/replication-link.ts";
import { relPath } from "../../src/replicator/ops.ts";

const KEY = new Uint8Array(32).map((_, i) => i + 100);
const role = process.argv[2];
const cfg = JSON.parse(process.argv[3] ?? "{}") as { listen?: string[]; addresses?: string[]; port?: number; deadtimeMs?: number; everyMs?: number };
const timers = { pingIntervalMs: 100, deadtimeMs: cfg.deadtimeMs ?? 1000 };
const say = (event: string, more: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, t: Date.now(), ...more })}\n`);
};

if (role === "server") {
  let applied = 0;
  const server = new ReplicationServer({
    cluster: "lab",
    node: "b",
    peer: "a",
    key: KEY,
    timers,
    listen: (cfg.listen ?? []).map((address) => ({ address, port: cfg.port ?? 7696 })),
    apply: () => {
      applied++;
      return { ok: true };
    },
  });
  server.onUp((from) => say("up", { from }));
  server.onDown((reason) => say("down", { reason, applied }));
  server.onRefused((from, reason) => say("fail", { from, reason }));
  await server.start();
  say("listening");
} else {
  const client = new ReplicationClient({ cluster: "lab", node: "a", peer: "b", key: KEY, timers, addresses: cfg.addresses ?? [], port: cfg.port ?? 7696, retryMs: 200, connectTimeoutMs: 500 });
  client.onUp((at) => say("up", { address: at.address }));
  client.onDown((reason) => say("down", { reason }));
  client.onConnectFailed((at, reason) => say("fail", { address: at.address, reason }));
  client.start();
  let seq = 0;
  let delivered = 0;
  setInterval(() => {
    if (!client.up) return;
    void client.send(++seq, { op: "write", path: relPath("log"), offset: seq * 8, data: new Uint8Array(8), mtimeNs: BigInt(Date.now()) * 1_000_000n }).then((o) => {
      if (o.delivered) delivered++;
      if (delivered % 20 === 0 && o.delivered) say("sent", { delivered });
    });
  }, cfg.everyMs ?? 20);
}

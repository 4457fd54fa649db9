/**
 * A SECOND's replication server in its own process (run with bun), so a test
 * can SIGSTOP it. Prints "listening <port>" once ready.
 */
import { ReplicationServer } from "../../src/net/replication-link.ts";

const key = new Uint8Array(Buffer.from(process.env["KEY_HEX"] ?? "", "hex"));
const server = new ReplicationServer({
  cluster: "pair",
  node: "b",
  peer: "a",
  key,
  listen: [{ address: "127.0.0.1", port: 0 }],
  timers: { pingIntervalMs: 50, deadtimeMs: 500 },
  apply: () => ({ ok: true }),
});
await server.start();
process.stdout.write(`listening ${server.bound()[0]?.port}\n`);

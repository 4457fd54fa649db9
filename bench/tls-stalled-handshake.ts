/**
 * What TLS connections that never finish their handshake hold in the
 * console's server (serveFetch over node:https, as the daemon runs it).
 *
 * The connection guard (src/daemon/http-guard.ts) bounds connections in all
 * and per client and cuts a client that is slow to send its headers; it
 * learns of a connection from the server's "connection" event. Under Bun
 * that event comes only once a TLS handshake is done, and handshakeTimeout is
 * not enforced, so a connection stalled in its handshake is seen by no one.
 * This opens --count such connections from loopback (each sends the first
 * 5 bytes of a handshake record, then nothing), waits past the header
 * timeout, and reports what the server side still holds: connections the
 * guard knows of, open fds, anonymous RSS after a full collection, and how
 * many of the clients the server closed.
 *
 *   node_modules/.bin/bun bench/tls-stalled-handshake.ts [--count 1000] [--wait-ms 12000]
 *
 * Loopback only; no root needed. Prints one JSON line.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { serveFetch } from "../src/daemon/http-server.ts";
import { DEFAULT_HTTP_LIMITS } from "../src/daemon/http-limits.ts";
import { consoleTls } from "../src/sys/tls/console-cert.ts";

const { values: args } = benchArgs({ options: { count: { type: "string", default: "1000" }, "wait-ms": { type: "string", default: String(DEFAULT_HTTP_LIMITS.headerTimeoutMs + 2000) } } });
const count = Number(args.count);
const waitMs = Number(args["wait-ms"]);
if (!Number.isInteger(count) || count < 1 || !Number.isFinite(waitMs) || waitMs < 0) {
  console.error("--count N (a whole number above 0) and --wait-ms MS expected");
  process.exit(2);
}

function anonMiB(): number {
  (globalThis as { Bun?: { gc?: (sync: boolean) => void } }).Bun?.gc?.(true);
  return Number(/^RssAnon:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) / 1024;
}
const fds = (): number => readdirSync("/proc/self/fd").length;

const dir = mkdtempSync(join(tmpdir(), "vigil-tls-stall-"));
try {
  const tls = consoleTls({ stateDir: dir, commonName: "vigil bench", names: ["127.0.0.1"], now: new Date() });
  if (!tls.ok) throw new Error(tls.message);
  const server = await serveFetch(() => new Response("ok"), { host: "127.0.0.1", port: 0, tls: { cert: tls.tls.cert, key: tls.tls.key } });
  const port = Number(server.where.split(":")[1]);
  const before = { anonMiB: anonMiB(), fds: fds() };
  const clients: Socket[] = [];
  let closedByServer = 0;
  for (let i = 0; i < count; i++) {
    const c = connect(port, "127.0.0.1", () => c.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40])));
    c.on("error", () => {});
    c.on("close", () => closedByServer++);
    clients.push(c);
  }
  await new Promise((r) => setTimeout(r, waitMs));
  const after = { anonMiB: anonMiB(), fds: fds() };
  console.log(
    JSON.stringify({
      runtime: typeof (globalThis as { Bun?: unknown }).Bun === "undefined" ? `node ${process.version}` : `bun ${(globalThis as { Bun?: { version?: string } }).Bun?.version ?? "?"}`,
      stalledHandshakes: count,
      waitedMs: waitMs,
      limits: { maxConnections: DEFAULT_HTTP_LIMITS.maxConnections, maxConnectionsPerClient: DEFAULT_HTTP_LIMITS.maxConnectionsPerClient, headerTimeoutMs: DEFAULT_HTTP_LIMITS.headerTimeoutMs },
      guardOpenConnections: server.openConnections(),
      closedByServer,
      // Client and server ends are both in this process: each held connection is two fds.
      fdsBefore: before.fds,
      fdsAfter: after.fds,
      anonMiBBefore: Math.round(before.anonMiB * 10) / 10,
      anonMiBAfter: Math.round(after.anonMiB * 10) / 10,
    }),
  );
  for (const c of clients) c.destroy();
  await server.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);

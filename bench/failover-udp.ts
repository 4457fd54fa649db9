/**
 * The two ends of the failover benchmark's service, run inside lab hosts:
 *
 *   bun bench/failover-udp.ts respond <host-name> <port>
 *   bun bench/failover-udp.ts probe <address> <port> <interval-ms>
 *
 * The responder answers every datagram with its host name followed by the
 * datagram, so the prober sees which router holds the VIP. The prober sends a
 * numbered datagram every interval on an absolute schedule (a late timer does
 * not push the later probes back) and prints one line per answer:
 *
 *   answer <seq> <sent-ms> <received-ms> <host-name>
 *
 * Times are milliseconds on the prober's own monotonic clock, so the outage is
 * measured by one clock only. The socket is not connected: answers count
 * whatever address they come from.
 */
import { createSocket } from "node:dgram";

function fail(message: string): never {
  process.stderr.write(`failover-udp: ${message}\n`);
  process.exit(2);
}

function portArg(raw: string | undefined): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`port must be an integer from 1 to 65535, got "${raw ?? ""}"`);
  return port;
}

function respond(name: string, port: number): void {
  const sock = createSocket("udp4");
  sock.on("error", (e) => fail(`responder on port ${port}: ${e.message}`));
  sock.on("message", (msg, from) => {
    sock.send(Buffer.concat([Buffer.from(`${name} `), msg]), from.port, from.address);
  });
  sock.bind(port, "0.0.0.0", () => console.log(`responding as ${name} on udp port ${port}`));
}

function probe(address: string, port: number, intervalMs: number): void {
  const sock = createSocket("udp4");
  const sentAt = new Map<number, number>();
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  sock.on("error", (e) => fail(`prober to ${address}:${port}: ${e.message}`));
  sock.on("message", (msg) => {
    const received = now();
    const m = /^(\S+) (\d+)$/.exec(msg.toString("utf8"));
    if (m === null) return;
    const seq = Number(m[2]);
    const sent = sentAt.get(seq);
    if (sent === undefined) return;
    console.log(`answer ${seq} ${sent.toFixed(1)} ${received.toFixed(1)} ${m[1]}`);
  });
  let seq = 0;
  const tick = (): void => {
    seq += 1;
    sentAt.set(seq, now());
    // Old entries only matter for answers that will never come now.
    sentAt.delete(seq - 1000);
    sock.send(String(seq), port, address);
    setTimeout(tick, Math.max(0, seq * intervalMs - now()));
  };
  sock.bind(0, () => {
    console.log(`probing ${address}:${port} every ${intervalMs} ms`);
    tick();
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "respond") {
  const name = args[0];
  if (name === undefined || name === "") fail("respond needs a host name");
  respond(name, portArg(args[1]));
} else if (mode === "probe") {
  const address = args[0];
  if (address === undefined || !/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) fail(`probe needs an IPv4 address, got "${address ?? ""}"`);
  const interval = Number(args[2]);
  if (!Number.isFinite(interval) || interval < 1) fail(`probe interval must be a number of milliseconds >= 1, got "${args[2] ?? ""}"`);
  probe(address, portArg(args[1]), interval);
} else {
  fail(`unknown mode "${mode ?? ""}"; expected respond or probe`);
}

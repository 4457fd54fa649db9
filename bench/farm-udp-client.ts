/**
 * UDP load for bench/farm-udp.ts, run on the client host. argv[2] is JSON:
 * { host, port, flows, perFlow, firstPort }. Each flow (a socket bound to
 * firstPort + i) sends perFlow datagrams one after another, each after the
 * answer to the one before (or 500 ms without one); all flows at once.
 * Prints one JSON line: { datagrams, lost, elapsedMs, rttMs: [...] }.
 */
import { createSocket } from "node:dgram";

interface Args {
  host: string;
  port: number;
  flows: number;
  perFlow: number;
  firstPort: number;
}
const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const rtt: number[] = [];
let lost = 0;

function flow(i: number): Promise<void> {
  return new Promise((resolve) => {
    const sock = createSocket("udp4");
    let seq = 0;
    let sentAt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = (): void => {
      if (seq >= args.perFlow) {
        sock.close();
        resolve();
        return;
      }
      sentAt = performance.now();
      const mine = seq++;
      sock.send(String(mine), args.port, args.host);
      timer = setTimeout(() => {
        lost++;
        next();
      }, 500);
    };
    sock.on("message", (m) => {
      if (Number(m.toString().split(" ")[1]) !== seq - 1) return;
      clearTimeout(timer);
      rtt.push(performance.now() - sentAt);
      next();
    });
    sock.bind(args.firstPort + i, next);
  });
}

const t0 = performance.now();
await Promise.all(Array.from({ length: args.flows }, (_, i) => flow(i)));
process.stdout.write(`${JSON.stringify({ datagrams: rtt.length + lost, lost, elapsedMs: performance.now() - t0, rttMs: rtt })}\n`);

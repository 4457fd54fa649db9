/**
 * The module-failover benchmark's client, run inside the client's lab host:
 *
 *   bun bench/module-failover-probe.ts <address> <port> <interval-ms> <timeout-ms>
 *
 * Sends GET / to the address every interval on an absolute schedule (a slow
 * request does not push the later ones back), each on a new connection, as
 * a fresh client would, and prints one line per answer in the format of
 * bench/failover-udp.ts, so bench/failover-outage.ts reads both:
 *
 *   answer <seq> <sent-ms> <received-ms> <body>
 *
 * The body is the serving node's name. Times are milliseconds on the
 * prober's own monotonic clock. A request without an answer within the
 * timeout is dropped silently: it is the outage.
 */
import { request } from "node:http";

function fail(message: string): never {
  process.stderr.write(`module-failover-probe: ${message}\n`);
  process.exit(2);
}

function numberArg(raw: string | undefined, what: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) fail(`${what} must be an integer from ${min} to ${max}, got "${raw ?? ""}"`);
  return n;
}

const [address, portRaw, intervalRaw, timeoutRaw] = process.argv.slice(2);
if (address === undefined || !/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) fail(`the first argument must be an IPv4 address, got "${address ?? ""}"`);
const port = numberArg(portRaw, "port", 1, 65535);
const intervalMs = numberArg(intervalRaw, "interval-ms", 1, 60_000);
const timeoutMs = numberArg(timeoutRaw, "timeout-ms", 1, 60_000);

const t0 = performance.now();
const now = (): number => performance.now() - t0;

function probe(seq: number): void {
  const sent = now();
  const req = request({ host: address, port, path: "/", agent: false }, (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (body += c));
    res.on("end", () => {
      clearTimeout(giveUp);
      const who = body.trim();
      if (res.statusCode === 200 && /^\S+$/.test(who)) console.log(`answer ${seq} ${sent.toFixed(1)} ${now().toFixed(1)} ${who}`);
    });
    res.on("error", () => {});
  });
  // A timer of our own rather than the socket's idle timeout: a SYN retransmitted a second later must not count as this probe's answer.
  const giveUp = setTimeout(() => req.destroy(), timeoutMs);
  req.on("error", () => clearTimeout(giveUp));
  req.end();
}

let seq = 0;
const tick = (): void => {
  seq += 1;
  probe(seq);
  setTimeout(tick, Math.max(0, seq * intervalMs - now()));
};
console.log(`probing http://${address}:${port}/ every ${intervalMs} ms`);
tick();

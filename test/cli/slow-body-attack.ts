/**
 * Many clients that each open a connection, send a request head announcing a
 * large body, a first burst of it, and then trickle the rest: the attack that
 * used to make the console buffer a megabyte per connection. Each connection
 * comes from one of `clients` loopback addresses (127.0.0.10 and up), so the
 * per-client bound and the total bound both come into play.
 */
import { connect } from "node:net";

export interface SlowBodyAttack {
  port: number;
  connections: number;
  clients: number;
  /** Request line and headers, without Content-Length and the blank line. */
  head: string;
  bodyBytes: number;
  burstBytes: number;
  trickleBytes: number;
  trickleMs: number;
  /** A connection still open after this long is closed by the client and counted as such. */
  giveUpMs: number;
}

export interface AttackOutcome {
  /** First status line's code of each connection's answer, counted ("none" when it got none). */
  statuses: Record<string, number>;
  /** Connections the client had to close itself because the server kept them open. */
  keptOpen: number;
}

export async function slowBodyAttack(a: SlowBodyAttack): Promise<AttackOutcome> {
  const statuses: Record<string, number> = {};
  let keptOpen = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect({ port: a.port, host: "127.0.0.1", localAddress: `127.0.0.${10 + (i % a.clients)}` });
      let answer = "";
      let sent = 0;
      let trickle: ReturnType<typeof setInterval> | undefined;
      const giveUp = setTimeout(() => {
        keptOpen++;
        socket.destroy();
      }, a.giveUpMs);
      const send = (n: number): void => {
        const k = Math.min(n, a.bodyBytes - sent);
        if (k <= 0 || socket.destroyed) return;
        sent += k;
        socket.write(Buffer.alloc(k, 0x78));
      };
      socket.on("connect", () => {
        socket.write(`${a.head}\r\ncontent-length: ${a.bodyBytes}\r\n\r\n`);
        send(a.burstBytes);
        trickle = setInterval(() => send(a.trickleBytes), a.trickleMs);
      });
      socket.on("data", (d) => {
        if (answer.length < 64) answer += d.toString("latin1");
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        clearInterval(trickle);
        clearTimeout(giveUp);
        const code = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? "none";
        statuses[code] = (statuses[code] ?? 0) + 1;
        resolve();
      });
    });
  await Promise.all(Array.from({ length: a.connections }, (_, i) => one(i)));
  return { statuses, keptOpen };
}

/** Resident memory of a process in MiB, from /proc. */
export function rssMiB(pid: number, read: (path: string) => string): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`));
  return m === null ? 0 : Number(m[1]) / 1024;
}

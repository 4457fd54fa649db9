/**
 * tcp checker: the service accepts a TCP connection on host:port. The
 * connection is closed as soon as it is established; nothing is sent.
 */
import { createConnection, isIP } from "node:net";
import { abortText, describeError, measure, withTimeout } from "./measure.ts";
import type { Checker } from "./types.ts";

export type HostPort = { readonly ok: true; readonly host: string; readonly port: number } | { readonly ok: false; readonly message: string };

/** "127.0.0.1:8080", "[::1]:8080" or "db.local:5432". */
export function parseHostPort(text: string): HostPort {
  const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(text) ?? /^([^:\s]+):([0-9]+)$/.exec(text);
  if (m === null) return { ok: false, message: `${JSON.stringify(text)} is not host:port (IPv6 goes in brackets: [::1]:80)` };
  const host = m[1] as string;
  const port = Number(m[2]);
  if (text.startsWith("[") && isIP(host) !== 6) return { ok: false, message: `${JSON.stringify(text)}: ${host} in brackets is not an IPv6 address` };
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, message: `${JSON.stringify(text)}: port ${m[2]} is not within 1..65535` };
  return { ok: true, host, port };
}

export interface TcpCheckerOptions {
  readonly host: string;
  readonly port: number;
  /** Give up after this long, on top of the caller's signal. */
  readonly timeoutMs?: number;
}

export function tcpChecker(opts: TcpCheckerOptions): Checker {
  const target = isIP(opts.host) === 6 ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  return {
    kind: "tcp",
    target,
    run: (outer) =>
      measure(target, () =>
        new Promise((resolve) => {
          const signal = withTimeout(outer, opts.timeoutMs);
          if (signal.aborted) {
            resolve({ ok: false, detail: `${target}: ${abortText(signal)} before connecting` });
            return;
          }
          const socket = createConnection({ host: opts.host, port: opts.port });
          const done = (ok: boolean, detail: string): void => {
            signal.removeEventListener("abort", onAbort);
            socket.removeAllListeners();
            socket.on("error", () => {}); // A late reset after we are done is of no interest.
            socket.destroy();
            resolve({ ok, detail });
          };
          const onAbort = (): void => done(false, `${target}: no connection, ${abortText(signal)}`);
          signal.addEventListener("abort", onAbort, { once: true });
          socket.once("connect", () => done(true, `${target}: connection accepted`));
          socket.once("error", (e) => done(false, `${target}: ${describeError(e)}`));
        })),
  };
}

/**
 * Reachability checkers, for "can this node still see the network?"
 * (a gateway, a switch, the other site):
 *
 * - ping: one ICMP echo through the system's `ping` binary
 *   (`ping -c 1 -W <seconds> -n ADDR`), which has the raw-socket privilege
 *   we may not have. Only IP literals are accepted: no name lookups, and
 *   nothing that `ping` could take for an option.
 * - probe: for networks that drop ICMP. TCP: any answer, even a refusal
 *   (RST), proves the host is there. UDP: a reply, or an ICMP port
 *   unreachable (ECONNREFUSED on a connected socket), proves it; silence
 *   does not, so pick a port that answers or a host that reports closed
 *   ports.
 */
import { createSocket } from "node:dgram";
import { createConnection, isIP } from "node:net";
import { runScript } from "../run-script.ts";
import { abortText, describeError, errorCode, measure, withTimeout } from "./measure.ts";
import type { Checker } from "./types.ts";

export interface PingCheckerOptions {
  readonly address: string;
  /** How long to wait for the reply; rounded up to whole seconds for `ping -W`. Default 1000. */
  readonly timeoutMs?: number;
  /** Default "ping", looked up in PATH. */
  readonly binary?: string;
}

export const DEFAULT_PING_TIMEOUT_MS = 1000;

function rtt(output: string): string | null {
  const m = /time[=<]([0-9.]+ ?m?s)/.exec(output);
  return m === null ? null : (m[1] as string).replace(/ /g, "");
}

function lastLine(output: string): string {
  const lines = output.trim().split("\n");
  return (lines[lines.length - 1] ?? "").trim();
}

export function pingChecker(opts: PingCheckerOptions): Checker {
  const target = opts.address;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const binary = opts.binary ?? "ping";
  return {
    kind: "ping",
    target,
    run: (signal) =>
      measure(target, async () => {
        if (isIP(opts.address) === 0) return { ok: false, detail: `ping ${JSON.stringify(opts.address)}: not an IP address` };
        // ping itself gives up after `seconds`; the extra second covers its start-up.
        const r = await runScript(binary, {
          args: ["-c", "1", "-W", String(seconds), "-n", opts.address],
          timeoutMs: seconds * 1000 + 1000,
          graceMs: 500,
          signal,
          env: { LC_ALL: "C" },
        });
        if (r.ok) {
          const time = rtt(r.outputTail);
          return { ok: true, detail: `${target}: echo reply${time === null ? "" : ` in ${time}`}` };
        }
        if (r.exitCode === null && r.signal === null && !r.timedOut && !r.aborted) {
          return { ok: false, detail: `${target}: cannot run ping: ${r.message}` };
        }
        if (r.aborted) return { ok: false, detail: `${target}: no reply, ${abortText(signal)}` };
        if (r.timedOut) return { ok: false, detail: `${target}: ping did not finish within ${seconds + 1} s` };
        if (r.exitCode === 1) return { ok: false, detail: `${target}: no reply within ${seconds} s` };
        const said = lastLine(r.outputTail);
        return { ok: false, detail: `${target}: ping failed (exit ${r.exitCode})${said === "" ? "" : `: ${said}`}` };
      }),
  };
}

export interface ProbeCheckerOptions {
  readonly address: string;
  readonly port: number;
  readonly protocol: "tcp" | "udp";
  readonly timeoutMs?: number;
  /** UDP only: the datagram sent. Default empty. */
  readonly payload?: Uint8Array;
}

/** Errors that mean the host itself answered. */
const HOST_ANSWERED = new Set(["ECONNREFUSED", "ECONNRESET"]);

function probeTcp(address: string, port: number, target: string, signal: AbortSignal): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: address, port });
    const done = (ok: boolean, detail: string): void => {
      signal.removeEventListener("abort", onAbort);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      resolve({ ok, detail });
    };
    const onAbort = (): void => done(false, `${target}: no answer, ${abortText(signal)}`);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => done(true, `${target}: host answered (port open)`));
    socket.once("error", (e) => {
      if (HOST_ANSWERED.has(errorCode(e))) done(true, `${target}: host answered (${errorCode(e) === "ECONNREFUSED" ? "port closed" : "connection reset"})`);
      else done(false, `${target}: ${describeError(e)}`);
    });
  });
}

function probeUdp(address: string, port: number, target: string, payload: Uint8Array, signal: AbortSignal): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = createSocket(isIP(address) === 6 ? "udp6" : "udp4");
    let settled = false;
    const done = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.removeAllListeners();
      socket.on("error", () => {});
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      resolve({ ok, detail });
    };
    const onAbort = (): void => done(false, `${target}: no answer, ${abortText(signal)}`);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (e) => {
      if (errorCode(e) === "ECONNREFUSED") done(true, `${target}: host answered (port unreachable)`);
      else done(false, `${target}: ${describeError(e)}`);
    });
    socket.on("message", () => done(true, `${target}: host answered (reply)`));
    // Connected, so that the kernel reports an ICMP port unreachable to us.
    socket.connect(port, address, () => {
      socket.send(payload, (e) => {
        if (e !== null && e !== undefined) {
          if (errorCode(e) === "ECONNREFUSED") done(true, `${target}: host answered (port unreachable)`);
          else done(false, `${target}: ${describeError(e)}`);
        }
      });
    });
  });
}

export function probeChecker(opts: ProbeCheckerOptions): Checker {
  const host = isIP(opts.address) === 6 ? `[${opts.address}]` : opts.address;
  const target = `${opts.protocol} ${host}:${opts.port}`;
  return {
    kind: "probe",
    target,
    run: (outer) =>
      measure(target, async () => {
        if (isIP(opts.address) === 0) return { ok: false, detail: `${target}: ${JSON.stringify(opts.address)} is not an IP address` };
        if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) return { ok: false, detail: `${target}: port ${opts.port} is not within 1..65535` };
        const signal = withTimeout(outer, opts.timeoutMs);
        if (signal.aborted) return { ok: false, detail: `${target}: ${abortText(signal)} before probing` };
        return opts.protocol === "tcp"
          ? probeTcp(opts.address, opts.port, target, signal)
          : probeUdp(opts.address, opts.port, target, opts.payload ?? new Uint8Array(0), signal);
      }),
  };
}

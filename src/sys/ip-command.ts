/**
 * Runs iproute2's `ip` with a timeout and returns a typed result instead of
 * throwing. Shelling out costs about 5 ms per call, cheap next to a failover,
 * and keeps netlink encoding out of vigil.
 *
 * `ip` runs with LC_ALL=C so its messages ("Address not found", "Cannot
 * assign requested address") can be recognised whatever the host locale.
 */
import { execFile } from "node:child_process";

export const DEFAULT_IP_TIMEOUT_MS = 5000;
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

export interface IpRunOptions {
  /** Kill `ip` after this long; the runner's default if omitted. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** `signalled`: a signal ended `ip` before it exited (not our timeout). */
export type IpFailureKind = "not-found" | "timeout" | "aborted" | "failed" | "signalled" | "spawn-failed";

export type IpRunResult =
  | { ok: true; command: string; stdout: string; stderr: string }
  | {
      ok: false;
      kind: IpFailureKind;
      /** The command line, for messages: "ip addr replace 198.51.100.50/32 dev eth0". */
      command: string;
      /** Exit status when `ip` ran and failed; null otherwise. */
      exitCode: number | null;
      stdout: string;
      stderr: string;
      message: string;
    };

/** Runs `ip ARGS...`. Fakes of this type drive the unit tests. */
export type IpRunner = (args: readonly string[], opts?: IpRunOptions) => Promise<IpRunResult>;

export interface IpRunnerOptions {
  /** Path or name of the binary; "ip" (from PATH) by default. */
  binary?: string;
  /** Run inside this named network namespace (`ip -n NS ...`). */
  netns?: string;
  timeoutMs?: number;
}

export function commandLine(binary: string, args: readonly string[]): string {
  return [binary, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

export function createIpRunner(options: IpRunnerOptions = {}): IpRunner {
  const binary = options.binary ?? "ip";
  const prefix = options.netns === undefined ? [] : ["-n", options.netns];
  const defaultTimeout = options.timeoutMs ?? DEFAULT_IP_TIMEOUT_MS;
  return (args, opts = {}) => {
    const full = [...prefix, ...args];
    const command = commandLine(binary, full);
    const timeoutMs = opts.timeoutMs ?? defaultTimeout;
    return new Promise((resolve) => {
      const execOptions = {
        encoding: "utf8" as const,
        timeout: timeoutMs,
        killSignal: "SIGKILL" as const,
        maxBuffer: MAX_OUTPUT_BYTES,
        env: { ...process.env, LC_ALL: "C" },
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      };
      execFile(binary, full, execOptions, (error, stdout, stderr) => {
        const out = String(stdout ?? "");
        const err = String(stderr ?? "");
        if (error === null) {
          resolve({ ok: true, command, stdout: out, stderr: err });
          return;
        }
        const code = (error as { code?: unknown }).code;
        const signal = (error as { signal?: unknown }).signal;
        const fail = (kind: IpFailureKind, exitCode: number | null, message: string): void =>
          resolve({ ok: false, kind, command, exitCode, stdout: out, stderr: err, message });
        if (code === "ENOENT") {
          fail("not-found", null, `${binary} (iproute2) is not installed or not on PATH; managing VIPs needs it`);
        } else if (error.name === "AbortError" || code === "ABORT_ERR") {
          fail("aborted", null, `${command}: cancelled`);
        } else if ((error as { killed?: unknown }).killed === true) {
          fail("timeout", null, `${command}: no answer after ${timeoutMs} ms, killed`);
        } else if (typeof code === "number") {
          const detail = err.trim() === "" ? "" : `: ${err.trim()}`;
          fail("failed", code, `${command} exited with status ${code}${detail}`);
        } else if (typeof signal === "string") {
          fail("signalled", null, `${command}: ended by ${signal} before it finished`);
        } else {
          fail("spawn-failed", null, `${command}: cannot run: ${error.message}`);
        }
      });
    });
  };
}

/**
 * Runs iproute2's `ip` with a timeout and returns a typed result instead of
 * throwing. Shelling out costs about 5 ms per call, cheap next to a failover,
 * and keeps netlink encoding out of vigil.
 *
 * `ip` runs with LC_ALL=C so its messages ("Address not found", "Cannot
 * assign requested address") can be recognised whatever the host locale,
 * and in a process group of its own, so a stop signal sent to the daemon's
 * group does not end it half done (helper-child.ts).
 */
import type { ChildProcess } from "node:child_process";
import { killHelper, spawnHelper } from "./helper-child.ts";

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
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let bytes = 0;
      let settled = false;
      /** Why we killed it, if we did. */
      let ended: "timeout" | "aborted" | "output" | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => stop("aborted");
      const finish = (r: IpRunResult): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        resolve(r);
      };
      const out = (): string => Buffer.concat(stdout).toString("utf8");
      const err = (): string => Buffer.concat(stderr).toString("utf8");
      const fail = (kind: IpFailureKind, exitCode: number | null, message: string): void =>
        finish({ ok: false, kind, command, exitCode, stdout: out(), stderr: err(), message });
      const spawnFailed = (e: NodeJS.ErrnoException): void => {
        if (e.code === "ENOENT") fail("not-found", null, `${binary} (iproute2) is not installed or not on PATH; managing VIPs needs it`);
        else fail("spawn-failed", null, `${command}: cannot run: ${e.message}`);
      };
      if (opts.signal?.aborted === true) {
        fail("aborted", null, `${command}: cancelled`);
        return;
      }
      // Its own process group: a stop signal sent to the daemon's group must not end it (helper-child.ts).
      let child: ChildProcess;
      try {
        child = spawnHelper(binary, full, { stdin: "ignore", env: { ...process.env, LC_ALL: "C" } });
      } catch (e) {
        spawnFailed(e as NodeJS.ErrnoException);
        return;
      }
      function stop(why: "timeout" | "aborted" | "output"): void {
        if (settled || ended !== undefined) return;
        ended = why;
        killHelper(child);
      }
      const gather = (into: Buffer[]) => (b: Buffer): void => {
        bytes += b.length;
        if (bytes > MAX_OUTPUT_BYTES) stop("output");
        else into.push(b);
      };
      child.stdout?.on("data", gather(stdout));
      child.stderr?.on("data", gather(stderr));
      child.on("error", spawnFailed);
      timer = setTimeout(() => stop("timeout"), timeoutMs);
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      child.on("close", (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended === "timeout") fail("timeout", null, `${command}: no answer after ${timeoutMs} ms, killed`);
        else if (ended === "aborted") fail("aborted", null, `${command}: cancelled`);
        else if (ended === "output") fail("failed", null, `${command}: more than ${MAX_OUTPUT_BYTES} bytes of output, killed`);
        else if (code === 0) finish({ ok: true, command, stdout: out(), stderr: err() });
        else if (typeof code === "number") {
          const detail = err().trim() === "" ? "" : `: ${err().trim()}`;
          fail("failed", code, `${command} exited with status ${code}${detail}`);
        } else if (signal !== null) fail("signalled", null, `${command}: ended by ${signal} before it finished`);
        else fail("spawn-failed", null, `${command}: cannot run: it ended with neither a status nor a signal`);
      });
    });
  };
}

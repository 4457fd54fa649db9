import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** VIGIL_BIN points the tests at another build (e.g. one kept apart while dist/ is rebuilt). */
export const VIGIL = process.env.VIGIL_BIN || `${ROOT}dist/vigil`;

export function requireBinary(): void {
  if (!existsSync(VIGIL)) throw new Error(`${VIGIL} is missing: run "npm run build" first (npm test does it)`);
}

export interface RunResult { code: number | null; stdout: string; stderr: string }

export function vigil(args: string[], env: Record<string, string> = {}): RunResult {
  requireBinary();
  const r = spawnSync(VIGIL, args, { encoding: "utf8", env: { ...process.env, VIGIL_CONFIG: "", ...env }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A daemon started by a test, with its stderr log collected. */
export interface Daemon { proc: ChildProcess; log(): string; waitForLog(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>; exited: Promise<number | null> }

/**
 * A daemon's environment: the test runner's, without its NODE_ENV (vitest
 * sets "test"): a service manager gives none, and one there would keep the
 * daemon's HTTP server in the runtime's development mode (runtime-options.ts).
 */
function daemonEnv(): NodeJS.ProcessEnv {
  const { NODE_ENV: _runner, ...env } = process.env;
  return { ...env, VIGIL_CONFIG: "" };
}

export function startDaemon(args: string[]): Daemon {
  requireBinary();
  const proc = spawn(VIGIL, args, { stdio: ["ignore", "pipe", "pipe"], env: daemonEnv() });
  let text = "";
  proc.stdout?.on("data", (c) => (text += c));
  proc.stderr?.on("data", (c) => (text += c));
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  return {
    proc,
    log: () => text,
    exited,
    async waitForLog(re, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = text.match(re);
        if (m) return m;
        if (proc.exitCode !== null || Date.now() > deadline) {
          throw new Error(`daemon log never matched ${re} (exit ${proc.exitCode}); log:\n${text}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/**
 * Settings of the runtime itself that the node daemon runs with:
 * JavaScriptCore's (BUN_JSC_*), the allocator's (MIMALLOC_*) and the HTTP
 * server's mode (NODE_ENV). They are read from the environment once, when
 * the process starts, and a compiled binary has no other place to carry
 * them. So `vigil run` starts itself again in place before it loads
 * anything else: execve(2) of the same binary with the same arguments and
 * these variables added, same process id. `vigil witness` does the same
 * for NODE_ENV; the verbs (`vigil version`, `status`, ...) never do.
 *
 * The second start then takes the variables it was given out of its own
 * environment (process.env), so the service's scripts, checkers and tools
 * the daemon starts do not inherit them (a service that runs on this
 * runtime would run without its optimizing compiler). Code that starts the
 * daemon again (realtime.ts) takes its environment from restartEnv(),
 * which puts them back.
 *
 * A variable the operator set keeps the operator's value and stays in the
 * environment. VIGIL_RUNTIME_OPTIONS=off runs the daemon with the runtime's
 * defaults (no second start).
 */
import { readFileSync } from "node:fs";

/**
 * The runtime's HTTP server, under node:http (the console's plain-HTTP
 * listener, the control socket, the witness's --http), runs in its
 * development mode unless NODE_ENV is "production" when the process starts
 * (set later, in process.env, it changes nothing). In that mode the runtime
 * itself answers GET /bun:info, before the console's login and Host check
 * see the request: the runtime's version and the kernel's, to anyone who
 * reaches the port (bench/results/node-env-console.md). The answers to bad
 * requests, the headers, RSS and CPU are the same in both modes.
 */
const PRODUCTION_HTTP: Readonly<Record<string, string>> = { NODE_ENV: "production" };

/** What `vigil witness` runs with: its --http listener is such a server. */
export const WITNESS_RUNTIME_OPTIONS: Readonly<Record<string, string>> = PRODUCTION_HTTP;

/**
 * What the daemon runs with, and why (README, "Memory over time"; figures
 * in bench/results/memsoak-*.md):
 *
 * - No optimizing compiler (DFG, and with it FTL): under faults, code paths
 *   that only faults reach kept getting optimized for over an hour, and
 *   what the optimized code keeps beside it (outside the JS heap) took the
 *   daemon from ~66 to ~105 MiB before it levelled off. Without it the
 *   memory is flat from the second minute, and an idle node is ~7 MiB
 *   smaller, for ~0.15 % of a core more (its few hot paths run as
 *   baseline-compiled code).
 * - No concurrent compiler and collector threads: they end when idle and
 *   start again when work comes (every few seconds under faults). A node
 *   with tight timers already ran without them (realtime.ts: its main
 *   thread must not wait for them); with the options set here at the first
 *   start, such a node needs no further start.
 * - The allocator's scavenger thread sweeps the main thread's free blocks
 *   at most once a second (MIMALLOC_PURGE_HOLES_MIN_INTERVAL, ms): by
 *   default it woke at every idle moment of the main thread, ten times a
 *   second at the heartbeat's rhythm, for about a fifth of an idle node's
 *   CPU (bench/results/footprint-cpu14.md: its thread 0.16-0.23 -> 0.03-0.07 %
 *   of a core). What a sweep gives back waits up to that second longer.
 */
export const DAEMON_RUNTIME_OPTIONS: Readonly<Record<string, string>> = {
  BUN_JSC_useDFGJIT: "0",
  BUN_JSC_useConcurrentJIT: "0",
  BUN_JSC_useConcurrentGC: "0",
  BUN_JSC_numberOfGCMarkers: "1",
  MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "1000",
  ...PRODUCTION_HTTP,
};

/**
 * What a node with a mirror module runs with: the runtime's defaults (the
 * optimizing compiler and its threads stay, see runtimeOptionsFor), except
 * the allocator's purge delay, 10 ms by default: a mirror SECOND spent much
 * of its CPU giving freed pages back to the kernel and taking them again.
 * With 2 s its main thread took ~1.2 s per GiB of an initial sync instead of
 * 2.05, most of what no purging at all (-1) saves, at a peak of 113 MB
 * against -1's 129. Over time the memory still comes back: two 105-minute
 * soaks side by side with every fault but the disk one
 * (bench/results/mirror2h-windows.md, mirror2h-{a,b}.md, load 8-44): the
 * mirror PRIM's RSS median 152.0 against 153.1 MiB on the defaults over the
 * last 30 minutes, within 2.2 MiB in every window, and the same CPU under the
 * soak's light write load.
 */
export const MIRROR_RUNTIME_OPTIONS: Readonly<Record<string, string>> = {
  MIMALLOC_PURGE_DELAY: "2000",
  ...PRODUCTION_HTTP,
};

/**
 * The options for a node whose vigil.yaml is `config` (parsed; null when it
 * could not be read or parsed: the daemon reports that itself at its start).
 * A node that runs a mirror module keeps the runtime's JavaScript defaults
 * (MIRROR_RUNTIME_OPTIONS): the mirror's data path (FUSE requests, ops, the
 * applier) is JS that the optimizing compiler makes several times faster;
 * without it a sync create/rename/delete storm ran 3-4x slower and 4 KiB
 * fsync p99 rose (bench/results/mirror-runtime-options.md). There the memory
 * warm-up under faults stays (README, *Runtime options*). A mirror module
 * added later by a reload runs without the optimizing compiler until the
 * daemon restarts (the reload's log says so).
 */
export function runtimeOptionsFor(config: unknown): Readonly<Record<string, string>> {
  return configRunsMirror(config) ? MIRROR_RUNTIME_OPTIONS : DAEMON_RUNTIME_OPTIONS;
}

/** Whether a parsed vigil.yaml declares a mirror module. */
export function configRunsMirror(config: unknown): boolean {
  if (typeof config !== "object" || config === null) return false;
  const modules = (config as { modules?: unknown }).modules;
  return Array.isArray(modules) && modules.some((m) => typeof m === "object" && m !== null && (m as { type?: unknown }).type === "mirror");
}

/** Whether this daemon runs without the optimizing compiler (the options were set at its start). */
export function optimizingCompilerOff(): boolean {
  return (inForce["BUN_JSC_useDFGJIT"] ?? process.env["BUN_JSC_useDFGJIT"]) === "0";
}

/** Set to "off" to run with the runtime's defaults. */
export const RUNTIME_OPTIONS_SWITCH = "VIGIL_RUNTIME_OPTIONS";
/** Which variables the second start was given (comma-separated), so that it can take exactly those back out. */
const ADDED = "VIGIL_RUNTIME_OPTIONS_ADDED";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The environment to start again with: `env` plus every option it lacks,
 * and which ones were added. Undefined when there is nothing to add (all
 * set, by us or the operator) or the operator turned the options off.
 */
export function envWithRuntimeOptions(env: Env, options: Readonly<Record<string, string>> = DAEMON_RUNTIME_OPTIONS): Record<string, string> | undefined {
  if (env[RUNTIME_OPTIONS_SWITCH] === "off") return undefined;
  const missing = Object.entries(options).filter(([k]) => env[k] === undefined);
  if (missing.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  for (const [k, v] of missing) out[k] = v;
  const before = env[ADDED]?.split(",").filter((k) => k !== "") ?? [];
  out[ADDED] = [...new Set([...before, ...missing.map(([k]) => k)])].join(",");
  return out;
}

/** The variables this process was started with by envWithRuntimeOptions, taken out of `env` (mutated); returns them. */
export function takeBackAddedOptions(env: Record<string, string | undefined>): Record<string, string> {
  const keys = env[ADDED]?.split(",").filter((k) => k !== "") ?? [];
  const taken: Record<string, string> = {};
  for (const k of keys) {
    const v = env[k];
    if (v !== undefined) taken[k] = v;
    delete env[k];
  }
  delete env[ADDED];
  return taken;
}

/** What takeBackAddedOptions took from process.env: the runtime still runs with them. */
let inForce: Record<string, string> = {};

/**
 * The environment to start this process again with: process.env plus the
 * runtime options it runs with (taken out of process.env for children).
 */
export function restartEnv(): Record<string, string | undefined> {
  if (Object.keys(inForce).length === 0) return process.env;
  return { ...process.env, ...inForce, [ADDED]: Object.keys(inForce).join(",") };
}

/** The built binary: only there is starting itself again the same program. */
export function isCompiledBinary(): boolean {
  return import.meta.url.includes("$bunfs") || (process.argv[1] ?? "").startsWith("/$bunfs/");
}

/** This process's arguments as the kernel holds them (argv[0] included), for execve. */
function ownArguments(): string[] {
  const parts = readFileSync("/proc/self/cmdline", "utf8").split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

/**
 * execve(2) of this binary with its own arguments and `env`. Returns only
 * when that failed, with the reason. The binary's own path, not
 * /proc/self/exe: the process keeps its name (ps, pgrep, the journal).
 */
export function startAgainWith(env: Record<string, string>): string {
  try {
    const execve = (process as unknown as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
    if (typeof execve !== "function") return "this runtime has no process.execve";
    execve(process.execPath, ownArguments(), env);
    return "execve returned";
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Starts the process again with `options` when it runs without them (and
 * it is the built binary); does not return then. Otherwise takes the
 * options a previous start added out of `env` (for children) and returns
 * undefined, or why the second start failed (the caller logs it; the
 * process runs on with the runtime's defaults).
 */
export function ensureRuntimeOptions(
  options: Readonly<Record<string, string>> = DAEMON_RUNTIME_OPTIONS,
  env: Record<string, string | undefined> = process.env,
  restart: ((env: Record<string, string>) => string) | undefined = isCompiledBinary() ? startAgainWith : undefined,
): string | undefined {
  const next = envWithRuntimeOptions(env, options);
  if (next !== undefined && restart !== undefined) return restart(next);
  inForce = takeBackAddedOptions(env);
  return undefined;
}

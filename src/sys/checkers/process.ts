/**
 * process checker: the service's process is running.
 *
 * - by name: at least `min` (default 1) processes of that name, counted
 *   the way VRRP process tracking counts them (track-process.ts: exact
 *   name, zombies excluded);
 * - by pidfile: the PID it holds is alive (not a zombie) and, when `name`
 *   is given, is that program, so a PID reused by something else after a
 *   crash does not pass.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { countProcesses, matchesProcess, parseStat, type ProcessCount, type ProcessCountFailure } from "../track-process.ts";
import { errorCode, measure } from "./measure.ts";
import type { Checker } from "./types.ts";

export type ProcessCounter = (name: string) => ProcessCount | ProcessCountFailure;

export type ProcessCheckerOptions =
  | { readonly name: string; readonly min?: number; readonly count?: ProcessCounter }
  | { readonly pidfile: string; readonly name?: string; readonly procDir?: string };

const PID = /^[1-9][0-9]{0,9}$/;

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return null;
  }
}

function byName(name: string, min: number, count: ProcessCounter): Checker {
  return {
    kind: "process",
    target: name,
    run: () =>
      measure(name, async () => {
        const r = count(name);
        if (!r.ok) return { ok: false, detail: r.message };
        const pids = r.pids.length > 5 ? `${r.pids.slice(0, 5).join(", ")}, ...` : r.pids.join(", ");
        if (r.count === 0) return { ok: false, detail: `no process named ${name} is running` };
        const found = `${r.count} process${r.count === 1 ? "" : "es"} named ${name} (pid ${pids})`;
        return r.count >= min ? { ok: true, detail: found } : { ok: false, detail: `${found}, expected at least ${min}` };
      }),
  };
}

function byPidfile(pidfile: string, name: string | undefined, proc: string): Checker {
  return {
    kind: "process",
    target: pidfile,
    run: () =>
      measure(pidfile, async () => {
        let text: string;
        try {
          text = await readFile(pidfile, "utf8");
        } catch (e) {
          const code = errorCode(e);
          return { ok: false, detail: code === "ENOENT" ? `${pidfile}: no such pidfile` : `${pidfile}: cannot be read (${code || String(e)})` };
        }
        const pidText = text.trim();
        if (!PID.test(pidText)) return { ok: false, detail: `${pidfile}: holds ${JSON.stringify(pidText.slice(0, 20))}, not a PID` };
        const pid = Number(pidText);
        const stat = await readOrNull(join(proc, pidText, "stat"));
        const parsed = stat === null ? null : parseStat(stat);
        if (stat === null || parsed === null) return { ok: false, detail: `${pidfile}: process ${pid} is not running` };
        if (parsed.state === "Z" || parsed.state === "X") return { ok: false, detail: `${pidfile}: process ${pid} has exited (zombie)` };
        if (name !== undefined) {
          // The cmdline is read now so the match below stays synchronous.
          const cmdline = await readOrNull(join(proc, pidText, "cmdline"));
          if (!matchesProcess(name, stat, () => cmdline)) {
            return { ok: false, detail: `${pidfile}: process ${pid} is ${parsed.comm}, not ${name}` };
          }
        }
        return { ok: true, detail: `${pidfile}: process ${pid}${name === undefined ? "" : ` (${name})`} is running` };
      }),
  };
}

export function processChecker(opts: ProcessCheckerOptions): Checker {
  if ("pidfile" in opts) return byPidfile(opts.pidfile, opts.name, opts.procDir ?? "/proc");
  return byName(opts.name, opts.min ?? 1, opts.count ?? ((n) => countProcesses(n)));
}

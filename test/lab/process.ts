/** A long-running process started in a lab namespace, its output kept in a log file. */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { describeCommand, nsArgv } from "./exec.ts";
import { LabError } from "./errors.ts";
import { procState, signalPid, signalTree } from "./procfs.ts";
import { sleep, waitUntil, WaitTimeout } from "./wait.ts";

export interface ExitStatus {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Log file name stem (default: the command's base name); made unique within the lab. */
  logName?: string;
  /** Added to the inherited environment. */
  env?: Record<string, string>;
  cwd?: string;
}

export interface LabProcess {
  /** The command's own PID: `ip netns exec` execs it in place. It also leads its own process group. */
  readonly pid: number;
  /** Path of the log holding stdout and stderr, interleaved as written. */
  readonly log: string;
  /** Settles when the process exits; never rejects. */
  readonly exited: Promise<ExitStatus>;
  /** Null while running. */
  readonly exitStatus: ExitStatus | null;
  /** Everything logged so far. */
  output(): string;
  /** Polls the log until it matches; rejects with the log's tail if the process exits first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Polls the predicate until true; rejects with the log's tail when time runs out. */
  waitFor(pred: () => boolean | Promise<boolean>, timeoutMs?: number): Promise<void>;
  /** Writes to the process's stdin. */
  write(text: string): void;
  /** Closes stdin. */
  endInput(): void;
  /** Signals the process itself (default SIGTERM); a no-op once it has exited. */
  kill(sig?: NodeJS.Signals): void;
  /** Signals its whole process group: the process and everything it started. */
  killGroup(sig?: NodeJS.Signals): void;
  /** /proc state letter: "S" sleeping, "R" running, "T" stopped, "Z" zombie; null once gone. */
  state(): string | null;
  /** SIGTERM (and SIGCONT, in case it is frozen) to the group, SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

const tail = (text: string, lines = 20): string => {
  const all = text.trimEnd().split("\n");
  return all.length <= lines ? text.trimEnd() : `…\n${all.slice(-lines).join("\n")}`;
};

export function spawnInNs(
  ns: string,
  cmd: readonly string[],
  logPath: string,
  opts: SpawnOptions,
  onSpawn: (child: ChildProcess) => void,
): LabProcess {
  if (cmd.length === 0) throw new TypeError("spawn: empty command");
  const label = `\`${describeCommand(cmd)}\` in ${ns}`;
  const fd = openSync(logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn("ip", nsArgv(ns, cmd).slice(1), {
      stdio: ["pipe", fd, fd],
      env: { ...process.env, ...opts.env },
      // Its own process group, so the lab can kill what it starts as well.
      detached: true,
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  if (child.pid === undefined) {
    // Node reports spawn failures asynchronously; without a pid there is nothing to track.
    throw new LabError(`cannot start ${label}: the "ip" command could not be spawned`);
  }
  const pid = child.pid;
  onSpawn(child);
  child.stdin?.on("error", () => {}); // writing to a process that exited must not crash the test run

  let status: ExitStatus | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on("exit", (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
    child.on("error", (e) => {
      try {
        const lfd = openSync(logPath, "a");
        writeSync(lfd, `\n[lab] ${label}: ${e.message}\n`);
        closeSync(lfd);
      } catch {
        // the log is only a courtesy here
      }
      status = { code: null, signal: null };
      resolve(status);
    });
  });

  const output = (): string => {
    try {
      return readFileSync(logPath, "utf8");
    } catch {
      return "";
    }
  };
  const describeExit = (s: ExitStatus): string => (s.signal ? `was killed by ${s.signal}` : `exited with code ${s.code}`);

  async function waitFor(pred: RegExp | (() => boolean | Promise<boolean>), timeoutMs = 10_000): Promise<RegExpMatchArray | undefined> {
    const what = pred instanceof RegExp ? `${pred} in the log of ${label}` : `a condition on ${label}`;
    try {
      if (pred instanceof RegExp) {
        return await waitUntil(
          () => {
            const m = output().match(pred);
            if (m) return m;
            if (status) throw new LabError(`${label} ${describeExit(status)} before its log matched ${pred}; log ${logPath}:\n${tail(output())}`);
            return null;
          },
          { timeoutMs, what },
        );
      }
      await waitUntil(pred, { timeoutMs, what });
      return undefined;
    } catch (e) {
      if (e instanceof WaitTimeout) throw new WaitTimeout(`${e.message}; log ${logPath}:\n${tail(output())}`);
      throw e;
    }
  }

  const proc: LabProcess = {
    pid,
    log: logPath,
    exited,
    get exitStatus() {
      return status;
    },
    output,
    waitFor: waitFor as LabProcess["waitFor"],
    write(text) {
      if (!child.stdin || child.stdin.destroyed) throw new LabError(`stdin of ${label} is closed`);
      child.stdin.write(text);
    },
    endInput() {
      child.stdin?.end();
    },
    // Only while not yet reaped: after that the PID may belong to someone else.
    kill(sig = "SIGTERM") {
      if (!status) signalPid(pid, sig);
    },
    killGroup(sig = "SIGTERM") {
      if (!status) signalTree(pid, sig);
    },
    state: () => (status ? null : procState(pid)),
    async stop(graceMs = 500) {
      if (status) return status;
      signalTree(pid, "SIGTERM");
      signalTree(pid, "SIGCONT");
      const done = await Promise.race([exited, sleep(graceMs).then(() => null)]);
      if (done) return done;
      if (!status) signalTree(pid, "SIGKILL");
      return exited;
    },
  };
  return proc;
}

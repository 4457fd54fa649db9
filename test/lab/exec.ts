/** Running a command to completion, optionally inside a lab namespace. */
import { spawn, type ChildProcess } from "node:child_process";
import { LabCommandError } from "./errors.ts";
import { signalGroup, signalTree } from "./procfs.ts";

export interface ExecResult {
  /** Exit code, or null when the command died from a signal (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The command outlived `timeoutMs` and was killed. */
  timedOut: boolean;
}

export interface ExecOptions {
  /** Default 30 s; the whole process group is SIGKILLed when it runs out. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Added to the inherited environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Throw LabCommandError unless the exit code is 0. */
  check?: boolean;
}

export const nsArgv = (ns: string, cmd: readonly string[]): string[] => ["ip", "netns", "exec", ns, ...cmd];

export const describeCommand = (cmd: readonly string[]): string =>
  cmd.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");

/**
 * Runs argv[0] with the rest as arguments. `onSpawn` sees the child first so a
 * lab can track it: a command still running at destroy time is killed too.
 */
export function runCommand(
  argv: readonly string[],
  opts: ExecOptions = {},
  where = "the root namespace",
  onSpawn?: (child: ChildProcess) => void,
): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new TypeError("runCommand: empty command"));
  const what = `\`${describeCommand(argv)}\` in ${where}`;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { ...process.env, ...opts.env },
      // Its own process group, so a timeout can kill whatever it started.
      detached: true,
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
    onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on("error", () => {}); // the command may exit without reading its input
      child.stdin.end(opts.input);
    }
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid === undefined) return;
      // Once the command itself has been reaped its PID may be reused: then only its group (still holding our pipes) is ours.
      if (child.exitCode === null && child.signalCode === null) signalTree(child.pid, "SIGKILL");
      else signalGroup(child.pid, "SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new LabCommandError(`cannot run ${what}: ${e.message}`, { code: null, signal: null, stdout, stderr, timedOut }));
    });
    // "close" waits for stdout/stderr to drain; a grandchild holding them open is killed with the group on timeout.
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result: ExecResult = { code, signal, stdout, stderr, timedOut };
      if (opts.check && code !== 0) {
        const why = timedOut ? `timed out after ${opts.timeoutMs ?? 30_000} ms` : code === null ? `died from ${signal}` : `exited ${code}`;
        reject(new LabCommandError(`${what} ${why}${stderr.trim() ? `: ${stderr.trim()}` : ""}`, result));
      } else resolve(result);
    });
  });
}

export interface RunOutput {
  /** The exit code; 1 when the command died from a signal or was killed at the timeout. */
  code: number;
  stdout: string;
  /** Ends with a line saying so when the command was killed at the timeout. */
  stderr: string;
}

/**
 * Runs a command in the root namespace for its exit code and output, as the CLI checks of the
 * lab tests read them. A command that outlives `timeoutMs` is killed and says so in stderr: a
 * status call that hangs on a loaded host must not read as a bare "exited 1".
 */
export async function runForOutput(argv: readonly string[], timeoutMs = 15_000): Promise<RunOutput> {
  const r = await runCommand(argv, { timeoutMs });
  const killed = r.timedOut ? `${r.stderr === "" || r.stderr.endsWith("\n") ? "" : "\n"}[${describeCommand(argv.slice(0, 2))} gave no answer within ${timeoutMs} ms and was killed]` : "";
  return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr + killed };
}

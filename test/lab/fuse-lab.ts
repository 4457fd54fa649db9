/**
 * Lab glue for the mirror's FUSE interception: a folder mounted in place by
 * fixtures/fuse-mount-runner.ts (under bun) inside a private mount namespace
 * of its own, so nothing shows outside the test and the mount dies with the
 * namespace whatever happens. A `sleep` keeps the namespace alive for
 * nsenter, also after the runner is gone.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand, type ExecOptions, type ExecResult } from "./exec.ts";
import { waitUntil } from "./wait.ts";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const BUN = join(REPO, "node_modules", ".bin", "bun");
export const FIXTURES = join(REPO, "test", "lab", "fixtures");

export interface MountRunner {
  /** PID of the process keeping the namespace (nsenter -t PID -m). */
  readonly nsPid: number;
  readonly runnerPid: number;
  readonly dir: string;
  readonly opsFile: string;
  /** Everything the runner printed on stdout / stderr. */
  stdout(): string;
  stderr(): string;
  send(cmd: string): void;
  /** Waits until stdout matches. */
  waitOut(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Runs a command in the mount's namespace. */
  run(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a command in the namespace without waiting for it. */
  start(argv: readonly string[]): ChildProcess;
  /** Sends "unmount" and waits for the runner to exit. */
  unmount(): Promise<void>;
  /** Resolves when the runner has exited. */
  exited(): Promise<void>;
  /** Kills whatever is left (runner, keeper); safe to call twice. */
  destroy(): Promise<void>;
}

/** A scratch folder under /tmp, removed by the returned function. */
export function scratch(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `vigil-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startMountRunner(
  dir: string,
  opsFile: string,
  record: "full" | "count" = "full",
  env: Record<string, string> = {},
): Promise<MountRunner> {
  // VIGIL_FUSE_RUNNER: the runner compiled with the server's Worker as a second entry point
  // (`bun build --compile test/lab/fixtures/fuse-mount-runner.ts src/replicator/intercept-worker.ts`),
  // to run these tests against the compiled form.
  const compiled = process.env.VIGIL_FUSE_RUNNER;
  const command = compiled ? [compiled] : [BUN, join(FIXTURES, "fuse-mount-runner.ts")];
  // sh prints the keeper's PID, then becomes the runner (exec), so child.pid is the runner's.
  const script = `sleep 100000 </dev/null >/dev/null 2>&1 & echo "keeper $!"; exec "$0" "$@"`;
  const child = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", script, ...command, dir, opsFile, record], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
  const exited = new Promise<void>((r) => child.on("close", () => r()));
  let finished = false;
  void exited.then(() => (finished = true));
  const runnerPid = child.pid ?? -1;
  const waitOut = async (pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> =>
    waitUntil(
      () => {
        const m = pattern.exec(out);
        if (m === null && finished) throw new Error(`runner exited before printing ${pattern}; stdout: ${out} stderr: ${err}`);
        return m;
      },
      { timeoutMs, intervalMs: 20, what: `${pattern} from the mount runner (stdout: ${out.slice(-500)} stderr: ${err.slice(-500)})` },
    );
  const keeper = await waitOut(/keeper (\d+)/);
  const nsPid = Number(keeper[1]);
  const destroy = async (): Promise<void> => {
    for (const pid of [runnerPid, nsPid]) if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  };
  try {
    await waitOut(/^ready$/m);
  } catch (e) {
    await destroy();
    throw e;
  }
  const nsenter = (argv: readonly string[]): string[] => ["nsenter", "-t", String(nsPid), "-m", "--", ...argv];
  return {
    nsPid,
    runnerPid,
    dir,
    opsFile,
    exited: () => exited,
    stdout: () => out,
    stderr: () => err,
    send: (cmd) => child.stdin.write(`${cmd}\n`),
    waitOut,
    run: (argv, opts) => runCommand(nsenter(argv), { timeoutMs: 60_000, ...opts }, `the mount namespace of ${dir}`),
    start: (argv) => {
      const [file, ...args] = nsenter(argv);
      return spawn(file ?? "nsenter", args, { stdio: ["ignore", "pipe", "pipe"] });
    },
    unmount: async () => {
      child.stdin.write("unmount\n");
      await waitOut(/^closed /m, 30_000);
      await exited;
      if (alive(nsPid)) process.kill(nsPid, "SIGKILL");
    },
    destroy,
  };
}

/** Runs a bun fixture on the host (outside any mount namespace). */
export function bunFixture(name: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return runCommand([BUN, join(FIXTURES, name), ...args], { timeoutMs: 120_000, check: true, ...opts });
}

export function python(name: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return runCommand(["python3", join(FIXTURES, name), ...args], { timeoutMs: 120_000, check: true, ...opts });
}

/**
 * What a reader through the mount sees of a file changed beneath it after
 * reading it once, with its mtime put back so the kernel has no sign of the
 * change: the file is 1 MiB of "A", then its first 8 KiB become "B".
 * `run` runs a command where `inside` is the file through the mount;
 * `beneath` is the same file in the folder beneath, as this process sees it.
 * Returns the first read's count of "A", the file's pages in the mount's page
 * cache after it (fincore), 4 bytes at 4096 read by a new read-only open
 * after the change, and through its shared mapping those at 4096 and 8192.
 */
export async function readAfterChangeBeneath(
  run: (argv: readonly string[]) => Promise<ExecResult>,
  inside: string,
  beneath: string,
): Promise<{ firstRead: number; cachedPages: number; reread: string; mapped: string }> {
  writeFileSync(beneath, Buffer.alloc(1 << 20, "A"));
  const when = new Date("2026-01-02T03:04:05Z");
  utimesSync(beneath, when, when);
  const first = await run(["python3", "-c", `print(open("${inside}", "rb").read().count(b"A"))`]);
  const pages = await run(["fincore", "--noheadings", "--output", "PAGES", inside]);
  const fd = openSync(beneath, "r+");
  try {
    writeSync(fd, Buffer.alloc(8192, "B"), 0, 8192, 0);
  } finally {
    closeSync(fd);
  }
  utimesSync(beneath, when, when);
  const script = [
    "import os, mmap",
    `fd = os.open("${inside}", os.O_RDONLY)`,
    "print(os.pread(fd, 4, 4096).decode())",
    "m = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ)",
    "print(m[4096:4100].decode(), m[8192:8196].decode())",
    "m.close(); os.close(fd)",
  ].join("\n");
  const again = await run(["python3", "-c", script]);
  const [reread = "", mapped = ""] = again.stdout.trim().split("\n");
  return { firstRead: Number(first.stdout.trim()), cachedPages: Number(pages.stdout.trim()), reread, mapped };
}

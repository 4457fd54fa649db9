/**
 * The fencing watchdog's stdin as the daemon holds it (fence/child-pipes.ts,
 * sys/ffi/stdin-pipe.ts), under bun as in the vigil binary: run by
 * fence-stdin-pipe.test.ts. Prints one JSON line: { checks: [{ name, pass, detail }] }.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, constants, mkdtempSync, openSync, readFileSync, readlinkSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnFenceChild } from "../../src/daemon/fence/child-pipes.ts";
import { FenceGuard } from "../../src/daemon/fence/guard.ts";
import { startFenceWatchdog } from "../../src/daemon/fence/watchdog.ts";
import { Logger } from "../../src/daemon/log.ts";

const checks: { name: string; pass: boolean; detail: string }[] = [];
const check = (name: string, pass: boolean, detail: unknown = ""): void => {
  checks.push({ name, pass, detail: typeof detail === "string" ? detail : JSON.stringify(detail) });
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What is in the child's stdin pipe now, read through /proc (a second reader of the same pipe), without waiting. */
function inPipe(pid: number): string {
  const fd = openSync(`/proc/${pid}/fd/0`, constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(4 << 20);
  let n = 0;
  try {
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
  } finally {
    closeSync(fd);
  }
  return buf.subarray(0, n).toString();
}

const backlog: number[] = [];
let stuck = 0;
const hooks = { onBacklog: (w: number) => backlog.push(w), onStuck: () => (stuck += 1) };
// A child that never reads its stdin.
const deaf = (): ReturnType<typeof spawnFenceChild> => spawnFenceChild("sleep", ["600"], {}, hooks);

{
  const { child, stdin } = deaf();
  const pid = child.pid!;
  stdin.write("hold\tsvc\n");
  // No await between the write and the read: the line is in the pipe when write() returns.
  check("a line is in the pipe when write returns", inPipe(pid) === "hold\tsvc\n", inPipe(pid));
  const ino = readlinkSync(`/proc/${pid}/fd/0`);
  const other = spawnSync("bash", ["-c", "ls -l /proc/$$/fd"], { encoding: "utf8" }).stdout;
  check("another child of the daemon does not hold the watchdog's pipe", !other.includes(ino), { ino, other });
  const mine = spawnSync("bash", ["-c", `ls -l /proc/${process.pid}/fd`], { encoding: "utf8" }).stdout;
  check("the daemon holds one end of the pipe (the write end), not the read end", mine.split(ino).length - 1 === 1, mine);

  // 200 lines of 1 KiB: the pipe (64 KiB) takes part, the rest waits, in order.
  const lines = Array.from({ length: 200 }, (_, i) => `arm\tsvc\t${String(i).padStart(4, "0")}\t${"x".repeat(1010)}\n`);
  for (const l of lines) stdin.write(l);
  check("a reader that stops: the rest waits and is said to", backlog.length === 1 && backlog[0]! > 0, backlog);
  let got = inPipe(pid);
  for (let i = 0; i < 100 && got.length < lines.join("").length; i++) {
    await sleep(20);
    got += inPipe(pid);
  }
  await sleep(120);
  check("once read again, everything arrives in order", got === lines.join(""), { got: got.length, want: lines.join("").length });
  check("and the backlog's end is said", backlog.at(-1) === 0, backlog);

  // More than 1 MiB owed: the child is killed, the writer closed.
  const exited = new Promise<string | null>((r) => child.on("exit", (_c, s) => r(s)));
  for (let i = 0; i < 1200; i++) stdin.write(`${"y".repeat(1023)}\n`);
  const signal = await Promise.race([exited, sleep(5000).then(() => "still running")]);
  check("a child that owes more than 1 MiB is killed", stuck === 1 && signal === "SIGKILL", { stuck, signal });
  stdin.write("after\n");
  check("writing after that is a no-op", true);
}

{
  const { child, stdin } = spawnFenceChild("true", [], {}, hooks);
  await new Promise((r) => child.on("exit", r));
  let threw = "";
  try {
    stdin.write("vip+\t198.51.100.1/24\teth0\n");
    stdin.write("vip+\t198.51.100.2/24\teth0\n");
    stdin.end();
  } catch (e) {
    threw = String(e);
  }
  check("writing to a child that died (EPIPE) neither throws nor kills the daemon", threw === "", threw);
}

{
  // Both kinds of watchdog, each a child that never reads: what the daemon tells it is in its pipe at once.
  const dir = mkdtempSync(join(tmpdir(), "fence-stdin-"));
  const deafShell = join(dir, "deaf-bash");
  writeFileSync(deafShell, "#!/bin/sh\nexec sleep 600\n");
  chmodSync(deafShell, 0o755);
  const log = new Logger("text", () => {});
  const guard = new FenceGuard(log, deafShell);
  inPipe(guard.pid!);
  guard.hold("svc", true);
  guard.arm("svc", 1500);
  guard.vipAdding("198.51.100.100/24", "eth0");
  check("the bash watchdog has hold, arm and vip+ in its pipe when the calls return", inPipe(guard.pid!) === "hold\tsvc\narm\tsvc\t1500\nvip+\t198.51.100.100/24\teth0\n", inPipe(guard.pid!));
  const pidFile = join(dir, "fence.pid");
  const w = startFenceWatchdog(log, { command: { ok: true, argv: ["sleep", "600"] }, pidFile, clock: () => 0 })!;
  const pid = Number(readFileSync(pidFile, "utf8"));
  w.arm("svc", 1500, { vips: [], stops: [] });
  check("`vigil __fence` has the arm in its pipe when arm returns", inPipe(pid) === '{"type":"arm","module":"svc","inMs":1500,"vips":[],"stops":[]}\n', inPipe(pid));
  for (const p of [guard.pid!, pid]) process.kill(p, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}

console.log(JSON.stringify({ checks }));
process.exit(0);

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkScript, OUTPUT_TAIL_BYTES, runScript } from "../../src/sys/run-script.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-run-script-"));
/** PIDs of processes the tests' scripts left behind, killed at the end whatever happens. */
const leftovers: number[] = [];
afterAll(() => {
  for (const pid of leftovers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone, as it should be.
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function script(name: string, body: string, mode = 0o755): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, mode);
  return p;
}

/** Running, not merely a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

async function pidFrom(file: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    try {
      const text = readFileSync(file, "utf8").trim();
      if (text !== "") {
        leftovers.push(Number(text));
        return Number(text);
      }
    } catch {
      // Not written yet.
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${file} was never written`);
}

describe("runScript: exit codes and output", () => {
  it("succeeds on exit 0 and passes the arguments", async () => {
    const s = script("ok.sh", 'echo "args: $*"');
    const r = await runScript(s, { args: ["start", "vms"], timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: true, exitCode: 0, signal: null, timedOut: false, aborted: false, outputTail: "args: start vms\n", message: "exited 0: args: start vms" });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("fails on a non-zero exit, quoting the last line from stdout or stderr", async () => {
    const s = script("fail.sh", "echo starting; echo disk full >&2; exit 3");
    const r = await runScript(s, { timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: false, exitCode: 3, signal: null, timedOut: false, message: "exited 3: disk full" });
    expect(r.outputTail).toContain("starting\n");
    expect(r.outputTail).toContain("disk full\n");
  });

  it("reports a script that kills itself by its signal", async () => {
    const s = script("selfkill.sh", "kill -USR1 $$");
    expect(await runScript(s, { timeoutMs: 10_000 })).toMatchObject({ ok: false, exitCode: null, signal: "SIGUSR1", message: "killed by SIGUSR1" });
  });

  it("keeps only the last 4 KiB of the output", async () => {
    const s = script("chatty.sh", 'i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; echo THE-END');
    const r = await runScript(s, { timeoutMs: 10_000 });
    expect(r.ok).toBe(true);
    expect(Buffer.byteLength(r.outputTail)).toBeLessThanOrEqual(OUTPUT_TAIL_BYTES);
    expect(Buffer.byteLength(r.outputTail)).toBeGreaterThan(OUTPUT_TAIL_BYTES - 20);
    expect(r.outputTail.endsWith("line 1999\nTHE-END\n")).toBe(true);
    expect(r.outputTail).not.toContain("line 1\n");
  });

  it("gives the script VIGIL_MODULE, VIGIL_NODE, VIGIL_ROLE and VIGIL_REASON", async () => {
    const s = script("env.sh", 'echo "$VIGIL_MODULE/$VIGIL_NODE/$VIGIL_ROLE/$VIGIL_REASON/$EXTRA"');
    const r = await runScript(s, { timeoutMs: 10_000, context: { module: "vms", node: "vms1", role: "PRIM", reason: "peer-dead" }, env: { EXTRA: "x" } });
    expect(r.outputTail).toBe("vms/vms1/PRIM/peer-dead/x\n");
  });

  it("finds a bare command name in PATH", async () => {
    const r = await runScript("sh", { args: ["-c", "exit 7"], timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: false, exitCode: 7 });
  });

  it("returns when the script exits even if a daemon it started keeps the output open, and leaves that daemon running", async () => {
    const pidFile = join(dir, "daemon.pid");
    const s = script("daemonize.sh", `sleep 30 & echo $! > ${pidFile}; echo started`);
    const r = await runScript(s, { timeoutMs: 20_000 });
    const daemon = await pidFrom(pidFile);
    expect(r).toMatchObject({ ok: true, exitCode: 0, timedOut: false });
    expect(r.outputTail).toBe("started\n");
    expect(alive(daemon)).toBe(true);
    process.kill(daemon, "SIGKILL");
  });
});

describe("runScript: timeout and abort", () => {
  it("terminates the whole process group on timeout, grandchildren included", async () => {
    const pidFile = join(dir, "grandchild.pid");
    // sh -> sh -> sleep: the sleep is a grandchild of the process we spawn.
    const s = script("slow.sh", `sh -c 'sleep 60 & echo $! > ${pidFile}; wait' & wait`);
    const r = await runScript(s, { timeoutMs: 500, graceMs: 5000 });
    const grandchild = await pidFrom(pidFile);
    expect(r).toMatchObject({ ok: false, timedOut: true, aborted: false, exitCode: null, signal: "SIGTERM" });
    expect(r.message).toBe("timed out after 500 ms, killed by SIGTERM");
    expect(await gone(grandchild)).toBe(true);
  });

  it("sends SIGKILL after the grace when the group ignores SIGTERM", async () => {
    const pidFile = join(dir, "stubborn.pid");
    // The ignored SIGTERM is inherited by the children.
    const s = script("stubborn.sh", `trap '' TERM; sh -c 'sleep 60 & echo $! > ${pidFile}; wait' & wait`);
    const r = await runScript(s, { timeoutMs: 300, graceMs: 300 });
    const grandchild = await pidFrom(pidFile);
    expect(r).toMatchObject({ ok: false, timedOut: true, signal: "SIGKILL", message: "timed out after 300 ms, killed by SIGKILL" });
    expect(await gone(grandchild)).toBe(true);
  });

  it("kills the group's stragglers even when the script itself dies of SIGTERM at once", async () => {
    const pidFile = join(dir, "straggler.pid");
    const ownFile = join(dir, "straggler-own.pid");
    const s = script("straggler.sh", `sh -c 'trap "" TERM; sleep 60 & echo $! > ${pidFile}; wait' & sleep 60 & echo $! > ${ownFile}; wait`);
    const r = await runScript(s, { timeoutMs: 300, graceMs: 300 });
    const straggler = await pidFrom(pidFile);
    await pidFrom(ownFile);
    expect(r).toMatchObject({ ok: false, timedOut: true, signal: "SIGTERM" });
    expect(await gone(straggler)).toBe(true);
  });

  it("terminates the group on abort", async () => {
    const pidFile = join(dir, "aborted.pid");
    const s = script("abort.sh", `sleep 60 & echo $! > ${pidFile}; wait`);
    const ac = new AbortController();
    const running = runScript(s, { timeoutMs: 60_000, signal: ac.signal });
    const child = await pidFrom(pidFile);
    ac.abort();
    const r = await running;
    expect(r).toMatchObject({ ok: false, aborted: true, timedOut: false, signal: "SIGTERM", message: "aborted, killed by SIGTERM" });
    expect(await gone(child)).toBe(true);
  });

  it("does not start at all when already aborted", async () => {
    const marker = join(dir, "never.txt");
    const s = script("never.sh", `touch ${marker}`);
    const ac = new AbortController();
    ac.abort();
    expect(await runScript(s, { timeoutMs: 1000, signal: ac.signal })).toMatchObject({ ok: false, aborted: true, exitCode: null });
    expect(() => readFileSync(marker)).toThrow();
  });
});

describe("runScript and checkScript: scripts that cannot run", () => {
  it("names a missing script", async () => {
    const missing = join(dir, "missing.sh");
    expect(checkScript(missing)).toEqual({ ok: false, message: `${missing}: no such file (ENOENT)` });
    expect(await runScript(missing, { timeoutMs: 1000 })).toMatchObject({ ok: false, exitCode: null, signal: null, message: `${missing}: no such file (ENOENT)` });
  });

  it("names a script without the executable bit, with its mode and the fix", async () => {
    const s = script("noexec.sh", "exit 0", 0o644);
    const message = `${s}: is not executable (mode 0644, no x bit); run chmod +x ${s}`;
    expect(checkScript(s)).toEqual({ ok: false, message });
    expect(await runScript(s, { timeoutMs: 1000 })).toMatchObject({ ok: false, message });
  });

  it("names a directory given as a script", () => {
    const d = join(dir, "a-dir");
    mkdirSync(d);
    expect(checkScript(d)).toEqual({ ok: false, message: `${d}: is a directory, not a script` });
  });

  it("names a missing #! interpreter", async () => {
    const p = join(dir, "badshebang.sh");
    writeFileSync(p, "#!/nonexistent/bash\nexit 0\n");
    chmodSync(p, 0o755);
    const message = `${p}: its #! line names /nonexistent/bash, which does not exist`;
    expect(checkScript(p)).toEqual({ ok: false, message });
    expect(await runScript(p, { timeoutMs: 1000 })).toMatchObject({ ok: false, message });
  });

  it("names a script saved with Windows line endings, whose #! interpreter the kernel cannot find", async () => {
    const p = join(dir, "crlf.sh");
    writeFileSync(p, "#!/bin/sh\r\nexit 0\r\n");
    chmodSync(p, 0o755);
    const message = `${p}: its #! line ends with a carriage return (Windows line endings), so the kernel looks for an interpreter named "/bin/sh\\r"; convert it to Unix line endings: sed -i 's/\\r$//' ${p}`;
    expect(checkScript(p)).toEqual({ ok: false, message });
    expect(await runScript(p, { timeoutMs: 1000 })).toMatchObject({ ok: false, message });
  });

  it("names a command that is not in PATH", () => {
    expect(checkScript("vigil-no-such-command", "/nonexistent-a:/nonexistent-b")).toEqual({
      ok: false,
      message: "vigil-no-such-command: not found in PATH (/nonexistent-a:/nonexistent-b)",
    });
  });

  it("accepts a good script and an empty command is an error", () => {
    const s = script("good.sh", "exit 0");
    expect(checkScript(s)).toEqual({ ok: true, path: s });
    expect(checkScript("")).toEqual({ ok: false, message: "the command is empty" });
  });
});

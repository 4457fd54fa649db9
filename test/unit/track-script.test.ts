import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { debounce, type DebouncedState, INITIAL_SCRIPT_STATE, runScript } from "../../src/sys/track-script.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-track-script-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

/** Running, not merely a zombie waiting for a parent (init, here) to reap it. */
const alive = (pid: number): boolean => {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

describe("runScript", () => {
  it("passes on exit 0 and passes its arguments", async () => {
    const s = script("ok.sh", 'echo "args: $*"; exit 0');
    expect(await runScript(s, ["INSTANCE", "VI_1"], { timeoutMs: 5000 })).toEqual({
      ok: true, code: 0, signal: null, timedOut: false, output: "args: INSTANCE VI_1\n", message: "exited 0: args: INSTANCE VI_1",
    });
  });

  it("fails on another exit code, quoting the last line it printed", async () => {
    const s = script("fail.sh", "echo checking >&2; echo disk full >&2; exit 3");
    expect(await runScript(s, [], { timeoutMs: 5000 })).toMatchObject({ ok: false, code: 3, timedOut: false, message: "exited 3: disk full" });
  });

  it("kills the script and everything it started when the timeout runs out", async () => {
    const pidFile = join(dir, "child.pid");
    const s = script("slow.sh", `sleep 30 & echo $! > ${pidFile}; wait`);
    const r = await runScript(s, [], { timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, timedOut: true, message: "timed out after 300 ms, killed by SIGTERM" });
    const child = Number(readFileSync(pidFile, "utf8"));
    for (let i = 0; i < 50 && alive(child); i++) await new Promise((res) => setTimeout(res, 20));
    expect(alive(child)).toBe(false);
  });

  it("stops on abort", async () => {
    const s = script("abort.sh", "sleep 30");
    const ac = new AbortController();
    const running = runScript(s, [], { timeoutMs: 30_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    expect(await running).toMatchObject({ ok: false, code: null, signal: "SIGTERM", message: "aborted, killed by SIGTERM" });
  });

  it("returns once the script exits even if a daemon it left behind keeps the output open", async () => {
    const pidFile = join(dir, "daemon.pid");
    const s = script("daemonize.sh", `sleep 30 & echo $! > ${pidFile}; exit 0`);
    const r = await runScript(s, [], { timeoutMs: 20_000 });
    const daemon = Number(readFileSync(pidFile, "utf8"));
    process.kill(daemon, "SIGKILL");
    expect(r).toMatchObject({ ok: true, code: 0, timedOut: false });
  });

  it("says why it cannot run a script, without throwing", async () => {
    expect(await runScript(join(dir, "missing.sh"), [], { timeoutMs: 1000 })).toMatchObject({ ok: false, message: `${join(dir, "missing.sh")}: no such file (ENOENT)` });
    const noExec = join(dir, "noexec.sh");
    writeFileSync(noExec, "#!/bin/sh\nexit 0\n");
    expect(existsSync(noExec)).toBe(true);
    expect(await runScript(noExec, [], { timeoutMs: 1000 })).toMatchObject({
      ok: false,
      message: `${noExec}: is not executable (mode 0644, no x bit); run chmod +x ${noExec}`,
    });
  });
});

describe("rise and fall", () => {
  const run = (results: boolean[], rf = { rise: 2, fall: 3 }): boolean[] => {
    let s: DebouncedState = INITIAL_SCRIPT_STATE;
    return results.map((ok) => (s = debounce(s, ok, rf)).up);
  };

  it("starts up, goes down after `fall` failures in a row and up after `rise` passes in a row", () => {
    expect(run([false, false, false, true, true, true])).toEqual([true, true, false, false, true, true]);
  });

  it("restarts the count when a result agrees with the current state", () => {
    expect(run([false, false, true, false, false, false])).toEqual([true, true, true, true, true, false]);
    expect(run([false, false, false, true, false, true, true])).toEqual([true, true, false, false, false, false, true]);
  });

  it("with rise 1 and fall 1 follows every result", () => {
    expect(run([false, true, false], { rise: 1, fall: 1 })).toEqual([false, true, false]);
  });
});

import { describe, expect, it } from "vitest";
import { type NotifyCommand, notifyCommands, NotifyQueue } from "../../src/sys/notify.ts";
import type { ScriptRunner, ScriptRunResult } from "../../src/sys/track-script.ts";

const passed: ScriptRunResult = { ok: true, code: 0, signal: null, timedOut: false, output: "", message: "exited 0" };

describe("notifyCommands (keepalived's conventions)", () => {
  const all = { notify: "/etc/vigil/notify.sh", master: "/m.sh", backup: "/b.sh", fault: "/f.sh", stop: "/s.sh" };

  it("runs the state's own script first, then notify with INSTANCE NAME STATE PRIORITY", () => {
    expect(notifyCommands(all, "INSTANCE", "VI_1", "MASTER", 150)).toEqual([
      { path: "/m.sh", args: [] },
      { path: "/etc/vigil/notify.sh", args: ["INSTANCE", "VI_1", "MASTER", "150"] },
    ]);
    expect(notifyCommands(all, "GROUP", "G1", "FAULT", 90).map((c) => c.path)).toEqual(["/f.sh", "/etc/vigil/notify.sh"]);
    expect(notifyCommands(all, "INSTANCE", "VI_1", "STOP", 100)[0]).toEqual({ path: "/s.sh", args: [] });
  });

  it("runs nothing that is not configured", () => {
    expect(notifyCommands({}, "INSTANCE", "VI_1", "BACKUP", 100)).toEqual([]);
    expect(notifyCommands({ master: "/m.sh" }, "INSTANCE", "VI_1", "BACKUP", 100)).toEqual([]);
  });
});

describe("NotifyQueue", () => {
  it("runs one script at a time, in the order pushed, and reports each", async () => {
    const log: string[] = [];
    let running = 0;
    const run: ScriptRunner = async (path, args, opts) => {
      running += 1;
      expect(running).toBe(1);
      expect(opts.timeoutMs).toBe(1234);
      log.push(`start ${path} ${args.join(" ")}`.trim());
      await new Promise((r) => setTimeout(r, path === "/slow.sh" ? 30 : 1));
      running -= 1;
      return path === "/bad.sh" ? { ...passed, ok: false, code: 1, message: "exited 1" } : passed;
    };
    const done: [NotifyCommand, string][] = [];
    const q = new NotifyQueue({ run, timeoutMs: 1234, onDone: (c, r) => done.push([c, r.message]) });
    q.push([{ path: "/slow.sh", args: [] }, { path: "/n.sh", args: ["INSTANCE", "VI_1", "MASTER", "150"] }]);
    q.push([{ path: "/bad.sh", args: [] }]);
    expect(q.backlog).toBe(3);
    await q.idle();
    expect(log).toEqual(["start /slow.sh", "start /n.sh INSTANCE VI_1 MASTER 150", "start /bad.sh"]);
    expect(done.map(([c, m]) => `${c.path} ${m}`)).toEqual(["/slow.sh exited 0", "/n.sh exited 0", "/bad.sh exited 1"]);
    expect(q.backlog).toBe(0);
  });

  it("keeps going when the reporter throws, and drops what is left after cancel", async () => {
    const ran: string[] = [];
    const run: ScriptRunner = async (path, _args, opts) => {
      ran.push(path);
      await new Promise((r) => setTimeout(r, 20));
      return opts.signal?.aborted === true ? { ...passed, ok: false, message: "killed by SIGKILL" } : passed;
    };
    const q = new NotifyQueue({
      run,
      onDone: () => {
        throw new Error("reporter broke");
      },
    });
    q.push([{ path: "/1", args: [] }, { path: "/2", args: [] }]);
    await q.idle();
    q.push([{ path: "/3", args: [] }, { path: "/4", args: [] }]);
    await new Promise((r) => setTimeout(r, 5));
    q.cancel();
    await q.idle();
    expect(ran).toEqual(["/1", "/2", "/3"]);
  });
});

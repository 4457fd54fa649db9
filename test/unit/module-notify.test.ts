import { expect, test } from "vitest";
import type { ModuleTransition } from "../../src/core/module/types.ts";
import { Logger } from "../../src/daemon/log.ts";
import { ModuleNotify } from "../../src/daemon/module/notify.ts";
import type { RunOptions } from "../../src/sys/run-script.ts";
import { ran } from "./module-engine-harness.ts";

const t = (seq: number, from: ModuleTransition["from"], to: ModuleTransition["to"]): ModuleTransition => ({
  type: "transition", module: "web", seq, at: 0, from, to, reason: "elected", detail: "first in line",
});

test("notify hooks: the script gets MODULE FROM TO REASON and the VIGIL_* context, the webhook the transition, in order", async () => {
  const calls: string[] = [];
  const lines: string[] = [];
  const n = new ModuleNotify({
    module: "web",
    node: "a",
    cluster: "lab",
    script: "/etc/vigil/notify.sh",
    webhook: "http://192.0.2.9/hook",
    log: new Logger("json", (l) => lines.push(l)),
    run: async (command: string, o: RunOptions) => {
      calls.push(`run ${command} ${(o.args ?? []).join(" ")} role=${o.context?.role}`);
      return ran(command !== "/etc/vigil/notify.sh" || o.args?.[2] !== "STOP");
    },
    post: async (url: string, event: unknown) => {
      calls.push(`post ${url} ${JSON.stringify(event)}`);
      return { ok: true, attempts: 1, status: 204, detail: "HTTP 204" };
    },
  });
  n.transition(t(1, "SECOND", "PRIM"), new Date("2026-01-01T00:00:00Z"));
  n.transition(t(2, "PRIM", "STOP"), new Date("2026-01-01T00:00:01Z"));
  await n.idle();
  expect(calls[0]).toBe("run /etc/vigil/notify.sh web SECOND PRIM elected role=PRIM");
  expect(JSON.parse(calls[1]!.split(" ").slice(2).join(" "))).toEqual({
    event: "module-transition", cluster: "lab", node: "a", module: "web", from: "SECOND", to: "PRIM", reason: "elected",
    detail: "first in line", seq: 1, time: "2026-01-01T00:00:00.000Z",
  });
  expect(calls[2]).toBe("run /etc/vigil/notify.sh web PRIM STOP elected role=STOP");
  expect(calls).toHaveLength(4);
  // A failing script is logged, and the webhook still goes.
  expect(lines.map((l) => JSON.parse(l)).find((e) => e.msg === "module notify script failed")).toMatchObject({ module: "web", detail: "exited 1" });
});

test("no hooks configured: nothing queued", async () => {
  const n = new ModuleNotify({ module: "web", node: "a", cluster: "lab", log: new Logger("json", () => {}) });
  expect(n.configured).toBe(false);
  n.transition(t(1, "SECOND", "PRIM"), new Date());
  await n.idle();
});

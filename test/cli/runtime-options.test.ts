import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DAEMON_RUNTIME_OPTIONS } from "../../src/daemon/runtime-options.ts";
import { daemonsReapedAfterEach, soloNode } from "./solo-node.ts";
import { type Daemon, startDaemon } from "./vigil-binary.ts";

const running = daemonsReapedAfterEach();

/** A one-node daemon whose module's start script writes the environment it got to child-env. */
async function setup() {
  const { dir, runArgs } = await soloNode("vigil-runtime-options-", {
    scripts: {
      "start.sh": '#!/bin/sh\nenv > "$(dirname "$0")/child-env.tmp" && mv "$(dirname "$0")/child-env.tmp" "$(dirname "$0")/child-env"\n',
      "stop.sh": "#!/bin/sh\nexit 0\n",
    },
    extra: ["console: { tls: false }"],
    module: true,
  });
  return { dir, args: runArgs };
}

function environ(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

async function childEnv(dir: string, d: Daemon): Promise<string> {
  const file = join(dir, "child-env");
  for (let i = 0; i < 600 && !existsSync(file); i++) {
    if (d.proc.exitCode !== null) throw new Error(`daemon exited ${d.proc.exitCode}: ${d.log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return readFileSync(file, "utf8");
}

describe("the daemon's runtime options", () => {
  it("vigil run starts again in place with them, without the runtime's compiler and collector threads; what it starts does not inherit them", async () => {
    const { dir, args } = await setup();
    const d = startDaemon(args);
    running.push(d);
    await d.waitForLog(/vigil started/);
    const pid = d.proc.pid ?? 0;
    // The same process (the pid the test spawned), now with the options in the environment it was started with.
    const env = environ(pid);
    for (const [k, v] of Object.entries(DAEMON_RUNTIME_OPTIONS)) expect(env[k], k).toBe(v);
    const threads = readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim());
    expect(threads.filter((t) => /JITWorker|HeapHelper/.test(t)), `threads: ${threads.join(", ")}`).toEqual([]);
    const child = await childEnv(dir, d);
    expect(child).not.toMatch(/^(BUN_JSC_|MIMALLOC_|NODE_ENV|VIGIL_RUNTIME_OPTIONS)/m);
  });

  it("the console's plain-HTTP server runs in the runtime's production mode: /bun:info reaches the console, which asks for a login", async () => {
    const { args } = await setup();
    const d = startDaemon(args);
    running.push(d);
    const [, where] = await d.waitForLog(/vigil started .*console=http:\/\/([\d.:]+)\//);
    // In its development mode the runtime answers this path itself: 200, its version and the kernel's.
    const res = await fetch(`http://${where}/bun:info`, { redirect: "manual" });
    const text = await res.text();
    expect(text).not.toContain("bun_version");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toMatch(/^\/login\?/);
  });

  it("VIGIL_RUNTIME_OPTIONS=off runs on the runtime's defaults and leaves the switch to the children", async () => {
    const { dir, args } = await setup();
    const before = process.env.VIGIL_RUNTIME_OPTIONS;
    process.env.VIGIL_RUNTIME_OPTIONS = "off";
    let d: Daemon;
    try {
      d = startDaemon(args);
    } finally {
      if (before === undefined) delete process.env.VIGIL_RUNTIME_OPTIONS;
      else process.env.VIGIL_RUNTIME_OPTIONS = before;
    }
    running.push(d);
    await d.waitForLog(/vigil started/);
    const env = environ(d.proc.pid ?? 0);
    for (const k of Object.keys(DAEMON_RUNTIME_OPTIONS)) expect(env[k], k).toBeUndefined();
    expect(await childEnv(dir, d)).toMatch(/^VIGIL_RUNTIME_OPTIONS=off$/m);
  });
});

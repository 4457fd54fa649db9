/**
 * A mirror lab node's daemon whose copy folder is the hanging FUSE layer of
 * fixtures/hang-fuse.ts over its files, both in a mount namespace of their
 * own: the disk beneath the node's copy can then be told to hang and to
 * answer again. Cleanup (registered here): the layer answers first, so what
 * is stuck in it returns and the daemons can stop, then the layer goes.
 */
import { execFileSync } from "node:child_process";
import { closeSync, constants as C, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { BUN, FIXTURES } from "./fuse-lab.ts";
import type { MirrorLab, MirrorNode } from "./mirror-lab.ts";
import { VIGIL_BIN } from "./vigil-cluster.ts";

export interface HangingLayer {
  /** "hang" or "release"; never blocks (without the layer the open fails). */
  tell(cmd: "hang" | "release"): void;
  /** What the layer printed so far ("ok hang", "held OPCODE", ...). */
  output(): string;
}

/** Starts `node`'s daemon over the layer (the node must not run yet); `before`: cleanup to run once the layer answers, before the daemons stop. */
export async function startOnHangingLayer(m: MirrorLab, node: MirrorNode, dir: string, before: () => void = () => {}): Promise<HangingLayer> {
  const ctl = join(dir, `${node.name}-disk.ctl`);
  const out = join(dir, `${node.name}-disk.out`);
  execFileSync("mkfifo", [ctl]);
  const tell = (cmd: string): void => {
    const fd = openSync(ctl, C.O_WRONLY | C.O_NONBLOCK);
    try {
      writeSync(fd, `${cmd}\n`);
    } finally {
      closeSync(fd);
    }
  };
  const pid = (): number | null => {
    const p = existsSync(out) ? /^pid (\d+)$/m.exec(readFileSync(out, "utf8")) : null;
    return p === null ? null : Number(p[1]);
  };
  onTestFinished(async () => {
    try {
      tell("release");
    } catch {
      // The layer is gone: its connection ended with it, nothing is stuck.
    }
    before();
    await m.stopAll();
    const p = pid();
    if (p !== null) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // Gone.
      }
    }
  });
  node.proc = node.host.spawn([
    "unshare", "-m", "--propagation", "private", "sh", "-c",
    `${BUN} ${join(FIXTURES, "hang-fuse.ts")} ${m.data(node.name)} ${m.folder} ${ctl} >${out} 2>&1 </dev/null &
     for i in $(seq 1 400); do grep -q '^ready$' ${out} && break; sleep 0.05; done
     grep -q '^ready$' ${out} || { echo "the layer did not mount"; cat ${out}; exit 1; }
     exec ${VIGIL_BIN} run --config ${m.config} --node ${node.name} --state-dir ${node.stateDir} --log-format json --listen 127.0.0.1:0`,
  ], { logName: `vigil-${node.name}` });
  await node.proc.waitFor(/"msg":"vigil started"/, 30_000);
  return { tell, output: () => readFileSync(out, "utf8") };
}

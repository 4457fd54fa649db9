/**
 * Zero loss across repeated faults, on the real binary (mirror-lab.ts):
 * the node that runs the mirror module is SIGKILLed, frozen (SIGSTOP longer
 * than the deadtime) or has its cable pulled, at a random moment while the
 * recorder writes; after each fault every record and segment any recorder
 * was told was durable is on the new PRIM's copy, intact. The faulted node
 * then comes back (restart, SIGCONT, cable back), is resynced, and the next
 * fault hits whoever runs the module then. A third host is the ping
 * witness: a node whose cable is out hears neither its peer nor the
 * witness, stops the service and acknowledges nothing meanwhile; the other
 * one takes over.
 *
 * MIRROR_FAULTS=<n> sets the number of faults (default 6); MIRROR_FAULT_SEED
 * replays a run's random moments; MIRROR_FAULT_KINDS=kill,stop,cut (the
 * default) sets the kinds, used in turn; MIRROR_FAULT_FOLDERS=2 runs the
 * module with two folders (records in one, segments in the other).
 */
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, type MirrorLab, startMirrorLab } from "./mirror-lab.ts";
import { waitUntil } from "./lab.ts";
import { isPrimary } from "./arbiter-pair.ts";

const FAULTS = Number(process.env["MIRROR_FAULTS"] ?? 6);
const SEED = Number(process.env["MIRROR_FAULT_SEED"] ?? Date.now() % 100_000);
const FOLDERS = process.env["MIRROR_FAULT_FOLDERS"] === "2" ? 2 : 1;
type FaultKind = "SIGKILL" | "SIGSTOP" | "cable";
const KIND_NAMES: Record<string, FaultKind> = { kill: "SIGKILL", stop: "SIGSTOP", cut: "cable" };
const KINDS: FaultKind[] = (process.env["MIRROR_FAULT_KINDS"] ?? "kill,stop,cut").split(",").map((k) => {
  const kind = KIND_NAMES[k.trim()];
  if (kind === undefined) throw new Error(`MIRROR_FAULT_KINDS: unknown kind "${k.trim()}" (kill, stop or cut)`);
  return kind;
});

/** A small seeded generator, so a failing run's moments can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

function promised(m: MirrorLab): { records: number[]; segments: number[] } {
  const a = m.acked("h1");
  const b = m.acked("h2");
  return { records: [...a.records, ...b.records], segments: [...a.segments, ...b.segments] };
}

describeLab("mirror module: no acknowledged write lost across repeated kills and freezes", () => {
  const lab = useLab({ hosts: 3, links: 1 });
  const runDir = useRunDirs("vigil-mirror-faults-");

  labTest(`${FAULTS} faults (${[...new Set(KINDS)].join(", ")}) at random moments (seed ${SEED})`, async () => {
    const random = rng(SEED);
    const m = await startMirrorLab({ lab: lab(), dir: runDir("run"), witness: lab().host("h3").addr(1), folders: FOLDERS });
    onTestFinished(async () => {
      for (const n of ["h1", "h2"] as const) {
        m.node(n).proc?.kill("SIGCONT");
        await lab().linkUp(n);
      }
      await m.stopAll();
    });
    const pairOnce = async (): Promise<"h1" | "h2" | null> => {
      for (const n of ["h1", "h2"] as const) {
        const other = n === "h1" ? "h2" : "h1";
        try {
          const [a, b] = [await m.node(n).module(), await m.node(other).module()];
          if (isPrimary(a.state) && a.mirror?.writes === "replicate" && b.state === "SECOND" && b.mirror?.data === "uptodate" && b.mirror.link === "up") return n;
        } catch {
          // a node still starting
        }
      }
      return null;
    };

    const pair = (): Promise<"h1" | "h2"> =>
      waitUntil(pairOnce, { timeoutMs: 60_000, what: "the pair to settle (one running and replicating, the other an up-to-date SECOND)" });

    for (let i = 0; i < FAULTS; i++) {
      const victim = await pair();
      const survivor = victim === "h1" ? "h2" : "h1";
      const kind = KINDS[i % KINDS.length] ?? "SIGKILL";
      // A random moment while the recorder writes.
      await new Promise((r) => setTimeout(r, 200 + Math.floor(random() * 1300)));
      const v = m.node(victim);
      if (kind === "cable") await lab().linkDown(victim);
      else v.proc?.kill(kind);
      await m.node(survivor).waitModule((x) => isPrimary(x.state), `fault ${i + 1} (${kind} of ${victim}): ${survivor} takes over`, 20_000);
      const want = promised(m);
      const have = copyContents(m.data(survivor), m.segData(survivor));
      const missing = want.records.filter((n) => !have.records.has(n));
      const badSegs = want.segments.filter((n) => have.segments.get(n) !== n % 251);
      expect({ fault: i + 1, kind, victim, missing, badSegs }, `seed ${SEED}`).toEqual({ fault: i + 1, kind, victim, missing: [], badSegs: [] });
      if (kind === "SIGKILL") await v.start();
      else if (kind === "SIGSTOP") v.proc?.kill("SIGCONT");
      else {
        // Cut off from its peer and the witness, it stops the service: back in, it stands by.
        await v.waitModule((x) => !isPrimary(x.state), `fault ${i + 1}: ${victim}, cut off, stops the service`, 20_000);
        await lab().linkUp(victim);
      }
    }
    // The last one back is resynced; everything ever promised is on both copies.
    const last = await pair();
    const other = last === "h1" ? "h2" : "h1";
    await m.stopRecorder(last);
    await m.node(last).waitModule((x) => x.mirror?.waitingOps === 0, "no write waiting");
    const want = promised(m);
    for (const n of [last, other] as const) {
      const have = copyContents(m.data(n), m.segData(n));
      expect(want.records.filter((r) => !have.records.has(r)), `records missing on ${n}; seed ${SEED}`).toEqual([]);
    }
  }, 60_000 + FAULTS * 20_000);
});

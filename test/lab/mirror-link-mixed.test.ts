/**
 * A mirror pair of mixed releases (mirror-lab.ts): one node runs the build
 * before the replication link's feature exchange (built from git,
 * old-binary.ts), the other this build (VIGIL_BIN), each way round; and, for
 * comparison, both this build. In each pair:
 *
 *   1. h1 runs the module and replicates to h2, an up-to-date SECOND; a node
 *      of this build logs the link connected with the peer's version and the
 *      features in use: version 1 and none beside the previous build, this
 *      release's version and listingWithoutXattrs, foldedTimes, unsentWrites between two
 *      of this build;
 *   2. h2 stops; h1 goes on alone (journaled) while the recorder writes;
 *   3. h2 starts again: h1 resyncs it from the journal (listings of the
 *      changed folders, with xattrs where h1 reads its own: the plain
 *      request either release answers);
 *      h2 ends up to date and both copies identical;
 *   4. neither log names a closed feature exchange or a malformed message.
 */
import { expect, onTestFinished } from "vitest";
import { beforeAll } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { waitUntil } from "./lab.ts";
import { isPrimary } from "./arbiter-pair.ts";
import { type MirrorLab, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { oldVigilBinary } from "./old-binary.ts";
import { REPLICATION_VERSION } from "../../src/proto/replication.ts";

/** The last commit before the replication link's feature exchange. */
const BEFORE_FEATURE_EXCHANGE = "a66c2ad";

async function pairUp(m: MirrorLab): Promise<void> {
  await m.node("h1").waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "replicate" && x.mirror.resync?.phase !== "scanning", "h1 runs vms and replicates", 40_000);
  await m.node("h2").waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND", 40_000);
}

describeLab("mirror module: a node of the previous build beside one of this build", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-mixed-");
  let old = "";
  beforeAll(async () => {
    old = await oldVigilBinary(BEFORE_FEATURE_EXCHANGE);
  }, 300_000);

  const cases = [
    { name: "previous-build PRIM, this-build SECOND", old: "h1", peerVersion: 1, features: "none" },
    { name: "this-build PRIM, previous-build SECOND", old: "h2", peerVersion: 1, features: "none" },
    { name: "both this build", old: null, peerVersion: REPLICATION_VERSION, features: "listingWithoutXattrs, foldedTimes, unsentWrites" },
  ] as const;

  for (const c of cases) {
    labTest(`${c.name}: replicate, and resync after the SECOND was away`, async () => {
      const m = await startMirrorLab({ lab: lab(), dir: runDir(c.old ?? "new"), ...(c.old === null ? {} : { bins: { [c.old]: old } }) });
      onTestFinished(() => m.stopAll());
      const [h1, h2] = [m.node("h1"), m.node("h2")];
      await pairUp(m);
      const before = m.acked("h1").records.length;
      await waitUntil(() => m.acked("h1").records.length > before + 20, { timeoutMs: 20_000, what: "records acknowledged while replicating" });
      // Each node of this build tells what the link agreed on, once per connection it made.
      const fresh = (["h1", "h2"] as const).filter((n) => n !== c.old);
      const connected = new RegExp(`"msg":"mirror link connected".*"peerVersion":${c.peerVersion},"features":"${c.features}"`);
      for (const n of fresh) await m.node(n).proc!.waitFor(connected, 10_000);

      await h2.proc!.stop();
      await h1.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "alone", "h1 writes alone (journaled)", 20_000);
      const alone = m.acked("h1").records.length;
      await waitUntil(() => m.acked("h1").records.length > alone + 40, { timeoutMs: 20_000, what: "records acknowledged on h1 while alone" });
      await h2.start();
      await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 resynced", 60_000);
      await h1.waitModule((x) => x.mirror?.writes === "replicate", "h1 replicates again");
      await m.stopRecorder("h1");
      await h1.waitModule((x) => x.mirror?.waitingOps === 0, "no write of h1 waiting");
      expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));
      for (const n of ["h1", "h2"] as const) {
        const log = m.node(n).proc!.output();
        expect(log, `${n}'s log`).not.toMatch(/feature exchange|features twice|malformed message/);
      }
    });
  }
});

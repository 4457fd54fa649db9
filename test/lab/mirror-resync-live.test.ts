/**
 * Live writes to a file the coming resync has not created yet, on the real
 * binary (see mirror-lab.ts): the replication port is cut while heartbeats
 * flow, h2 declares its copy outdated and h1 goes on alone; a writer on h1
 * makes a new file then and appends to it every millisecond. When the port
 * opens again, h1's next appends are replicated at once, before the resync
 * has created that file on h2: h2 cannot apply them (ENOENT). That is
 * expected, not a fault: h2 says so once at info, neither node logs an
 * error or a warning about it, the resync carries the file and the copies
 * end identical. (Before, h2 logged `mirror apply failed ... this copy is
 * outdated until a resync` at error level and h1 a warning, as in a
 * 135-minute soak.)
 */
import { expect, onTestFinished } from "vitest";
import { describeLab, labTestNeeding, useLab, useRunDirs } from "./lab-test.ts";
import { startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { nftCut } from "./nft-cut.ts";
import { waitUntil } from "./lab.ts";
import { join } from "node:path";
import { readFileSync } from "node:fs";

const running = (s: string) => s === "PRIM" || s === "ALONE";

const APPENDER = `
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
n = 0
while True:
    n += 1
    os.write(fd, b"line %d\\n" % n)
    time.sleep(0.001)
`;

interface LogLine {
  level: string;
  msg: string;
  detail?: string;
}

/** The daemon's JSON log lines from `from` (a character offset of its output) on. */
function linesSince(output: string, from: number): LogLine[] {
  return output.slice(from).split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as LogLine);
}

describeLab("mirror module: live writes before the resync has the file", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-resync-live-");

  labTestNeeding("nft")("h2 outdated, the port opens while h1 appends to a file made alone: no error, no warning, the resync carries it", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("live") });
    onTestFinished(() => m.stopAll());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await h1.waitModule((x) => running(x.state) && x.mirror?.writes === "replicate" && x.mirror.resync?.phase !== "scanning", "h1 runs vms and replicates", 30_000);
    await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND", 30_000);
    // Only the appender writes from here on: the lab's recorder, started with the module, may make rec.log
    // only after the cut (under load), and then the first op h2 cannot apply is one on rec.log, not new.log.
    await m.stopRecorder("h1");
    // A recorder stopped just after its start may leave its first ops (rec.log's create) still owed
    // by h2: cut then, they are lost with the connection, journaled, and replayed live on rec.log
    // after the lift, before new.log's; so the cut waits until h2 has acknowledged everything.
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "h2 acknowledged every write of the recorder", 20_000);
    const table = `vigil_resync_live_${lab().run.replace(/\W/g, "")}`;
    const lift = await nftCut(h2.host, table, [
      "chain input { type filter hook input priority 0; tcp dport 7696 drop; tcp sport 7696 drop; }",
      "chain output { type filter hook output priority 0; tcp sport 7696 drop; tcp dport 7696 drop; }",
    ]);
    await h2.waitModule((x) => x.mirror?.data === "outdated", "h2 declares its copy outdated", 20_000);
    await h1.waitModule((x) => running(x.state) && x.mirror?.writes === "alone", "h1 writes alone (journaled)", 20_000);

    // As the service sees the folder on h1: its daemon's mount namespace.
    const pid = h1.proc?.pid;
    if (pid === undefined) throw new Error("h1's daemon has no pid");
    const appender = h1.host.spawn(["nsenter", "-t", String(pid), "-m", "python3", "-c", APPENDER, join(m.folder, "new.log")], { logName: "appender" });
    onTestFinished(async () => void (await appender.stop(1_000)));
    const written = (): number => readFileSync(join(m.data("h1"), "new.log"), "utf8").split("\n").length - 1;
    await waitUntil(() => { try { return written() > 100; } catch { return false; } }, { timeoutMs: 20_000, what: "h1 appends to new.log alone" });

    const [from1, from2] = [h1.proc?.output().length ?? 0, h2.proc?.output().length ?? 0];
    await lift();
    await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 resynced", 60_000);
    // Replicated live again for a while, then the writers stop and the copies are compared.
    const after = written();
    await waitUntil(() => written() > after + 100, { timeoutMs: 20_000, what: "more lines appended, replicated live" });
    await appender.stop(1_000);
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "no write of h1 waiting");
    expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));

    const l1 = linesSince(h1.proc?.output() ?? "", from1);
    const l2 = linesSince(h2.proc?.output() ?? "", from2);
    const apply = (l: LogLine): boolean => /apply|left to resync/.test(l.msg) || /could not apply/.test(l.detail ?? "");
    expect(l2.filter((l) => (l.level === "error" || l.level === "warn") && apply(l)), "h2's errors and warnings about applying").toEqual([]);
    expect(l1.filter((l) => (l.level === "error" || l.level === "warn") && apply(l)), "h1's errors and warnings about applying").toEqual([]);
    // The case under test happened: h2 could not apply an append (the resync had not created new.log yet).
    expect(l2.filter((l) => l.msg === "mirror op left to resync")).toMatchObject([{ level: "info", detail: expect.stringMatching(/new\.log.*ENOENT.*h1's resync carries this path/) }]);
  });
}, { tools: ["python3", "nsenter"] });

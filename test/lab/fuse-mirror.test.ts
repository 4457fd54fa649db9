/**
 * The mirror's interception on the real kernel FUSE: a folder mounted over
 * itself (fixtures/fuse-mount-runner.ts under bun, in a private mount
 * namespace), a POSIX behaviour suite through it compared with a bare
 * folder, the MirrorOp stream replayed onto a copy of the original folder,
 * held replies, refused acknowledgements, and the ways a mount ends.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { runCommand } from "./exec.ts";
import { waitUntil } from "./lab.ts";
import { describeLab, labTest } from "./lab-test.ts";
import { BUN, FIXTURES, type MountRunner, bunFixture, python, readAfterChangeBeneath, scratch, startMountRunner } from "./fuse-lab.ts";

const TOOLS = ["python3", "unshare", "nsenter", "mount", "umount"];

/** Initial content of the mirrored folder, present before the mount (and in the copy the ops are replayed onto). */
function seed(dir: string): void {
  mkdirSync(join(dir, "old", "deep"), { recursive: true });
  writeFileSync(join(dir, "old", "deep", "file"), "from before the mount\n");
  writeFileSync(join(dir, "old", "keep"), "untouched\n");
}

describeLab(
  "mirror interception through a real FUSE mount",
  () => {
    // Made in beforeAll, so a filtered run that skips these tests leaves nothing behind.
    let s: { dir: string; remove: () => void } | undefined;
    let mnt = "";
    let replica = "";
    let bare = "";
    let ops = "";
    let runner: MountRunner | undefined;

    beforeAll(async () => {
      s = scratch("fuse");
      mnt = join(s.dir, "mnt");
      replica = join(s.dir, "replica");
      bare = join(s.dir, "bare");
      ops = join(s.dir, "ops.jsonl");
      mkdirSync(mnt);
      mkdirSync(bare);
      seed(mnt);
      await runCommand(["cp", "-a", mnt, replica], { check: true });
      runner = await startMountRunner(mnt, ops);
    });
    afterAll(async () => {
      await runner?.destroy();
      s?.remove();
    });

    labTest("the POSIX behaviour suite sees the same through the mount as on a bare folder", async () => {
      const r = runner!;
      const steps = join(FIXTURES, "fuse-posix-steps.py");
      const through = await r.run(["python3", steps, mnt], { timeoutMs: 120_000 });
      const direct = await python("fuse-posix-steps.py", [bare]);
      expect(through.stderr).toBe("");
      expect(through.stdout).toContain("done: True");
      expect(through.stdout.split("\n")).toEqual(direct.stdout.split("\n"));
    }, 180_000);

    labTest("the old files are reachable through the mount and the mount shows as fuse.vigil", async () => {
      const r = runner!;
      const cat = await r.run(["cat", join(mnt, "old", "deep", "file")], { check: true });
      expect(cat.stdout).toBe("from before the mount\n");
      const info = await r.run(["cat", "/proc/self/mountinfo"], { check: true });
      expect(info.stdout).toMatch(new RegExp(` ${mnt} .* - fuse\\.vigil vigil:lab `));
      r.send("backing");
      // The runner sees the folder beneath through MountedFolder.backing, with what the suite made.
      const beneath = (await r.waitOut(/^backing (.*)$/m))[1]?.split(",") ?? [];
      expect(beneath).toEqual(expect.arrayContaining(["old", "a.txt", "log", "pub"]));
    });

    labTest("a concurrent storm of renames, links, unlinks and writes from three processes runs through", async () => {
      const r = runner!;
      const storm = await r.run(["python3", join(FIXTURES, "fuse-storm.py"), mnt, "3", "1500"], { timeoutMs: 180_000, check: true });
      expect(storm.stdout).toBe("storm done\n");
    }, 240_000);

    labTest("reads of every shape return through the mount what they return on a bare folder, spliced from the file beneath; kept pages never hide a change", async () => {
      const r = runner!;
      const through = await r.run(["python3", join(FIXTURES, "fuse-read-checks.py"), mnt], { timeoutMs: 120_000, check: true });
      const direct = await python("fuse-read-checks.py", [bare]);
      expect(through.stdout.split("\n").length).toBeGreaterThan(120);
      expect(through.stdout.split("\n")).toEqual(direct.stdout.split("\n"));
      // The server said nothing about falling back to copying reads through a buffer.
      expect(r.stderr()).not.toMatch(/not spliced|no longer spliced/);
      await r.run(["rm", "-f", `${mnt}/reads`, `${mnt}/sparse`, `${mnt}/kept`], { check: true });
    }, 150_000);

    labTest("the operations, replayed in order onto a copy of the original folder, give an identical tree", async () => {
      const r = runner!;
      // Writes larger than one piece (handed on piece by piece), at an odd offset and length too.
      await r.run(["dd", "if=/dev/urandom", `of=${mnt}/big`, "bs=1M", "count=3", "status=none"], { check: true });
      await r.run(["dd", "if=/dev/urandom", `of=${mnt}/big`, "bs=300001", "seek=7", "count=2", "conv=notrunc", "status=none"], { check: true });
      await r.unmount();
      runner = undefined;
      await bunFixture("fuse-replay.ts", [replica, ops]);
      const prim = await python("fuse-tree-dump.py", [mnt]);
      const second = await python("fuse-tree-dump.py", [replica]);
      expect(prim.stdout.split("\n").length).toBeGreaterThan(25);
      expect(second.stdout.split("\n")).toEqual(prim.stdout.split("\n"));
      // Every op was numbered in order, without gaps.
      const seqs = readFileSync(ops, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { seq: number }).seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }, 180_000);
  },
  { tools: TOOLS },
);

describeLab(
  "held replies and refused acknowledgements",
  () => {
    let s: { dir: string; remove: () => void } | undefined;
    let mnt = "";
    let runner: MountRunner | undefined;
    beforeAll(async () => {
      s = scratch("fuse-hold");
      mnt = join(s.dir, "mnt");
      mkdirSync(mnt);
      runner = await startMountRunner(mnt, join(s.dir, "ops.jsonl"));
    });
    afterAll(async () => {
      await runner?.destroy();
      s?.remove();
    });

    labTest("a write returns only once its operation is acknowledged, and reads are served meanwhile", async () => {
      const r = runner!;
      await r.run(["sh", "-c", `printf old > ${mnt}/f && printf other > ${mnt}/g`], { check: true });
      r.send("hold");
      await r.waitOut(/^ok hold$/m);
      const writer = r.start([
        "python3",
        "-c",
        `import os\nfd = os.open("${mnt}/f", os.O_WRONLY)\nos.pwrite(fd, b"new", 0)\nprint("written", flush=True)`,
      ]);
      let said = "";
      writer.stdout?.setEncoding("utf8").on("data", (c: string) => (said += c));
      const done = new Promise<number | null>((res) => writer.on("close", (code) => res(code)));
      let exited = false;
      void done.then(() => (exited = true));
      await r.waitOut(/^held \d+ write$/m);
      // The write is done on the folder beneath (this test's namespace sees the folder
      // without the mount), other files are served, and the writer still waits.
      // (The written page itself stays locked by the kernel until the reply.)
      expect(readFileSync(join(mnt, "f"), "utf8")).toBe("new");
      const other = await r.run(["cat", `${mnt}/g`], { check: true });
      expect(other.stdout).toBe("other");
      await new Promise((res) => setTimeout(res, 300));
      expect(said).toBe("");
      expect(exited).toBe(false);
      r.send("release");
      expect(await done).toBe(0);
      expect(said).toBe("written\n");
    });

    labTest("a large write is handed on in pieces, each done beneath first; the call returns once every piece is acknowledged", async () => {
      const r = runner!;
      await r.run(["touch", `${mnt}/large`], { check: true });
      const heldWrites = (): number => (r.stdout().match(/^held \d+ write$/gm) ?? []).length;
      const before = heldWrites();
      r.send("hold");
      await r.waitOut(/^ok hold$/m);
      const size = (1 << 20) + 1000;
      const writer = r.start([
        "python3",
        "-c",
        `import os\nfd = os.open("${mnt}/large", os.O_WRONLY)\nprint("written", os.pwrite(fd, b"v" * ${size}, 4096), flush=True)`,
      ]);
      let said = "";
      let werr = "";
      writer.stderr?.setEncoding("utf8").on("data", (c: string) => (werr += c));
      writer.stdout?.setEncoding("utf8").on("data", (c: string) => (said += c));
      const done = new Promise<number | null>((res) => writer.on("close", (code) => res(code)));
      // The kernel's first request carries 1 MiB (its max_write): eight 128 KiB pieces; the last 1000 bytes come next.
      await waitUntil(() => heldWrites() >= before + 8, { timeoutMs: 20_000, intervalMs: 20, what: `eight held pieces of the write (runner: ${r.stdout().slice(-300)}; writer: ${werr})` });
      await new Promise((res) => setTimeout(res, 300));
      expect(said).toBe("");
      expect(heldWrites()).toBe(before + 8);
      const beneath = readFileSync(join(mnt, "large"));
      expect(beneath.length).toBe(4096 + (1 << 20));
      expect(beneath.subarray(4096).every((b) => b === 0x76)).toBe(true);
      r.send("release");
      expect(await done).toBe(0);
      expect(said).toBe(`written ${size}\n`);
    });

    labTest("an fsync returns only once its op is acknowledged (the SECOND synced), though this node's own flush is done", async () => {
      const r = runner!;
      await r.run(["sh", "-c", `printf data > ${mnt}/synced`], { check: true });
      r.send("hold");
      await r.waitOut(/^ok hold$/m);
      const syncer = r.start(["python3", "-c", `import os\nfd = os.open("${mnt}/synced", os.O_RDONLY)\nos.fsync(fd)\nprint("synced", flush=True)`]);
      let said = "";
      syncer.stdout?.setEncoding("utf8").on("data", (c: string) => (said += c));
      const done = new Promise<number | null>((res) => syncer.on("close", (code) => res(code)));
      await r.waitOut(/^held \d+ fsync$/m);
      await new Promise((res) => setTimeout(res, 300));
      expect(said).toBe("");
      r.send("release");
      expect(await done).toBe(0);
      expect(said).toBe("synced\n");
    });

    labTest("a refused acknowledgement fails the call with EIO; nothing else is affected", async () => {
      const r = runner!;
      r.send("fail-next");
      await r.waitOut(/^ok fail-next$/m);
      const mk = await r.run(["mkdir", `${mnt}/refused`]);
      expect(mk.code).not.toBe(0);
      expect(mk.stderr).toMatch(/Input\/output error/);
      const after = await r.run(["sh", "-c", `echo fine > ${mnt}/after && cat ${mnt}/after`], { check: true });
      expect(after.stdout).toBe("fine\n");
    });

    labTest("stats count requests, operations and held replies", async () => {
      const r = runner!;
      r.send("stats");
      const m = await r.waitOut(/^stats (\{.*\})$/m);
      const st = JSON.parse(m[1] ?? "{}") as Record<string, number>;
      expect(st.requests).toBeGreaterThan(5);
      expect(st.opsEmitted).toBeGreaterThanOrEqual(4);
      expect(st.repliesHeld).toBeGreaterThanOrEqual(3);
      expect(st.repliesHeldNow).toBe(0);
      expect(st.bytesWritten).toBeGreaterThanOrEqual(3 + 5);
    });
  },
  { tools: TOOLS },
);

describeLab(
  "a shared mapping of a file opened O_DIRECT",
  () => {
    labTest("is allowed, as on a bare folder; what is written through it lands beneath and is handed on as a write", async () => {
      const s = scratch("fuse-dmap");
      const mnt = join(s.dir, "mnt");
      mkdirSync(mnt);
      const ops = join(s.dir, "ops.jsonl");
      const runner = await startMountRunner(mnt, ops, "full");
      try {
        const script = [
          "import os, mmap",
          `p = "${mnt}/dmap"`,
          "fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)",
          "os.ftruncate(fd, 8192)",
          "m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)",
          "m[4096:4099] = b'MAP'",
          "m.flush()",
          "print('mapped', m[4096:4099])",
          "m.close(); os.close(fd)",
          "r = os.open(p, os.O_RDONLY)",
          "print('read back', os.pread(r, 3, 4096))",
        ].join("\n");
        // Without FUSE_DIRECT_IO_ALLOW_MMAP the mmap fails with ENODEV (python exits 1).
        const out = await runner.run(["python3", "-c", script], { check: true });
        expect(out.stdout).toBe("mapped b'MAP'\nread back b'MAP'\n");
        // Outside the runner's namespace the path is the folder beneath.
        expect(readFileSync(join(mnt, "dmap")).subarray(4096, 4099).toString()).toBe("MAP");
        // The mapping's dirty page reached the server as a WRITE, so the SECOND gets it too.
        const writes = readFileSync(ops, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { op: string; path?: { b64: string }; offset?: number; data?: { b64: string } })
          .filter((o) => o.op === "write" && Buffer.from(o.path?.b64 ?? "", "base64").toString() === "dmap");
        const carries = writes.some((o) => {
          const data = Buffer.from(o.data?.b64 ?? "", "base64");
          const at = 4096 - (o.offset ?? 0);
          return at >= 0 && data.subarray(at, at + 3).toString() === "MAP";
        });
        expect(carries).toBe(true);
      } finally {
        await runner.destroy();
        s.remove();
      }
    });
  },
  { tools: TOOLS },
);

describeLab(
  "read: direct",
  () => {
    labTest("read-only opens bypass the mount's page cache: nothing of a file read is kept, a change beneath is read at once; shared mappings still read", async () => {
      const s = scratch("fuse-rdirect");
      const mnt = join(s.dir, "mnt");
      mkdirSync(mnt);
      const runner = await startMountRunner(mnt, join(s.dir, "ops.jsonl"), "full", { VIGIL_FUSE_READ: "direct" });
      try {
        const seen = await readAfterChangeBeneath((argv) => runner.run(argv, { check: true }), join(mnt, "video"), join(mnt, "video"));
        expect(seen).toEqual({ firstRead: 1 << 20, cachedPages: 0, reread: "BBBB", mapped: "BBBB AAAA" });
        // Direct I/O on the mount is what the kernel agreed to, not a fallback.
        expect(runner.stderr()).not.toMatch(/read: direct needs/);
      } finally {
        await runner.destroy();
        s.remove();
      }
    });

    labTest("with read: cache (the default) the pages read are kept, and a reader may be served them", async () => {
      const s = scratch("fuse-rcache");
      const mnt = join(s.dir, "mnt");
      mkdirSync(mnt);
      const runner = await startMountRunner(mnt, join(s.dir, "ops.jsonl"), "full");
      try {
        const seen = await readAfterChangeBeneath((argv) => runner.run(argv, { check: true }), join(mnt, "video"), join(mnt, "video"));
        expect(seen.cachedPages).toBeGreaterThan(0);
        expect(seen.reread).toBe("AAAA");
      } finally {
        await runner.destroy();
        s.remove();
      }
    });
  },
  { tools: [...TOOLS, "fincore"] },
);

describeLab(
  "read passthrough (opt-in)",
  () => {
    labTest("files opened read-only are read from the folder beneath, by several readers at once; writers opened first keep working; a writer after a reader gets EIO", async () => {
      const s = scratch("fuse-pass");
      const mnt = join(s.dir, "mnt");
      mkdirSync(mnt);
      const runner = await startMountRunner(mnt, join(s.dir, "ops.jsonl"), "full", { VIGIL_FUSE_PASSTHROUGH: "1" });
      try {
        await runner.run(["sh", "-c", `head -c 3000000 /dev/urandom > ${mnt}/data`], { check: true });
        const through = await runner.run(["md5sum", `${mnt}/data`], { check: true });
        const beneath = await runCommand(["md5sum", join(mnt, "data")], { check: true });
        expect(through.stdout).toBe(beneath.stdout);
        const script = [
          "import os, errno",
          `p = "${mnt}/data"`,
          "w = os.open(p, os.O_RDWR)",
          "r = os.open(p, os.O_RDONLY)",
          "os.pwrite(w, b'XYZ', 0)",
          "print('writer first', os.pread(r, 3, 0))",
          "os.close(r); os.close(w)",
          "r = os.open(p, os.O_RDONLY)",
          // The kernel takes one backing file per inode: a second reader shares the first one's.
          "try:\n    r2 = os.open(p, os.O_RDONLY)\n    print('second reader', os.pread(r2, 3, 0))\nexcept OSError as e:\n    print('second reader:', errno.errorcode[e.errno])",
          "try:\n    os.open(p, os.O_WRONLY)\n    print('writer after reader: ok')\nexcept OSError as e:\n    print('writer after reader:', errno.errorcode[e.errno])",
          "print('reader', os.pread(r, 3, 0))",
          // The first reader gone, the second still reads through the shared backing file.
          "os.close(r)",
          "print('second reader alone', os.pread(r2, 3, 0))",
          "os.close(r2)",
          // Every passthrough open released: a writer is served through the page cache again.
          "w = os.open(p, os.O_WRONLY)\nos.pwrite(w, b'ABC', 0)\nos.close(w)",
          "r = os.open(p, os.O_RDONLY)\nprint('reader after writer', os.pread(r, 3, 0))",
        ].join("\n");
        const mixed = await runner.run(["python3", "-c", script], { check: true });
        expect(mixed.stdout).toBe(
          "writer first b'XYZ'\nsecond reader b'XYZ'\nwriter after reader: EIO\nreader b'XYZ'\nsecond reader alone b'XYZ'\nreader after writer b'ABC'\n",
        );
        expect(runner.stderr()).toMatch(/opened for writing: the kernel refuses that/);
      } finally {
        await runner.destroy();
        s.remove();
      }
    });
  },
  { tools: TOOLS },
);

describeLab(
  "ending a mount",
  () => {
    labTest("unmount stops the server even while another namespace holds a copy of the mount", async () => {
      const s = scratch("fuse-copy");
      const mnt = join(s.dir, "mnt");
      mkdirSync(mnt);
      writeFileSync(join(mnt, "beneath"), "b");
      const runner = await startMountRunner(mnt, join(s.dir, "ops.jsonl"));
      // A namespace made from the runner's now holds its own copy of the mount.
      const copy = runner.start(["unshare", "-m", "--propagation", "private", "sleep", "100000"]);
      try {
        await runner.run(["sh", "-c", `echo x > ${mnt}/made`], { check: true });
        await new Promise((res) => setTimeout(res, 200));
        await runner.unmount();
        expect(runner.stdout()).toMatch(/^closed /m);
        expect(readFileSync(join(mnt, "made"), "utf8")).toBe("x\n");
      } finally {
        copy.kill("SIGKILL");
        await runner.destroy();
        s.remove();
      }
    });

    labTest("bad folders are refused with the reason, and a folder already mounted is not mounted twice", async () => {
      const s = scratch("fuse-errors");
      const mnt = join(s.dir, "mnt");
      mkdirSync(mnt);
      writeFileSync(join(s.dir, "file"), "");
      const runner = await startMountRunner(mnt, join(s.dir, "ops.jsonl"));
      try {
        const dirs = [mnt, "relative/dir", join(s.dir, "missing"), join(s.dir, "file")];
        const r = await runner.run([BUN, join(FIXTURES, "fuse-mount-errors.ts"), ...dirs], { check: true });
        expect(r.stdout.split("\n")).toEqual([
          `${mnt}: InterceptUnavailableError: cannot mirror ${mnt}: a fuse.vigil mount is already there`,
          "relative/dir: InterceptUnavailableError: cannot mirror relative/dir: not an absolute path",
          `${s.dir}/missing: InterceptUnavailableError: cannot mirror ${s.dir}/missing: no such folder`,
          `${s.dir}/file: InterceptUnavailableError: cannot mirror ${s.dir}/file: not a directory`,
          // The live mount counts as stale for cleanStaleMount (it is meant for start-up only).
          "clean: 1",
          "",
        ]);
        // A fresh folder mounts and unmounts cleanly, and then has no mount to clean.
        const fresh = join(s.dir, "fresh");
        mkdirSync(fresh);
        const ok = await runner.run([BUN, join(FIXTURES, "fuse-mount-errors.ts"), fresh], { check: true });
        expect(ok.stdout).toBe(`${fresh}: ok\nclean: 0\n`);
      } finally {
        await runner.destroy();
        s.remove();
      }
    });

    labTest("cleanStaleMount removes the mount of a server that died, and the folder is usable again", async () => {
      const s = scratch("fuse-stale");
      const mnt = join(s.dir, "mnt");
      mkdirSync(mnt);
      writeFileSync(join(mnt, "beneath"), "still here\n");
      const runner = await startMountRunner(mnt, join(s.dir, "ops.jsonl"));
      try {
        process.kill(runner.runnerPid, "SIGKILL");
        await runner.exited();
        const dead = await runner.run(["stat", mnt]);
        expect(dead.stderr).toMatch(/Transport endpoint is not connected/);
        const clean = await runner.run([BUN, join(FIXTURES, "fuse-clean-stale.ts"), mnt], { check: true });
        expect(clean.stdout).toBe("removed 1\n");
        const cat = await runner.run(["cat", join(mnt, "beneath")], { check: true });
        expect(cat.stdout).toBe("still here\n");
        const info = await runner.run(["cat", "/proc/self/mountinfo"], { check: true });
        // Only this folder's: other mirrors may be mounted elsewhere on the host meanwhile.
        const here = info.stdout.split("\n").filter((l) => l.split(" ")[4] === mnt);
        expect(here, info.stdout).toEqual([]);
      } finally {
        await runner.destroy();
        s.remove();
      }
      expect(existsSync(s.dir)).toBe(false);
    });
  },
  { tools: TOOLS },
);

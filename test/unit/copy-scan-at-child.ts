/**
 * The SECOND's answers to resync questions read through directory fds
 * (copy-scan-at.ts, bun:ffi), against the same answers read by path
 * (tree-scan.ts): run by copy-scan-at.test.ts under bun, once with the
 * folder's path and once with `/proc/self/fd/N/.` (the folder beneath a
 * mount, as the mirror driver gives it). Prints one JSON line:
 * { checks: [{ name, pass, detail }] }.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ResyncRequest, ResyncResponse } from "../../src/proto/replication-resync.ts";
import { UnsafePathError } from "../../src/replicator/apply-paths.ts";
import { CopyScanAt } from "../../src/replicator/copy-scan-at.ts";
import { type RelPath, relPath } from "../../src/replicator/ops.ts";
import { FolderAnswerer } from "../../src/replicator/remote-peer-answers.ts";
import type { ManifestEntry } from "../../src/replicator/resync-types.ts";
import { collect, scanTree } from "../../src/replicator/tree-scan.ts";
import { loadDirCalls } from "../../src/sys/ffi/dir-calls.ts";
import { loadFsCalls } from "../../src/sys/ffi/fs-calls.ts";

const checks: { name: string; pass: boolean; detail: string }[] = [];
const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x instanceof Uint8Array ? Buffer.from(x).toString("hex") : x));
const check = (name: string, pass: boolean, detail: unknown = ""): void => {
  checks.push({ name, pass, detail: typeof detail === "string" ? detail : text(detail) });
};
const dirCalls = await loadDirCalls("scan test");
const fsCalls = await loadFsCalls("scan test");
const openFds = (): number => fs.readdirSync("/proc/self/fd").length;
const raw = (...b: number[]): Uint8Array => new Uint8Array(b);
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));

/** Answers of one answerer to one request, collected (manifests pulled batch by batch). */
async function ask(a: FolderAnswerer, q: ResyncRequest): Promise<ResyncResponse[]> {
  const out: ResyncResponse[] = [];
  const reply = (r: ResyncResponse): boolean => {
    out.push(r);
    return true;
  };
  await a.request(1, q, reply);
  if (q.kind === "manifest") {
    for (let i = 0; i < 100 && !out.some((r) => r.kind === "end" || r.kind === "error"); i++) await a.request(1, { kind: "next" } as ResyncRequest, reply);
  }
  return out;
}

async function suite(label: string, viaProc: boolean): Promise<void> {
  const name = (what: string): string => `${label}: ${what}`;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-scan-at-"));
  const root = path.join(base, "copy");
  const outside = path.join(base, "outside");
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, "secret"), "keep");
  const abs = (...parts: (string | Uint8Array)[]): Buffer => Buffer.concat([Buffer.from(root), ...parts.map((p) => Buffer.concat([Buffer.from("/"), Buffer.from(p)]))]);
  // A tree with every kind of entry and odd names.
  fs.mkdirSync(abs("a/b/c"), { recursive: true });
  fs.writeFileSync(abs("a/f"), "hello");
  fs.writeFileSync(abs("a/b/c/deep"), Buffer.alloc(70_000, 7));
  fs.linkSync(abs("a/f"), abs("a/b/hard"));
  fs.symlinkSync("../outside/secret", abs("a/link"));
  fs.symlinkSync(outside, abs("out"));
  fsCalls.mknod(abs("a/fifo"), 0o010644, 0);
  const odd = cat(relPath("a/"), raw(0x6e, 0x0a, 0xff, 0xfe, 0x20));
  fs.writeFileSync(abs(odd), "odd");
  fs.chmodSync(abs("a/f"), 0o640);
  fs.chownSync(abs("a/f"), 12, 34);
  fsCalls.lsetxattr(abs("a/f"), relPath("user.k"), relPath("v"), 0);
  fs.utimesSync(abs("a/b/c/deep"), 1_700_000_000.123456, 1_700_000_000.987654);

  const rootFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const given = viaProc ? `/proc/self/fd/${rootFd}/.` : root;
  const fdsBefore = openFds();
  const scan = new CopyScanAt(given, dirCalls);
  const strip = (e: ManifestEntry): ManifestEntry => e;

  // Every scope: what the fds give equals what the paths give, in the same order.
  const scopes: [string, RelPath, boolean][] = [["the whole folder", new Uint8Array(0), true], ["one level of the folder", new Uint8Array(0), false], ["a/ recursive", relPath("a"), true], ["a/b one level", relPath("a/b"), false], ["a file", relPath("a/f"), true], ["a symlink (not followed)", relPath("a/link"), true], ["a missing path", relPath("a/nope"), true], ["beneath a file", relPath("a/f/x"), true]];
  for (const [what, under, rec] of scopes) {
    const byPath = (await collect(scanTree(given, under, rec))).map(strip);
    const byFd = [...scan.scan(under, rec)].map((p) => strip(p.entry));
    check(name(`manifest of ${what} by fd equals by path`), text(byFd) === text(byPath), { byFd: byFd.length, byPath: byPath.length, first: text(byFd.find((e, i) => text(e) !== text(byPath[i]))) });
  }
  const all = [...scan.scan(new Uint8Array(0), true)].map((p) => p.entry);
  check(name("the tree has every kind"), ["dir", "file", "symlink", "fifo"].every((t) => all.some((e) => e.type === t)) && all.some((e) => Buffer.from(e.path).equals(Buffer.from(odd))), all.map((e) => e.type));
  const deep = all.find((e) => Buffer.from(e.path).toString() === "a/b/c/deep");
  check(name("mtime to the ns and size"), deep?.mtimeNs === fs.lstatSync(abs("a/b/c/deep"), { bigint: true }).mtimeNs && deep?.size === 70_000, deep);
  const f = all.find((e) => Buffer.from(e.path).toString() === "a/f");
  const h = all.find((e) => Buffer.from(e.path).toString() === "a/b/hard");
  check(name("owner, mode, hard links"), f?.uid === 12 && f.gid === 34 && f.mode === 0o640 && f.nlink === 2 && h?.ino === f.ino, { f, h });

  // Single entries.
  check(name("entry of a file"), text(scan.entry(relPath("a/f"))) === text(f));
  check(name("entry of the folder itself"), scan.entry(new Uint8Array(0))?.type === "dir");
  check(name("entry of a missing name, and beneath a missing directory"), scan.entry(relPath("a/nope")) === null && scan.entry(relPath("nope/x")) === null);
  check(name("entry of a symlink is the link"), scan.entry(relPath("out"))?.type === "symlink" && Buffer.from(scan.entry(relPath("out"))!.target!).toString() === outside);

  // Never through a symlink.
  const refused = (fn: () => unknown): boolean => {
    try {
      fn();
      return false;
    } catch (e) {
      return e instanceof UnsafePathError;
    }
  };
  check(name("entry beneath a symlinked directory refused"), refused(() => scan.entry(relPath("out/secret"))));
  check(name("scan beneath a symlinked directory refused"), refused(() => [...scan.scan(relPath("out/secret"), true)]));
  check(name("scan of a path whose parent is a symlink refused, deeper too"), refused(() => [...scan.scan(relPath("a/link/x"), false)]) && refused(() => scan.place(relPath("out/a/b"), false)));
  check(name("a path with .. refused"), refused(() => scan.entry(relPath("a/../../outside/secret"))));

  // fds: none left after whole scans, early stops, refusals.
  const it = scan.scan(new Uint8Array(0), true);
  it.next();
  it.next();
  it.next();
  it.return(undefined);
  check(name("no fd left behind (whole scans, a scan stopped early, refusals)"), openFds() === fdsBefore + 1, { before: fdsBefore, now: openFds() });

  // The answerer: by fd and by path give the same answers, xattrs included.
  const byFd = new FolderAnswerer(given, { fsCalls, dirCalls });
  const byPath = new FolderAnswerer(given, { fsCalls });
  for (const [what, q] of [
    ["manifest of the folder", { kind: "manifest", under: new Uint8Array(0), recursive: true }],
    ["manifest of a/b", { kind: "manifest", under: relPath("a/b"), recursive: false }],
    ["manifest beneath a symlink", { kind: "manifest", under: relPath("out/secret"), recursive: true }],
    ["entry a/f (xattrs)", { kind: "entry", path: relPath("a/f") }],
    ["entry beneath a symlink", { kind: "entry", path: relPath("out/secret") }],
    ["sums of a file", { kind: "sums", path: relPath("a/b/c/deep"), blockSize: 4096, offset: 0, count: 20 }],
    ["sums beneath a symlink", { kind: "sums", path: relPath("out/secret"), blockSize: 4096, offset: 0, count: 1 }],
    ["sums of a symlink", { kind: "sums", path: relPath("a/link"), blockSize: 4096, offset: 0, count: 1 }],
  ] as [string, ResyncRequest][]) {
    const [x, y] = [await ask(byFd, q), await ask(byPath, q)];
    check(name(`answer to ${what}: same by fd and by path`), text(x) === text(y), { byFd: text(x).slice(0, 300), byPath: text(y).slice(0, 300) });
  }
  const xa = (await ask(byFd, { kind: "entry", path: relPath("a/f") }))[0];
  check(name("an entry's xattrs come by fd"), xa?.kind === "entry" && xa.entry?.xattrs?.length === 1, xa);
  byFd.close();
  byPath.close();
  scan.close();
  check(name("closed: no fd left"), openFds() === fdsBefore, { before: fdsBefore, now: openFds() });
  fs.closeSync(rootFd);
  check(name("outside untouched"), fs.readFileSync(path.join(outside, "secret"), "utf8") === "keep");
  fs.rmSync(base, { recursive: true, force: true });
}

await suite("by path", false);
await suite("through /proc/self/fd", true);
console.log(JSON.stringify({ checks }));

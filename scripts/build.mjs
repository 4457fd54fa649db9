// Builds vigil binaries: self-contained executables with the console embedded.
// Every target's Bun runtime comes from node_modules (devDependencies
// @oven/bun-linux-*), handed to `bun build --compile-executable-path`, so
// nothing is downloaded here.
//
//   node scripts/build.mjs              dist/vigil: this machine's target (see below)
//   node scripts/build.mjs --all        also every shipped target in TARGETS, each with a .sha256 file
//   node scripts/build.mjs --target linux-arm64 [--target ...] [--outdir DIR]
//                                       only those, to DIR/vigil-TARGET (default dist/)
//   VIGIL_OUT=/tmp/x/vigil node scripts/build.mjs
//                                       this machine's target to that path only
//
// dist/vigil is this machine's target. On x86-64 that is the baseline build
// (dist/vigil-linux-x64, no AVX2 needed), so the binary the tests and the demo
// run is the one that goes to industrial boxes, and a dist/vigil handed to a
// colleague runs on any x86-64 glibc Linux.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules", ".bin", "bun");

/** The binaries vigil ships. `baseline`: an x86-64 runtime built without AVX2, for Atom, Celeron and older Xeons. */
const TARGETS = {
  "linux-x64": { pkg: "@oven/bun-linux-x64-baseline", bunTarget: "bun-linux-x64-baseline", arch: "x64", libc: "glibc", baseline: true },
  "linux-arm64": { pkg: "@oven/bun-linux-aarch64", bunTarget: "bun-linux-arm64", arch: "arm64", libc: "glibc", baseline: false },
  "linux-x64-musl": { pkg: "@oven/bun-linux-x64-musl-baseline", bunTarget: "bun-linux-x64-musl-baseline", arch: "x64", libc: "musl", baseline: true, unshipped: true },
  "linux-arm64-musl": { pkg: "@oven/bun-linux-aarch64-musl", bunTarget: "bun-linux-arm64-musl", arch: "arm64", libc: "musl", baseline: false, unshipped: true },
};
// The musl builds link libstdc++.so.6 and libgcc_s.so.1 built for musl (Alpine's libstdc++ package). Debian's
// musl package has the C library only, so no machine here can start them: they are built on request
// (--target) but not by --all, until a test runs them.

function hostLibc() {
  // Node reports the glibc it runs on; none means musl (Alpine).
  const header = process.report?.getReport?.().header;
  return header?.glibcVersionRuntime ? "glibc" : "musl";
}

/** The target this machine runs, or undefined (not Linux, or an architecture vigil does not ship). */
function hostTarget() {
  if (process.platform !== "linux") return undefined;
  const libc = hostLibc();
  return Object.keys(TARGETS).find((t) => TARGETS[t].arch === process.arch && TARGETS[t].libc === libc);
}

function runtimeOf(name) {
  const target = TARGETS[name];
  const exe = join(root, "node_modules", ...target.pkg.split("/"), "bin", "bun");
  if (!existsSync(exe)) {
    throw new Error(`${target.pkg} is not installed (${exe} is missing): run "npm install" (it is a devDependency)`);
  }
  return exe;
}

let assetsEmbedded = false;

/** Compiles one binary to `out`. `name` undefined: the runtime of node_modules/.bin/bun, marked as a host build. */
function compile(name, out) {
  if (!assetsEmbedded) {
    execFileSync(process.execPath, [join(root, "scripts", "embed-assets.mjs")], { stdio: "inherit" });
    // The config's validator as code, so the binary never compiles the schema (rewritten only when the schema changed).
    execFileSync(bun, [join(root, "scripts", "config-validator.ts")], { stdio: "inherit", cwd: root });
    assetsEmbedded = true;
  }
  const target = name === undefined ? undefined : TARGETS[name];
  const info = target
    ? { target: name, arch: target.arch, libc: target.libc, baseline: target.baseline }
    : { target: `host-${process.platform}-${process.arch}`, arch: process.arch, libc: hostLibc(), baseline: false };
  const cross = name === undefined ? [] : [`--target=${target.bunTarget}`, `--compile-executable-path=${runtimeOf(name)}`];
  mkdirSync(dirname(out), { recursive: true });
  // Written beside the result and renamed over it, so a binary a running test executes is never half-written.
  const partial = `${out}.partial`;
  execFileSync(
    bun,
    [
      // --bytecode halves cold start; it needs --format=esm for top-level await.
      // --splitting puts what a dynamic import() loads in chunks of their own, read only when imported:
      // `vigil version` and the fencing watchdog child do not load the daemon (src/cli/dispatch.ts, src/daemon/entry.ts).
      "build", "--compile", "--minify", "--bytecode", "--splitting", "--format=esm", ...cross,
      // A compiled binary would read bunfig.toml and .env from the directory it runs in: a bunfig.toml
      // `preload` there would run its script as whoever runs vigil (root), and a .env would set variables.
      "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv",
      // src/version.ts reads it: `vigil version` names the build.
      "--define", `VIGIL_BUILD=${JSON.stringify(JSON.stringify(info))}`,
      // The mirror's FUSE server and its applier run in Workers: their modules are more entry points of the bundle.
      join(root, "src", "main.ts"), join(root, "src", "replicator", "intercept-worker.ts"), join(root, "src", "replicator", "apply-worker.ts"),
      "--outfile", partial,
    ],
    { stdio: ["ignore", "ignore", "inherit"], cwd: root },
  );
  renameSync(partial, out);
  console.log(`built ${out} (${(statSync(out).size / 1e6).toFixed(1)} MB, ${info.target})`);
}

/** `sha256sum -c` reads this file: "HASH  NAME". */
function writeChecksum(file) {
  const hash = createHash("sha256").update(readFileSync(file)).digest("hex");
  writeFileSync(`${file}.sha256`, `${hash}  ${basename(file)}\n`);
}

function copyAtomically(from, to) {
  copyFileSync(from, `${to}.partial`);
  renameSync(`${to}.partial`, to);
}

function main() {
  const { values } = parseArgs({
    options: { all: { type: "boolean" }, target: { type: "string", multiple: true }, outdir: { type: "string" } },
  });
  const dist = values.outdir ?? join(root, "dist");
  for (const t of values.target ?? []) {
    if (!(t in TARGETS)) throw new Error(`unknown target "${t}" (targets: ${Object.keys(TARGETS).join(", ")})`);
  }
  const host = hostTarget();

  if (values.target) {
    for (const t of values.target) {
      compile(t, join(dist, `vigil-${t}`));
      writeChecksum(join(dist, `vigil-${t}`));
    }
    return;
  }
  // VIGIL_OUT builds elsewhere, so a build kept for a long test run is not replaced under it.
  if (process.env.VIGIL_OUT) {
    compile(host, process.env.VIGIL_OUT);
    return;
  }
  const names = values.all ? Object.keys(TARGETS).filter((t) => !TARGETS[t].unshipped) : host ? [host] : [];
  for (const t of names) {
    compile(t, join(dist, `vigil-${t}`));
    writeChecksum(join(dist, `vigil-${t}`));
  }
  const out = join(dist, "vigil");
  if (host) {
    copyAtomically(join(dist, `vigil-${host}`), out);
    console.log(`dist/vigil is dist/vigil-${host}`);
  } else {
    compile(undefined, out);
  }
}

try {
  main();
} catch (e) {
  console.error(`build: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}

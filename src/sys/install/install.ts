/**
 * `vigil install` and `vigil uninstall`: the binary, a service for the init
 * system, the state dir, an example config. Both are idempotent: a second run
 * finds everything in place and says so. Every step reports one line; the
 * first failure ends the run with an InstallError naming the path and why.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync,
} from "node:fs";
import { basename, dirname } from "node:path";
import { findOnPath } from "../host-check.ts";
import { type InitSystem, type InstallOptions, detectInit, layout, type Layout } from "./layout.ts";
import { exampleConfig, MARK, systemdUnit, sysvScript, witnessUnit } from "./texts.ts";

export class InstallError extends Error {}

export interface Report {
  /** One line per step, in order. */
  lines: string[];
  /** What the operator does next, if anything. */
  next: string[];
}

/**
 * A file of documentation install adds (the man page, the shell completion),
 * written only where the system has a place for it (`when` exists). Its text
 * must carry MARK, so uninstall knows it.
 */
export interface DocFile {
  path: string;
  text: string;
  when: string;
}

/** Fills `r` as it goes, so a failure still shows what was done before it. */
export function install(o: InstallOptions, self: string, r: Report, docs: readonly DocFile[] = []): void {
  const l = layout(o);
  const init = o.init ?? detectInit(l);
  if (init === undefined) {
    throw new InstallError("found neither systemd (/run/systemd/system) nor SysV init (/etc/init.d); say which with --init systemd|sysv");
  }

  installBinary(l, self, r);
  ensureDir(l, l.stateDir, 0o700, r, true);

  const paths = { binary: l.binary, stateDir: l.stateDir };
  if (init === "systemd") {
    const changed = writeOwnFile(l, l.unit, l.role === "node" ? systemdUnit(paths) : witnessUnit(paths), 0o644, r);
    const systemctl = systemctlArgs(o);
    if (o.root === "/" && changed) tool(systemctl, ["daemon-reload"], r);
    tool(systemctl, [...rootFlag(o), "enable", `${l.service}.service`], r);
  } else {
    writeOwnFile(l, l.initScript, sysvScript({ ...paths, witness: l.role === "witness" }), 0o755, r);
    enableSysv(o, l, r);
  }

  for (const d of docs) {
    if (existsSync(l.at(d.when))) writeOwnFile(l, d.path, d.text, 0o644, r);
  }

  const config = `${l.configDir}/vigil.yaml`;
  const example = `${config}.example`;
  ensureDir(l, l.configDir, 0o755, r, false);
  if (existsSync(l.at(config))) {
    r.lines.push(`kept ${config} (an existing config is never touched)`);
  } else if (existsSync(l.at(example)) && !isOurs(l.at(example))) {
    r.lines.push(`kept ${example} (changed since vigil wrote it)`);
  } else {
    writeOwnFile(l, example, exampleConfig(l.configDir), 0o644, r);
    r.next.push(
      `write ${config} (see ${example}) and a key: ${l.binary} keygen ${l.configDir}/vigil.key`,
      `check it: ${l.binary} check-config`,
    );
  }
  r.next.push(init === "systemd" ? `start it: systemctl start ${l.service}` : `start it: ${l.initScript} start`);
}

export function uninstall(o: InstallOptions, purge: boolean, r: Report, docs: readonly DocFile[] = []): void {
  const l = layout(o);

  if (existsSync(l.at(l.unit))) {
    if (!isOurs(l.at(l.unit))) {
      r.lines.push(`kept ${l.unit} (not written by vigil install)`);
    } else {
      const systemctl = systemctlArgs(o);
      tool(systemctl, [...rootFlag(o), "disable", ...(o.root === "/" ? ["--now"] : []), `${l.service}.service`], r);
      remove(l, l.unit, r);
      if (o.root === "/") tool(systemctl, ["daemon-reload"], r);
    }
  }
  if (existsSync(l.at(l.initScript))) {
    if (!isOurs(l.at(l.initScript))) {
      r.lines.push(`kept ${l.initScript} (not written by vigil install)`);
    } else {
      if (o.root === "/") tool([l.initScript], ["stop"], r, l.initScript);
      disableSysv(o, l, r);
      remove(l, l.initScript, r);
    }
  }
  // The node and the witness services share the binary, its manual and completion: the last one out removes them.
  const other = [l.otherUnit, l.otherInitScript].find((p) => existsSync(l.at(p)) && isOurs(l.at(p)));
  if (other !== undefined) {
    if (existsSync(l.at(l.binary))) r.lines.push(`kept ${l.binary} (${other} still runs it)`);
  } else {
    if (existsSync(l.at(l.binary))) remove(l, l.binary, r);
    for (const d of docs) {
      if (existsSync(l.at(d.path)) && isOurs(l.at(d.path))) remove(l, d.path, r);
    }
  }

  const example = `${l.configDir}/vigil.yaml.example`;
  if (purge) {
    purgeDir(l, l.stateDir, r);
    if (other !== undefined) r.lines.push(`kept ${l.configDir} (${other} still reads it)`);
    else purgeDir(l, l.configDir, r);
  } else {
    if (existsSync(l.at(example)) && isOurs(l.at(example))) remove(l, example, r);
    for (const kept of [l.stateDir, l.configDir]) {
      if (existsSync(l.at(kept))) r.lines.push(`kept ${kept} (remove it with --purge)`);
    }
  }
  if (r.lines.length === 0) r.lines.push("nothing to remove: vigil is not installed here");
}

function installBinary(l: Layout, self: string, r: Report): void {
  const target = l.at(l.binary);
  if (existsSync(target) && (samePath(self, target) || sameBytes(self, target))) {
    guard(target, () => chmodSync(target, 0o755));
    r.lines.push(`unchanged ${l.binary}`);
    return;
  }
  const replacing = existsSync(target);
  ensureDir(l, dirname(l.binary), 0o755, r, false);
  // A copy beside the target, renamed over it: a running vigil keeps its old file, and no half-copied binary is ever there.
  const partial = `${target}.partial`;
  guard(target, () => {
    try {
      copyFileSync(self, partial);
      chmodSync(partial, 0o755);
      renameSync(partial, target);
    } catch (e) {
      rmSync(partial, { force: true });
      throw e;
    }
  });
  r.lines.push(`${replacing ? "replaced" : "installed"} ${l.binary}`);
  if (replacing) r.next.push("a daemon already running keeps the old binary until it restarts (in a cluster, restart one node at a time)");
}

/** Creates a missing folder with `mode`; with `strict`, also narrows an existing one that group or others may use. */
function ensureDir(l: Layout, path: string, mode: number, r: Report, strict: boolean): void {
  const at = l.at(path);
  if (!existsSync(at)) {
    guard(at, () => {
      // Missing parents get the usual 0755; only the folder itself gets `mode`.
      mkdirSync(dirname(at), { recursive: true, mode: 0o755 });
      mkdirSync(at, { mode });
      chmodSync(at, mode);
    });
    r.lines.push(`created ${path} (mode ${mode.toString(8).padStart(4, "0")})`);
    return;
  }
  const st = guard(at, () => statSync(at));
  if (!st.isDirectory()) throw new InstallError(`${path} exists and is not a folder`);
  if (strict && (st.mode & 0o077) !== 0) {
    guard(at, () => chmodSync(at, mode));
    r.lines.push(`narrowed ${path} from mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")} to ${mode.toString(8).padStart(4, "0")}`);
  }
}

/** Writes a file of vigil's own; returns whether anything changed. */
function writeOwnFile(l: Layout, path: string, text: string, mode: number, r: Report): boolean {
  const at = l.at(path);
  if (existsSync(at)) {
    const now = guard(at, () => readFileSync(at, "utf8"));
    if (now === text) {
      guard(at, () => chmodSync(at, mode));
      r.lines.push(`unchanged ${path}`);
      return false;
    }
    if (!now.includes(MARK)) throw new InstallError(`${path} exists and was not written by vigil install; move it away first`);
  }
  ensureDir(l, dirname(path), 0o755, r, false);
  guard(at, () => {
    writeFileSync(`${at}.partial`, text, { mode });
    chmodSync(`${at}.partial`, mode);
    renameSync(`${at}.partial`, at);
  });
  r.lines.push(`wrote ${path}`);
  return true;
}

function remove(l: Layout, path: string, r: Report): void {
  const at = l.at(path);
  guard(at, () => unlinkSync(at));
  r.lines.push(`removed ${path}`);
}

function purgeDir(l: Layout, path: string, r: Report): void {
  // A mistyped --state-dir must not take /var or /etc with it.
  if (!basename(path).includes("vigil")) throw new InstallError(`refusing to purge ${path}: its name does not contain "vigil"`);
  const at = l.at(path);
  if (!existsSync(at)) return;
  guard(at, () => rmSync(at, { recursive: true }));
  r.lines.push(`purged ${path}`);
}

function isOurs(path: string): boolean {
  try {
    return readFileSync(path, "utf8").includes(MARK);
  } catch {
    return false;
  }
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

function sameBytes(a: string, b: string): boolean {
  try {
    if (statSync(a).size !== statSync(b).size) return false;
    return readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}

function systemctlArgs(o: InstallOptions): string[] {
  const at = findOnPath("systemctl");
  if (at === undefined) {
    throw new InstallError(o.root === "/" ? "systemctl not found, although systemd runs this system" : "systemctl not found (needed to enable the unit under --root)");
  }
  return [at];
}

const rootFlag = (o: InstallOptions): string[] => (o.root === "/" ? [] : [`--root=${o.root}`]);

function enableSysv(o: InstallOptions, l: Layout, r: Report): void {
  if (o.root !== "/") {
    r.next.push(`enable the init script in the image (update-rc.d ${l.service} defaults, or chkconfig --add ${l.service})`);
    return;
  }
  const updateRcD = findOnPath("update-rc.d");
  const chkconfig = findOnPath("chkconfig");
  if (updateRcD) tool([updateRcD], [l.service, "defaults"], r);
  else if (chkconfig) tool([chkconfig], ["--add", l.service], r);
  else r.next.push(`no update-rc.d or chkconfig here: start ${l.initScript} at boot the way this system does (rc.local, inittab)`);
}

function disableSysv(o: InstallOptions, l: Layout, r: Report): void {
  if (o.root !== "/") return;
  const updateRcD = findOnPath("update-rc.d");
  const chkconfig = findOnPath("chkconfig");
  if (updateRcD) tool([updateRcD], ["-f", l.service, "remove"], r);
  else if (chkconfig) tool([chkconfig], ["--del", l.service], r);
}

/** Runs a tool; `name` is how the report shows it (default: the command's name, as found on PATH). */
function tool(cmd: string[], args: string[], r: Report, name?: string): void {
  const [exe, ...pre] = cmd as [string, ...string[]];
  const p = spawnSync(exe, [...pre, ...args], { encoding: "utf8", timeout: 16 * 60_000 });
  const shown = `${name ?? basename(exe)} ${[...pre, ...args].join(" ")}`;
  if (p.error) throw new InstallError(`${shown}: ${p.error.message}`);
  if (p.status !== 0) {
    const why = (p.stderr || p.stdout || "").trim().split("\n").slice(-3).join("; ");
    throw new InstallError(`${shown} failed (exit ${p.status ?? p.signal})${why ? `: ${why}` : ""}`);
  }
  r.lines.push(`ran ${shown}`);
}

/** Runs a file operation; an OS error becomes an InstallError that names the path and what to do. */
function guard<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why: Record<string, string> = {
      EROFS: "read-only file system (remount it read-write, or choose another place with --prefix/--state-dir)",
      EACCES: "permission denied (vigil install needs root)",
      EPERM: "operation not permitted (vigil install needs root; an immutable file?)",
      ENOSPC: "no space left on the device",
      ENOTDIR: "a part of the path is not a folder",
      ETXTBSY: "the file is busy",
    };
    if (code !== undefined && why[code] !== undefined) throw new InstallError(`${path}: ${why[code]}`);
    throw new InstallError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export type { InitSystem, InstallOptions };

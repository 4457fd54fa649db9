import { isAbsolute, resolve } from "node:path";
import { DEFAULT_STATE_DIR, DEFAULT_WITNESS_STATE_DIR } from "../api/state-dirs.ts";
import { defaultOptions, type InstallOptions } from "../sys/install/layout.ts";
import { type DocFile, install, InstallError, type Report, uninstall } from "../sys/install/install.ts";
import { MARK } from "../sys/install/texts.ts";
import { bashCompletion } from "./completion.ts";
import { manPage } from "./man-page.ts";
import { VERBS } from "./verbs.ts";
import { buildInfo, VERSION } from "../version.ts";
import { type Io, UsageError } from "./io.ts";
import { EXIT } from "./verbs.ts";

type Values = Record<string, string | boolean | undefined>;

export function cmdInstall(v: Values, io: Io): number {
  const o = options(v);
  if (!rootOk(o, io, "install")) return EXIT.failed;
  if (buildInfo() === undefined) {
    io.err("vigil install copies the running binary, but this vigil runs from source; run the compiled one (dist/vigil install)");
    return EXIT.failed;
  }
  return report((r) => install(o, process.execPath, r, docFiles()), io);
}

export function cmdUninstall(v: Values, io: Io): number {
  const o = options(v);
  if (!rootOk(o, io, "uninstall")) return EXIT.failed;
  return report((r) => uninstall(o, v["purge"] === true, r, docFiles()), io);
}

/** The manual page where man looks, and the completion where bash-completion loads it, if the system has them. */
function docFiles(): DocFile[] {
  return [
    { path: "/usr/local/share/man/man8/vigil.8", when: "/usr/local/share/man", text: `.\\" ${MARK}; \`vigil uninstall\` removes it.\n${manPage(VERBS, VERSION)}` },
    { path: "/etc/bash_completion.d/vigil", when: "/etc/bash_completion.d", text: `# ${MARK}; \`vigil uninstall\` removes it.\n${bashCompletion(VERBS)}` },
  ];
}

function options(v: Values): InstallOptions {
  const role = v["witness"] === true ? "witness" : "node";
  const o = defaultOptions(role, role === "witness" ? DEFAULT_WITNESS_STATE_DIR : DEFAULT_STATE_DIR);
  const path = (flag: string): string | undefined => {
    const p = v[flag];
    if (typeof p !== "string") return undefined;
    if (p === "") throw new UsageError(`--${flag} needs a folder`);
    return resolve(p);
  };
  const init = v["init"];
  if (init !== undefined && init !== "systemd" && init !== "sysv") throw new UsageError(`--init must be systemd or sysv, not "${String(init)}"`);
  for (const flag of ["prefix", "state-dir"]) {
    const p = v[flag];
    // These are paths on the installed system, written into the unit: relative ones would mean nothing there.
    if (typeof p === "string" && !isAbsolute(p)) throw new UsageError(`--${flag} must be an absolute path, not "${p}"`);
  }
  return {
    role,
    root: path("root") ?? o.root,
    prefix: path("prefix") ?? o.prefix,
    stateDir: path("state-dir") ?? o.stateDir,
    init: init,
  };
}

/** Writing the running system needs root; an image under --root needs only write access to it. */
function rootOk(o: InstallOptions, io: Io, verb: string): boolean {
  if (o.root !== "/" || process.getuid?.() === 0) return true;
  io.err(`vigil ${verb} must run as root: it changes ${o.prefix}, /etc and ${o.stateDir} (try sudo vigil ${verb})`);
  return false;
}

function report(f: (r: Report) => void, io: Io): number {
  const r: Report = { lines: [], next: [] };
  try {
    f(r);
  } catch (e) {
    if (e instanceof InstallError) {
      for (const line of r.lines) io.out(line);
      io.err(`vigil: ${e.message}`);
      return EXIT.failed;
    }
    throw e;
  }
  for (const line of r.lines) io.out(line);
  if (r.next.length > 0) {
    io.out("next:");
    for (const n of r.next) io.out(`  ${n}`);
  }
  return EXIT.ok;
}

/** The real host behind HostFacts (host-checks.ts): /sys/class/net, the interfaces' addresses, stat(2). */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { type FileFacts, type HostFacts, type HostProblem, hostProblems, type InterfaceAddress } from "./host-checks.ts";
import { readYaml } from "./yaml-source.ts";
import { readShebang } from "../sys/shebang.ts";

/**
 * The host checks of a config file that loaded without errors (loadConfigFile),
 * read again for the positions of its keys.
 */
export function hostProblemsOfFile(file: string, facts: HostFacts = localHostFacts()): HostProblem[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const source = readYaml(text, file);
  if (source.problems.length > 0) return [];
  return hostProblems(source.data, source, file, facts);
}

export function localHostFacts(): HostFacts {
  const table = networkInterfaces();
  return {
    interfaceNames() {
      // sysfs lists interfaces without addresses too; the addressed ones are added in case
      // /sys belongs to another network namespace than this process (nsenter without a remount).
      let listed: string[] = [];
      try {
        listed = readdirSync("/sys/class/net");
      } catch {
        // No sysfs (a container without it): the addressed interfaces are all we can know.
      }
      return [...new Set([...listed, ...Object.keys(table)])].sort();
    },
    addressesOf(iface: string): InterfaceAddress[] {
      return (table[iface] ?? [])
        .filter((a) => a.family === "IPv4")
        .map((a) => ({ address: a.address, prefixLength: Number((a.cidr ?? "/32").split("/")[1] ?? 32) }));
    },
    promoteSecondaries(iface: string): boolean | undefined {
      try {
        return readFileSync(`/proc/sys/net/ipv4/conf/${iface}/promote_secondaries`, "utf8").trim() !== "0";
      } catch {
        return undefined;
      }
    },
    file(path: string): FileFacts {
      try {
        const st = statSync(path);
        if (st.isFile()) return (st.mode & 0o111) !== 0 && readShebang(path)?.crlf === true ? { kind: "file", mode: st.mode, crlfShebang: true } : { kind: "file", mode: st.mode };
        if (st.isDirectory()) return { kind: "folder" };
        return { kind: "other", what: "not a regular file" };
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (code === "ENOENT") return { kind: "missing" };
        if (code === "ENOTDIR") return { kind: "other", what: "a path through something that is not a folder" };
        return { kind: "hidden", why: String(code ?? e) };
      }
    },
  };
}

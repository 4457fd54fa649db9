/** Host tools the lab and its tests rely on, and the Debian package that ships each. */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  ip: "iproute2",
  tc: "iproute2",
  bridge: "iproute2",
  nft: "nftables",
  ping: "iputils-ping",
  arping: "arping",
  tcpdump: "tcpdump",
  keepalived: "keepalived",
  python3: "python3",
  chromium: "chromium",
  unshare: "util-linux",
  setpriv: "util-linux",
  mount: "mount",
};

/** The tools every lab needs before it can build anything. */
export const LAB_BASE_TOOLS: readonly string[] = ["ip", "tc", "ping"];

// sbin directories are searched too: a non-root PATH often lacks them.
const EXTRA_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

export function findTool(tool: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export function missingToolMessage(tool: string): string {
  const pkg = TOOL_PACKAGES[tool];
  return pkg
    ? `missing host tool "${tool}": install the Debian package ${pkg} (apt-get install ${pkg})`
    : `missing host tool "${tool}": install the Debian package that provides it`;
}

/** A line per missing tool, or "" when all are present. */
export function missingToolsMessage(tools: readonly string[]): string {
  return tools
    .filter((t) => findTool(t) === null)
    .map(missingToolMessage)
    .join("\n");
}

export class MissingToolError extends Error {
  override name = "MissingToolError";
}

export function requireTools(...tools: string[]): void {
  const msg = missingToolsMessage(tools);
  if (msg) throw new MissingToolError(msg);
}

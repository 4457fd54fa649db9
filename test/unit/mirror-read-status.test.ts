/**
 * `read:` in status: what the mirror driver reports (the status JSON of the
 * control socket and the console) and what `vigil status` prints of it. The
 * mode shown is the one the mount serves on this kernel: `direct` falls back
 * to the page cache on a kernel without FUSE_DIRECT_IO_ALLOW_MMAP, which no
 * lab kernel here lacks, so the mount's report is stood in for (the FUSE
 * server's own part is in fuse-server.test.ts; lab mirror-read-direct shows
 * a real mount's).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { MirrorStatus, ModuleStatus } from "../../src/api/modules.ts";
import { formatModules } from "../../src/cli/module-table.ts";
import { Logger } from "../../src/daemon/log.ts";
import { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import { combineStatus } from "../../src/daemon/mirror/mirror-set.ts";
import { tmpDir } from "./resync-fixture.ts";

const drivers: MirrorDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

function driver(read: "cache" | "direct" | undefined): MirrorDriver {
  const root = tmpDir("read-status");
  const folder = join(root, "data");
  const stateDir = join(root, "state");
  mkdirSync(folder);
  mkdirSync(stateDir, { mode: 0o700 });
  const d = new MirrorDriver({
    module: "vms", self: "h1", peer: "h2", folder, cluster: "c", key: new Uint8Array(32).fill(3),
    listen: [{ address: "127.0.0.1", port: 1 }], peerAddresses: ["127.0.0.2"], port: 1,
    linkTimers: { pingIntervalMs: 100, deadtimeMs: 5_000 }, detachGraceMs: 10_000,
    stateDir, boot: "boot-1", log: new Logger("json", () => {}), ...(read === undefined ? {} : { read }),
  });
  drivers.push(d);
  return d;
}

/** The mount this node's driver would hold while it runs the module, as far as status asks it. */
function mounted(d: MirrorDriver, served: "cache" | "direct" | null): void {
  (d as unknown as { mount: { reads(): "cache" | "direct" | null; unmount(): Promise<void> } | null }).mount = { reads: () => served, unmount: async () => {} };
}

function unmounted(d: MirrorDriver): void {
  (d as unknown as { mount: null }).mount = null;
}

/** `vigil status` for module vms with this mirror status. */
function statusText(mirror: MirrorStatus): string {
  const m = { name: "vms", type: "mirror", state: "PRIM", prefer: "h1", failback: "manual", nodes: [], lastTransition: null, checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null, mirror };
  return formatModules([m as ModuleStatus]).join("\n");
}

describe("read: in status", () => {
  it("shows the configured mode until the folder is mounted here, then the mode the mount serves", () => {
    const d = driver("direct");
    expect(d.status().read).toEqual({ configured: "direct", served: null, fallback: null });
    expect(statusText(d.status())).toMatch(/; writes standby; reads direct \(configured: not mounted on this node yet\)$/m);
    mounted(d, null);
    // Mounted, the kernel's INIT not answered yet: nothing more is known.
    expect(d.status().read?.served).toBeNull();
    mounted(d, "direct");
    expect(d.status().read).toEqual({ configured: "direct", served: "direct", fallback: null });
    expect(statusText(d.status())).toMatch(/; reads direct$/m);
  });

  it("says when direct fell back to the page cache on this kernel, and why, also once unmounted", () => {
    const d = driver("direct");
    mounted(d, "cache");
    const read = d.status().read;
    expect(read).toEqual({ configured: "direct", served: "cache", fallback: expect.stringContaining("FUSE_DIRECT_IO_ALLOW_MMAP") });
    expect(statusText(d.status())).toMatch(/; reads cache, NOT direct \(this kernel cannot map direct-I\/O files shared \(FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6\.6\)\)$/m);
    // The kernel stays what it is: a SECOND again, the node still says what its last mount found.
    unmounted(d);
    expect(d.status().read).toEqual(read);
  });

  it("shows the default, cache, when the module does not set read:", () => {
    const d = driver(undefined);
    expect(d.status().read).toEqual({ configured: "cache", served: null, fallback: null });
    mounted(d, "cache");
    expect(statusText(d.status())).toMatch(/; reads cache$/m);
  });

  it("a module of several folders shows the folder whose mount fell back", () => {
    const a = driver("direct");
    const b = driver("direct");
    mounted(a, "direct");
    mounted(b, "cache");
    expect(combineStatus([a.status(), b.status()]).read).toMatchObject({ served: "cache", fallback: expect.any(String) });
    expect(combineStatus([a.status(), a.status()]).read).toEqual({ configured: "direct", served: "direct", fallback: null });
  });
});

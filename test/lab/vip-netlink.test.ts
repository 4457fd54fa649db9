/**
 * VIPs through rtnetlink on the real kernel: what the daemon adds and
 * removes without spawning `ip` is what `ip -j addr` shows, repeats are
 * harmless, and the kernel's refusals become the same clear errors as
 * before (the VIP, the interface, and why).
 *
 * Netlink goes through bun:ffi, so the operations run in a Bun process in
 * the lab namespace (fixtures/netlink-vip-agent.ts); the test reads back
 * with `ip`, a separate witness of the kernel's state.
 */
import { join } from "node:path";
import { expect } from "vitest";
import { createIpRunner } from "../../src/sys/ip-command.ts";
import { listAddresses } from "../../src/sys/vip.ts";
import { type LabHost, REPO_ROOT } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const AGENT = join(REPO_ROOT, "test", "lab", "fixtures", "netlink-vip-agent.ts");

interface Outcome {
  op: string;
  result: { ok: boolean; alreadyGone?: boolean; kind?: string; message?: string };
}

async function run(h: LabHost, ops: readonly string[], prefix: readonly string[] = []): Promise<Outcome[]> {
  const r = await h.exec([...prefix, BUN, AGENT, ...ops], { check: true, cwd: REPO_ROOT });
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines[0]).toEqual({ netlink: true });
  return lines.slice(1) as unknown as Outcome[];
}

describeLab("VIPs through netlink", () => {
  const lab = useLab({ hosts: 1 });

  const entries = async (h: LabHost, address: string) => {
    const l = await listAddresses(h.ifname(), createIpRunner({ netns: h.ns }));
    if (!l.ok) throw new Error(l.message);
    return l.addresses.filter((a) => a.address === address);
  };

  labTest("added with the given prefix and label, kept on a repeat, removed whatever its prefix, and a second removal is 'already gone'", async () => {
    const h = lab().host(1);
    const dev = h.ifname();
    const [add, again] = await run(h, [`add:198.51.100.80:${dev}:vip`, `add:198.51.100.80:${dev}:vip`]);
    expect(add?.result.ok).toBe(true);
    expect(again?.result.ok).toBe(true);
    expect(await entries(h, "198.51.100.80")).toEqual([{ address: "198.51.100.80", prefixLength: 32, label: `${dev}:vip` }]);
    // The prefix the config gives is the prefix the kernel holds.
    const [wide] = await run(h, [`add:198.51.100.84/24:${dev}`]);
    expect(wide?.result.ok).toBe(true);
    expect(await entries(h, "198.51.100.84")).toEqual([{ address: "198.51.100.84", prefixLength: 24, label: dev }]);
    const [wideGone] = await run(h, [`del:198.51.100.84/24:${dev}`]);
    expect(wideGone?.result).toMatchObject({ ok: true, alreadyGone: false });
    expect(await entries(h, "198.51.100.84")).toEqual([]);
    // The host's own address is untouched.
    const own = await listAddresses(dev, createIpRunner({ netns: h.ns }));
    expect(own.ok && own.addresses.some((a) => a.address === h.addr() && a.prefixLength === 24)).toBe(true);

    // An address someone left with another prefix is still ours to remove.
    await h.exec(["ip", "addr", "add", "198.51.100.81/24", "dev", dev], { check: true });
    const [gone, gone2, left] = await run(h, [`del:198.51.100.80:${dev}`, `del:198.51.100.80:${dev}`, `del:198.51.100.81:${dev}`]);
    expect(gone?.result).toMatchObject({ ok: true, alreadyGone: false });
    expect(gone2?.result).toMatchObject({ ok: true, alreadyGone: true });
    expect(left?.result).toMatchObject({ ok: true, alreadyGone: false });
    expect(await entries(h, "198.51.100.80")).toEqual([]);
    expect(await entries(h, "198.51.100.81")).toEqual([]);
  });

  labTest("a missing interface and a refused request name the VIP, the interface and the errno", async () => {
    const h = lab().host(1);
    const [add, del] = await run(h, ["add:198.51.100.82:eth9", "del:198.51.100.82:eth9"]);
    expect(add?.result).toMatchObject({ ok: false, kind: "add-failed", message: "cannot add VIP 198.51.100.82 on eth9: interface eth9 does not exist (ENODEV)" });
    expect(del?.result).toMatchObject({ ok: false, kind: "remove-failed", message: "cannot remove VIP 198.51.100.82 from eth9: interface eth9 does not exist (ENODEV)" });
    // Without CAP_NET_ADMIN the kernel refuses: the message says so.
    const noAdmin = ["setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin"];
    const [denied] = await run(h, [`add:198.51.100.83:${h.ifname()}`], noAdmin);
    expect(denied?.result).toMatchObject({ ok: false, kind: "add-failed" });
    expect(denied?.result.message).toMatch(/^cannot add VIP 198\.51\.100\.83 on eth0: EPERM \(Operation not permitted\)$/);
    expect(await entries(h, "198.51.100.83")).toEqual([]);
  });
}, { tools: ["setpriv"] });

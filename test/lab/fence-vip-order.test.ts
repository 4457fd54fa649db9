/**
 * The fencing watchdog hears of a VIP before the address is up (fence/guard.ts:
 * "vip+ ... sent BEFORE ip addr add"), so a daemon killed right after the add
 * (the OOM killer, kill -9) still has it removed. Under Bun a write to a
 * child's stdin leaves only when the event loop turns, and the add goes
 * through netlink in the same turn: the line once reached the watchdog 278 ms
 * after the address was up, a window in which a SIGKILL left the VIP behind.
 *
 * The daemon runs under strace (fence-trace.ts), which records its sendto and
 * write calls in the order they happen (the watchdog's stdin is a pipe the
 * daemon writes, or a socket on older builds): the line to the watchdog must
 * come before the netlink RTM_NEWADDR that adds the VIP.
 */
import { expect } from "vitest";
import { labTestTraced, runTraced, script, toldWatchdog, traceDir, writeTracedConfig } from "./fence-trace.ts";
import { createTestLab } from "./lab-test.ts";
import { waitUntil } from "./wait.ts";

const VIP = "198.51.100.150";

labTestTraced("the watchdog's pipe has a VIP's line before netlink adds the address", async () => {
  const lab = await createTestLab({ hosts: 1 });
  const h1 = lab.hosts[0]!;
  const dir = traceDir("vigil-fence-order-");
  const ok = script(dir, "ok.sh", "exit 0");
  const config = await writeTracedConfig(h1, dir, [`vip: ${VIP}/24`, `{ start: ${ok}, stop: ${ok} }`]);
  const holdsVip = async (): Promise<boolean> => (await h1.exec(["ip", "-4", "addr", "show", "dev", h1.ifname()])).stdout.includes(`${VIP}/24`);
  const trace = await runTraced(h1, dir, config, {
    syscalls: "sendto,write", strsize: 120,
    done: () => waitUntil(holdsVip, { timeoutMs: 60_000, intervalMs: 100, what: `h1 to add ${VIP}` }),
  });

  const add = trace.findIndex((l) => /sendto\(\d+<NETLINK:[^>]*>, \[\{nlmsg_len=\d+, nlmsg_type=(0x14|RTM_NEWADDR)\b/.test(l));
  expect(add, "the netlink request that adds the VIP").toBeGreaterThanOrEqual(0);
  const told = toldWatchdog(trace, add);
  expect(told.some((l) => l.startsWith(`vip+\\t${VIP}/24\\t`)), `the vip+ line sent to the watchdog before the netlink add (trace line ${add + 1}); it heard: ${told.join(" | ")}`).toBe(true);
}, 120_000);

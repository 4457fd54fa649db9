/**
 * The fencing watchdog hears of a VIP before the address is up (fence/guard.ts:
 * "vip+ ... sent BEFORE ip addr add"), so a daemon killed right after the add
 * (the OOM killer, kill -9) still has it removed. Under Bun a write to a
 * child's stdin leaves only when the event loop turns, and the add goes
 * through netlink in the same turn: the line once reached the watchdog 278 ms
 * after the address was up, a window in which a SIGKILL left the VIP behind.
 *
 * The daemon runs under strace, which records its sendto and write calls in
 * the order they happen (the watchdog's stdin is a pipe the daemon writes, or
 * a socket on older builds): the line to the watchdog must come before the netlink
 * RTM_NEWADDR that adds the VIP. An order, not a time: the verdict is the
 * same on a loaded host.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { createTestLab, labTestNeeding } from "./lab-test.ts";
import { requireVigilBinary, VIGIL_BIN, vigilKeygen } from "./vigil-cluster.ts";
import { waitUntil } from "./wait.ts";

const VIP = "198.51.100.150";
const labTest = labTestNeeding("strace");

labTest("the watchdog's pipe has a VIP's line before netlink adds the address", async () => {
  requireVigilBinary();
  const lab = await createTestLab({ hosts: 1 });
  const h1 = lab.hosts[0]!;
  const dir = mkdtempSync(join(tmpdir(), "vigil-fence-order-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const ok = join(dir, "ok.sh");
  writeFileSync(ok, "#!/bin/sh\nexit 0\n");
  chmodSync(ok, 0o755);
  await vigilKeygen(join(dir, "vigil.key"));
  writeFileSync(join(dir, "vigil.yaml"), [
    "cluster:",
    "  name: lab",
    "  key_file: vigil.key",
    "  heartbeat: { initdead: 500ms }",
    "  nodes:",
    `    - { name: h1, addresses: [${h1.addr()}] }`,
    "    - { name: h2, addresses: [198.51.100.99] }",
    'web: { listen: "127.0.0.1:0" }',
    "modules:",
    "  - name: svc",
    "    type: failover",
    "    resources:",
    `      - vip: ${VIP}/24`,
    `      - { start: ${ok}, stop: ${ok} }`,
    "",
  ].join("\n"));
  const trace = join(dir, "trace");
  const proc = h1.spawn(["strace", "-f", "-yy", "-s", "120", "-e", "trace=sendto,write", "-o", trace,
    VIGIL_BIN, "run", "--config", join(dir, "vigil.yaml"), "--state-dir", join(dir, "state"), "--node", "h1"], { logName: "vigil-h1" });
  const holdsVip = async (): Promise<boolean> => (await h1.exec(["ip", "-4", "addr", "show", "dev", h1.ifname()])).stdout.includes(`${VIP}/24`);
  await waitUntil(holdsVip, { timeoutMs: 60_000, intervalMs: 100, what: `h1 to add ${VIP}` });
  await proc.waitFor(/vigil started/, 60_000);

  const sends = readFileSync(trace, "utf8").split("\n");
  const line = sends.findIndex((l) => /(?:sendto|write)\(\d+<(?:UNIX-STREAM|pipe):\[[^\]]*\]>, ".*vip\+\\t198\.51\.100\.150\/24\\t/.test(l));
  const add = sends.findIndex((l) => /sendto\(\d+<NETLINK:[^>]*>, \[\{nlmsg_len=\d+, nlmsg_type=(0x14|RTM_NEWADDR)\b/.test(l));
  expect(line, "the vip+ line sent to the watchdog").toBeGreaterThanOrEqual(0);
  expect(add, "the netlink request that adds the VIP").toBeGreaterThanOrEqual(0);
  expect(line, `the vip+ line (trace line ${line + 1}) before the netlink add (trace line ${add + 1}) in ${trace}`).toBeLessThan(add);
}, 120_000);

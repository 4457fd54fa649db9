/**
 * A VRRP MASTER under a flood of lower-priority adverts from another host on
 * the segment (a raw sender, no vigil): it answers each source at most once
 * per advert interval instead of once per packet.
 *
 * Lab: h1 runs vigil (priority 200, advert_int 1 s, alone, so MASTER); h2
 * sends 1000 VRRPv3 adverts for the same VRID at priority 100 in about 1.5 s
 * through a raw IP socket (python3). Figures: adverts and GARP bursts h1 sent
 * during the flood and the next second, adverts it discarded as answered.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { encodeAdvert, VRRP_MULTICAST_V4 } from "../../src/proto/vrrp.ts";
import { waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { makeKey, startVigil, stopVigil, VIP, vigilMetrics, vigilYaml, VRID, vrrpStatus } from "./vrrp-lab.ts";

/** Sends the advert in the hex file N times, every GAP seconds, to 224.0.0.18 with TTL 255. */
const SENDER = `
import socket, sys, time
payload = bytes.fromhex(open(sys.argv[1]).read().strip())
src, n, gap = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
for _ in range(n):
    s.sendto(payload, ("${VRRP_MULTICAST_V4}", 0))
    time.sleep(gap)
`;

function metric(text: string, name: string, labels: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

describeLab(
  "a VRRP master under a flood of lower adverts",
  () => {
    const lab = useLab({ hosts: 2 });
    let dir = "";
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "vigil-vrrp-flood-"));
    });
    afterAll(() => {
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    });

    labTest("answers each source at most once per advert interval", async () => {
      const [h1, h2] = [lab().host(1), lab().host(2)];
      const key = await makeKey(dir);
      const node = await startVigil(h1, dir, vigilYaml([h1, h2], { priority: { [h1.name]: 200, [h2.name]: 100 }, advertInt: "1s" }, key));
      try {
        await waitUntil(async () => (await vrrpStatus(node)).role === "master", { timeoutMs: 15_000, what: "h1 MASTER" });
        const advert = encodeAdvert({ version: 3, vrid: VRID, priority: 100, advertIntCs: 100, addresses: [VIP] }, { src: h2.addr(), dst: VRRP_MULTICAST_V4 });
        writeFileSync(join(dir, "advert.hex"), Buffer.from(advert).toString("hex"));
        writeFileSync(join(dir, "sender.py"), SENDER);
        const before = await vigilMetrics(node);
        const started = Date.now();
        await h2.exec(["python3", join(dir, "sender.py"), join(dir, "advert.hex"), h2.addr(), "1000", "0.0015"], { check: true, timeoutMs: 30_000 });
        const floodMs = Date.now() - started;
        await new Promise((r) => setTimeout(r, 1000));
        const after = await vigilMetrics(node);
        const delta = (name: string, labels = 'instance="VI_1"') => metric(after, name, labels) - metric(before, name, labels);
        const sent = delta("vigil_vrrp_adverts_sent_total");
        const garps = delta("vigil_vrrp_garp_bursts_total");
        const received = delta("vigil_vrrp_adverts_received_total");
        const answered = delta("vigil_vrrp_adverts_discarded_total", 'reason="answered-recently"');
        console.log(`vrrp flood: ${received} adverts received in ${floodMs} ms; h1 sent ${sent} adverts and ${garps} GARP bursts; ${answered} discarded as answered`);
        expect(received).toBeGreaterThan(900);
        // Regular adverts (one a second) plus at most one answer a second to h2.
        const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
        expect(sent).toBeLessThanOrEqual(2 * seconds);
        expect(garps).toBeLessThanOrEqual(seconds);
        expect(answered).toBeGreaterThan(received - 2 * seconds);
        expect((await vrrpStatus(node)).role).toBe("master");
      } finally {
        await stopVigil(node);
      }
    });
  },
  { tools: ["python3", "curl"] },
);

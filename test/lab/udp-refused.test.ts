/**
 * A peer whose daemon died while its host stays up answers our frames with
 * ICMP port-unreachable. Under Bun that error surfaces on the NEXT send from
 * the socket, whatever its destination, and that datagram is not sent; the
 * heartbeat transport must still deliver every frame to the live peers, or
 * with three nodes the survivors would declare each other dead. Runs the
 * real transport under Bun (the runtime of the vigil binary) in a lab host.
 */
import { join } from "node:path";
import { expect } from "vitest";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { REPO_ROOT } from "./lab.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const AGENT = join(REPO_ROOT, "test", "lab", "fixtures", "udp-refused-agent.ts");

describeLab("heartbeat transport beside a dead peer's closed port", () => {
  const lab = useLab({ hosts: 2, links: 2 });

  labTest("every frame reaches the live peer although the dead one answers port-unreachable", async () => {
    const [h1, h2] = [lab().host(1), lab().host(2)];
    // Link 1 from h1 to h2's closed port; the live listener is h1's own link-2 address.
    const r = await h1.exec([BUN, AGENT, h1.addr(1), h2.addr(1), h1.addr(2)], { check: true, timeoutMs: 30_000 });
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { got?: number; errors?: number };
    expect(out.got).toBe(20);
  });
});

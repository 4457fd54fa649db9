/**
 * The console of a real daemon on loopback under a slow-body attack: 300
 * connections from 30 addresses, each announcing a 1 MiB body, sending 64 KiB
 * at once and then trickling, at a command route without a token and at a
 * read-only route. Nothing of those bodies may be kept: the daemon's RSS stays
 * within a generous bound, every connection ends with an answer, and the
 * console still answers afterwards.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { rssMiB, slowBodyAttack } from "./slow-body-attack.ts";
import { daemonsReapedAfterEach, soloNode } from "./solo-node.ts";
import { startDaemon } from "./vigil-binary.ts";

const running = daemonsReapedAfterEach();

async function setup() {
  // Plain HTTP, so the attack speaks it on a raw socket.
  return soloNode("vigil-attack-", { heartbeatPort: 7695, initdead: "1m", extra: ["console: { tls: false }"] });
}

describe("console under a slow-body attack", () => {
  it("keeps no body, answers every connection, and keeps serving", async () => {
    const { config, state } = await setup();
    const d = startDaemon(["run", "--config", config, "--state-dir", state, "--node", "solo"]);
    running.push(d);
    const [, where] = await d.waitForLog(/vigil started .*console=http:\/\/([\d.:]+)\//);
    const port = Number((where ?? "").split(":")[1]);
    const pid = d.proc.pid ?? 0;
    const before = rssMiB(pid, (p) => readFileSync(p, "utf8"));

    const attack = (head: string) =>
      slowBodyAttack({
        port, connections: 150, clients: 30, head,
        bodyBytes: 1 << 20, burstBytes: 64 * 1024, trickleBytes: 1024, trickleMs: 20, giveUpMs: 30_000,
      });
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid, (p) => readFileSync(p, "utf8")))), 50);
    const [command, read] = await Promise.all([
      attack("POST /api/modules/app/stop HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json"),
      attack("POST /api/status HTTP/1.1\r\nhost: 127.0.0.1"),
    ]);
    clearInterval(sampler);

    // Without a login both routes answer 401 before the body; over a bound, 503.
    expect(command.keptOpen + read.keptOpen).toBe(0);
    const answered = (o: typeof command, code: string) => (o.statuses[code] ?? 0) + (o.statuses["503"] ?? 0) + (o.statuses["none"] ?? 0);
    expect(answered(command, "401")).toBe(150);
    expect(answered(read, "401")).toBe(150);
    expect(command.statuses["401"]).toBeGreaterThan(0);
    // The old server buffered every body: 300 x 1 MiB. A generous bound, far below that.
    expect(peak - before).toBeLessThan(100);
    const health = await fetch(`http://${where}/healthz`);
    expect(await health.text()).toBe("ok");
    console.log(`console attack: rss ${before.toFixed(0)} -> peak ${peak.toFixed(0)} MiB; command ${JSON.stringify(command.statuses)}, read ${JSON.stringify(read.statuses)}`);
  });
});

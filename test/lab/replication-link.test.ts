/**
 * The replication link between two lab hosts over real links: the PRIM sees
 * the link down within the deadtime when the SECOND's cable is pulled or its
 * process is frozen, and falls back to the SECOND's second address.
 */
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, labTestNeeding, useLab } from "./lab-test.ts";
import { type LabHost, type LabProcess, REPO_ROOT, waitUntil } from "./lab.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const AGENT = join(REPO_ROOT, "test", "lab", "replication-agent.ts");
const DEADTIME = 1000;

interface AgentEvent {
  event: string;
  t: number;
  address?: string;
  reason?: string;
  delivered?: number;
}

function events(p: LabProcess): AgentEvent[] {
  return p
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as AgentEvent];
      } catch {
        return [];
      }
    });
}

async function next(p: LabProcess, from: number, pred: (e: AgentEvent) => boolean, what: string, timeoutMs = 15_000): Promise<AgentEvent> {
  return waitUntil(() => events(p).slice(from).find(pred), { timeoutMs, what: `${what}; log:\n${p.output().slice(-2000)}` });
}

function start(host: LabHost, role: "server" | "client", cfg: Record<string, unknown>): LabProcess {
  const p = host.spawn([BUN, AGENT, role, JSON.stringify({ deadtimeMs: DEADTIME, ...cfg })], { logName: `replication-${role}`, cwd: REPO_ROOT });
  onTestFinished(async () => {
    await p.stop();
  });
  return p;
}

describeLab("replication link between two hosts", () => {
  const lab = useLab({ hosts: 2, links: 2 });

  labTest("a pulled cable: the PRIM sees the link down within the deadtime, then reconnects over the second address", async () => {
    const [h1, h2] = [lab().host(1), lab().host(2)];
    const server = start(h2, "server", { listen: [h2.addr(1), h2.addr(2)] });
    await next(server, 0, (e) => e.event === "listening", "server listening");
    const client = start(h1, "client", { addresses: [h2.addr(1), h2.addr(2)] });
    const up = await next(client, 0, (e) => e.event === "up", "link up");
    expect(up.address).toBe(h2.addr(1));
    await next(client, 0, (e) => e.event === "sent", "ops flowing");
    const from = events(client).length;
    const t0 = Date.now();
    await lab().linkDown(h2, { link: 1 });
    try {
      const down = await next(client, from, (e) => e.event === "down", "link down");
      console.log(`cable pulled: PRIM saw the link down after ${down.t - t0} ms (deadtime ${DEADTIME} ms): ${down.reason}`);
      expect(down.reason).toMatch(/nothing heard from b/);
      const again = await next(client, from, (e) => e.event === "up", "link up again");
      expect(again.address).toBe(h2.addr(2));
      console.log(`reconnected over ${again.address} ${again.t - down.t} ms after the down`);
      const n = events(client).length;
      await next(client, n, (e) => e.event === "sent", "ops flowing again");
    } finally {
      await lab().linkUp(h2, { link: 1 });
    }
  });

  labTestNeeding("nft")("only the replication port blackholed (nft drop on the SECOND): down within the deadtime, back when lifted", async () => {
    const [h1, h2] = [lab().host(1), lab().host(2)];
    const server = start(h2, "server", { listen: [h2.addr(1)], port: 7698 });
    await next(server, 0, (e) => e.event === "listening", "server listening");
    const client = start(h1, "client", { addresses: [h2.addr(1)], port: 7698 });
    await next(client, 0, (e) => e.event === "sent", "ops flowing");
    const from = events(client).length;
    const table = "vigil_repl_test";
    const t0 = Date.now();
    await h2.exec(["nft", "-f", "-"], {
      check: true,
      input: `table inet ${table} {\n chain input { type filter hook input priority 0; tcp dport 7698 drop; }\n chain output { type filter hook output priority 0; tcp sport 7698 drop; }\n}\n`,
    });
    try {
      const down = await next(client, from, (e) => e.event === "down", "link down");
      console.log(`port 7698 dropped: PRIM saw the link down after ${down.t - t0} ms (deadtime ${DEADTIME} ms)`);
      expect(down.reason).toMatch(/nothing heard from b/);
      // The cable is fine: ping still answers while the port is dropped.
      await h1.exec(["ping", "-c", "1", "-W", "1", h2.addr(1)], { check: true });
    } finally {
      await h2.exec(["nft", "delete", "table", "inet", table]);
    }
    await next(client, from, (e) => e.event === "up", "link up after the drop is lifted");
  });

  labTest("a frozen SECOND (SIGSTOP): the PRIM sees the link down within the deadtime", async () => {
    const [h1, h2] = [lab().host(1), lab().host(2)];
    const server = start(h2, "server", { listen: [h2.addr(1)], port: 7697 });
    await next(server, 0, (e) => e.event === "listening", "server listening");
    const client = start(h1, "client", { addresses: [h2.addr(1)], port: 7697 });
    await next(client, 0, (e) => e.event === "sent", "ops flowing");
    const from = events(client).length;
    const t0 = Date.now();
    server.kill("SIGSTOP");
    try {
      const down = await next(client, from, (e) => e.event === "down", "link down");
      console.log(`SIGSTOP: PRIM saw the link down after ${down.t - t0} ms (deadtime ${DEADTIME} ms)`);
      expect(down.reason).toMatch(/nothing heard from b/);
    } finally {
      server.kill("SIGCONT");
    }
    await next(client, from, (e) => e.event === "up", "link up after SIGCONT");
  });
});

/**
 * The root demo (scripts/demo-cluster.ts), driven through its panel's HTTP API
 * as a newcomer's clicks would: h1 serves the VIP; killing h1 moves it to h2;
 * h1 comes back as standby; pulling h2's cables moves it back to h1 (h2, cut
 * off from the witness, waits); plugged in, h2 stands by again. The consoles
 * answer on their localhost ports, also after a restart. Root only (network
 * namespaces); skipped otherwise, failed under CI.
 */
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoCluster, type DemoState, startDemoCluster } from "../../scripts/demo-cluster.ts";
import { requireBinary } from "./vigil-binary.ts";

const isRoot = process.getuid?.() === 0;
const ci = /^(true|1|yes)$/i.test(process.env.CI ?? "");

describe.runIf(isRoot || ci)("npm run demo as root: two nodes, a client and a panel", () => {
  let demo: DemoCluster | undefined;

  beforeAll(async () => {
    if (!isRoot) throw new Error("the cluster demo needs root (network namespaces); CI must run as root");
    requireBinary();
    demo = await startDemoCluster({ panelPort: 0, consolePorts: [0, 0] });
  }, 120_000);
  afterAll(async () => {
    await demo?.stop();
  }, 60_000);

  const state = async (): Promise<DemoState> => (await fetch(`${demo!.panelUrl}api/state`)).json() as Promise<DemoState>;
  const roles = (s: DemoState) => Object.fromEntries(s.nodes.map((n) => [n.name, n.role]));
  /** Polls the panel until `ok` holds; gives up after a generous bound (a hang, not a speed check). */
  async function until(what: string, ok: (s: DemoState) => boolean): Promise<DemoState> {
    let last: DemoState | undefined;
    for (let i = 0; i < 300; i++) {
      last = await state();
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the panel never showed ${what}; last: ${JSON.stringify(last)}`);
  }
  const click = async (node: string, action: string) => {
    const r = await fetch(`${demo!.panelUrl}api/${node}/${action}`, { method: "POST" });
    expect(r.status).toBe(200);
    return ((await r.json()) as { message: string }).message;
  };
  /** The status a console answers with; its certificate is self-signed, and only the forwarding is under test. */
  const consoleAnswers = (url: string) =>
    new Promise<number>((resolve, reject) => {
      const get = url.startsWith("https:") ? httpsGet : httpGet;
      get(url, { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on("error", reject);
    });

  it("serves the panel page with a kill and a cable button per node", async () => {
    const page = await (await fetch(demo!.panelUrl)).text();
    expect(page).toContain("vigil demo: two nodes, one VIP");
    expect(page).toContain("kill daemon");
    expect(page).toContain("pull cables");
  });

  it("h1 serves the VIP, each console answers on its localhost port", async () => {
    const s = await until("h1 serving", (x) => x.servedBy === "h1" && roles(x)["h2"] === "SECOND");
    expect(roles(s)["h1"]).toBe("PRIM");
    for (const n of s.nodes) expect([200, 302, 303]).toContain(await consoleAnswers(n.console));
  });

  it("kill h1: h2 takes over; start h1: it stands by, its console answers again", async () => {
    expect(await click("h1", "kill")).toBe("killed vigil on h1 (SIGKILL)");
    await until("h2 serving alone", (x) => x.servedBy === "h2" && roles(x)["h2"] === "ALONE" && roles(x)["h1"] === "no daemon");
    expect(await click("h1", "start")).toBe("started vigil on h1");
    const s = await until("h1 back as standby", (x) => roles(x)["h1"] === "SECOND" && roles(x)["h2"] === "PRIM" && x.servedBy === "h2");
    expect([200, 302, 303]).toContain(await consoleAnswers(s.nodes[0]!.console));
  });

  it("pull h2's cables: h1 takes over, h2 waits; plug them back: h2 stands by", async () => {
    expect(await click("h2", "cable-out")).toBe("pulled both cables of h2 (the switch ports are down)");
    await until("h1 serving, h2 waiting", (x) => x.servedBy === "h1" && roles(x)["h1"] === "ALONE" && roles(x)["h2"] === "WAIT");
    expect(await click("h2", "cable-in")).toBe("plugged h2's cables back in");
    await until("h2 back as standby", (x) => x.servedBy === "h1" && roles(x)["h1"] === "PRIM" && roles(x)["h2"] === "SECOND");
  });
});

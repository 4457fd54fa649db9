/**
 * Scenario fixtures for the membership core, in the spirit of raft's
 * testdata: test/fixtures/membership/*.txt hold commands ("> ...") each
 * followed by exactly the output it must produce.
 *
 *   > config self=a peers=b,c links=2 interval=100 warntime=250 deadtime=500 initdead=2000 [sends=on]
 *   > tick <t>                      one tick at time t
 *   > until <t>                     ticks at every wake-up the core asks for, up to t (as the driver's timer)
 *   > frame <t> from=b seq=3 [link=0] [sentlink=<link>] [epoch=7] [cluster=c1] [sent=<peer ms>] [echo=a@<sentAt>+<held>]
 *                                   ticks due before t first, like "until", then the frame
 *   > heartbeats <t0> <t1> from=b[,c...] seq=<first> [links=0,1] [every=<ms>]
 *                                   each peer sends on each listed link every interval (seq +1 per link per round)
 *   > freeze <t>                    we did not run until t: ticks due meanwhile happen late, at t
 *   > view <t>                      peer states, links, counters
 *
 * Output lines: "event <seq> <node>[/<link>] <from>-><to> <reason>",
 * "stall gap=<ms> credited=<ms>", "send #<seq> link=<l> [echo <node>@<sentAt>+<held>]"
 * (sends only with sends=on), and the view lines. Times are ms after start.
 * UPDATE_FIXTURES=1 rewrites the expected output from the actual one.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  initMembership,
  nextWakeAt,
  stepMembership,
  viewMembership,
  type MembershipAction,
  type MembershipState,
} from "../../src/core/membership/membership.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "membership");
const T0 = 1_000_000;

function args(words: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new Error(`expected key=value, got "${w}"`);
    out.set(w.slice(0, eq), w.slice(eq + 1));
  }
  return out;
}

function num(m: Map<string, string>, key: string, fallback?: number): number {
  const raw = m.get(key);
  if (raw === undefined) {
    if (fallback === undefined) throw new Error(`missing ${key}=`);
    return fallback;
  }
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${key}=${raw} is not a number`);
  return n;
}

class Runner {
  state: MembershipState | undefined;
  showSends = false;
  now = T0;

  run(command: string): string[] {
    const [verb, ...rest] = command.trim().split(/\s+/);
    if (verb === "config") return this.config(args(rest));
    const state = this.state;
    if (state === undefined) throw new Error("the first command must be config");
    const t = T0 + Number(rest[0]);
    if (!Number.isFinite(t)) throw new Error(`"${verb}" needs a time, got "${rest[0]}"`);
    if (verb === "tick") return this.step({ type: "tick" }, t);
    if (verb === "until") return this.until(t);
    if (verb === "frame") return [...this.until(t), ...this.frame(args(rest.slice(1)), t)];
    if (verb === "heartbeats") return this.heartbeats(t, T0 + Number(rest[1]), args(rest.slice(2)));
    if (verb === "freeze") {
      if (t < this.now) throw new Error(`time went back: ${t - T0} < ${this.now - T0}`);
      this.now = t;
      return [];
    }
    if (verb === "view") return this.view(t);
    throw new Error(`unknown command "${verb}"`);
  }

  private until(t: number): string[] {
    const out: string[] = [];
    while (this.state !== undefined && nextWakeAt(this.state) <= t) out.push(...this.step({ type: "tick" }, Math.max(this.now, nextWakeAt(this.state))));
    return out;
  }

  private heartbeats(from: number, to: number, m: Map<string, string>): string[] {
    if (!Number.isFinite(to)) throw new Error("heartbeats needs <t0> <t1>");
    const links = (m.get("links") ?? "0").split(",").map(Number);
    const every = num(m, "every", this.state?.config.intervalMs ?? 100);
    let seq = num(m, "seq");
    const out: string[] = [];
    const senders = (m.get("from") ?? "b").split(",");
    for (let t = from; t <= to; t += every) {
      for (const link of links) {
        for (const sender of senders) {
          const f = new Map(m);
          f.set("from", sender);
          f.set("seq", String(seq));
          f.set("link", String(link));
          out.push(...this.until(t), ...this.frame(f, t));
        }
        seq++;
      }
    }
    return out;
  }

  private config(m: Map<string, string>): string[] {
    const self = m.get("self") ?? "a";
    const peers = (m.get("peers") ?? "b").split(",");
    const links = num(m, "links", 2);
    const addr = (i: number, l: number) => `${["198.51.100", "203.0.113", "192.0.2"][l] ?? "192.0.2"}.${i + 1}`;
    this.showSends = m.get("sends") === "on";
    this.state = initMembership(
      {
        self,
        cluster: "c1",
        nodes: [self, ...peers].map((name, i) => ({ name, links: Array.from({ length: links }, (_, l) => addr(i, l)) })),
        intervalMs: num(m, "interval", 100),
        warntimeMs: num(m, "warntime", 250),
        deadtimeMs: num(m, "deadtime", 500),
        initdeadMs: num(m, "initdead", 2000),
      },
      { now: T0, epoch: 99n },
    );
    return [];
  }

  private frame(m: Map<string, string>, t: number): string[] {
    const link = num(m, "link", 0);
    const echo = m.get("echo");
    const echoes = [];
    if (echo !== undefined) {
      const match = /^([^@]+)@(\d+)\+(\d+)$/.exec(echo);
      if (match === null) throw new Error(`echo=${echo}: expected node@sentAt+heldMs`);
      echoes.push({ node: match[1] ?? "", sentAt: T0 + Number(match[2]), heldMs: Number(match[3]) });
    }
    return this.step(
      {
        type: "frame",
        link,
        frame: {
          cluster: m.get("cluster") ?? "c1",
          node: m.get("from") ?? "b",
          epoch: BigInt(m.get("epoch") ?? "7"),
          seq: num(m, "seq"),
          sentAt: num(m, "sent", t - T0),
          link: num(m, "sentlink", link),
          echoes,
        },
      },
      t,
    );
  }

  private step(input: Parameters<typeof stepMembership>[1], t: number): string[] {
    if (this.state === undefined) throw new Error("no config");
    if (t < this.now) throw new Error(`time went back: ${t - T0} < ${this.now - T0}`);
    this.now = t;
    const out = stepMembership(this.state, input, t);
    this.state = out.state;
    return out.actions.flatMap((a) => this.render(a));
  }

  private render(a: MembershipAction): string[] {
    if (a.type === "stall") return [`stall gap=${a.gapMs} credited=${a.creditedMs}`];
    if (a.type === "send-heartbeat") {
      if (!this.showSends) return [];
      const echoes = a.frame.echoes.map((e) => ` echo ${e.node}@${e.sentAt}+${e.heldMs}`).join("");
      return [`send #${a.frame.seq} link=${a.frame.link}${echoes}`];
    }
    const where = a.scope === "link" ? `${a.node}/${a.link}` : a.node;
    return [`event ${a.seq} t=${a.at - T0} ${where} ${a.from}->${a.to} ${a.reason}`];
  }

  private view(t: number): string[] {
    if (this.state === undefined) throw new Error("no config");
    const v = viewMembership(this.state, t);
    const unattributed = Object.entries(v.rejectedUnattributed).map(([k, n]) => `${k}:${n}`).join(",");
    const lines = v.peers.map((p) => {
      const links = p.links.map((l) => `${l.state}${l.lastHeardMsAgo === null ? "" : `(${l.lastHeardMsAgo}ms)`}`).join(",");
      const rejected = Object.entries(p.rejected).map(([k, n]) => `${k}:${n}`).join(",");
      return `${p.name} ${p.state} links=${links} accepted=${p.accepted}${rejected === "" ? "" : ` rejected=${rejected}`}${p.rttMs === null ? "" : ` rtt=${p.rttMs}`}`;
    });
    return unattributed === "" ? lines : [...lines, `unattributed rejected=${unattributed}`];
  }
}

interface Block {
  command: string;
  expected: string[];
}

function parse(text: string): { blocks: Block[]; preamble: string[] } {
  const blocks: Block[] = [];
  const preamble: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("> ")) blocks.push({ command: line.slice(2), expected: [] });
    else if (line.trim() === "" || line.startsWith("#")) {
      if (blocks.length === 0) preamble.push(line);
    } else {
      const last = blocks[blocks.length - 1];
      if (last === undefined) throw new Error(`output line before any command: "${line}"`);
      last.expected.push(line);
    }
  }
  return { blocks, preamble };
}

const files = readdirSync(DIR).filter((f) => f.endsWith(".txt")).sort();

describe("membership scenario fixtures", () => {
  it("has fixtures", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(file, () => {
      const path = join(DIR, file);
      const { blocks, preamble } = parse(readFileSync(path, "utf8"));
      const runner = new Runner();
      const actual = blocks.map((b, i) => {
        try {
          return { command: b.command, output: runner.run(b.command) };
        } catch (err) {
          throw new Error(`${file}: command ${i + 1} "${b.command}": ${(err as Error).message}`);
        }
      });
      if (process.env["UPDATE_FIXTURES"] === "1") {
        const body = actual.map((a) => [`> ${a.command}`, ...a.output].join("\n")).join("\n\n");
        const comments = preamble.filter((l) => l.startsWith("#"));
        writeFileSync(path, `${comments.length > 0 ? `${comments.join("\n")}\n\n` : ""}${body}\n`);
        return;
      }
      blocks.forEach((b, i) => {
        expect(actual[i]?.output, `${file}: output of "> ${b.command}"`).toEqual(b.expected);
      });
    });
  }
});

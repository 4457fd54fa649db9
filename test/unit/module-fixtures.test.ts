/**
 * Scenario fixtures for the module core, in the spirit of raft's testdata:
 * test/fixtures/module/*.txt hold commands ("> ...") each followed by
 * exactly the actions it must produce, one per line (see formatAction in
 * module-driver.ts). Times are ms on our clock; every command first ticks
 * through the wake-ups the core asked for before its time.
 *
 *   > config [self=a] [nodes=a,b] [prefer=a] [failback=auto|manual] [delay=<ms>]
 *            [resources=vip,script,service] [checkers=<name>:<policy>[:<restarts>:<window>:<then>:<fall>:<rise>],...]
 *            [witness=on] [lease=<ms>] [handover=<ms>] [grace=<ms>] [rejoin=<ms>] [cleanup=on] [autostart=off] [blocked=<text>]
 *   > tick <t> | until <t>
 *   > peer <t> <node> up|late|dead|stopped  membership verdict
 *   > advert <t> <node> <ROLE|-> [<gen>] [starting] [failure=<text>]
 *                                            advert in an accepted frame (- = module not listed);
 *                                            starting: its resources are not all up; failure: why its start failed
 *   > up <t> <node> <ROLE> [<gen>]           peer up, then its advert
 *   > ok <t> [detail] | fail <t> [detail]    result of the resource operation running
 *   > settle <t>                             every resource operation succeeds, as they come
 *   > check <t> <checker> ok|fail
 *   > witness <t> up|down
 *   > grant <t> [request] | deny <t> <holder|-> [request]
 *   > cmd <t> <command>                      ids are c1, c2, ...
 *   > view <t>                               role, generation, decision, resources, lease, peers
 *
 * UPDATE_FIXTURES=1 rewrites the expected output from the actual one.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { PeerState } from "../../src/core/membership/types.ts";
import { MODULE_COMMANDS, type ModuleCheckerConfig, type ModuleCommand, type ModuleResource } from "../../src/core/module/module.ts";
import { lines, ModuleScript, SCRIPT, SERVICE, testArbiter, testConfig, VIP } from "./module-driver.ts";

const DIR = join(import.meta.dirname, "..", "fixtures", "module");

function keyValues(words: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new Error(`expected key=value, got "${w}"`);
    out.set(w.slice(0, eq), w.slice(eq + 1));
  }
  return out;
}

function num(raw: string | undefined, what: string): number {
  const n = Number(raw);
  if (raw === undefined || raw === "" || !Number.isFinite(n)) throw new Error(`${what}: expected a number, got ${JSON.stringify(raw)}`);
  return n;
}

function checker(spec: string): ModuleCheckerConfig {
  const [name, policy, restarts, window, then, fall, rise] = spec.split(":");
  if (name === undefined || policy === undefined) throw new Error(`checker "${spec}": expected name:policy[...]`);
  return {
    name,
    onFail: policy as ModuleCheckerConfig["onFail"],
    ...(restarts === undefined ? {} : { restarts: Number(restarts) }),
    ...(window === undefined ? {} : { windowMs: Number(window) }),
    ...(then === undefined ? {} : { then: then as "failover" | "stop" }),
    fall: fall === undefined ? 1 : Number(fall),
    rise: rise === undefined ? 1 : Number(rise),
  };
}

const RESOURCES: Record<string, ModuleResource> = { vip: VIP, script: SCRIPT, service: SERVICE };

class Runner {
  script: ModuleScript | undefined;

  run(command: string): string[] {
    const [verb, ...rest] = command.trim().split(/\s+/);
    if (verb === "config") return this.config(keyValues(rest));
    const s = this.script;
    if (s === undefined) throw new Error("the first command must be config");
    const t = num(rest[0], `${verb} time`);
    const arg = (i: number) => rest[i];
    switch (verb) {
      case "tick":
        return lines([...s.until(t, false), ...s.step({ type: "tick" }, t)]);
      case "until":
        return lines(s.until(t));
      case "peer":
        return lines(s.peer(t, arg(1) ?? "b", (arg(2) ?? "up") as PeerState));
      case "advert": {
        const tail = rest.slice(4).join(" ");
        const failure = /failure=(.*)$/.exec(tail)?.[1];
        const extra = { ...(/^starting\b/.test(tail) ? { starting: true } : {}), ...(failure !== undefined ? { failure } : {}) };
        return lines(s.advert(t, arg(1) ?? "b", arg(2) === "-" ? null : (arg(2) ?? "SECOND"), Number(arg(3) ?? 0), extra));
      }
      case "up":
        return lines(s.up(t, arg(1) ?? "b", arg(2) ?? "SECOND", Number(arg(3) ?? 0)));
      case "ok":
      case "fail":
        return lines(s.resource(t, verb === "ok", rest.slice(1).join(" ") || (verb === "ok" ? "exit 0" : "exit 1")));
      case "settle":
        return lines(s.settle(t));
      case "check":
        return lines(s.check(t, arg(1) ?? "app", arg(2) === "ok"));
      case "witness":
        return lines(s.witness(t, arg(1) === "up"));
      case "grant":
        return lines(arg(1) === undefined ? s.grant(t) : s.grant(t, Number(arg(1))));
      case "deny": {
        const holder = arg(1) === "-" || arg(1) === undefined ? null : (arg(1) as string);
        return lines(arg(2) === undefined ? s.deny(t, holder) : s.deny(t, holder, Number(arg(2))));
      }
      case "cmd": {
        const c = arg(1) as ModuleCommand;
        if (!MODULE_COMMANDS.includes(c)) throw new Error(`unknown command "${c}"`);
        return lines(s.command(t, c).actions);
      }
      case "view":
        return [...lines(s.until(t)), ...this.view()];
      default:
        throw new Error(`unknown verb "${verb}"`);
    }
  }

  private config(m: Map<string, string>): string[] {
    const self = m.get("self") ?? "a";
    const resources = (m.get("resources") ?? "vip,script").split(",").map((r) => {
      const res = RESOURCES[r];
      if (res === undefined) throw new Error(`unknown resource "${r}"`);
      return res;
    });
    const checkers = m.get("checkers")?.split(",").map(checker) ?? [];
    const prefer = m.get("prefer");
    const lease = m.get("lease");
    this.script = new ModuleScript(
      testConfig({
        self,
        nodes: (m.get("nodes") ?? "a,b").split(","),
        ...(prefer === undefined ? {} : { prefer }),
        failback: (m.get("failback") ?? "manual") as "auto" | "manual",
        failbackDelayMs: Number(m.get("delay") ?? 0),
        resources,
        checkers,
        witnessPing: m.get("witness") === "on",
        ...(lease === undefined ? {} : { arbiter: testArbiter(Number(lease)) }),
        handoverTimeoutMs: Number(m.get("handover") ?? 5000),
        absentGraceMs: Number(m.get("grace") ?? 2000),
        ...(m.has("rejoin") ? { rejoinWaitMs: Number(m.get("rejoin")) } : {}),
      }),
      {
        cleanup: m.get("cleanup") === "on",
        autostart: m.get("autostart") !== "off",
        blocked: m.get("blocked")?.replaceAll("_", " ") ?? null,
      },
    );
    return [];
  }

  private view(): string[] {
    const st = (this.script as ModuleScript).state;
    const d = st.decision;
    const l = st.lease;
    const out = [
      `role=${st.role} gen=${st.generation} decision=${d.primary ? "run" : d.rest} (${d.reason})${d.primary && st.role === d.rest ? `, ${d.rest} meanwhile` : ""} started=${st.started}/${st.config.resources.length} run=${st.run === null ? "-" : `${st.run.op}#${st.run.token}`}`,
    ];
    const flags = [
      st.stopped === null ? "" : `stopped="${st.stopped.detail}"`,
      st.stopFailed === null ? "" : `stop-failed="${st.stopFailed}"`,
      st.blocked === null ? "" : `blocked="${st.blocked}"`,
      st.handover === null ? "" : `handover(until=${st.handover.until ?? "-"})`,
      st.request === null ? "" : `request=${st.request.generation}`,
      st.forced ? "forced" : "",
      st.failoverWanted === null ? "" : `failover-wanted="${st.failoverWanted.detail}"`,
      st.rejoinUntil === null ? "" : `rejoin-until=${st.rejoinUntil}`,
      st.command === null ? "" : `pending=${st.command.id}:${st.command.command}`,
    ].filter((f) => f !== "");
    if (flags.length > 0) out.push(flags.join(" "));
    if (st.config.arbiter !== null) {
      out.push(`lease valid=${l.validUntil ?? "-"} watchdog=${l.watchdog ?? "-"} lost=${l.lost} start-not-before=${l.startNotBefore ?? "-"}`);
    }
    for (const p of st.peers) out.push(`peer ${p.name} ${p.liveness} ${p.role}/${p.generation}${p.yieldedAt === null ? "" : ` yielded@${p.yieldedAt}`}${p.arrivedAt === null ? "" : ` arrived@${p.arrivedAt}`}`);
    for (const c of st.checkers) out.push(`checker ${c.name} ${c.failing ? "failing" : "healthy"} streak=${c.streak} restarts=[${c.restarts.join(",")}]`);
    return out;
  }
}

interface Block {
  readonly command: string;
  readonly expected: string[];
  readonly comments: string[];
}

function parse(text: string): { header: string[]; blocks: Block[] } {
  const header: string[] = [];
  const blocks: Block[] = [];
  let current: { command: string; expected: string[]; comments: string[] } | null = null;
  let pendingComments: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("> ")) {
      if (current !== null) blocks.push(current);
      current = { command: line.slice(2), expected: [], comments: pendingComments };
      pendingComments = [];
    } else if (line.startsWith("#") || line.trim() === "") {
      if (current === null) header.push(line);
      else if (line.startsWith("#")) pendingComments.push(line);
    } else if (current !== null) {
      current.expected.push(line);
    }
  }
  if (current !== null) blocks.push(current);
  return { header, blocks };
}

function render(header: string[], blocks: { command: string; output: string[]; comments: string[] }[]): string {
  const parts = [header.join("\n").trimEnd()];
  for (const b of blocks) parts.push([...b.comments, `> ${b.command}`, ...b.output].join("\n"));
  return `${parts.filter((p) => p !== "").join("\n\n")}\n`;
}

const files = readdirSync(DIR).filter((f) => f.endsWith(".txt")).sort();

describe("module core fixtures", () => {
  it("has fixtures", () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    it(file, () => {
      const path = join(DIR, file);
      const { header, blocks } = parse(readFileSync(path, "utf8"));
      const runner = new Runner();
      const produced = blocks.map((b) => {
        let output: string[];
        try {
          output = runner.run(b.command);
        } catch (err) {
          throw new Error(`${file}: "> ${b.command}": ${err instanceof Error ? err.message : String(err)}`);
        }
        return { command: b.command, output, comments: b.comments };
      });
      if (process.env["UPDATE_FIXTURES"] === "1") {
        writeFileSync(path, render(header, produced));
        return;
      }
      produced.forEach((p, i) => {
        expect(p.output, `${file}: output of "> ${p.command}"`).toEqual(blocks[i]?.expected ?? []);
      });
    });
  }
});

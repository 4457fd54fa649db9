/**
 * A toy core for the harness self-test: every 10 ms each node sends a
 * numbered ping on every link to every other node, and counts what it gets.
 */
import type { Stepped } from "../../src/core/step.ts";
import type { SimAdapter } from "./harness/sim.ts";

export interface ToyState {
  readonly node: string;
  readonly nextAt: number;
  readonly seq: number;
  readonly received: number;
}
export type ToyEvent = { readonly type: "tick" } | { readonly type: "ping"; readonly from: string; readonly seq: number; readonly link: number };
export type ToyAction = { readonly type: "send"; readonly seq: number };
export interface ToyMsg {
  readonly from: string;
  readonly seq: number;
  readonly link: number;
  /** Sender incarnation, so tests can tell restarts apart. */
  readonly incarnation: number;
}

export const TOY_PERIOD = 10;

export function toyStep(s: ToyState, e: ToyEvent, now: number): Stepped<ToyState, ToyAction> {
  if (e.type === "ping") return { state: { ...s, received: s.received + 1 }, actions: [] };
  if (now < s.nextAt) return { state: s, actions: [] };
  return { state: { ...s, seq: s.seq + 1, nextAt: s.nextAt + TOY_PERIOD }, actions: [{ type: "send", seq: s.seq + 1 }] };
}

export function toyAdapter(links: number): SimAdapter<ToyState, ToyEvent, ToyAction, ToyMsg> {
  const incarnations = new Map<string, number>();
  return {
    step: toyStep,
    start: (node, ctx) => {
      incarnations.set(node, ctx.incarnation);
      return { node, nextAt: ctx.now, seq: 0, received: 0 };
    },
    tick: () => ({ type: "tick" }),
    receive: (_node, env) => ({ ok: true, event: { type: "ping", from: env.msg.from, seq: env.msg.seq, link: env.msg.link } }),
    nextWakeAt: (s) => s.nextAt,
    perform: (node, actions, io) => {
      for (const a of actions) {
        for (let link = 0; link < links; link++) {
          io.broadcast(link, { from: node, seq: a.seq, link, incarnation: incarnations.get(node) ?? 0 });
        }
      }
    },
    describeMsg: (m) => `ping ${m.from}#${m.seq}`,
  };
}

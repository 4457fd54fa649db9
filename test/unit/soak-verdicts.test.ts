import { describe, expect, it } from "vitest";
import { classify, type ExpectedWindow, inExpectedWindow } from "../../bench/soak-verdicts.ts";
import type { VigilLogEvent } from "../lab/vigil-cluster.ts";

let seq = 0;
const ev = (at: number, msg: string, fields: Record<string, unknown>): VigilLogEvent => ({ at, time: new Date(at).toISOString(), level: "info", msg, seq: seq++, fields });
const vrrp = (at: number) => ev(at, "vrrp VI_1 MASTER", { from: "BACKUP", to: "MASTER", reason: "master-down" });
const module = (at: number) => ev(at, "module web PRIM", { from: "SECOND", to: "PRIM" });
const dead = (at: number) => ev(at, "peer h1 dead", { peer: "h1", to: "dead" });

describe("soak verdicts", () => {
  const windows: ExpectedWindow[] = [
    { what: "loss", node: "h1", from: 1_000, to: 10_000 },
    { what: "kill", node: "h1", from: 20_000, to: 30_000 },
  ];

  it("counts a VRRP takeover in a loss burst apart, neither expected nor unexpected", () => {
    const v = classify([vrrp(5_000), vrrp(15_000), vrrp(25_000)], windows, 0);
    expect(v.lossVrrp.map((e) => e.at)).toEqual([5_000]);
    expect(v.unexpectedVrrp.map((e) => e.at)).toEqual([15_000]);
    expect(v.expectedVrrp).toBe(1);
  });

  it("keeps module transitions and dead verdicts in a loss burst false", () => {
    const v = classify([module(5_000), dead(5_000), module(25_000), dead(25_000)], windows, 0);
    expect(v.unexpectedTransitions.map((e) => e.at)).toEqual([5_000]);
    expect(v.expectedTransitions).toBe(1);
    expect(v.falseDead.map((e) => e.at)).toEqual([5_000]);
    expect(v.expectedDead).toBe(1);
  });

  it("excuses one dead verdict per kill window: a second one, on the node's next life, is false", () => {
    const v = classify([dead(21_000), dead(26_000)], windows, 0);
    expect(v.expectedDead).toBe(1);
    expect(v.falseDead.map((e) => e.at)).toEqual([26_000]);
  });

  it("does not excuse a service move in a loss burst", () => {
    expect(inExpectedWindow(5_000, windows)).toBe(false);
    expect(inExpectedWindow(25_000, windows)).toBe(true);
  });
});

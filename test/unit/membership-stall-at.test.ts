/**
 * stallAt(state, now) says whether an input at `now` would credit a stall:
 * a driver skips its "we run now" input when it would not. It must agree
 * with what a step does, and a "no" must hold for every earlier time too.
 */
import { describe, expect, it } from "vitest";
import { stallAt, stepMembership, type MembershipState } from "../../src/core/membership/membership.ts";
import { membershipConfig, MembershipDriver, T0 } from "./membership-driver.ts";

function credits(s: MembershipState, now: number): boolean {
  return stepMembership(s, { type: "alive", node: "", via: "heartbeat", ageMs: 0 }, now).actions.some((a) => a.type === "stall");
}

/** States along a run: peer b heard every interval, our ticks on time, then a freeze of 2 s. */
function states(): MembershipState[] {
  const d = new MembershipDriver(membershipConfig(["b"], 1));
  const out: MembershipState[] = [d.state];
  let seq = 1;
  for (let t = T0 + 10; t < T0 + 1_500; t += 100) {
    d.until(t);
    d.apply({ type: "frame", link: 0, frame: { cluster: "c1", node: "b", epoch: 7n, seq: seq++, sentAt: t, link: 0, echoes: [] } }, t);
    out.push(d.state);
  }
  return out;
}

describe("stallAt", () => {
  it("agrees with a step at every time from on time to a freeze, for every state of a run", () => {
    let yes = 0;
    let no = 0;
    for (const s of states()) {
      for (let dt = 0; dt <= 2_500; dt += 7) {
        const now = s.lastRunAt + dt;
        const says = stallAt(s, now);
        expect(says, `lastRunAt ${s.lastRunAt}, nextSendAt ${s.nextSendAt}, now ${now}`).toBe(credits(s, now));
        if (says) yes += 1;
        else no += 1;
      }
    }
    // Both answers were exercised.
    expect(yes).toBeGreaterThan(100);
    expect(no).toBeGreaterThan(100);
  });

  it("a no at `now` is a no at every earlier time", () => {
    for (const s of states()) {
      for (let dt = 0; dt <= 2_500; dt += 13) {
        const now = s.lastRunAt + dt;
        if (stallAt(s, now)) continue;
        for (let back = 0; back <= dt + 200; back += 11) expect(credits(s, now - back)).toBe(false);
      }
    }
  });
});

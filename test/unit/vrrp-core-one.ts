/**
 * One VRRP instance of the pure core driven by hand, for the core's unit
 * tests: instance VI_1, vrid 51, VIP 198.51.100.100/24, ours 198.51.100.11 at
 * priority 100 unless a test says otherwise.
 */
import {
  initVrrp,
  stepVrrp,
  type VrrpAction,
  type VrrpHeard,
  type VrrpInput,
  type VrrpInstanceConfig,
  type VrrpState,
  type VrrpTransition,
} from "../../src/core/vrrp/vrrp.ts";

export const VIP = "198.51.100.100/24";

export function vrrpConfig(over: Partial<VrrpInstanceConfig> = {}): VrrpInstanceConfig {
  return { name: "VI_1", vrid: 51, priority: 100, primaryAddress: "198.51.100.11", vips: [VIP], ...over };
}

export const transitionOf = (actions: readonly VrrpAction[]): VrrpTransition | undefined =>
  actions.find((a): a is VrrpTransition => a.type === "transition");

/** The actions but timers, adverts with their priority: `send-advert(150)`. */
export const actionTypes = (actions: readonly VrrpAction[]): string[] =>
  actions.filter((a) => a.type !== "set-timer").map((a) => (a.type === "send-advert" ? `send-advert(${a.advert.priority})` : a.type));

/** One instance: `now` is the time of its last step, and a step without a time takes it. */
export class VrrpOne {
  state: VrrpState;
  now = 0;
  constructor(c: VrrpInstanceConfig = vrrpConfig()) {
    this.state = initVrrp(c, 0);
  }
  step(input: VrrpInput, at = this.now): VrrpAction[] {
    this.now = at;
    const r = stepVrrp(this.state, input, at);
    this.state = r.state;
    return [...r.actions];
  }
  /** A v3 advert of VRID 51 for the VIP, every second, from `from`. */
  advert(from: string, priority: number, at = this.now, over: Partial<VrrpHeard> = {}): VrrpAction[] {
    return this.step({ type: "advert", advert: { src: from, version: 3, vrid: 51, priority, advertIntCs: 100, addresses: ["198.51.100.100"], ...over } }, at);
  }
  tick(at: number): VrrpAction[] {
    return this.step({ type: "tick" }, at);
  }
  /** The heartbeat heard cluster node `node` say what its instance is, from `address`. */
  says(at: number, says: "master" | "not-master" | "unknown", address: string, node: string): VrrpAction[] {
    return this.step({ type: "peer-vrrp", node, says, address, heardAt: at }, at);
  }
  /** The heartbeat declared `node` (holding `addresses`) dead. */
  peerDead(at: number, node: string, addresses: readonly string[], everHeard = true): VrrpAction[] {
    return this.step({ type: "peer-dead", node, addresses, everHeard }, at);
  }
}

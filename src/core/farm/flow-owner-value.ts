/**
 * The value a peer's flows carry in the farm table's kernel maps (pure): its
 * index and its flow epoch. The epoch moves on each time the peer stops
 * keeping flows (farm.ts), so records made before name a value no longer
 * live (flows.ts says how that is used).
 */

/** Flow epochs wrap: each is a separate owner value in the kernel. */
export const FLOW_EPOCHS = 2047;

/** The kernel value of peer `index` in flow epoch `epoch`: 1-65504, below FLOW_SELF (src/sys/farm/ruleset.ts). */
export function flowOwnerValue(index: number, epoch: number): number {
  return 1 + index + 32 * (epoch % FLOW_EPOCHS);
}

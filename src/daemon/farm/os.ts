/**
 * What the farm driver does to the OS, as one object, so tests can watch the
 * order of the calls (table before VIP on setup, VIP before table on
 * teardown) without root. farmOs() is the real thing.
 */
import { createIpRunner, type IpRunner } from "../../sys/ip-command.ts";
import { type ArpResponder, type ArpResponderOptions, openArpResponder } from "../../sys/farm/arp-responder.ts";
import { establishedToVip } from "../../sys/farm/connections.ts";
import type { FarmCounters } from "../../sys/farm/counters.ts";
import { type ExitGuard, startExitGuard } from "../../sys/farm/exit-guard.ts";
import { type FarmLinkSpec, type LinkResult, removeFarmLink, setupFarmLink } from "../../sys/farm/link.ts";
import type { FarmTableSpec } from "../../sys/farm/ruleset.ts";
import { hasCarrier } from "../../sys/farm/carrier.ts";
import { type FlowKey, type FlowRecords, readFlowRecords, recordFlows, unrecordFlows } from "../../sys/farm/flow-records.ts";
import { readFarmCounters, removeFarmTable, renewFarmLease, setupFarmTable, type TableResult, writeFarmFlows, writeFarmTable } from "../../sys/farm/table.ts";

export interface FarmOs {
  exitGuard(module: string): ExitGuard;
  setupTable(spec: FarmTableSpec): Promise<TableResult>;
  /** `rearm`: a new lease whatever became of the last (only holding nothing); otherwise it fails, lapsed, on a lapsed one. */
  writeTable(module: string, vip: string, held: readonly number[], arpOwner: boolean, leaseMs: number, rearm: boolean): Promise<TableResult>;
  renewLease(module: string, vip: string, leaseMs: number): Promise<TableResult>;
  /** Who answers UDP flows (src/core/farm/flows.ts); `forget` empties the flow memory first. */
  writeFlows(module: string, owners: readonly number[], live: readonly number[], forget: boolean): Promise<TableResult>;
  /** Records flows as answered by the peer whose owner value is `value`. */
  recordFlows(module: string, flows: readonly FlowKey[], value: number): Promise<{ ok: true; changed: number } | { ok: false; message: string }>;
  /** Every record of the table's flow memory, by key (its own flows: FLOW_SELF). */
  readFlowRecords(module: string): Promise<{ ok: true; records: FlowRecords } | { ok: false; message: string }>;
  /** Deletes the records of these flows that still name the peer whose owner value is `value`. */
  unrecordFlows(module: string, flows: readonly FlowKey[], value: number): Promise<{ ok: true; changed: number } | { ok: false; message: string }>;
  carrier(iface: string): boolean;
  removeTable(module: string): Promise<TableResult>;
  setupLink(spec: FarmLinkSpec): Promise<LinkResult>;
  /** Problems, empty when all went. */
  removeLink(spec: FarmLinkSpec): Promise<string[]>;
  openArp(opts: ArpResponderOptions): Promise<ArpResponder>;
  establishedConnections(vip: string, ports: readonly number[]): Promise<number>;
  counters(module: string): Promise<{ ok: true; counters: FarmCounters } | { ok: false; message: string }>;
}

export function farmOs(ip: IpRunner = createIpRunner()): FarmOs {
  return {
    exitGuard: startExitGuard,
    setupTable: setupFarmTable,
    writeTable: writeFarmTable,
    renewLease: renewFarmLease,
    writeFlows: writeFarmFlows,
    recordFlows,
    readFlowRecords,
    unrecordFlows,
    carrier: hasCarrier,
    removeTable: removeFarmTable,
    setupLink: (spec) => setupFarmLink(spec, ip),
    removeLink: (spec) => removeFarmLink(spec, ip),
    openArp: openArpResponder,
    establishedConnections: establishedToVip,
    counters: readFarmCounters,
  };
}

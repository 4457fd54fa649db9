/**
 * The farm modules of this node: one FarmInstance each, fed by the heartbeat
 * (peer liveness, adverts with their echo) and by module commands (stop
 * drains, start joins again). Sysctls changed for the farms are put back
 * when the last one stops.
 */
import type { FarmStatus } from "../../api/farm.ts";
import { MIRROR_COMMANDS, type ModuleCommandOutcome, type ModuleCommandRequest } from "../../api/modules.ts";
import type { PeerState } from "../../core/membership/types.ts";
import type { ModuleAdvert } from "../../proto/heartbeat.ts";
import type { FarmFlowsMessage } from "../../proto/farm-flows.ts";
import { restoreSysctls, type SysctlChange } from "../../sys/farm/link.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { WitnessPinger } from "../witness/pinger.ts";
import { FlowLink } from "./flow-link.ts";
import { FarmInstance } from "./instance.ts";
import type { FarmModuleSetup } from "./setup.ts";

export interface FarmEngineOptions {
  readonly modules: readonly FarmModuleSetup[];
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly configFile: string;
  readonly publish: () => void;
  readonly peers: () => { name: string; liveness: PeerState }[];
  readonly clock?: () => number;
  /** cluster.witness.ping: asked by a farm node that hears no peer. Empty or absent: none. */
  readonly witness?: readonly string[];
}

export class FarmEngine {
  private readonly instances: FarmInstance[];
  /** Oldest first, each key once: the value to put back. */
  private readonly sysctls: SysctlChange[] = [];
  private readonly pinger: WitnessPinger | undefined;
  /** Flow reports between farm nodes (one socket for all modules); absent when the setup has none. */
  private readonly link: FlowLink | undefined;

  constructor(private readonly opts: FarmEngineOptions) {
    const clock = opts.clock ?? (() => performance.now());
    const addresses = opts.witness ?? [];
    this.pinger = addresses.length === 0 ? undefined : new WitnessPinger({ addresses, onRound: () => {} });
    const pinger = this.pinger;
    const spec = opts.modules[0]?.flowLink;
    this.link = spec === undefined ? undefined : new FlowLink(spec, opts.log, (m) => this.instances.find((i) => i.name === m.module)?.flowMessage(m));
    const link = this.link;
    this.instances = opts.modules.map(
      (m) =>
        new FarmInstance(m, {
          log: opts.log,
          metrics: opts.metrics,
          publish: opts.publish,
          clock,
          configFile: opts.configFile,
          sysctlsChanged: (changes) => {
            for (const c of changes) if (!this.sysctls.some((x) => x.key === c.key)) this.sysctls.push(c);
          },
          ...(pinger === undefined ? {} : { witness: () => pinger.fresh() }),
          ...(link === undefined ? {} : { sendFlows: (m: FarmFlowsMessage) => link.send(m) }),
        }),
    );
  }

  get names(): string[] {
    return this.instances.map((i) => i.name);
  }

  start(): void {
    this.pinger?.start();
    void this.link?.start();
    const peers = this.opts.peers();
    for (const i of this.instances) i.start(peers);
  }

  async stop(): Promise<void> {
    this.pinger?.stop();
    await Promise.all(this.instances.map((i) => i.stop()));
    await this.link?.stop();
    const problems = await restoreSysctls(this.sysctls);
    this.sysctls.length = 0;
    for (const p of problems) this.opts.log.warn(`farm: ${p}`);
  }

  peer(node: string, liveness: PeerState): void {
    for (const i of this.instances) i.peer(node, liveness);
  }

  /** `hears`: the nodes the peer says it hears (its frame's echoes); absent when not told. */
  frame(node: string, adverts: readonly ModuleAdvert[], echo: number | undefined, hears?: readonly string[]): void {
    for (const i of this.instances) i.frame(node, adverts, echo, hears);
  }

  adverts(): ModuleAdvert[] {
    return this.instances.flatMap((i) => i.adverts());
  }

  statuses(): FarmStatus[] {
    return this.instances.map((i) => i.status());
  }

  has(module: string): boolean {
    return this.instances.some((i) => i.name === module);
  }

  /**
   * stop drains this node (answers at once: the drain itself may take up to
   * drain_timeout; status shows it), start joins again; other commands are
   * for failover modules.
   */
  async command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome> {
    const inst = this.instances.find((i) => i.name === req.module);
    const base = { module: req.module, command: req.command, nodes: [] };
    if (inst === undefined) return { ...base, ok: false, detail: `no farm module ${req.module} on this node` };
    if (req.command === "stop") {
      inst.drain();
      return { ...base, ok: true, detail: `draining: new clients go to the other nodes, established connections finish (up to drain_timeout)` };
    }
    if (req.command === "start") {
      inst.resume(this.opts.peers());
      return { ...base, ok: true, detail: "joining the farm: this node takes its share once its peers have let go of it" };
    }
    if (req.command === "restart") {
      return { ...base, ok: false, detail: "a farm module has no restart: stop drains it, start joins again once it is drained" };
    }
    const mirrorOnly = (MIRROR_COMMANDS as readonly string[]).includes(req.command);
    return { ...base, ok: false, detail: `${req.command} is for ${mirrorOnly ? "mirror" : "failover and mirror"} modules; a farm module takes stop (drain) and start` };
  }
}

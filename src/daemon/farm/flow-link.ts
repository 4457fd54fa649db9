/**
 * The farms' UDP socket for flow messages (src/proto/farm-flows.ts): asks
 * from a node that listens before taking buckets, and the peers' tells. One
 * socket for all farm modules of the node, on the heartbeat port + 3 (7697
 * by default). An ask goes to every address of the peer (one per heartbeat
 * link: one of them may be down); a tell goes back to the address the ask
 * came from. Messages that fail the MAC, name another cluster, are not
 * addressed to this node or come from an unknown node are dropped, counted
 * in the log at most once a minute per reason.
 */
import * as dgram from "node:dgram";
import { decodeFarmFlows, encodeFarmFlows, type FarmFlowsMessage } from "../../proto/farm-flows.ts";
import type { Logger } from "../log.ts";

/** Offset from the heartbeat port (the port plan in config/defaults.ts): heartbeat 7694, its news 7695, mirror 7696, farm flows 7697. */
export { FARM_FLOWS_PORT_OFFSET } from "../../config/defaults.ts";

export interface FlowLinkSpec {
  readonly key: Uint8Array;
  readonly port: number;
  readonly cluster: string;
  readonly self: string;
  /** Every other node, with its addresses (one per heartbeat link). */
  readonly peers: readonly { readonly name: string; readonly addresses: readonly string[] }[];
}

const LOG_EVERY_MS = 60_000;

export class FlowLink {
  private socket: dgram.Socket | undefined;
  /** Where each peer's last ask came from: its tell goes back there. */
  private readonly replyTo = new Map<string, string>();
  private readonly lastLogged = new Map<string, number>();

  constructor(
    private readonly spec: FlowLinkSpec,
    private readonly log: Logger,
    private readonly onMessage: (m: FarmFlowsMessage) => void,
  ) {}

  /** Binds the socket; false (logged) when it cannot: learners then listen without reports. */
  async start(): Promise<boolean> {
    const socket = dgram.createSocket({ type: "udp4" });
    const ok = await new Promise<boolean>((resolve) => {
      socket.once("error", (e: NodeJS.ErrnoException) => {
        socket.close();
        this.log.warn("farm: cannot open the socket for flow reports; a starting node learns its peers' UDP flows by watching only", { port: this.spec.port, error: e.message });
        resolve(false);
      });
      socket.bind({ port: this.spec.port }, () => {
        socket.removeAllListeners("error");
        resolve(true);
      });
    });
    if (!ok) return false;
    socket.on("error", (e) => this.rateLimited("socket-error", "flow report socket error", { error: e.message }));
    socket.on("message", (msg, rinfo) => this.received(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), rinfo.address));
    this.socket = socket;
    return true;
  }

  /** Resolves once the port is free again (a reload binds it anew). */
  stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s === undefined) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  send(m: FarmFlowsMessage): void {
    const s = this.socket;
    if (s === undefined) return;
    const peer = this.spec.peers.find((p) => p.name === m.to);
    if (peer === undefined) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeFarmFlows(m, this.spec.key);
    } catch (e) {
      this.rateLimited("encode", "farm: cannot encode a flow message", { error: e instanceof Error ? e.message : String(e) });
      return;
    }
    const back = m.type === "tell" ? this.replyTo.get(m.to) : undefined;
    for (const address of back !== undefined ? [back] : peer.addresses) {
      s.send(bytes, this.spec.port, address, (err) => {
        if (err) this.rateLimited(`send-${address}`, "farm: cannot send a flow message", { to: m.to, address, error: err.message });
      });
    }
  }

  private received(bytes: Uint8Array, address: string): void {
    const r = decodeFarmFlows(bytes, this.spec.key);
    if (!r.ok) {
      this.rateLimited(`decode-${r.error.kind}`, "farm: dropped a flow message", { from: address, reason: r.error.detail });
      return;
    }
    const m = r.message;
    if (m.cluster !== this.spec.cluster || m.to !== this.spec.self || !this.spec.peers.some((p) => p.name === m.from)) {
      this.rateLimited("not-ours", "farm: dropped a flow message not meant for this node", { from: address, cluster: m.cluster, sender: m.from, to: m.to });
      return;
    }
    if (m.type === "ask") this.replyTo.set(m.from, address);
    this.onMessage(m);
  }

  private rateLimited(key: string, msg: string, fields: Record<string, string | number | boolean | null>): void {
    const now = Date.now();
    if (now - (this.lastLogged.get(key) ?? -Infinity) < LOG_EVERY_MS) return;
    this.lastLogged.set(key, now);
    this.log.warn(msg, fields);
  }
}

/**
 * The SECOND's end of a mirror's replication, wired in one call: the applier
 * (on its own thread where the runtime allows), the answers to the resync's
 * questions from the same folder (on the applier's thread too, else here:
 * apply-threaded.ts), and the replication server in front of both. Requests that are not about the folder (mirror control) go to
 * `control`.
 */
import { type LinkCounters, type LinkEndpoint, type LinkTimers, type LinkTransport, type RequestAnswerer, ReplicationServer } from "../net/replication-link.ts";
import type { LinkIdentity } from "../net/replication-link-handshake.ts";
import { loadDirCalls } from "../sys/ffi/dir-calls.ts";
import { loadFsCalls } from "../sys/ffi/fs-calls.ts";
import { type OpApplier, startApplier } from "./apply-threaded.ts";
import { FolderAnswerer } from "./remote-peer-answers.ts";

export interface ApplyEndpointOptions extends LinkIdentity {
  /** The SECOND's copy of the replicated folder. */
  readonly root: string;
  readonly listen: readonly LinkEndpoint[];
  readonly control?: RequestAnswerer;
  readonly timers?: Partial<LinkTimers>;
  readonly maxQueuedBytes?: number;
  readonly transport?: LinkTransport;
}

export interface ApplyEndpoint {
  readonly server: ReplicationServer;
  readonly applier: OpApplier;
  /** Why the applier runs on the daemon's thread, when it does. */
  readonly inlineReason: string | null;
  counters(): LinkCounters | null;
  /** Stops listening, closes the link, makes everything applied durable, stops the applier. */
  close(): Promise<void>;
}

export async function startApplyEndpoint(o: ApplyEndpointOptions): Promise<ApplyEndpoint> {
  const started = await startApplier(o.root);
  const applier = started.applier;
  const onThread = applier.answerer ?? null;
  let answerer: RequestAnswerer & { close(): void };
  if (onThread !== null) {
    const control = o.control;
    answerer = {
      request: (id, q, reply) => {
        if (q.kind !== "control") return onThread.request(id, q, reply);
        if (control !== undefined) return control.request(id, q, reply);
        reply({ kind: "error", errno: "ENOTSUP", message: `this node does not answer ${q.kind} requests` });
      },
      reset: () => {
        onThread.reset();
        control?.reset();
      },
      close: () => {},
    };
  } else {
    const fsCalls = await loadFsCalls("xattrs in resync manifests").catch(() => null);
    const dirCalls = await loadDirCalls("mirror resync answers").catch(() => null);
    answerer = new FolderAnswerer(o.root, { fsCalls, dirCalls, ...(o.control === undefined ? {} : { other: o.control }) });
  }
  const server = new ReplicationServer({
    cluster: o.cluster,
    node: o.node,
    peer: o.peer,
    key: o.key,
    listen: o.listen,
    apply: (op) => applier.apply(op),
    answerer,
    ...(o.timers === undefined ? {} : { timers: o.timers }),
    ...(o.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: o.maxQueuedBytes }),
    ...(o.transport === undefined ? {} : { transport: o.transport }),
  });
  try {
    await server.start();
  } catch (e) {
    answerer.close();
    await applier.close();
    throw e;
  }
  return {
    server,
    applier,
    inlineReason: started.threaded ? null : started.why,
    counters: () => server.counters(),
    async close() {
      await server.close();
      answerer.close();
      await applier.apply({ op: "fsync", path: null, dataOnly: false });
      await applier.close();
    },
  };
}

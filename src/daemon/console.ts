/**
 * The console and the control socket as the supervisor runs them: the web
 * listener (web.listen, or --listen) and vigil.sock in the state dir, which
 * the CLI talks to. A reload that moves web.listen binds the new address
 * before closing the old one, so a listener that cannot move rejects the
 * reload and the console stays where it was.
 */
import { join } from "node:path";
import type { VigilConfig } from "../config/types.ts";
import { type Engine, ReloadRejected } from "./engine.ts";
import { type FetchHandler, parseListen, type RunningServer, serveFetch } from "./http-server.ts";
import type { Logger } from "./log.ts";

export interface ConsoleOptions {
  readonly config: VigilConfig;
  /** --listen: overrides web.listen, also across reloads. */
  readonly listenFlag: string | undefined;
  readonly stateDir: string;
  readonly log: Logger;
  /** The app of the network listener (commands need the token). */
  readonly network: FetchHandler;
  /** The app of the control socket (its file mode guards it). */
  readonly socket: FetchHandler;
}

export type SupervisedConsole = Engine & {
  /** Where the console really listens (port 0 in the config picks a free one). */
  where(): string;
};

export function supervisedConsole(o: ConsoleOptions): SupervisedConsole {
  let listen = o.listenFlag ?? o.config.web.listen;
  let boundWhere = listen;
  let control: RunningServer | undefined;
  let web: RunningServer | undefined;

  return {
    name: "console",
    tier: "surface",
    async start() {
      control = await serveFetch(o.socket, { path: join(o.stateDir, "vigil.sock") });
      web = await serveFetch(o.network, parseListen(listen));
      boundWhere = web.where;
    },
    async stop() {
      const open = [control, web].filter((s): s is RunningServer => s !== undefined);
      control = undefined;
      web = undefined;
      await Promise.all(open.map((s) => s.close()));
    },
    async reload(next) {
      const nextListen = o.listenFlag ?? next.web.listen;
      if (nextListen === listen) return "kept";
      try {
        const moved = await serveFetch(o.network, parseListen(nextListen));
        await web?.close();
        web = moved;
        listen = nextListen;
        boundWhere = moved.where;
      } catch (e) {
        o.log.error("reload rejected: keeping the running config", { reason: (e as Error).message });
        throw new ReloadRejected((e as Error).message);
      }
      return "restarted";
    },
    status: () => ({}),
    where: () => boundWhere,
  };
}

/**
 * How the CLI starts the binary's long-running processes without importing
 * the daemon: src/main.ts passes src/daemon/entry.ts's implementation in.
 */

export type LogFormat = "text" | "json";

export interface NodeStart {
  readonly logFormat: LogFormat;
  /** --config and $VIGIL_CONFIG, for the config search. */
  readonly configFlag: string | undefined;
  readonly configEnv: string | undefined;
  readonly nodeName: string | undefined;
  readonly stateDir: string | undefined;
  readonly listen: string | undefined;
  /** --accept-new-key: a config from removable media may bring another cluster key. */
  readonly acceptNewKey?: boolean;
}

export interface WitnessStart {
  readonly logFormat: LogFormat;
  readonly configFlag: string | undefined;
  readonly configEnv: string | undefined;
  readonly stateDir: string | undefined;
  readonly listen: string | undefined;
  readonly http: string | undefined;
}

export interface DaemonEntries {
  node(s: NodeStart): Promise<number>;
  witness(s: WitnessStart): Promise<number>;
  /** argv[0] that starts the fencing watchdog child instead of a verb. */
  readonly fenceVerb: string;
  fence(): Promise<number>;
}

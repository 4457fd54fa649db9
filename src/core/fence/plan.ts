/** What the fencing watchdog takes down at a module's deadline (the daemon sends it, src/daemon/fence/messages.ts). */

export interface FenceVip {
  readonly address: string;
  readonly interface: string;
}

export interface FenceStop {
  readonly command: string;
  readonly args: readonly string[];
  readonly timeoutMs: number;
  readonly env: Readonly<Record<string, string>>;
}

/** What to take down when a module's deadline passes. */
export interface FencePlan {
  readonly vips: readonly FenceVip[];
  readonly stops: readonly FenceStop[];
}

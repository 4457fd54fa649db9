/** Defaults of the replication link (see replication-link.ts). */
import type { LinkTimers } from "./replication-link-session.ts";

export const DEFAULT_LINK_TIMERS: LinkTimers = { pingIntervalMs: 250, deadtimeMs: 3000 };
export const DEFAULT_WINDOW_OPS = 1024;
export const DEFAULT_WINDOW_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_QUEUED_BYTES = 32 * 1024 * 1024;

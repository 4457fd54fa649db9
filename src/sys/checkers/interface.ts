/**
 * interface checker: the link is usable (sysfs operstate up or unknown,
 * and carrier). The reading itself is track-interface's, shared with VRRP
 * interface tracking.
 */
import { readLink, type InterfaceTrackOptions } from "../track-interface.ts";
import { measure } from "./measure.ts";
import type { Checker } from "./types.ts";

export interface InterfaceCheckerOptions extends InterfaceTrackOptions {
  readonly name: string;
}

export function interfaceChecker(opts: InterfaceCheckerOptions): Checker {
  const sysOpts: InterfaceTrackOptions = opts.sysClassNet === undefined ? {} : { sysClassNet: opts.sysClassNet };
  return {
    kind: "interface",
    target: opts.name,
    run: () =>
      measure(opts.name, async () => {
        const link = readLink(opts.name, sysOpts);
        return { ok: link.up, detail: link.detail };
      }),
  };
}

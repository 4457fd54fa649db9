import type { Identity } from "./console-auth.ts";

/** The identity the gate found for a request, for the routes behind it. */
const found = new WeakMap<Request, Identity>();

export function rememberIdentity(req: Request, who: Identity): void {
  found.set(req, who);
}

export function identityOf(req: Request): Identity | undefined {
  return found.get(req);
}

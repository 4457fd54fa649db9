import type { Hono } from "hono";
import type { ModuleCommandOutcome, ModuleControl, ModuleStatus } from "../src/api/modules.ts";
import { forceprimRefusal } from "../src/api/refusals.ts";
import type { StatusSnapshot } from "../src/api/status.ts";
import { refuseUnauthorized, type CommandAuthDeps } from "./command-auth.ts";
import { parseCommandRequest } from "../src/api/command-request.ts";
import { commandSource } from "./command-source.ts";

export interface ModuleRouteDeps extends CommandAuthDeps {
  status(): StatusSnapshot;
  /** The module engine; without it the views come from the snapshot alone and commands answer 503. */
  modules?: ModuleControl | undefined;
}

export const MODULE_VIEW_ROUTES = ["/api/modules", "/api/modules/:name"] as const;
export const MODULE_COMMAND_ROUTE = "/api/modules/:name/:command";

const NO_STORE = { "cache-control": "no-store" };

/**
 * The module views (open, like every read-only route) and the module
 * commands (authorized per listener, see command-auth.ts). A command answers
 * once the cluster reached the new state or failed: 200 when it did, 409 when
 * it was refused or missed its goal, always with the outcome.
 */
export function addModuleRoutes(app: Hono, deps: ModuleRouteDeps): void {
  const statuses = (): ModuleStatus[] => allModules(deps);

  app.get("/api/modules", (c) => c.json({ modules: statuses() }, 200, NO_STORE));
  app.get("/api/modules/:name", (c) => {
    const name = c.req.param("name");
    const found = statuses().find((m) => m.name === name);
    if (found === undefined) return c.json({ error: unknownModule(name, statuses()), module: name }, 404, NO_STORE);
    return c.json(found, 200, NO_STORE);
  });

  app.post(MODULE_COMMAND_ROUTE, async (c) => {
    const refused = refuseUnauthorized(c, deps);
    if (refused !== null) return refused;
    const engine = deps.modules;
    if (engine === undefined) {
      return c.json({ error: "this daemon runs no module engine, so it cannot carry out module commands" }, 503, NO_STORE);
    }
    const name = c.req.param("name");
    const parsed = parseCommandRequest(c.req.param("command"), c.req.header("content-type"), await c.req.text());
    if (!parsed.ok) return c.json({ error: parsed.error }, 400, NO_STORE);
    const modules = statuses();
    const module = modules.find((m) => m.name === name);
    if (module === undefined) return c.json({ error: unknownModule(name, modules), module: name }, 404, NO_STORE);
    if (parsed.command === "forceprim" && !parsed.yes) {
      const outcome: ModuleCommandOutcome = {
        ok: false,
        module: name,
        command: "forceprim",
        detail: forceprimRefusal({ yes: '{"yes": true}', prim: "prim" }),
        nodes: module.nodes,
      };
      return c.json(outcome, 409, NO_STORE);
    }
    const source = commandSource(c, deps.commands ?? "token");
    const outcome = await engine.command({ module: name, command: parsed.command, yes: parsed.yes, timeoutMs: parsed.timeoutMs, source });
    return c.json(outcome, outcome.ok ? 200 : 409, NO_STORE);
  });
}

/**
 * Every configured module, in config order: the engine's view where it runs
 * the module, the snapshot's (STOP, peers unknown) where it does not.
 */
function allModules(deps: ModuleRouteDeps): ModuleStatus[] {
  const live = deps.modules?.statuses() ?? [];
  const all = deps.status().modules.map((m) => live.find((l) => l.name === m.name) ?? m);
  for (const l of live) if (!all.some((m) => m.name === l.name)) all.push(l);
  return all;
}

function unknownModule(name: string, modules: ModuleStatus[]): string {
  const names = modules.map((m) => m.name);
  return `no module ${JSON.stringify(name)} is configured (${names.length === 0 ? "no modules" : `modules: ${names.join(", ")}`})`;
}

import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { rememberIdentity } from "../../web/auth/identity.ts";
import type { CommandAccess } from "../../web/command-auth.ts";
import { commandSource } from "../../web/command-source.ts";

function appFor(access: CommandAccess, user?: string): Hono {
  const app = new Hono();
  app.post("/x", (c) => {
    if (user !== undefined) rememberIdentity(c.req.raw, { user, role: "operator", how: "session" } as Parameters<typeof rememberIdentity>[1]);
    return c.text(commandSource(c, access));
  });
  return app;
}

describe("who sent a command", () => {
  it("over the control socket: what the client says of itself, marked as such", async () => {
    const said = await appFor("socket").request("/x", { method: "POST", headers: { "x-vigil-client": "vigil pid=4242 uid=0" } });
    expect(await said.text()).toBe("control socket (vigil pid=4242 uid=0, as the client says)");
    const silent = await appFor("socket").request("/x", { method: "POST" });
    expect(await silent.text()).toBe("control socket (the client did not say who it is)");
    const odd = await appFor("socket").request("/x", { method: "POST", headers: { "x-vigil-client": `x${"y".repeat(200)}` } });
    expect((await odd.text()).length).toBeLessThan(140);
  });

  it("over the network: the client's address and the console user", async () => {
    const env = { remoteAddress: "198.51.100.7", secure: true, port: "9010" };
    expect(await (await appFor("login", "ops").request("/x", { method: "POST" }, env)).text()).toBe("http from 198.51.100.7 (user ops)");
    expect(await (await appFor("token").request("/x", { method: "POST" }, env)).text()).toBe("http from 198.51.100.7");
  });
});

/** The console login's parts on their own: scrypt hashes, the session table, CSRF, the Host check, the login limiter. */
import { describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "../../src/api/password.ts";
import { parseScryptHash } from "../../src/config/password-hash.ts";
import { hostAllowed, hostOf, normalizedNames } from "../../web/auth/host-check.ts";
import { LoginLimiter } from "../../web/auth/login-limit.ts";
import { safeNext } from "../../web/auth/login-routes.ts";
import { mayDo, roleFor } from "../../web/auth/roles.ts";
import { csrfMatches, SessionTable } from "../../web/auth/sessions.ts";

const CHEAP = { ln: 10, r: 8, p: 1 };

describe("scrypt password hashes", () => {
  it("accepts the password it was made from and nothing else", async () => {
    const h = hashPassword("correct horse battery", CHEAP);
    expect(h).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyPassword("correct horse battery", h)).toBe(true);
    expect(await verifyPassword("correct horse batterY", h)).toBe(false);
    expect(await verifyPassword("", h)).toBe(false);
  });

  it("salts every hash", () => {
    expect(hashPassword("same password", CHEAP)).not.toBe(hashPassword("same password", CHEAP));
  });

  it("the default cost is N=2^15, r=8, p=1", async () => {
    const h = hashPassword("default cost");
    expect(h.startsWith("$scrypt$ln=15,r=8,p=1$")).toBe(true);
    expect(await verifyPassword("default cost", h)).toBe(true);
  });

  it("treats a plaintext password, a foreign hash or absurd costs as no hash", async () => {
    for (const bad of ["hunter2", "$2b$12$abcdefghijklmnopqrstuv", "$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=15,r=8,p=1$short$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]) {
      expect(parseScryptHash(bad)).toBeUndefined();
      expect(await verifyPassword("hunter2", bad)).toBe(false);
    }
  });
});

describe("the session table", () => {
  const fixed = (byte: number) => () => new Uint8Array(32).fill(byte);

  it("finds a session by its id until it expires, then never again", () => {
    const t = new SessionTable(10);
    const s = t.create("alice", "operator", "198.51.100.7", 1_000, 60_000);
    expect(s.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.csrf).not.toBe(s.id);
    expect(t.find(s.id, 60_999)?.user).toBe("alice");
    expect(t.find(s.id, 61_000)).toBeUndefined();
    expect(t.find(s.id, 1_000)).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it("ignores unknown and malformed ids", () => {
    const t = new SessionTable(10, fixed(1));
    t.create("alice", "viewer", "x", 0, 1_000);
    expect(t.find(undefined, 1)).toBeUndefined();
    expect(t.find("", 1)).toBeUndefined();
    expect(t.find("A".repeat(43), 1)).toBeUndefined();
    expect(t.find(`${"A".repeat(42)};`, 1)).toBeUndefined();
  });

  it("holds at most its bound: the oldest login ends to make room", () => {
    const t = new SessionTable(3);
    const ids = [0, 1, 2, 3].map((i) => t.create(`u${i}`, "viewer", "x", i, 60_000).id);
    expect(t.size).toBe(3);
    expect(t.find(ids[0], 10)).toBeUndefined();
    expect(ids.slice(1).map((id) => t.find(id, 10)?.user)).toEqual(["u1", "u2", "u3"]);
  });

  it("ends the sessions a predicate names, and one by id", () => {
    const t = new SessionTable(10);
    const a = t.create("alice", "operator", "x", 0, 60_000);
    const b = t.create("bob", "viewer", "x", 0, 60_000);
    expect(t.endWhere((s) => s.user === "bob")).toBe(1);
    expect(t.find(b.id, 1)).toBeUndefined();
    t.end(a.id);
    expect(t.find(a.id, 1)).toBeUndefined();
  });

  it("matches the CSRF token exactly", () => {
    const s = new SessionTable(10).create("alice", "operator", "x", 0, 60_000);
    expect(csrfMatches(s.csrf, s)).toBe(true);
    expect(csrfMatches(undefined, s)).toBe(false);
    expect(csrfMatches("", s)).toBe(false);
    expect(csrfMatches(`${s.csrf}x`, s)).toBe(false);
    expect(csrfMatches(s.csrf.replace(/.$/, (c) => (c === "A" ? "B" : "A")), s)).toBe(false);
  });
});

describe("the Host check (DNS rebinding)", () => {
  const allowed = normalizedNames(["localhost", "127.0.0.1", "::1", "vms1", "vms1.example.com", "198.51.100.11"]);

  it("reads the host of a Host header", () => {
    expect(hostOf("VMS1.Example.COM:9010")).toBe("vms1.example.com");
    expect(hostOf("vms1.example.com.")).toBe("vms1.example.com");
    expect(hostOf("[::1]:9010")).toBe("::1");
    expect(hostOf("198.51.100.11")).toBe("198.51.100.11");
    for (const bad of [undefined, "", "a b", "[::1", "[::1]x", "x:y", "evil.example/path", "[evil]"]) expect(hostOf(bad)).toBeUndefined();
  });

  it("accepts the node's names and addresses with any port, and nothing else", () => {
    for (const ok of ["localhost:9010", "127.0.0.1:9010", "[::1]:9010", "vms1", "VMS1.example.com", "198.51.100.11:443"]) expect(hostAllowed(ok, allowed)).toBe(true);
    for (const no of [undefined, "evil.example", "vms1.example.com.evil.example", "198.51.100.12", "localhost.evil.example:9010", "127.0.0.2"]) {
      expect(hostAllowed(no, allowed)).toBe(false);
    }
  });
});

describe("failed logins per address", () => {
  const limits = { maxFailures: 5, windowMs: 60_000, maxAddresses: 3 };

  it("refuses an address after 5 failures until the oldest leaves the window", () => {
    const l = new LoginLimiter(limits);
    for (let i = 0; i < 4; i++) l.failed("198.51.100.9", 1_000 + i);
    expect(l.check("198.51.100.9", 2_000)).toEqual({ ok: true });
    l.failed("198.51.100.9", 1_004);
    expect(l.check("198.51.100.9", 2_000)).toEqual({ ok: false, retryAfterMs: 60_000 - 1_000 });
    expect(l.check("198.51.100.10", 2_000)).toEqual({ ok: true });
    expect(l.check("198.51.100.9", 61_000)).toEqual({ ok: true });
  });

  it("forgets the address that failed longest ago when its table is full", () => {
    const l = new LoginLimiter(limits);
    for (const a of ["a", "b", "c", "d"]) for (let i = 0; i < 5; i++) l.failed(a, 10);
    expect(l.tracked).toBe(3);
    expect(l.check("a", 20).ok).toBe(true);
    expect(l.check("d", 20).ok).toBe(false);
  });
});

describe("roles and where a login leads", () => {
  it("viewers command nothing, operators all but forceprim, admins everything", () => {
    expect(mayDo("viewer", roleFor("swap"))).toBe(false);
    expect(mayDo("operator", roleFor("swap"))).toBe(true);
    expect(mayDo("operator", roleFor("forceprim"))).toBe(false);
    expect(mayDo("admin", roleFor("forceprim"))).toBe(true);
  });

  it("goes back only to a path of this console", () => {
    expect(safeNext("/api/status")).toBe("/api/status");
    for (const bad of [undefined, "//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "/login", "/a b"]) expect(safeNext(bad)).toBe("/");
  });
});

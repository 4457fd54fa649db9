/**
 * The console's login through the real binary, over HTTPS with the
 * certificate the daemon made at first start: a client that trusts exactly
 * that certificate (node:https and curl) logs in, is refused without a
 * session, refused a command as a viewer, refused a POST without the CSRF
 * token and refused under a foreign Host header; the audit log has each.
 * Also `vigil passwd` and check-config's words for bad console settings.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Daemon, startDaemon, vigil, VIGIL } from "./vigil-binary.ts";

/** python3 -c PTY_DRIVER VIGIL FIRST SECOND: runs `vigil passwd` on a pseudo-terminal, answers each prompt, prints all it showed and the exit code. */
const PTY_DRIVER = `
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], ["vigil", "passwd"])
out = b""
def until(token):
    global out
    end = time.time() + 20
    while token not in out and time.time() < end:
        try:
            out += os.read(fd, 1024)
        except OSError:
            return
until(b"password:"); os.write(fd, sys.argv[2].encode() + b"\\r")
until(b"again:"); os.write(fd, sys.argv[3].encode() + b"\\r")
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode() + "\\nexit %d\\n" % os.waitstatus_to_exitcode(status))
`;

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string }

function passwd(password: string, args: string[]) {
  const r = spawnSync(VIGIL, ["passwd", ...args], { input: `${password}\n`, encoding: "utf8", env: { ...process.env, VIGIL_CONFIG: "" }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("the console of a real daemon: login over HTTPS", () => {
  let dir: string;
  let state: string;
  let daemon: Daemon;
  let port: number;
  let ca: string;
  let fingerprint: string;

  /** A request that trusts only the daemon's own certificate, with the Host header given (default: 127.0.0.1:PORT). */
  const ask = (method: string, path: string, o: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method, path, ca, servername: "localhost", headers: { host: `127.0.0.1:${port}`, ...o.headers } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on("error", reject);
      req.end(o.body);
    });

  const login = async (user: string, password: string) => {
    const r = await ask("POST", "/login", { headers: { "content-type": "application/json" }, body: JSON.stringify({ user, password }) });
    const cookies = (r.headers["set-cookie"] as string[] | undefined) ?? [];
    const pair = (name: string) => cookies.find((c) => c.startsWith(`__Host-vigil-${name}-${port}=`))?.split(";")[0] ?? "";
    const csrf = pair("csrf");
    return { status: r.status, cookies, cookie: `${pair("session")}; ${csrf}`, csrf: csrf.slice(csrf.indexOf("=") + 1) };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vigil-login-"));
    state = join(dir, "state");
    const operator = passwd("operator-password", ["--user", "alice", "--role", "operator"]);
    const viewer = passwd("viewer-password", ["--user", "bob", "--role", "viewer"]);
    expect(operator.code).toBe(0);
    expect(operator.stdout).toMatch(/^- \{ name: alice, role: operator, password: "\$scrypt\$ln=15,r=8,p=1\$[^"]+" \}\n$/);
    expect(vigil(["keygen", join(dir, "vigil.key")]).code).toBe(0);
    writeFileSync(join(dir, "vigil.yaml"), [
      "cluster:",
      "  name: lab",
      "  key_file: vigil.key",
      "  heartbeat: { initdead: 1m, port: 7697 }",
      "  nodes:",
      "    - { name: solo, addresses: [127.0.0.1] }",
      "    - { name: other, addresses: [127.0.0.2] }",
      'web: { listen: "127.0.0.1:0" }',
      "console:",
      "  users:",
      `    ${operator.stdout.trim()}`,
      `    ${viewer.stdout.trim()}`,
      "",
    ].join("\n"));
    daemon = startDaemon(["run", "--config", join(dir, "vigil.yaml"), "--state-dir", state, "--node", "solo"]);
    const [, where, sha] = await daemon.waitForLog(/vigil started .*console=https:\/\/([\d.:]+)\/ console_sha256=([0-9A-F:]+)/);
    port = Number((where ?? "").split(":")[1]);
    ca = readFileSync(join(state, "console-cert.pem"), "utf8");
    expect(new X509Certificate(ca).fingerprint256).toBe(sha);
    fingerprint = sha ?? "";
  });

  afterAll(async () => {
    if (daemon !== undefined && daemon.proc.exitCode === null) daemon.proc.kill("SIGTERM");
    await daemon?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves a certificate that a real TLS client (curl) verifies for the node's address", () => {
    const out = execFileSync("curl", ["-sS", "--cacert", join(state, "console-cert.pem"), `https://127.0.0.1:${port}/healthz`], { encoding: "utf8" });
    expect(out).toBe("ok");
    const plain = spawnSync("curl", ["-sS", "-m", "5", `http://127.0.0.1:${port}/healthz`], { encoding: "utf8" });
    expect(plain.status).not.toBe(0);
  });

  it("refuses everything but the login page without a session", async () => {
    expect((await ask("GET", "/api/status")).status).toBe(401);
    expect((await ask("GET", "/metrics")).status).toBe(401);
    const page = await ask("GET", "/");
    expect(page.status).toBe(303);
    expect(page.headers["location"]).toBe("/login?next=%2F");
    expect((await ask("GET", "/login")).status).toBe(200);
    expect((await ask("POST", "/api/modules/app/stop")).status).toBe(401);
  });

  it("logs in; a wrong password is refused and audited with its source", async () => {
    expect((await login("alice", "not-her-password")).status).toBe(401);
    const alice = await login("alice", "operator-password");
    expect(alice.status).toBe(200);
    expect(alice.cookies.find((c) => c.startsWith("__Host-vigil-session-"))).toMatch(/; SameSite=Strict; HttpOnly; Secure$/);
    const status = await ask("GET", "/api/status", { headers: { cookie: alice.cookie } });
    expect(status.status).toBe(200);
    expect(JSON.parse(status.text).node.name).toBe("solo");
    const audit = readFileSync(join(state, "audit.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.map(({ time: _, ...rest }) => rest)).toEqual([
      { event: "login-failed", user: "alice", source: "127.0.0.1" },
      { event: "login", user: "alice", role: "operator", source: "127.0.0.1" },
    ]);
  });

  it("takes a command only with the CSRF token, and refuses it to a viewer", async () => {
    const alice = await login("alice", "operator-password");
    const noToken = await ask("POST", "/api/modules/app/stop", { headers: { cookie: alice.cookie } });
    expect(noToken.status).toBe(403);
    expect(JSON.parse(noToken.text).error).toContain("CSRF token");
    // Past the gate, the module engine answers: there is no module "app" here.
    const withToken = await ask("POST", "/api/modules/app/stop", { headers: { cookie: alice.cookie, "x-csrf-token": alice.csrf } });
    expect(withToken.status).toBe(404);
    expect(JSON.parse(withToken.text).error).toBe('no module "app" is configured (no modules)');

    const bob = await login("bob", "viewer-password");
    expect((await ask("GET", "/api/modules", { headers: { cookie: bob.cookie } })).status).toBe(200);
    const viewer = await ask("POST", "/api/modules/app/stop", { headers: { cookie: bob.cookie, "x-csrf-token": bob.csrf } });
    expect(viewer.status).toBe(403);
    expect(JSON.parse(viewer.text).error).toBe("user bob is a viewer; stop needs the operator role");
    const audit = readFileSync(join(state, "audit.log"), "utf8");
    expect(audit).toMatch(/"event":"command","user":"alice","role":"operator","source":"127.0.0.1","module":"app","command":"stop","status":404/);
    expect(audit).toMatch(/"event":"command-refused","user":"bob","role":"viewer","source":"127.0.0.1","module":"app","command":"stop","status":403/);
  });

  it("refuses a request naming a foreign host, even with a session (DNS rebinding)", async () => {
    const alice = await login("alice", "operator-password");
    const res = await ask("GET", "/api/status", { headers: { cookie: alice.cookie, host: `rebind.evil.example:${port}` } });
    expect(res.status).toBe(421);
    expect(res.text).not.toContain("solo");
  });

  it("leaves the CLI on the control socket as it was, and vigil status shows the certificate's fingerprint", () => {
    const r = vigil(["status", "--state-dir", state]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^node +solo \(127\.0\.0\.1\)$/m);
    expect(r.stdout).toContain(`console   https://127.0.0.1:${port}/\n          certificate sha256 ${fingerprint} (self-signed)\n`);
  });
});

describe("the first-start admin, and console settings taken by SIGHUP", () => {
  it("makes an admin password readable by root only, then takes console.users and tls: false on a reload", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-login-reload-"));
    const state = join(dir, "state");
    const config = join(dir, "vigil.yaml");
    const base = [
      "cluster:", "  name: lab", "  key_file: vigil.key", "  heartbeat: { initdead: 1m, port: 7698 }",
      "  nodes:", "    - { name: solo, addresses: [127.0.0.1] }", "    - { name: other, addresses: [127.0.0.2] }",
      'web: { listen: "127.0.0.1:0" }', "",
    ];
    expect(vigil(["keygen", join(dir, "vigil.key")]).code).toBe(0);
    writeFileSync(config, base.join("\n"));
    const d = startDaemon(["run", "--config", config, "--state-dir", state, "--node", "solo"]);
    try {
      const [, where] = await d.waitForLog(/vigil started .*console=https:\/\/([\d.:]+)\//);
      expect(d.log()).toContain(`user admin logs in with the password in this file`);
      expect(statSync(join(state, "console-password")).mode & 0o777).toBe(0o600);
      const password = readFileSync(join(state, "console-password"), "utf8").trim();
      expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
      const cacert = join(state, "console-cert.pem");
      const curl = (url: string, user: string) => spawnSync("curl", ["-sS", "--cacert", cacert, "-u", user, "-o", "/dev/null", "-w", "%{http_code}", url], { encoding: "utf8" }).stdout;
      expect(curl(`https://${where}/api/status`, `admin:${password}`)).toBe("200");
      expect(curl(`https://${where}/api/status`, "admin:wrong-password")).toBe("401");

      const carol = passwd("carol-password", ["--user", "carol", "--role", "viewer"]).stdout.trim();
      writeFileSync(config, [...base, "console:", "  tls: false", "  users:", `    ${carol}`, ""].join("\n"));
      d.proc.kill("SIGHUP");
      await d.waitForLog(/config reloaded .*console=http:\/\/([\d.:]+)\//);
      expect(curl(`http://${where}/api/status`, "carol:carol-password")).toBe("200");
      // console.users replaces the first-start admin.
      expect(curl(`http://${where}/api/status`, `admin:${password}`)).toBe("401");
    } finally {
      d.proc.kill("SIGTERM");
      await d.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("vigil passwd and check-config on console settings", () => {
  it("on a terminal asks twice without echo, and refuses two different answers", () => {
    // A pseudo-terminal driven by python's pty: the answer is typed only once the prompt shows.
    const onTerminal = (first: string, second: string) => spawnSync("python3", ["-c", PTY_DRIVER, VIGIL, first, second], { encoding: "utf8", timeout: 30_000 });
    const same = onTerminal("terminal-password", "terminal-password");
    expect(same.stdout).toMatch(/password: \r?\n.*again: +\r?\n/s);
    expect(same.stdout).toMatch(/\$scrypt\$ln=15,r=8,p=1\$\S+/);
    expect(same.stdout).not.toContain("terminal-password");
    expect(same.stdout).toContain("exit 0");
    const differ = onTerminal("terminal-password", "other-password");
    expect(differ.stdout).toContain("vigil passwd: the two passwords differ; nothing was printed");
    expect(differ.stdout).toContain("exit 1");
  });

  it("refuses a short password and a bad role without a stack trace", () => {
    const short = passwd("short", []);
    expect(short.code).toBe(1);
    expect(short.stderr).toBe("vigil passwd: the password is shorter than 8 characters; choose a longer one\n");
    const role = passwd("long-enough", ["--user", "x", "--role", "root"]);
    expect(role.code).toBe(2);
    expect(role.stderr).toMatch(/^vigil: --role must be one of viewer, operator, admin, not "root"/);
  });

  it("names a plaintext password (without showing it), an unknown role and a missing cert with file:line:col", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-console-config-"));
    try {
      const file = join(dir, "vigil.yaml");
      writeFileSync(file, [
        "cluster:",
        "  name: lab",
        "  nodes: [{ name: solo, addresses: [127.0.0.1] }]",
        "console:",
        "  users:",
        "    - { name: alice, role: superuser, password: Tr0ub4dor&3 }",
        "  cert: ./missing.pem",
        "  key: ./missing-key.pem",
        "",
      ].join("\n"));
      const r = vigil(["check-config", file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${file}:6:28: console.users[0].role: found "superuser", expected one of viewer, operator, admin`);
      expect(r.stderr).toContain(`${file}:6:49: console.users[0].password: found a plaintext password (not shown), expected a scrypt hash made by \`vigil passwd\``);
      expect(r.stderr + r.stdout).not.toContain("Tr0ub4dor");
      expect(r.stderr + r.stdout).not.toMatch(/\n\s+at /);
      writeFileSync(file, readFileSync(file, "utf8").replace(/\{ name: alice.*\}/, `{ name: alice, role: viewer, password: "${"$"}scrypt${"$"}ln=15,r=8,p=1${"$"}AAAAAAAAAAAAAAAAAAAAAA${"$"}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }`));
      const files = vigil(["check-config", file]);
      expect(files.code).toBe(1);
      expect(files.stderr).toContain(`${file}:7:9: console.cert: found ${join(dir, "missing.pem")}: no such file, expected a readable PEM certificate file`);
      expect(files.stderr).toContain(`${file}:8:8: console.key: found ${join(dir, "missing-key.pem")}: no such file, expected a readable PEM private key file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * `vigil install` and `vigil uninstall` on the real binary.
 *
 * First into an image folder (--root DIR), which needs no root. Then, as root,
 * on the live paths inside a private mount namespace: overlays over /etc and
 * /var/lib and tmpfs over /usr/local/sbin and /run, so nothing reaches the
 * host, with stand-ins for systemctl and update-rc.d first on PATH that record
 * their calls. The SysV case also runs the init script it wrote: it starts the
 * daemon (in a network namespace of its own), reloads it, restarts it after a
 * SIGKILL, and stops it.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REALTIME_PRIORITY } from "../../src/sys/realtime-host.ts";
import { requireBinary, VIGIL } from "./vigil-binary.ts";

let dir = "";
let calls = "";
let fakeBin = "";

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-install-"));
  calls = join(dir, "calls.log");
  fakeBin = join(dir, "bin");
  mkdirSync(fakeBin);
  for (const tool of ["systemctl", "update-rc.d", "chkconfig"]) {
    writeFileSync(join(fakeBin, tool), `#!/bin/sh\necho "${tool} $*" >> "${calls}"\n`);
    chmodSync(join(fakeBin, tool), 0o755);
  }
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function vigil(args: string[], env: Record<string, string> = {}) {
  requireBinary();
  const r = spawnSync(VIGIL, args, { encoding: "utf8", env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? ""}`, VIGIL_CONFIG: "", ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const recorded = () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []);
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8).padStart(4, "0");

describe("vigil install --root DIR (an image)", () => {
  it("installs binary, unit, state dir and example; a second run changes nothing", () => {
    const root = join(dir, "root");
    mkdirSync(join(root, "run", "systemd", "system"), { recursive: true });
    const first = vigil(["install", "--root", root]);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toContain("installed /usr/local/sbin/vigil\n");
    expect(first.out).toContain("created /var/lib/vigil (mode 0700)\n");
    expect(first.out).toContain("wrote /etc/systemd/system/vigil.service\n");
    expect(first.out).toContain("wrote /etc/vigil/vigil.yaml.example\n");

    const bin = join(root, "usr", "local", "sbin", "vigil");
    expect(mode(bin)).toBe("0755");
    expect(readFileSync(bin).equals(readFileSync(VIGIL))).toBe(true);
    expect(mode(join(root, "var", "lib", "vigil"))).toBe("0700");
    expect(mode(join(root, "var", "lib"))).toBe("0755");
    const unit = readFileSync(join(root, "etc", "systemd", "system", "vigil.service"), "utf8");
    for (const line of [
      "ExecStart=/usr/local/sbin/vigil run --state-dir /var/lib/vigil",
      "Restart=on-failure",
      "Wants=network-online.target",
      "After=network-online.target",
      "LimitMEMLOCK=infinity",
      `LimitRTPRIO=${REALTIME_PRIORITY}`,
      "KillMode=process",
      "WantedBy=multi-user.target",
    ]) expect(unit.split("\n")).toContain(line);
    // Only enable: systemd does not run the image, so no daemon-reload there.
    expect(recorded()).toEqual([`systemctl --root=${root} enable vigil.service`]);

    const second = vigil(["install", "--root", root]);
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/^unchanged \/usr\/local\/sbin\/vigil\nunchanged \/etc\/systemd\/system\/vigil.service\nran systemctl --root=\S+ enable vigil.service\nunchanged \/etc\/vigil\/vigil.yaml.example\n/);
    // Another build installed there before (an upgrade): replaced, and the operator told to restart.
    writeFileSync(bin, "an older vigil");
    const upgrade = vigil(["install", "--root", root]);
    expect(upgrade.out).toMatch(/^replaced \/usr\/local\/sbin\/vigil\n/);
    expect(upgrade.out).toContain("  a daemon already running keeps the old binary until it restarts (in a cluster, restart one node at a time)\n");
    expect(readFileSync(bin).equals(readFileSync(VIGIL))).toBe(true);
    expect(mode(bin)).toBe("0755");
  });

  it("writes an example config that check-config accepts once the key exists", () => {
    const root = join(dir, "root");
    expect(vigil(["install", "--root", root, "--init", "sysv"]).code).toBe(0);
    const etc = join(root, "etc", "vigil");
    expect(vigil(["keygen", join(etc, "vigil.key")]).code).toBe(0);
    const check = vigil(["check-config", join(etc, "vigil.yaml.example")]);
    expect(check.code).toBe(0);
    expect(check.out).toContain("cluster my-pair: web1, web2");
  });

  it("never touches an existing config, and keeps a unit it did not write", () => {
    const root = join(dir, "root");
    mkdirSync(join(root, "etc", "vigil"), { recursive: true });
    writeFileSync(join(root, "etc", "vigil", "vigil.yaml"), "# mine\n");
    const r = vigil(["install", "--root", root, "--init", "systemd"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("kept /etc/vigil/vigil.yaml (an existing config is never touched)");
    expect(readFileSync(join(root, "etc", "vigil", "vigil.yaml"), "utf8")).toBe("# mine\n");
    expect(existsSync(join(root, "etc", "vigil", "vigil.yaml.example"))).toBe(false);

    const other = join(dir, "other");
    mkdirSync(join(other, "etc", "systemd", "system"), { recursive: true });
    writeFileSync(join(other, "etc", "systemd", "system", "vigil.service"), "[Service]\nExecStart=/opt/vigil run\n");
    const refused = vigil(["install", "--root", other, "--init", "systemd"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toBe("vigil: /etc/systemd/system/vigil.service exists and was not written by vigil install; move it away first\n");
    const kept = vigil(["uninstall", "--root", other]);
    expect(kept.out).toContain("kept /etc/systemd/system/vigil.service (not written by vigil install)");
    expect(existsSync(join(other, "etc", "systemd", "system", "vigil.service"))).toBe(true);
  });

  it("uninstall removes what install made, state and config only with --purge; again, it finds nothing", () => {
    const root = join(dir, "root");
    expect(vigil(["install", "--root", root, "--init", "systemd", "--prefix", "/opt/bin", "--state-dir", "/srv/vigil-state"]).code).toBe(0);
    expect(readFileSync(join(root, "etc", "systemd", "system", "vigil.service"), "utf8")).toContain("ExecStart=/opt/bin/vigil run --state-dir /srv/vigil-state\n");
    writeFileSync(join(root, "srv", "vigil-state", "copy.json"), "{}");

    const u = vigil(["uninstall", "--root", root, "--prefix", "/opt/bin", "--state-dir", "/srv/vigil-state"]);
    expect(u.code).toBe(0);
    expect(u.out).toBe([
      `ran systemctl --root=${root} disable vigil.service`,
      "removed /etc/systemd/system/vigil.service",
      "removed /opt/bin/vigil",
      "removed /etc/vigil/vigil.yaml.example",
      "kept /srv/vigil-state (remove it with --purge)",
      "kept /etc/vigil (remove it with --purge)",
      "",
    ].join("\n"));
    expect(existsSync(join(root, "srv", "vigil-state", "copy.json"))).toBe(true);

    const p = vigil(["uninstall", "--root", root, "--prefix", "/opt/bin", "--state-dir", "/srv/vigil-state", "--purge"]);
    expect(p.out).toBe("purged /srv/vigil-state\npurged /etc/vigil\n");
    const again = vigil(["uninstall", "--root", root, "--purge"]);
    expect(again.code).toBe(0);
    expect(again.out).toBe("nothing to remove: vigil is not installed here\n");
  });

  it("--witness installs the arbiter's service beside a node's; the binary goes with the last one", () => {
    const root = join(dir, "root");
    mkdirSync(join(root, "run", "systemd", "system"), { recursive: true });
    expect(vigil(["install", "--root", root]).code).toBe(0);
    const w = vigil(["install", "--witness", "--root", root]);
    expect(w.code).toBe(0);
    expect(w.out).toContain("created /var/lib/vigil-witness (mode 0700)\nwrote /etc/systemd/system/vigil-witness.service\n");
    expect(w.out).toContain("  start it: systemctl start vigil-witness\n");
    const unit = readFileSync(join(root, "etc", "systemd", "system", "vigil-witness.service"), "utf8").split("\n");
    expect(unit).toContain("ExecStart=/usr/local/sbin/vigil witness --state-dir /var/lib/vigil-witness");
    expect(unit).toContain("Restart=on-failure");

    const node = vigil(["uninstall", "--root", root, "--purge"]);
    expect(node.out).toContain("kept /usr/local/sbin/vigil (/etc/systemd/system/vigil-witness.service still runs it)\n");
    expect(node.out).toContain("kept /etc/vigil (/etc/systemd/system/vigil-witness.service still reads it)\n");
    expect(existsSync(join(root, "usr", "local", "sbin", "vigil"))).toBe(true);
    const witness = vigil(["uninstall", "--witness", "--root", root, "--purge"]);
    expect(witness.out).toBe([
      `ran systemctl --root=${root} disable vigil-witness.service`,
      "removed /etc/systemd/system/vigil-witness.service",
      "removed /usr/local/sbin/vigil",
      "purged /var/lib/vigil-witness",
      "purged /etc/vigil",
      "",
    ].join("\n"));
    expect(recorded()).toEqual([
      `systemctl --root=${root} enable vigil.service`,
      `systemctl --root=${root} enable vigil-witness.service`,
      `systemctl --root=${root} disable vigil.service`,
      `systemctl --root=${root} disable vigil-witness.service`,
    ]);
  });

  it("answers bad flags with the usage and refuses to purge a folder not named for vigil", () => {
    const root = join(dir, "root");
    const init = vigil(["install", "--root", root, "--init", "upstart"]);
    expect(init.code).toBe(2);
    expect(init.err.split("\n")[0]).toBe('vigil: --init must be systemd or sysv, not "upstart"');
    expect(init.err).toContain("Usage: vigil install");
    const rel = vigil(["install", "--root", root, "--prefix", "bin"]);
    expect(rel.code).toBe(2);
    expect(rel.err.split("\n")[0]).toBe('vigil: --prefix must be an absolute path, not "bin"');
    const purge = vigil(["uninstall", "--root", root, "--state-dir", "/var", "--purge"]);
    expect(purge.code).toBe(1);
    expect(purge.err).toBe('vigil: refusing to purge /var: its name does not contain "vigil"\n');
    const none = vigil(["install", "--root", root]);
    expect(none.code).toBe(1);
    expect(none.err).toBe("vigil: found neither systemd (/run/systemd/system) nor SysV init (/etc/init.d); say which with --init systemd|sysv\n");
  });
});

const isRoot = process.getuid?.() === 0;
const ci = /^(true|1|yes)$/i.test(process.env.CI ?? "");

/** Runs a bash script in private mount and network namespaces over the live paths (see the header). */
function inNamespace(script: string, env: Record<string, string> = {}) {
  requireBinary();
  const upper = join(dir, "ns");
  for (const d of ["etc-up", "etc-work", "lib-up", "lib-work", "share-up", "share-work"]) mkdirSync(join(upper, d), { recursive: true });
  const prelude = [
    "set -u",
    "ip link set lo up",
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper}/etc-up,workdir=${upper}/etc-work /etc`,
    `mount -t overlay overlay -o lowerdir=/var/lib,upperdir=${upper}/lib-up,workdir=${upper}/lib-work /var/lib`,
    "mkdir -p /usr/local/sbin && mount -t tmpfs tmpfs /usr/local/sbin",
    `mkdir -p /usr/local/share && mount -t overlay overlay -o lowerdir=/usr/local/share,upperdir=${upper}/share-up,workdir=${upper}/share-work /usr/local/share`,
    "mount -t tmpfs tmpfs /run",
    // Whatever the host has, /etc/vigil, the unit and the state dir start absent here.
    "rm -rf /etc/vigil /etc/systemd/system/vigil.service /etc/init.d/vigil /var/lib/vigil /usr/local/share/man/man8/vigil.8 /etc/bash_completion.d/vigil",
    // Places for the manual page and the completion, as on Debian.
    "mkdir -p /usr/local/share/man /etc/bash_completion.d",
  ].join("\n");
  const r = spawnSync("unshare", ["-m", "-n", "--propagation", "private", "bash", "-c", `${prelude}\n${script}`], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? ""}`, VIGIL: VIGIL, VIGIL_CONFIG: "", ...env },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// Root is needed for the namespaces; without it the tests are skipped, except under CI, where they fail.
describe.runIf(isRoot || ci)("vigil install on the live paths, in a private mount namespace (root)", () => {
  beforeEach(() => {
    if (!isRoot) throw new Error("these tests need root (mount namespaces); CI must run as root");
  });

  it("systemd: installs, reloads and enables; a second run only enables; uninstall disables and stops", () => {
    const r = inNamespace([
      "mkdir -p /run/systemd/system",
      '"$VIGIL" install; echo "rc=$?"',
      "stat -c '%a %n' /usr/local/sbin/vigil /var/lib/vigil /etc/systemd/system/vigil.service /etc/vigil/vigil.yaml.example",
      'cmp -s "$VIGIL" /usr/local/sbin/vigil && echo same-bytes',
      // The installed manual page and completion work.
      "MANWIDTH=80 man --warnings -l /usr/local/share/man/man8/vigil.8 2>&1 | grep -c '^VIGIL(8)'",
      "bash --norc -c 'source /etc/bash_completion.d/vigil; COMP_WORDS=(vigil unin); COMP_CWORD=1; _vigil; echo \"${COMPREPLY[@]}\"'",
      "echo ==",
      // The installed binary installs itself again: nothing changes.
      '/usr/local/sbin/vigil install; echo "rc=$?"',
      "echo ==",
      '/usr/local/sbin/vigil uninstall; echo "rc=$?"',
      "[ -e /etc/systemd/system/vigil.service ] || echo 'no unit'",
      "echo \"binaries left: $(ls -A /usr/local/sbin | wc -l)\"",
      "stat -c '%a %n' /var/lib/vigil",
    ].join("\n"));
    expect(r.err).toBe("");
    const [install, again, uninstall] = r.out.split("==\n");
    expect(install).toBe([
      "installed /usr/local/sbin/vigil",
      "created /var/lib/vigil (mode 0700)",
      "wrote /etc/systemd/system/vigil.service",
      "ran systemctl daemon-reload",
      "ran systemctl enable vigil.service",
      "created /usr/local/share/man/man8 (mode 0755)",
      "wrote /usr/local/share/man/man8/vigil.8",
      "wrote /etc/bash_completion.d/vigil",
      "created /etc/vigil (mode 0755)",
      "wrote /etc/vigil/vigil.yaml.example",
      "next:",
      "  write /etc/vigil/vigil.yaml (see /etc/vigil/vigil.yaml.example) and a key: /usr/local/sbin/vigil keygen /etc/vigil/vigil.key",
      "  check it: /usr/local/sbin/vigil check-config",
      "  start it: systemctl start vigil",
      "rc=0",
      "755 /usr/local/sbin/vigil",
      "700 /var/lib/vigil",
      "644 /etc/systemd/system/vigil.service",
      "644 /etc/vigil/vigil.yaml.example",
      "same-bytes",
      "1",
      "uninstall",
      "",
    ].join("\n"));
    expect(again).toMatch(/^unchanged \/usr\/local\/sbin\/vigil\nunchanged \/etc\/systemd\/system\/vigil.service\nran systemctl enable vigil.service\nunchanged \/usr\/local\/share\/man\/man8\/vigil.8\nunchanged \/etc\/bash_completion.d\/vigil\n/);
    expect(uninstall).toBe([
      "ran systemctl disable --now vigil.service",
      "removed /etc/systemd/system/vigil.service",
      "ran systemctl daemon-reload",
      "removed /usr/local/sbin/vigil",
      "removed /usr/local/share/man/man8/vigil.8",
      "removed /etc/bash_completion.d/vigil",
      "removed /etc/vigil/vigil.yaml.example",
      "kept /var/lib/vigil (remove it with --purge)",
      "kept /etc/vigil (remove it with --purge)",
      "rc=0",
      "no unit",
      "binaries left: 0",
      "700 /var/lib/vigil",
      "",
    ].join("\n"));
    expect(recorded()).toEqual([
      "systemctl daemon-reload",
      "systemctl enable vigil.service",
      "systemctl enable vigil.service",
      "systemctl disable --now vigil.service",
      "systemctl daemon-reload",
    ]);
    // The host's own paths were never touched.
    expect(existsSync("/etc/vigil/vigil.yaml.example") && readFileSync("/etc/vigil/vigil.yaml.example", "utf8").includes("vigil install")).toBe(false);
  });

  it("refuses a read-only /usr/local/sbin with the reason, and a non-root user", () => {
    const r = inNamespace([
      "mkdir -p /run/systemd/system",
      "mount -o remount,ro /usr/local/sbin",
      '"$VIGIL" install; echo "rc=$?"',
      "mount -o remount,rw /usr/local/sbin",
      `setpriv --reuid=65534 --regid=65534 --clear-groups "$VIGIL" install; echo "rc=$?"`,
    ].join("\n"));
    expect(r.out).toBe("rc=1\nrc=1\n");
    expect(r.err).toBe([
      "vigil: /usr/local/sbin/vigil: read-only file system (remount it read-write, or choose another place with --prefix/--state-dir)",
      "vigil install must run as root: it changes /usr/local/sbin, /etc and /var/lib/vigil (try sudo vigil install)",
      "",
    ].join("\n"));
    expect(recorded()).toEqual([]);
  });

  it("SysV: the init script starts the daemon, reloads it, restarts it after a SIGKILL, stops it; uninstall removes it", () => {
    const log = join(dir, "vigil.log");
    const r = inNamespace([
      // Whatever happens, nothing started here outlives the test: the supervisor first, so it restarts nothing.
      "trap 'kill -KILL $(cat /run/vigil.pid 2>/dev/null) $(cat /run/vigil.pid.daemon 2>/dev/null) 2>/dev/null' EXIT",
      '"$VIGIL" install >/dev/null; echo "install rc=$?"',
      "head -2 /etc/init.d/vigil | tail -1",
      "cat > /etc/vigil/vigil.yaml <<'EOF'",
      "cluster:",
      "  name: initd",
      "  nodes: [{ name: solo, addresses: [127.0.0.1] }]",
      'web: { listen: "127.0.0.1:0" }',
      "EOF",
      // Waits (without a time limit of its own; the test's timeout ends a hang) until CMD succeeds.
      "until_ok() { n=0; until eval \"$1\" >/dev/null 2>&1; do sleep 0.1; n=$((n+1)); [ $n -gt 300 ] && { echo \"gave up: $1\"; return 1; }; done; }",
      "/etc/init.d/vigil start",
      "until_ok '/usr/local/sbin/vigil status'",
      "/etc/init.d/vigil status >/dev/null; echo \"status rc=$?\"",
      "first=$(cat /run/vigil.pid.daemon)",
      "/etc/init.d/vigil reload",
      `until_ok 'grep -q "config reloaded" "${log}"'`,
      "kill -KILL \"$first\"",
      "until_ok '[ \"$(cat /run/vigil.pid.daemon 2>/dev/null)\" != \"$first\" ] && /usr/local/sbin/vigil status'",
      "echo restarted",
      "last=$(cat /run/vigil.pid.daemon)",
      "/etc/init.d/vigil stop",
      "/etc/init.d/vigil status; echo \"status rc=$?\"",
      "kill -0 \"$last\" 2>/dev/null && echo 'daemon still alive'",
      '/usr/local/sbin/vigil uninstall; echo "uninstall rc=$?"',
    ].join("\n"), { VIGIL_LOG: log });
    expect(r.err).toBe("");
    expect(r.out).toBe([
      "install rc=0",
      "# Written by `vigil install`; `vigil uninstall` removes it.",
      `vigil started (log: ${log})`,
      "status rc=0",
      `vigil: config reload asked (see ${log})`,
      "restarted",
      "vigil stopped",
      "vigil is not running",
      "status rc=3",
      "ran /etc/init.d/vigil stop",
      "ran update-rc.d -f vigil remove",
      "removed /etc/init.d/vigil",
      "removed /usr/local/sbin/vigil",
      "removed /usr/local/share/man/man8/vigil.8",
      "removed /etc/bash_completion.d/vigil",
      "removed /etc/vigil/vigil.yaml.example",
      "kept /var/lib/vigil (remove it with --purge)",
      "kept /etc/vigil (remove it with --purge)",
      "uninstall rc=0",
      "",
    ].join("\n"));
    expect(recorded()).toEqual(["update-rc.d vigil defaults", "update-rc.d -f vigil remove"]);
    expect(readFileSync(log, "utf8")).toMatch(/daemon exited with status 137; restarting in 2 s/);
  });
});

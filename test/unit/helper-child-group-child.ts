/**
 * Run by helper-child.test.ts with bun, as the leader of its own process
 * group, as the daemon is under a supervisor: it handles SIGTERM, as the
 * daemon does, and runs the ip and nft runners on fakes that send SIGTERM to
 * this process's group. Prints what each runner returned, as JSON.
 */
import { createIpRunner } from "../../src/sys/ip-command.ts";
import { applyRuleset } from "../../src/sys/nft.ts";

process.on("SIGTERM", () => {});
const [ip, fakeDir] = process.argv.slice(2);
if (ip === undefined || fakeDir === undefined) throw new Error("usage: helper-child-group-child.ts FAKE_IP FAKE_NFT_DIR");
process.env["PATH"] = `${fakeDir}:${process.env["PATH"] ?? ""}`;
const ipResult = await createIpRunner({ binary: ip })(["link", "del", "vf0"]);
const nftResult = await applyRuleset("flush ruleset\n");
process.stdout.write(`${JSON.stringify({ ip: ipResult, nft: nftResult })}\n`);
process.exit(0);

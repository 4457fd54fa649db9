/** The root demo's panel page (scripts/demo-cluster.ts serves it and its /api). */
export const PANEL_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>vigil demo cluster</title><link rel="icon" href="data:,">
<style>
body { font: 15px system-ui, sans-serif; margin: 2em; max-width: 68em; }
.big { font-size: 1.6em; margin: .4em 0; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: .4em .8em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
button { margin: 0 .3em .3em 0; } .role { font-weight: bold; } #last { color: #555; }
.ok { color: #1a7f37; } .bad { color: #b42318; font-weight: bold; }
progress { width: 10em; }
</style></head><body>
<h1>vigil demo: two nodes, a mirrored web service and a farm</h1>
<p>A client on its own host (h3) asks two addresses over and over:</p>
<ul>
<li>Module <b>web</b> (a mirror module: a failover module whose folder follows it) holds the VIP <b id="vip"></b> on one
node at a time, h1 preferred, failback manual. Its web service counts each request as a visit, writing the number to a
file in the replicated folder (and fsyncing it) before it answers; every write reaches the other node's copy first.</li>
<li>Module <b>farm</b> puts the VIP <b id="farmvip"></b> on both nodes; each answers its share of the client's connections.</li>
</ul>
<div class="big">web is served by: <b id="served">...</b>, visit <b id="visit">...</b></div>
<div>visits lost in failovers: <b id="reused">...</b> <span id="failover"></span></div>
<div class="big">farm answered (last 2 s): <b id="farm">...</b></div>
<table><thead><tr><th>node</th><th>role of web</th><th>its copy of web's folder</th><th>farm</th><th>daemon</th><th>cables</th><th>actions</th><th>console</th></tr></thead>
<tbody id="nodes"></tbody></table>
<p id="last"></p>
<p>Consoles log in as <b>admin</b> with the password in the file shown under each link. After a node comes back, its
console shows the resync of its copy (slowed to 1 MiB/s in this demo, so it can be watched).</p>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const mb = (b) => (b / 1048576).toFixed(1) + " MiB";
async function act(node, action) {
  const r = await fetch("/api/" + node + "/" + action, { method: "POST" });
  document.getElementById("last").textContent = (await r.json()).message;
}
function copy(n) {
  if (n.resync !== null) {
    const pct = n.resync.bytesTotal > 0 ? Math.floor(100 * n.resync.bytesDone / n.resync.bytesTotal) : 0;
    return "being resynced (" + esc(n.resync.phase) + ") <progress max=100 value=" + pct + "></progress> " + pct + " %, " +
      mb(n.resync.bytesDone) + " of " + mb(n.resync.bytesTotal) + " at " + mb(n.resync.bytesPerSec) + "/s";
  }
  if (n.mirror === null) return "";
  return n.mirror === "uptodate" ? "up to date" : n.mirror === "inconsistent" ? "being resynced" : esc(n.mirror);
}
function button(n, action, label) { return "<button data-node=" + n + " data-action=" + action + " onclick=\\"act('" + n + "','" + action + "')\\">" + label + "</button>"; }
async function refresh() {
  try {
    const s = await (await fetch("/api/state")).json();
    document.getElementById("vip").textContent = s.vip;
    document.getElementById("farmvip").textContent = s.farm.vip;
    document.getElementById("served").textContent = s.servedBy === "none" ? "nobody (no answer)" : s.servedBy;
    document.getElementById("visit").textContent = "#" + s.web.visit;
    const r = document.getElementById("reused");
    r.textContent = s.web.reused === 0 ? "none" : s.web.reused + " (" + s.web.reusedDetail + ")";
    r.className = s.web.reused === 0 ? "ok" : "bad";
    const f = s.web.lastFailover;
    document.getElementById("failover").textContent = f === null ? "" :
      "(last move: " + f.from + " answered up to visit #" + f.lastVisitBefore + ", then " + f.to + " from #" + f.firstVisitAfter +
      ", " + (f.noAnswerMs / 1000).toFixed(1) + " s without an answer)";
    const farm = Object.entries(s.farm.recent).sort().map(([k, v]) => (k === "none" ? "no answer" : k) + " " + (v === 1 ? "once" : v + " times"));
    document.getElementById("farm").textContent = farm.length === 0 ? "nobody yet" : farm.join(", ");
    document.getElementById("last").textContent = s.last;
    document.getElementById("nodes").innerHTML = s.nodes.map((n) =>
      "<tr data-node=" + esc(n.name) + "><td>" + esc(n.name) + "</td><td class=role>" + esc(n.role) + "</td><td class=copy>" + copy(n) + "</td><td>" +
      (n.farm === null ? "" : esc(n.farm.mode) + ", " + n.farm.held + " of 256 buckets" + (n.farm.mode === "in" ? "" : "<br><small>" + esc(n.farm.detail) + "</small>")) + "</td><td>" + esc(n.daemon) + "</td><td>" + esc(n.cables) + "</td><td>" +
      (n.daemon === "running" ? button(n.name, "kill", "kill daemon") : button(n.name, "start", "start daemon")) +
      (n.cables === "in" ? button(n.name, "cable-out", "pull cables") : button(n.name, "cable-in", "plug cables")) +
      "</td><td><a href=\\"" + esc(n.console) + "\\" target=_blank>" + esc(n.console) + "</a><br><small>" + esc(n.passwordFile) + "</small></td></tr>").join("");
  } catch {}
}
refresh(); setInterval(refresh, 700);
</script></body></html>
`;

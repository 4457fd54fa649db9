import { describe, expect, it } from "vitest";
import { DEFAULT_PLAN_OPTIONS, planResync, type PlanOptions, type ResyncStep } from "../../src/core/mirror/resync-plan.ts";
import { relPath, relPathText } from "../../src/replicator/ops.ts";
import type { EntryType, ManifestEntry } from "../../src/replicator/resync-types.ts";

/** "f name size mtime [ino]" / "d name [mtime]" / "l name target" / "p name" (fifo). */
function m(spec: string, more: Partial<ManifestEntry> = {}): ManifestEntry {
  const [t, name, a, b, c] = spec.split(" ");
  const type: EntryType = t === "f" ? "file" : t === "d" ? "dir" : t === "l" ? "symlink" : "fifo";
  const ino = c !== undefined ? BigInt(c) : BigInt(Math.floor(Math.random() * 1e9) + 1000);
  const base: ManifestEntry = {
    path: relPath(name === "." ? "" : name!), type, mode: type === "dir" ? 0o755 : 0o644, uid: 0, gid: 0,
    size: type === "file" ? Number(a ?? 0) : 0, mtimeNs: BigInt(type === "file" ? (b ?? "1") : type === "dir" ? (a ?? "1") : "1"), rdev: 0, ino, nlink: 1,
  };
  if (type === "symlink") return { ...base, target: relPath(a ?? ""), size: (a ?? "").length, mtimeNs: 1n, ...more };
  return { ...base, ...more };
}

/** One line per step: "kind path [detail]". */
function show(steps: readonly ResyncStep[]): string[] {
  return steps.map((s) => {
    switch (s.kind) {
      case "rename": return `rename ${relPathText(s.from)} -> ${relPathText(s.to)}`;
      case "delete": return `delete ${relPathText(s.path)}`;
      case "link": return `link ${relPathText(s.path)} = ${relPathText(s.existing)}`;
      case "file": return `file ${relPathText(s.entry.path)} ${s.create ? "create " : ""}${s.data.kind}`;
      case "meta": {
        const f = s.fix;
        const what = [f.chown ? "chown" : "", f.chmod ? "chmod" : "", f.utimes ? "utimes" : ""].filter((x) => x !== "").join(",");
        return `meta ${relPathText(s.entry.path) || "."} ${what}`;
      }
      default: return `${s.kind} ${relPathText(s.entry.path)}`;
    }
  });
}

const root = m("d .");

interface Case {
  name: string;
  source: ManifestEntry[];
  target: ManifestEntry[];
  want: string[];
  options?: Partial<PlanOptions>;
}

const cases: Case[] = [
  { name: "identical copies: nothing to do", source: [root, m("f a 10 5")], target: [root, m("f a 10 5")], want: [] },
  {
    name: "a new file is created and sent whole; its parent's time fixed last",
    source: [root, m("d dir 7"), m("f dir/new 100 9")],
    target: [root, m("d dir 7")],
    want: ["file dir/new create all", "meta dir/new utimes", "meta dir utimes"],
  },
  {
    name: "size or mtime differ: block compare; same size and mtime: skipped, unless checksumAll",
    source: [root, m("f a 10 5"), m("f b 10 6"), m("f c 10 5")],
    target: [root, m("f a 11 5"), m("f b 10 5"), m("f c 10 5")],
    want: ["file a compare", "file b compare", "meta a utimes", "meta b utimes"],
  },
  {
    name: "checksumAll compares even files that look equal",
    source: [root, m("f c 10 5")],
    target: [root, m("f c 10 5")],
    options: { checksumAll: true },
    want: ["file c compare", "meta c utimes"],
  },
  {
    name: "extras are deleted deepest first; the directory they leave gets its time fixed",
    source: [root, m("d keep 3")],
    target: [root, m("d keep 3"), m("d gone 4"), m("d gone/sub 4"), m("f gone/sub/x 1 1"), m("f gone/y 1 1"), m("f keep/z 1 1")],
    want: ["delete gone/sub/x", "delete keep/z", "delete gone/y", "delete gone/sub", "delete gone", "meta keep utimes", "meta . utimes"],
  },
  {
    name: "type change file -> directory: delete, then mkdir and its contents",
    source: [root, m("d x 5"), m("f x/in 3 5")],
    target: [root, m("f x 3 5")],
    want: ["delete x", "mkdir x", "file x/in create all", "meta x/in utimes", "meta x utimes", "meta . utimes"],
  },
  {
    name: "type change directory -> file: the directory's contents go first",
    source: [root, m("f y 3 5")],
    target: [root, m("d y 5"), m("f y/a 1 1")],
    want: ["delete y/a", "delete y", "file y create all", "meta y utimes", "meta . utimes"],
  },
  {
    name: "a symlink whose target changed is replaced; one that agrees is left alone",
    source: [root, m("l s1 new-target"), m("l s2 same")],
    target: [root, m("l s1 old-target"), m("l s2 same")],
    want: ["delete s1", "symlink s1", "meta s1 utimes", "meta . utimes"],
  },
  {
    name: "special files are made with mknod",
    source: [root, m("p fifo")],
    target: [root],
    want: ["mknod fifo", "meta fifo utimes", "meta . utimes"],
  },
  {
    name: "mode and owner fixes; chown comes with chmod where both differ",
    source: [root, m("f a 1 1", { mode: 0o600, uid: 7, gid: 8 }), m("f b 1 1", { mode: 0o640 })],
    target: [root, m("f a 1 1", { mode: 0o644 }), m("f b 1 1")],
    want: ["meta a chown,chmod", "meta b chmod"],
  },
  {
    name: "a hard-link group: the leader gets the data, the others are linked to it",
    source: [root, m("f a 5 1 77", { nlink: 3 }), m("f b 5 1 77", { nlink: 3 }), m("d d 1"), m("f d/c 5 1 77", { nlink: 3 })],
    target: [root, m("d d 1")],
    want: ["file a create all", "link b = a", "link d/c = a", "meta a utimes", "meta d utimes", "meta . utimes"],
  },
  {
    name: "a hard-link group already whole on the target: nothing to do",
    source: [root, m("f a 5 1 77", { nlink: 2 }), m("f b 5 1 77", { nlink: 2 })],
    target: [root, m("f a 5 1 900", { nlink: 2 }), m("f b 5 1 900", { nlink: 2 })],
    want: [],
  },
  {
    name: "a name the target links but the source keeps apart is recreated",
    source: [root, m("f p 5 1 10"), m("f q 5 1 11")],
    target: [root, m("f p 5 1 900", { nlink: 2 }), m("f q 5 1 900", { nlink: 2 })],
    want: ["delete q", "file q create all", "meta q utimes", "meta . utimes"],
  },
  {
    name: "a group member the target holds as a separate file is replaced by a link",
    source: [root, m("f a 5 1 77", { nlink: 2 }), m("f b 5 1 77", { nlink: 2 })],
    target: [root, m("f a 5 1 900"), m("f b 5 1 901")],
    want: ["delete b", "link b = a", "meta . utimes"],
  },
  {
    name: "a moved file is renamed on the target, not sent again",
    source: [root, m("d new 3"), m("f new/name 1000 42")],
    target: [root, m("d new 3"), m("f old-name 1000 42")],
    want: ["rename old-name -> new/name", "meta new utimes", "meta . utimes"],
  },
  {
    name: "a moved directory is renamed with everything beneath it",
    source: [root, m("d B 9"), m("f B/x 10 1"), m("d B/sub 8"), m("f B/sub/y 20 2")],
    target: [root, m("d A 9"), m("f A/x 10 1"), m("d A/sub 8"), m("f A/sub/y 20 2")],
    want: ["rename A -> B", "meta . utimes"],
  },
  {
    name: "moves that are not unique are sent the ordinary way",
    source: [root, m("f n1 10 1"), m("f n2 10 1")],
    target: [root, m("f o1 10 1"), m("f o2 10 1")],
    want: ["delete o2", "delete o1", "file n1 create all", "file n2 create all", "meta n1 utimes", "meta n2 utimes", "meta . utimes"],
  },
  {
    name: "journal ranges are sent as they are; shallow entries are only checked for existence",
    source: [root, m("f a 100000 9"), m("f b 10 9"), m("f c 10 9")],
    target: [root, m("f a 100000 5"), m("f b 10 5")],
    options: { dataHint: (k) => (k === "a" ? { kind: "ranges", ranges: [{ offset: 4096, length: 4096 }], compare: [] } : undefined), shallow: (k) => k !== "a" && k !== "" },
    want: ["file a ranges", "file c create all", "meta a utimes", "meta c utimes", "meta . utimes"],
  },
];

describe("resync plan", () => {
  for (const c of cases) {
    it(c.name, () => {
      const steps = planResync(c.source, c.target, { ...DEFAULT_PLAN_OPTIONS, ...c.options });
      expect(show(steps)).toEqual(c.want);
    });
  }

  it("mtimes within the window count as equal", () => {
    const steps = planResync([root, m("f a 1 1000")], [root, m("f a 1 1999")], { ...DEFAULT_PLAN_OPTIONS, mtimeWindowNs: 1000 });
    expect(show(steps)).toEqual([]);
  });
});

describe("resync plan: many alike entries", () => {
  it("a first sync of 100k files of one size plans a creation for each, with no rename looked for", () => {
    const source = [root, m("d many")];
    for (let i = 0; i < 100_000; i++) source.push(m(`f many/f${i} 11 5`));
    const steps = planResync(source, [root]);
    expect(steps.filter((s) => s.kind === "file" && s.create)).toHaveLength(100_000);
    expect(steps.some((s) => s.kind === "rename")).toBe(false);
  });

  it("among more alike moved files than it can tell apart, none is renamed: each is sent and the old names deleted", () => {
    const n = 300;
    const source = [root, m("d b")];
    const target = [root, m("d a"), m("d b")];
    for (let i = 0; i < n; i++) {
      source.push(m(`f b/${i} 7 5 ${i + 1}`));
      target.push(m(`f a/${i} 7 5 ${i + 1}`));
    }
    const steps = show(planResync(source, target));
    expect(steps.filter((s) => s.startsWith("rename"))).toEqual([]);
    expect(steps.filter((s) => s.startsWith("file b/"))).toHaveLength(n);
    expect(steps.filter((s) => s.startsWith("delete a/"))).toHaveLength(n);
  });
});

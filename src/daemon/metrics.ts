/**
 * A small Prometheus registry: counters and gauges with labels, rendered in
 * the text exposition format (version 0.0.4). Enough for our handful of
 * series without a dependency.
 */
type Labels = Record<string, string>;

const NO_LABELS: Labels = Object.freeze({});
/**
 * Series keys by label object: a caller on a per-frame path passes the same
 * object every time (label objects are not changed once passed), so its
 * key is built once instead of sorted and escaped on every call.
 */
const keyOf = new WeakMap<Labels, string>();

function seriesKey(labels: Labels): string {
  let key = keyOf.get(labels);
  if (key === undefined) {
    key = renderLabels(labels);
    keyOf.set(labels, key);
  }
  return key;
}

interface Family {
  help: string;
  type: "counter" | "gauge";
  series: Map<string, { labels: Labels; value: number }>;
}

export class Metrics {
  private readonly families = new Map<string, Family>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const fam = this.family(name, help, "counter");
    return (labels = NO_LABELS, by = 1) => {
      const s = this.series(fam, labels);
      s.value += by;
    };
  }

  gauge(name: string, help: string): (value: number, labels?: Labels) => void {
    const fam = this.family(name, help, "gauge");
    return (value, labels = NO_LABELS) => {
      this.series(fam, labels).value = value;
    };
  }

  render(): string {
    const out: string[] = [];
    for (const [name, fam] of this.families) {
      out.push(`# HELP ${name} ${fam.help}`, `# TYPE ${name} ${fam.type}`);
      for (const { labels, value } of fam.series.values()) {
        out.push(`${name}${renderLabels(labels)} ${formatValue(value)}`);
      }
    }
    return out.join("\n") + "\n";
  }

  private family(name: string, help: string, type: Family["type"]): Family {
    let fam = this.families.get(name);
    if (!fam) {
      fam = { help, type, series: new Map() };
      this.families.set(name, fam);
    }
    return fam;
  }

  private series(fam: Family, labels: Labels): { labels: Labels; value: number } {
    const key = seriesKey(labels);
    let s = fam.series.get(key);
    if (!s) {
      s = { labels, value: 0 };
      fam.series.set(key, s);
    }
    return s;
  }
}

function renderLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? "")}"`).join(",")}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

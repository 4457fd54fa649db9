/**
 * What the client saw of one failover, from the prober's answer lines
 * (see failover-udp.ts): the gap between the old master's last answer and
 * the backup's first.
 */

export interface Answer {
  seq: number;
  sentMs: number;
  receivedMs: number;
  host: string;
}

export interface Outage {
  /** The backup's first answer minus the master's last answer before it. */
  outageMs: number;
  /** Probes sent between those two answers that nobody answered. */
  lostProbes: number;
  /** Answers from the old master after the backup had answered: both held the VIP for the client. */
  masterAnswersAfter: number;
}

export function parseAnswers(log: string): Answer[] {
  const out: Answer[] = [];
  for (const line of log.split("\n")) {
    const m = /^answer (\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\S+)$/.exec(line);
    if (m === null) continue;
    out.push({ seq: Number(m[1]), sentMs: Number(m[2]), receivedMs: Number(m[3]), host: m[4] as string });
  }
  return out;
}

/** Null when the backup never answered, or the master never answered before it. */
export function outageOf(answers: readonly Answer[], master: string, backup: string): Outage | null {
  const first = answers.findIndex((a) => a.host === backup);
  if (first < 0) return null;
  let last = -1;
  for (let i = first - 1; i >= 0; i--) {
    if (answers[i]?.host === master) {
      last = i;
      break;
    }
  }
  const b = answers[first];
  const m = answers[last];
  if (b === undefined || m === undefined) return null;
  return {
    outageMs: b.receivedMs - m.receivedMs,
    lostProbes: Math.max(0, b.seq - m.seq - 1 - answers.slice(last + 1, first).length),
    masterAnswersAfter: answers.slice(first + 1).filter((a) => a.host === master).length,
  };
}

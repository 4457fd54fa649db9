/**
 * Last-resort cleanup: if the test process exits or is told to stop while labs
 * are still up, tear them down synchronously before it goes. vitest hooks are
 * the normal path; this catches crashes, process.exit() and Ctrl-C.
 *
 * The state and listeners live on globalThis so that a worker which re-imports
 * this module for each test file still has exactly one set of listeners.
 */

export interface Guarded {
  /** Must be synchronous: it may run inside process.on("exit"). */
  destroySync(): void;
}

interface GuardState {
  labs: Set<Guarded>;
  signalsInstalled: boolean;
  onExit: () => void;
  onSignal: (sig: NodeJS.Signals) => void;
}

const KEY = Symbol.for("vigil.lab.exit-guard");
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function createState(): GuardState {
  const s: GuardState = {
    labs: new Set(),
    signalsInstalled: false,
    onExit: () => destroyAll(s),
    onSignal: (sig) => {
      destroyAll(s);
      uninstallSignals(s);
      // Restore what the signal would have done had we not been listening.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    },
  };
  process.on("exit", s.onExit);
  return s;
}

function destroyAll(s: GuardState): void {
  for (const lab of [...s.labs]) {
    s.labs.delete(lab);
    try {
      lab.destroySync();
    } catch {
      // keep going: the other labs still need removing
    }
  }
}

function uninstallSignals(s: GuardState): void {
  if (!s.signalsInstalled) return;
  for (const sig of SIGNALS) process.removeListener(sig, s.onSignal);
  s.signalsInstalled = false;
}

const g = globalThis as { [KEY]?: GuardState };
const state: GuardState = (g[KEY] ??= createState());

/** Registers a lab; the returned function unregisters it once it has been torn down normally. */
export function guard(lab: Guarded): () => void {
  state.labs.add(lab);
  if (!state.signalsInstalled) {
    for (const sig of SIGNALS) process.on(sig, state.onSignal);
    state.signalsInstalled = true;
  }
  return () => {
    state.labs.delete(lab);
    // Listening for a signal changes its default effect, so listen only while a lab is up.
    if (state.labs.size === 0) uninstallSignals(state);
  };
}

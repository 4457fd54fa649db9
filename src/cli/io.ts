/** What a verb writes to and reads from: injectable, so tests run verbs in process. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

/** A usage mistake found after parsing: main prints it with the verb's usage. */
export class UsageError extends Error {}

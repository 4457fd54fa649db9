/** Errors the lab raises; each message names the command, namespace or file involved. */
import type { ExecResult } from "./exec.ts";

export class LabError extends Error {
  override name = "LabError";
}

/** A command the lab needed did not succeed. */
export class LabCommandError extends LabError {
  override name = "LabCommandError";
  constructor(
    message: string,
    readonly result: ExecResult,
  ) {
    super(message);
  }
}

/** The kernel or host cannot do what was asked (e.g. no sch_netem). */
export class LabUnsupportedError extends LabError {
  override name = "LabUnsupportedError";
}

/** Where in a source file (keepalived.conf, ha.cf...) something was found. */
export interface Where {
  file: string;
  line?: number;
}

export const whereText = (w: Where): string => (w.line === undefined ? w.file : `${w.file}:${w.line}`);

/** A source file that cannot be imported: the message names file and line. */
export class ImportError extends Error {
  constructor(
    readonly where: Where,
    readonly problem: string,
  ) {
    super(`${whereText(where)}: ${problem}`);
  }
}

/**
 * A command whose work may outlast the caller's patience (`vigil verify` on a
 * large folder): the caller gets "late" at the bound, the work goes on, and
 * its own end is still seen by whoever else awaits it (its log line).
 * Without the bound the CLI's socket timeout fired first and read as "no
 * daemon answered" (exit 3) while the daemon was busy comparing.
 */
export async function answerWithin<T>(work: Promise<T>, ms: number): Promise<T | "late"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The shape every protocol or policy core follows: a pure reducer.
 * `now` is milliseconds on a monotonic clock owned by the driver; cores never
 * read a clock themselves, so the simulator can replay any run exactly.
 */
export interface Stepped<S, A> {
  readonly state: S;
  readonly actions: readonly A[];
}

export type Step<S, E, A> = (state: S, event: E, now: number) => Stepped<S, A>;

/** The wall clock, injected so scheduling logic and tests can run on a clock of their own. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

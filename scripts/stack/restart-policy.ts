// When the supervisor restarts a service that crashed, and when it gives up. Pure bookkeeping on
// timestamps (no timers, no processes), so that its back-off and limit are unit-tested directly.

export interface RestartLimits {
  /** Back-off before the first restart; it doubles with each crash in a row, up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A service healthy this long has recovered: its next crash waits initialDelayMs again. */
  stableAfterMs: number;
  /** A service that crashes more often than this within windowMs is not restarted again. */
  maxCrashes: number;
  windowMs: number;
}

/** What `npm start` uses: 1 s doubling to 30 s; a 6th crash within 10 minutes stops the stack. */
export const DEFAULT_RESTART_LIMITS: RestartLimits = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  stableAfterMs: 60_000,
  maxCrashes: 5,
  windowMs: 10 * 60_000,
};

export type RestartDecision =
  /** Restart after delayMs; `crashes` counts the crashes within the window, this one included. */
  { restart: true; delayMs: number; crashes: number } | { restart: false; crashes: number };

/** One service's crash history. */
export class RestartPolicy {
  private crashTimes: number[] = [];
  private streak = 0; // crashes since the service last stayed healthy for stableAfterMs
  private healthySince: number | undefined;

  constructor(readonly limits: RestartLimits = DEFAULT_RESTART_LIMITS) {}

  /** The service (re)started and passed its health probe. */
  healthy(now = Date.now()): void {
    this.healthySince = now;
  }

  /** The service exited on its own, or a restart failed: restart it after a back-off, or give up. */
  crashed(now = Date.now()): RestartDecision {
    const { initialDelayMs, maxDelayMs, stableAfterMs, maxCrashes, windowMs } = this.limits;
    if (this.healthySince !== undefined && now - this.healthySince >= stableAfterMs) this.streak = 0;
    this.healthySince = undefined;
    this.crashTimes = [...this.crashTimes.filter((t) => now - t < windowMs), now];
    const crashes = this.crashTimes.length;
    if (crashes > maxCrashes) return { restart: false, crashes };
    const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** this.streak);
    this.streak += 1;
    return { restart: true, delayMs, crashes };
  }
}

/** "10 min", "90 s": a window or delay for a log line. */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

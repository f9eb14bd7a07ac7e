import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_LIMITS, formatDuration, RestartPolicy } from './restart-policy.js';

const s = 1_000;
const min = 60 * s;

/** Crashes at the given times, each after the service came back healthy 1 s later. */
function crashAt(policy: RestartPolicy, times: number[]) {
  return times.map((t) => {
    const decision = policy.crashed(t);
    policy.healthy(t + s);
    return decision;
  });
}

describe('restart policy', () => {
  it('when a service crashes in a row, then the back-off doubles from 1 s up to 30 s', () => {
    const policy = new RestartPolicy({ ...DEFAULT_RESTART_LIMITS, maxCrashes: 100 });
    const delays = crashAt(
      policy,
      [0, 5, 10, 15, 20, 25, 30, 35].map((t) => t * s),
    ).map((d) => (d.restart ? d.delayMs : undefined));
    expect(delays).toEqual([1, 2, 4, 8, 16, 30, 30, 30].map((d) => d * s));
  });

  it('when a service stayed healthy for 60 s, then its next crash waits 1 s again', () => {
    const policy = new RestartPolicy();
    crashAt(policy, [0, 10 * s, 20 * s]); // back-off now at 8 s; healthy again at 21 s
    expect(policy.crashed(21 * s + 59 * s)).toMatchObject({ restart: true, delayMs: 8 * s });
    policy.healthy(90 * s);
    expect(policy.crashed(150 * s)).toMatchObject({ restart: true, delayMs: 1 * s });
  });

  it('when a service crashes a 6th time within 10 minutes, then it is not restarted', () => {
    const policy = new RestartPolicy();
    const decisions = crashAt(
      policy,
      [0, 1, 2, 3, 4, 5].map((t) => t * min),
    );
    expect(decisions.map((d) => d.restart)).toEqual([true, true, true, true, true, false]);
    expect(decisions[5]).toEqual({ restart: false, crashes: 6 });
  });

  it('when crashes are spread over more than 10 minutes, then the old ones no longer count', () => {
    const policy = new RestartPolicy();
    const decisions = crashAt(
      policy,
      [0, 3, 6, 9, 12, 15, 18, 21].map((t) => t * min),
    );
    expect(decisions.every((d) => d.restart)).toBe(true);
    expect(decisions.map((d) => d.crashes)).toEqual([1, 2, 3, 4, 4, 4, 4, 4]);
  });

  it('when a duration is logged, then it reads as minutes or seconds', () => {
    expect(formatDuration(10 * min)).toBe('10 min');
    expect(formatDuration(30 * s)).toBe('30 s');
    expect(formatDuration(1_500)).toBe('1.5 s');
  });
});

// The loop behind InferenceClient.watchFinished: long polls of the server's announcements of
// finished tasks, one after another, each from the cursor the last one answered. The first asks
// only for the cursor: tasks finished before the watch began are the polls' to find. A failure
// (the server down, restarting, or too old to announce) is retried with a back-off and costs only
// speed: the reconciler's polls find those tasks anyway.
import { setTimeout as sleep } from 'node:timers/promises';
import type { DetectionOutcome } from '../detection/dto.js';
import type { OnFinished, Watch } from './inference-client.js';

/**
 * One answer: the cursor to ask from next, the tasks finished since the cursor asked from, and
 * the outcomes of those that completed.
 */
export interface Announcement {
  last: number;
  taskIds: string[];
  outcomes: ReadonlyMap<string, DetectionOutcome>;
}

export type AskAnnouncements = (after: number, signal: AbortSignal) => Promise<Announcement>;

const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

export function watchAnnouncements(ask: AskAnnouncements, onFinished: OnFinished): Watch {
  const stopping = new AbortController();
  const { signal } = stopping;
  let answering = false;
  void (async () => {
    let cursor = -1;
    let backoffMs = FIRST_BACKOFF_MS;
    while (!signal.aborted) {
      try {
        const answer = await ask(cursor, signal);
        if (cursor >= 0 && answer.taskIds.length > 0) onFinished(answer.taskIds, answer.outcomes);
        cursor = answer.last;
        answering = true;
        backoffMs = FIRST_BACKOFF_MS;
      } catch {
        answering = false;
        // Asked afresh for the cursor after the pause: the server may have restarted meanwhile.
        cursor = -1;
        await sleep(backoffMs, undefined, { signal }).catch(() => {});
        backoffMs = Math.min(2 * backoffMs, MAX_BACKOFF_MS);
      }
    }
  })();
  return { live: () => answering && !signal.aborted, stop: () => stopping.abort() };
}

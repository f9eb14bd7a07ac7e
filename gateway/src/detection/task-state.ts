// The task state machine, as pure functions from a record to the next record (no IO):
//
//   queued ──claim──► queued (claimed) ──accepted──► processing ──completed──► completed
//     ▲                    │ release (BentoML down)       │ outcome error ──► failed
//     └────────────────────┴──────── retry (lost / timeout / failed) ◄┘
//                                    └─ attempts used up ──► failed
//
// A claim (current.inference_task_id === null) marks "a gateway is submitting this now", so
// two gateways never both submit one attempt; a claim older than claimTimeoutMs is abandoned.
import type {
  CallbackState,
  DetectionOutcome,
  RetryReason,
  TaskError,
  TaskRecord,
  TaskStatus,
} from './dto.js';

export interface RetryPolicy {
  maxAttempts: number;
  /** A task still in progress at BentoML this long after submission is submitted again. */
  taskTimeoutMs: number;
  /** A claim not followed by an accepted submission within this long is abandoned. */
  claimTimeoutMs: number;
}

export const isTerminal = (status: TaskStatus): boolean => status === 'completed' || status === 'failed';

export type NextStep =
  | { kind: 'done' }
  | { kind: 'submit' }
  | { kind: 'wait' }
  | { kind: 'abandon' }
  | { kind: 'poll'; inferenceTaskId: string };

/** What should happen to a task now. */
export function nextStep(record: TaskRecord, now: Date, policy: RetryPolicy): NextStep {
  if (isTerminal(record.status)) return { kind: 'done' };
  const current = record.current;
  if (current === null) return { kind: 'submit' };
  if (current.inference_task_id !== null) return { kind: 'poll', inferenceTaskId: current.inference_task_id };
  return ageMs(current.started_at, now) > policy.claimTimeoutMs ? { kind: 'abandon' } : { kind: 'wait' };
}

export interface NewTask {
  taskId: string;
  params: TaskRecord['params'];
  image: TaskRecord['image'];
  /** Fingerprint of the request, for a task named by an Idempotency-Key. */
  requestSha256?: string;
  /** Where to POST the finished task (a webhook), if anywhere. */
  callbackUrl?: string;
  now: Date;
  /** Claimed by the gateway that creates it, which submits it right away (when BentoML is up). */
  claimed: boolean;
}

/** A new, queued task. */
export function newTask({
  taskId,
  params,
  image,
  requestSha256,
  callbackUrl,
  now,
  claimed,
}: NewTask): TaskRecord {
  const at = now.toISOString();
  return {
    task_id: taskId,
    status: 'queued',
    created_at: at,
    updated_at: at,
    revision: 0,
    params,
    image,
    ...(requestSha256 === undefined ? {} : { request_sha256: requestSha256 }),
    attempts: claimed ? 1 : 0,
    current: claimed ? { inference_task_id: null, started_at: at } : null,
    last_retry: null,
    ...(callbackUrl === undefined ? {} : { callback: { url: callbackUrl, state: 'pending', attempts: 0 } }),
  };
}

/** A finished task whose webhook is still to be delivered (it stays in the pending index). */
export const callbackPending = (record: TaskRecord): boolean =>
  isTerminal(record.status) && record.callback?.state === 'pending';

/** Its webhook is due now: pending, and its back-off (if it was tried) is over. */
export function callbackDue(record: TaskRecord, now: Date): boolean {
  const next = record.callback?.next_at;
  return callbackPending(record) && (next === undefined || Date.parse(next) <= now.getTime());
}

export interface CallbackPolicy {
  maxAttempts: number;
  /** The wait after the first failed delivery; it doubles with each one after. */
  firstBackoffMs: number;
  maxBackoffMs: number;
}

/** The receiver took the webhook (a 2xx). */
export function callbackDelivered(record: TaskRecord, now: Date): TaskRecord {
  const callback = record.callback as CallbackState;
  assertStep(record, callbackPending(record), 'deliver the callback of');
  const { next_at: _, last_error: __, ...rest } = callback;
  return change(record, now, {
    callback: {
      ...rest,
      state: 'delivered',
      attempts: callback.attempts + 1,
      delivered_at: now.toISOString(),
    },
  });
}

/** A delivery failed: tried again after a back-off, or given up once attempts are used up. */
export function callbackFailed(
  record: TaskRecord,
  error: string,
  now: Date,
  policy: CallbackPolicy,
): TaskRecord {
  const callback = record.callback as CallbackState;
  assertStep(record, callbackPending(record), 'fail the callback of');
  const attempts = callback.attempts + 1;
  if (attempts >= policy.maxAttempts) {
    const { next_at: _, ...rest } = callback;
    return change(record, now, { callback: { ...rest, state: 'failed', attempts, last_error: error } });
  }
  const backoff = Math.min(policy.maxBackoffMs, policy.firstBackoffMs * 2 ** (attempts - 1));
  const next = new Date(now.getTime() + backoff).toISOString();
  return change(record, now, { callback: { ...callback, attempts, next_at: next, last_error: error } });
}

export function claim(record: TaskRecord, now: Date): TaskRecord {
  assertStep(record, record.status === 'queued' && record.current === null, 'claim');
  return change(record, now, {
    attempts: record.attempts + 1,
    current: { inference_task_id: null, started_at: now.toISOString() },
  });
}

/** BentoML accepted the claimed submission under `inferenceTaskId`. */
export function accepted(record: TaskRecord, inferenceTaskId: string, now: Date): TaskRecord {
  assertStep(record, isClaimed(record), 'accept');
  return change(record, now, {
    status: 'processing',
    current: { inference_task_id: inferenceTaskId, started_at: now.toISOString() },
  });
}

/** BentoML could not be reached: the claim is given up and does not count as an attempt. */
export function release(record: TaskRecord, now: Date): TaskRecord {
  assertStep(record, isClaimed(record), 'release');
  return change(record, now, { attempts: record.attempts - 1, current: null });
}

/**
 * The current attempt is dropped; the task is queued again, or failed once attempts are used up
 * (with `finalError` if given, else an error naming the reason).
 */
export function retry(
  record: TaskRecord,
  reason: RetryReason,
  message: string,
  now: Date,
  policy: RetryPolicy,
  finalError?: TaskError,
): TaskRecord {
  assertStep(record, !isTerminal(record.status) && record.current !== null, 'retry');
  if (record.attempts >= policy.maxAttempts) {
    return change(record, now, {
      status: 'failed',
      current: null,
      error: finalError ?? giveUpError(reason, message, record.attempts),
    });
  }
  const lastRetry = { reason, at: now.toISOString(), message };
  return change(record, now, { status: 'queued', current: null, last_retry: lastRetry });
}

/**
 * Outcome errors about the inference service at that moment (a worker without its model yet, a
 * model that crashed), not about the image: another attempt may succeed.
 */
const TRANSIENT_OUTCOME_ERRORS = new Set(['no_model', 'model_error']);

export function isTransient(outcome: DetectionOutcome): boolean {
  return outcome.error !== null && TRANSIENT_OUTCOME_ERRORS.has(outcome.error.code);
}

/** BentoML finished the task: its response or its error becomes the task's result. */
export function finish(record: TaskRecord, outcome: DetectionOutcome, now: Date): TaskRecord {
  assertStep(record, record.status === 'processing', 'finish');
  if (outcome.response) return change(record, now, { status: 'completed', response: outcome.response });
  return change(record, now, { status: 'failed', error: outcome.error ?? undefined });
}

/** A claimed task cannot be submitted at all (input refused, image gone): retrying would not help. */
export function fail(record: TaskRecord, error: TaskError, now: Date): TaskRecord {
  assertStep(record, isClaimed(record), 'fail');
  return change(record, now, { status: 'failed', current: null, error });
}

/** A processing task BentoML reports as still running: is it overdue? */
export function isOverdue(record: TaskRecord, now: Date, policy: RetryPolicy): boolean {
  return record.current !== null && ageMs(record.current.started_at, now) > policy.taskTimeoutMs;
}

function giveUpError(reason: RetryReason, message: string, attempts: number): TaskError {
  const codes: Record<RetryReason, string> = {
    lost: 'inference_lost',
    timeout: 'inference_timeout',
    failed: 'inference_failed',
    abandoned: 'submission_abandoned',
  };
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  return { code: codes[reason], message: `gave up after ${tries}: ${message}` };
}

const isClaimed = (record: TaskRecord) =>
  record.status === 'queued' && record.current !== null && record.current.inference_task_id === null;

function assertStep(record: TaskRecord, allowed: boolean, step: string): void {
  if (!allowed)
    throw new Error(
      `cannot ${step} task ${record.task_id} in state ${record.status} (current=${JSON.stringify(record.current)})`,
    );
}

function change(record: TaskRecord, now: Date, changes: Partial<TaskRecord>): TaskRecord {
  return { ...record, ...changes, revision: record.revision + 1, updated_at: now.toISOString() };
}

function ageMs(isoTime: string, now: Date): number {
  return now.getTime() - Date.parse(isoTime);
}

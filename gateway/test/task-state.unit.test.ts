// Unit tests of the task state machine (pure functions, no IO).
import { describe, expect, it } from 'vitest';
import type { TaskRecord } from '../src/detection/dto.js';
import {
  accepted,
  claim,
  fail,
  finish,
  isOverdue,
  isTransient,
  newTask,
  nextStep,
  type RetryPolicy,
  release,
  retry,
} from '../src/detection/task-state.js';

const policy: RetryPolicy = { maxAttempts: 3, taskTimeoutMs: 60_000, claimTimeoutMs: 30_000 };
const t0 = new Date('2026-01-01T00:00:00.000Z');
const later = (ms: number) => new Date(t0.getTime() + ms);

function created(): TaskRecord {
  return newTask({
    taskId: '0b6f8c1e-3f7a-4b8e-9d2c-5a1e7f3b9c40',
    params: { conf: 0.25, iou: 0.45, max_det: 300 },
    image: { key: 'k', content_type: 'image/png', bytes: 10, width: 4, height: 3 },
    now: t0,
    claimed: true,
  });
}

const response = {
  instances: [],
  image: { width: 4, height: 3 },
  model: { name: 'm', version: '1' },
  inference_ms: 2,
};

describe('task state machine', () => {
  it('when a task is created, then it is queued and claimed by its creator as attempt 1', () => {
    const task = created();
    expect(task).toMatchObject({ status: 'queued', attempts: 1, revision: 0, last_retry: null });
    expect(task.current).toEqual({ inference_task_id: null, started_at: t0.toISOString() });
    expect(nextStep(task, later(1_000), policy)).toEqual({ kind: 'wait' });
  });

  it('when a task is created while BentoML is down, then it is queued unclaimed, to be submitted later', () => {
    const task = newTask({ ...created(), taskId: created().task_id, now: t0, claimed: false });
    expect(task).toMatchObject({ status: 'queued', attempts: 0, current: null });
    expect(nextStep(task, t0, policy)).toEqual({ kind: 'submit' });
  });

  it('when a claim is older than claimTimeoutMs, then the next step abandons it', () => {
    expect(nextStep(created(), later(30_001), policy)).toEqual({ kind: 'abandon' });
  });

  it('when BentoML accepts the submission, then the task is processing and polled under its id', () => {
    const task = accepted(created(), 'bento-1', later(5));
    expect(task.status).toBe('processing');
    expect(task.revision).toBe(1);
    expect(task.updated_at).toBe(later(5).toISOString());
    expect(nextStep(task, later(10), policy)).toEqual({ kind: 'poll', inferenceTaskId: 'bento-1' });
  });

  it('when BentoML cannot be reached, then the claim is released without using up an attempt', () => {
    const task = release(created(), later(5));
    expect(task).toMatchObject({ status: 'queued', attempts: 0, current: null });
    expect(nextStep(task, later(10), policy)).toEqual({ kind: 'submit' });
    const again = claim(task, later(20));
    expect(again).toMatchObject({ attempts: 1, current: { inference_task_id: null } });
  });

  it('when an attempt is dropped with attempts left, then the task is queued again with the reason', () => {
    const task = retry(accepted(created(), 'b-1', t0), 'lost', 'gone', later(50), policy);
    expect(task).toMatchObject({ status: 'queued', current: null, attempts: 1 });
    expect(task.last_retry).toEqual({ reason: 'lost', at: later(50).toISOString(), message: 'gone' });
    expect(task.error).toBeUndefined();
  });

  it('when the last attempt is dropped, then the task fails with a code for the reason and the attempt count', () => {
    let task = accepted(created(), 'b-1', t0);
    task = accepted(claim(retry(task, 'timeout', 'slow', t0, policy), t0), 'b-2', t0);
    task = accepted(claim(retry(task, 'timeout', 'slow', t0, policy), t0), 'b-3', t0);
    expect(task.attempts).toBe(3);
    const failed = retry(task, 'timeout', 'still running after 60000 ms', later(1), policy);
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({
      code: 'inference_timeout',
      message: 'gave up after 3 attempts: still running after 60000 ms',
    });
    expect(nextStep(failed, later(2), policy)).toEqual({ kind: 'done' });
  });

  it('when the last attempt is dropped with a final error, then the task fails with that error', () => {
    const task = accepted(claim(release(created(), t0), t0), 'b', t0);
    const error = { code: 'no_model', message: 'no model is loaded' };
    const once = retry(task, 'failed', 'x', t0, { ...policy, maxAttempts: 2 }, error);
    expect(once.status).toBe('queued');
    const last = retry(
      accepted(claim(once, t0), 'c', t0),
      'failed',
      'x',
      t0,
      { ...policy, maxAttempts: 2 },
      error,
    );
    expect(last).toMatchObject({ status: 'failed', error });
  });

  it('when an outcome error is about the service (no_model, model_error), then it is transient; about the image, final', () => {
    const outcome = (code: string) => ({ response: null, error: { code, message: '' } });
    expect(isTransient(outcome('no_model'))).toBe(true);
    expect(isTransient(outcome('model_error'))).toBe(true);
    expect(isTransient(outcome('image_decode_failed'))).toBe(false);
    expect(isTransient({ response, error: null })).toBe(false);
  });

  it('when BentoML returns a response, then the task is completed with it', () => {
    const task = finish(accepted(created(), 'b-1', t0), { response, error: null }, later(9));
    expect(task).toMatchObject({ status: 'completed', response });
    expect(task.error).toBeUndefined();
  });

  it('when BentoML returns an error outcome, then the task is failed with that error', () => {
    const error = { code: 'image_decode_failed', message: 'bad bytes' };
    const task = finish(accepted(created(), 'b-1', t0), { response: null, error }, later(9));
    expect(task).toMatchObject({ status: 'failed', error });
    expect(task.response).toBeUndefined();
  });

  it('when a claimed task cannot be submitted at all, then it fails with the given error', () => {
    const task = fail(created(), { code: 'inference_rejected', message: 'no' }, later(1));
    expect(task).toMatchObject({ status: 'failed', current: null, error: { code: 'inference_rejected' } });
  });

  it('when a step does not fit the state, then it throws instead of corrupting the record', () => {
    const completed = finish(accepted(created(), 'b-1', t0), { response, error: null }, t0);
    expect(() => retry(completed, 'lost', 'x', t0, policy)).toThrow(/cannot retry/);
    expect(() => finish(created(), { response, error: null }, t0)).toThrow(/cannot finish/);
    expect(() => claim(created(), t0)).toThrow(/cannot claim/);
    expect(() => accepted(accepted(created(), 'b', t0), 'c', t0)).toThrow(/cannot accept/);
  });

  it('when a processing task runs longer than taskTimeoutMs, then it is overdue', () => {
    const task = accepted(created(), 'b-1', t0);
    expect(isOverdue(task, later(60_000), policy)).toBe(false);
    expect(isOverdue(task, later(60_001), policy)).toBe(true);
  });

  it('when a record is changed, then its revision grows by one each time', () => {
    const a = created();
    const b = accepted(a, 'x', t0);
    const c = finish(b, { response, error: null }, t0);
    expect([a.revision, b.revision, c.revision]).toEqual([0, 1, 2]);
  });
});

// Which webhook URLs may be called (the SSRF guard), and the delivery state of a task's webhook.
import { describe, expect, it } from 'vitest';
import { CallbackRefusedError } from '../src/callbacks/callback-sender.js';
import { isPublicAddress, UrlPolicy } from '../src/callbacks/url-policy.js';
import type { TaskRecord } from '../src/detection/dto.js';
import {
  callbackDelivered,
  callbackDue,
  callbackFailed,
  callbackPending,
  newTask,
} from '../src/detection/task-state.js';

describe('addresses', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.8',
    '172.20.1.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fd12::1',
    'fe80::1',
    '::ffff:127.0.0.1',
  ])('when an address is %s, then it is not public', (address) =>
    expect(isPublicAddress(address)).toBe(false),
  );
  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])(
    'when an address is %s, then it is public',
    (address) => expect(isPublicAddress(address)).toBe(true),
  );
});

describe('URL policy', () => {
  const lookup = (answers: Record<string, string[]>) => async (host: string) =>
    (answers[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

  it('when a name resolves to a public address and to a private one, then it is refused', async () => {
    const policy = new UrlPolicy([], lookup({ 'mixed.example': ['93.184.216.34', '10.0.0.1'] }));
    await expect(policy.resolve(policy.parse('https://mixed.example/x'))).rejects.toThrow(/10\.0\.0\.1/);
  });

  it('when the host is listed, then http and private addresses are allowed for it alone', async () => {
    const policy = new UrlPolicy(
      ['hooks.internal'],
      lookup({ 'hooks.internal': ['10.0.0.5'], other: ['10.0.0.6'] }),
    );
    expect(await policy.resolve(policy.parse('http://hooks.internal:8080/x'))).toEqual([
      { address: '10.0.0.5', family: 4 },
    ]);
    expect(() => policy.parse('http://other/x')).toThrow(CallbackRefusedError);
    await expect(policy.resolve(policy.parse('https://other/x'))).rejects.toThrow(CallbackRefusedError);
  });

  it('when a name does not resolve, then it is refused naming it', async () => {
    const policy = new UrlPolicy([], lookup({}));
    await expect(policy.resolve(policy.parse('https://nowhere.example/'))).rejects.toThrow(
      /nowhere\.example/,
    );
  });
});

describe('webhook state', () => {
  const policy = { maxAttempts: 3, firstBackoffMs: 1_000, maxBackoffMs: 60_000 };
  const t0 = new Date('2026-12-02T10:00:00Z');
  const finished = (): TaskRecord => ({
    ...newTask({
      taskId: '0b6f8c1e-3f7a-4b8e-9d2c-5a1e7f3b9c40',
      params: { conf: 0.25, iou: 0.45, max_det: 300 },
      image: { key: 'k', content_type: 'image/png', bytes: 1, width: 1, height: 1 },
      callbackUrl: 'https://hooks.example/x',
      now: t0,
      claimed: false,
    }),
    status: 'failed',
    error: { code: 'image_decode_failed', message: 'x' },
  });

  it('when deliveries fail, then each waits twice as long as the one before, and the last gives up', () => {
    let record = finished();
    expect(callbackDue(record, t0)).toBe(true);
    record = callbackFailed(record, 'the receiver answered 500', t0, policy);
    expect(record.callback).toMatchObject({
      state: 'pending',
      attempts: 1,
      next_at: '2026-12-02T10:00:01.000Z',
    });
    expect(callbackDue(record, t0)).toBe(false);
    const t1 = new Date(t0.getTime() + 1_000);
    record = callbackFailed(record, 'the receiver answered 500', t1, policy);
    expect(record.callback?.next_at).toBe('2026-12-02T10:00:03.000Z');
    record = callbackFailed(record, 'timeout', t1, policy);
    expect(record.callback).toEqual({
      url: 'https://hooks.example/x',
      state: 'failed',
      attempts: 3,
      last_error: 'timeout',
    });
    expect(callbackPending(record)).toBe(false);
  });

  it('when a delivery succeeds, then it is settled with when, and no error left', () => {
    const record = callbackDelivered(callbackFailed(finished(), 'x', t0, policy), t0);
    expect(record.callback).toEqual({
      url: 'https://hooks.example/x',
      state: 'delivered',
      attempts: 2,
      delivered_at: t0.toISOString(),
    });
    expect(() => callbackDelivered(record, t0)).toThrow();
  });

  it('when the task is not finished, then its webhook is not due', () => {
    expect(callbackDue({ ...finished(), status: 'processing', error: undefined }, t0)).toBe(false);
  });
});

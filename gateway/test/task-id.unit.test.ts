import { describe, expect, it } from 'vitest';
import { newTaskId, taskIdForKey, uuidV5 } from '../src/detection/task-id.js';

describe('task ids', () => {
  it('when computing a UUIDv5, then it matches the RFC 9562 example (DNS namespace, www.example.com)', () => {
    expect(uuidV5('6ba7b8109dad11d180b400c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('when the same Idempotency-Key is used twice, then it maps to the same UUID; different keys to different ones', () => {
    expect(taskIdForKey('order-42')).toBe(taskIdForKey('order-42'));
    expect(taskIdForKey('order-42')).not.toBe(taskIdForKey('order-43'));
    expect(taskIdForKey('order-42')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('when no key is given, then ids are random v4 UUIDs', () => {
    expect(newTaskId()).not.toBe(newTaskId());
    expect(newTaskId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
  });
});

// The MinIO adapter's listing against a real MinIO: it reads the keys page by page (small pages
// keep the event loop free for requests) and must still return all of them, in key order, up to
// the limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { MinioStore } from '../src/storage/minio-store.js';
import { startMinio, storageClient, testConfig } from './support/harness.js';

const BUCKET = 'listing';
let stack: TestStack;
let store: MinioStore;
const keys = Array.from({ length: 250 }, (_, i) => `pending/${String(i).padStart(4, '0')}`);

beforeAll(async () => {
  stack = await startMinio();
  store = new MinioStore(storageClient(testConfig(stack)), [BUCKET]);
  for (let i = 0; i < keys.length; i += 25)
    await Promise.all(keys.slice(i, i + 25).map((key) => store.put(BUCKET, key, Buffer.alloc(0))));
  await store.put(BUCKET, 'records/other', Buffer.from('{}'));
});
afterAll(async () => {
  await stack?.stop();
});

describe('listing a prefix with more keys than fit in one page', () => {
  it('returns every key under the prefix, in key order, when the limit allows', async () => {
    const listed = await store.list(BUCKET, 'pending/', 10_000);
    expect(listed.map((o) => o.key)).toEqual(keys);
    expect(listed.every((o) => o.lastModified instanceof Date)).toBe(true);
  });

  it('stops at the limit, inside a page or at its end', async () => {
    expect((await store.list(BUCKET, 'pending/', 130)).map((o) => o.key)).toEqual(keys.slice(0, 130));
    expect((await store.list(BUCKET, 'pending/', 200)).map((o) => o.key)).toEqual(keys.slice(0, 200));
  });
});

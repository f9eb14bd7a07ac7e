// The MinIO adapter against a real MinIO: its listing reads the keys page by page (small pages
// keep the event loop free for requests) and must still return all of them, in key order, up to
// the limit; and the buckets it creates get the retention rule it is given, or keep their own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { EXPIRY_RULE_ID, MinioStore } from '../src/storage/minio-store.js';
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

/** A bucket's lifecycle rules (the client gives one rule as an object, several as an array). */
async function rulesOf(client: ReturnType<typeof storageClient>, bucket: string): Promise<unknown[]> {
  const rules = (await client.getBucketLifecycle(bucket))?.Rule ?? [];
  return Array.isArray(rules) ? rules : [rules];
}

describe('retention', () => {
  it('when a retention is set, then every bucket gets a rule that expires its objects after that many days', async () => {
    const client = storageClient(testConfig(stack));
    await new MinioStore(client, ['retained-images', 'retained-tasks'], 7).ensureBuckets();
    for (const bucket of ['retained-images', 'retained-tasks']) {
      const rules = await rulesOf(client, bucket);
      expect(rules).toHaveLength(1);
      expect(rules[0]).toMatchObject({ ID: EXPIRY_RULE_ID, Status: 'Enabled', Expiration: { Days: 7 } });
    }
  });

  it("when the retention is 0, then a bucket's own rules are left as they are", async () => {
    const client = storageClient(testConfig(stack));
    await client.makeBucket('operator-rules');
    const own = { ID: 'operator', Status: 'Enabled', Filter: { Prefix: 'old/' }, Expiration: { Days: 400 } };
    await client.setBucketLifecycle('operator-rules', { Rule: [own] });
    await new MinioStore(client, ['operator-rules'], 0).ensureBuckets();
    expect(await rulesOf(client, 'operator-rules')).toMatchObject([{ ID: 'operator' }]);
  });
});

describe('removing several objects in one request', () => {
  it('removes the keys given, and a key that does not exist is not an error', async () => {
    const doomed = ['batch/a', 'batch/b', 'batch/c'];
    await Promise.all(doomed.map((key) => store.put(BUCKET, key, Buffer.alloc(0))));
    await store.removeMany(BUCKET, ['batch/a', 'batch/c', 'batch/never-there']);
    expect((await store.list(BUCKET, 'batch/', 10)).map((o) => o.key)).toEqual(['batch/b']);
  });
});

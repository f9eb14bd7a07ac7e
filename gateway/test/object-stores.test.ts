// The ObjectStore port's promises, kept by both adapters the task repository runs on: MinIO, and
// SQLite (TASK_DB) for the tasks bucket. Conditional writes are what lets a GET, the reconciler and
// other gateways act on one task safely, so they are checked against each, with the same cases.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { MinioStore } from '../src/storage/minio-store.js';
import { type ObjectStore, WriteConflictError } from '../src/storage/object-store.js';
import { SplitStore } from '../src/storage/split-store.js';
import { SqliteStore } from '../src/storage/sqlite-store.js';
import { startMinio, storageClient, testConfig } from './support/harness.js';

const BUCKET = 'contract';
let stack: TestStack;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-streamio-sqlite-'));
const stores: Record<string, ObjectStore> = {};

beforeAll(async () => {
  stack = await startMinio();
  stores.minio = new MinioStore(storageClient(testConfig(stack)), [BUCKET]);
  stores.sqlite = new SqliteStore(path.join(dir, 'tasks.db'));
});
afterAll(async () => {
  (stores.sqlite as SqliteStore | undefined)?.close();
  fs.rmSync(dir, { recursive: true, force: true });
  await stack?.stop();
});

describe.each(['minio', 'sqlite'])('the %s adapter', (name) => {
  const store = () => stores[name] as ObjectStore;
  const body = (text: string) => Buffer.from(text);

  it('when an object is created with If-None-Match, then a second creation conflicts and the first stays', async () => {
    const etag = await store().put(BUCKET, 'records/a.json', body('first'), { ifNoneMatch: '*' });
    await expect(store().put(BUCKET, 'records/a.json', body('second'), { ifNoneMatch: '*' })).rejects.toThrow(
      WriteConflictError,
    );
    expect(await store().get(BUCKET, 'records/a.json')).toEqual({ body: body('first'), etag });
  });

  it('when an object is written with If-Match, then only the ETag last read wins', async () => {
    const first = await store().put(BUCKET, 'records/b.json', body('v1'));
    const second = await store().put(BUCKET, 'records/b.json', body('v2'), { ifMatch: first });
    expect(second).not.toBe(first);
    await expect(store().put(BUCKET, 'records/b.json', body('stale'), { ifMatch: first })).rejects.toThrow(
      WriteConflictError,
    );
    await expect(store().put(BUCKET, 'records/none.json', body('x'), { ifMatch: first })).rejects.toThrow(
      WriteConflictError,
    );
    expect((await store().get(BUCKET, 'records/b.json'))?.body).toEqual(body('v2'));
  });

  it('when objects are missing, then get answers undefined, exists false, and removing them is no error', async () => {
    expect(await store().get(BUCKET, 'records/missing.json')).toBeUndefined();
    expect(await store().exists(BUCKET, 'records/missing.json')).toBe(false);
    await store().remove(BUCKET, 'records/missing.json');
    await store().put(BUCKET, 'records/here.json', body('{}'));
    expect(await store().exists(BUCKET, 'records/here.json')).toBe(true);
  });

  it('when a prefix is listed, then its keys come in key order up to the limit, with their times', async () => {
    const keys = ['pending/3', 'pending/1', 'pending/2', 'pending0', 'other/1'];
    for (const key of keys) await store().put(BUCKET, key, Buffer.alloc(0));
    const listed = await store().list(BUCKET, 'pending/', 10);
    expect(listed.map((o) => o.key)).toEqual(['pending/1', 'pending/2', 'pending/3']);
    expect(listed.every((o) => Math.abs(o.lastModified.getTime() - Date.now()) < 60_000)).toBe(true);
    expect((await store().list(BUCKET, 'pending/', 2)).map((o) => o.key)).toEqual(['pending/1', 'pending/2']);
    await store().removeMany(BUCKET, ['pending/1', 'pending/3', 'pending/never']);
    expect((await store().list(BUCKET, 'pending/', 10)).map((o) => o.key)).toEqual(['pending/2']);
  });
});

describe('the SQLite adapter', () => {
  it('when objects are older than the retention, then opening the store deletes them', () => {
    const file = path.join(dir, 'retention.db');
    const fresh = new SqliteStore(file);
    void fresh.put('tasks', 'records/old.json', Buffer.from('{}'));
    void fresh.put('tasks', 'records/new.json', Buffer.from('{}'));
    fresh.close();
    const db = new DatabaseSync(file);
    db.prepare("UPDATE objects SET modified_ms = ? WHERE key = 'records/old.json'").run(
      Date.now() - 8 * 86_400_000,
    );
    db.close();
    const retained = new SqliteStore(file, 7);
    try {
      return Promise.all([
        expect(retained.exists('tasks', 'records/old.json')).resolves.toBe(false),
        expect(retained.exists('tasks', 'records/new.json')).resolves.toBe(true),
      ]);
    } finally {
      retained.close();
    }
  });

  it('when it is split from MinIO by bucket, then the tasks bucket is in SQLite and the rest in MinIO', async () => {
    const sqlite = stores.sqlite as ObjectStore;
    const minio = stores.minio as ObjectStore;
    const split = new SplitStore(new Map([['tasks', sqlite]]), minio);
    await split.put('tasks', 'records/split.json', Buffer.from('{}'));
    await split.put(BUCKET, 'images/split', Buffer.from('img'));
    expect(await sqlite.exists('tasks', 'records/split.json')).toBe(true);
    expect(await minio.exists(BUCKET, 'images/split')).toBe(true);
    expect(await sqlite.exists(BUCKET, 'images/split')).toBe(false);
    await split.ping();
  });
});

// One ObjectStore over two: the buckets given go to their own store (the tasks bucket to SQLite,
// with TASK_DB), every other to the shared one (MinIO). The task repository then needs no
// knowledge of where each kind of object lives.
import type { ListedObject, ObjectStore, PutOptions, StoredObject } from './object-store.js';

export class SplitStore implements ObjectStore {
  constructor(
    private readonly byBucket: ReadonlyMap<string, ObjectStore>,
    private readonly rest: ObjectStore,
  ) {}

  /** Every store must answer: a task needs its record and its image. */
  async ping(): Promise<void> {
    await Promise.all([this.rest, ...this.byBucket.values()].map((store) => store.ping()));
  }

  put(bucket: string, key: string, body: Buffer, options?: PutOptions): Promise<string> {
    return this.storeOf(bucket).put(bucket, key, body, options);
  }

  get(bucket: string, key: string): Promise<StoredObject | undefined> {
    return this.storeOf(bucket).get(bucket, key);
  }

  exists(bucket: string, key: string): Promise<boolean> {
    return this.storeOf(bucket).exists(bucket, key);
  }

  remove(bucket: string, key: string): Promise<void> {
    return this.storeOf(bucket).remove(bucket, key);
  }

  removeMany(bucket: string, keys: string[]): Promise<void> {
    return this.storeOf(bucket).removeMany(bucket, keys);
  }

  list(bucket: string, prefix: string, limit: number): Promise<ListedObject[]> {
    return this.storeOf(bucket).list(bucket, prefix, limit);
  }

  private storeOf(bucket: string): ObjectStore {
    return this.byBucket.get(bucket) ?? this.rest;
  }
}

// The storage port: what the gateway needs from an object store, nothing more.
// Conditional writes (If-Match / If-None-Match) are what lets several gateway processes
// share one store without locks: a write based on a stale read fails instead of winning.

export interface PutOptions {
  contentType?: string;
  /** Write only if the object's current ETag is this one (optimistic concurrency). */
  ifMatch?: string;
  /** Write only if no object exists under this key. */
  ifNoneMatch?: '*';
}

export interface StoredObject {
  body: Buffer;
  etag: string;
}

export interface ListedObject {
  key: string;
  lastModified: Date;
}

export interface ObjectStore {
  /** Resolves when the store answers; rejects with StorageUnavailableError otherwise. */
  ping(): Promise<void>;
  /** Stores an object and returns its new ETag; rejects with WriteConflictError when a condition fails. */
  put(bucket: string, key: string, body: Buffer, options?: PutOptions): Promise<string>;
  /** The object and its ETag, or undefined when there is none. */
  get(bucket: string, key: string): Promise<StoredObject | undefined>;
  exists(bucket: string, key: string): Promise<boolean>;
  /** Removes an object; removing one that does not exist is not an error. */
  remove(bucket: string, key: string): Promise<void>;
  /** Removes up to 1000 objects in one request; as `remove` for each. */
  removeMany(bucket: string, keys: string[]): Promise<void>;
  /** Up to `limit` objects whose key starts with `prefix`, in key order. */
  list(bucket: string, prefix: string, limit: number): Promise<ListedObject[]>;
}

/** The store cannot be reached or failed a request: nothing can be read or written now. */
export class StorageUnavailableError extends Error {
  readonly code = 'storage_unavailable';
}

/** A conditional write found the object changed (If-Match) or already there (If-None-Match). */
export class WriteConflictError extends Error {
  constructor(
    readonly bucket: string,
    readonly key: string,
  ) {
    super(`conditional write of ${bucket}/${key} failed: the object changed or already exists`);
  }
}

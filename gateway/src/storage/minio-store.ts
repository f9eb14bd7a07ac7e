// MinIO adapter of the ObjectStore port. Every MinIO failure that is not "no such object" or
// "condition failed" becomes a StorageUnavailableError here, so callers above never see MinIO's
// own error types.
import { Client, type LifecycleConfig } from 'minio';
import type { Config } from '../config.js';
import {
  type ListedObject,
  type ObjectStore,
  type PutOptions,
  StorageUnavailableError,
  type StoredObject,
  WriteConflictError,
} from './object-store.js';

/**
 * Keys per LIST request. MinIO allows 1000, but the client parses each page's XML in one go on the
 * event loop: a page of 600 keys held it 40-70 ms on a busy 2-core machine, longer than a POST may
 * take, and one of 100 still up to 20 ms; pages of 50 let other work in between (requests, where a
 * listing runs on the request thread: a queue count gone stale, or a reconciler run in-process).
 */
const LIST_PAGE_SIZE = 50;
export const EXPIRY_RULE_ID = 'mini-streamio-task-retention';

export function minioClient(config: Config): Client {
  const url = new URL(config.MINIO_ENDPOINT);
  const useSSL = url.protocol === 'https:';
  return new Client({
    endPoint: url.hostname,
    port: Number(url.port || (useSSL ? 443 : 80)),
    useSSL,
    accessKey: config.MINIO_ACCESS_KEY,
    secretKey: config.MINIO_SECRET_KEY,
    region: config.MINIO_REGION,
    // The caller decides what to do when MinIO is down; a client-side retry only delays the 503.
    retryOptions: { disableRetry: true },
  });
}

const errorCode = (err: unknown): string | undefined => (err as { code?: string } | null)?.code;
const isMissing = (err: unknown) => ['NoSuchKey', 'NotFound'].includes(errorCode(err) ?? '');
const isConflict = (err: unknown) => errorCode(err) === 'PreconditionFailed';

export class MinioStore implements ObjectStore {
  private bucketsReady: Promise<void> | undefined;

  /**
   * `buckets` are created on first use (idempotently), so MinIO may come up after the gateway; with
   * `expireAfterDays`, MinIO then deletes their objects that many days after their last change.
   */
  constructor(
    private readonly client: Client,
    private readonly buckets: readonly string[] = [],
    private readonly expireAfterDays = 0,
  ) {}

  async ping(): Promise<void> {
    await this.wrap(() => this.client.listBuckets());
  }

  /** Creates the configured buckets once; a failure is retried on the next call. */
  ensureBuckets(): Promise<void> {
    this.bucketsReady ??= this.wrap(async () => {
      for (const bucket of this.buckets) {
        if (await this.client.bucketExists(bucket)) continue;
        try {
          await this.client.makeBucket(bucket);
        } catch (err) {
          // Another gateway created it between our check and our create.
          if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(errorCode(err) ?? '')) throw err;
        }
        if (this.expireAfterDays > 0) await this.client.setBucketLifecycle(bucket, this.expiry());
      }
    }).catch((err: unknown) => {
      this.bucketsReady = undefined;
      throw err;
    });
    return this.bucketsReady;
  }

  /** The lifecycle rule of every bucket: MinIO's scanner deletes what is older than this. */
  private expiry(): LifecycleConfig {
    const rule = { ID: EXPIRY_RULE_ID, Status: 'Enabled', Filter: { Prefix: '' } };
    return { Rule: [{ ...rule, Expiration: { Days: this.expireAfterDays } }] };
  }

  async put(bucket: string, key: string, body: Buffer, options: PutOptions = {}): Promise<string> {
    const headers: Record<string, string> = {};
    if (options.contentType) headers['Content-Type'] = options.contentType;
    if (options.ifMatch) headers['If-Match'] = `"${options.ifMatch}"`;
    if (options.ifNoneMatch) headers['If-None-Match'] = options.ifNoneMatch;
    try {
      const { etag } = await this.call(() => this.client.putObject(bucket, key, body, body.length, headers));
      return etag;
    } catch (err) {
      // Under If-Match, an object that is gone has changed too (MinIO answers NoSuchKey).
      if (isConflict(err) || (options.ifMatch && isMissing(err))) throw new WriteConflictError(bucket, key);
      throw err;
    }
  }

  async get(bucket: string, key: string): Promise<StoredObject | undefined> {
    try {
      return await this.call(async () => {
        const stream = await this.client.getObject(bucket, key);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        // getObject resolves to the HTTP response, whose headers carry the ETag.
        const etag = String((stream as unknown as { headers: Record<string, string> }).headers.etag ?? '');
        return { body: Buffer.concat(chunks), etag: etag.replaceAll('"', '') };
      });
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    try {
      await this.call(() => this.client.statObject(bucket, key));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async remove(bucket: string, key: string): Promise<void> {
    await this.call(() => this.client.removeObject(bucket, key));
  }

  async removeMany(bucket: string, keys: string[]): Promise<void> {
    const failures = await this.call(() => this.client.removeObjects(bucket, keys));
    if (failures.length > 0)
      throw new StorageUnavailableError(
        `MinIO did not remove ${failures.length} of ${keys.length} objects: ${JSON.stringify(failures[0])}`,
      );
  }

  async list(bucket: string, prefix: string, limit: number): Promise<ListedObject[]> {
    return this.call(async () => {
      const found: ListedObject[] = [];
      let token = '';
      do {
        const pageSize = Math.min(LIST_PAGE_SIZE, limit - found.length);
        const page = await this.client.listObjectsV2Query(bucket, prefix, token, '', pageSize, '');
        for (const o of page.objects) if (o.name) found.push({ key: o.name, lastModified: o.lastModified });
        token = page.isTruncated ? page.nextContinuationToken : '';
      } while (token && found.length < limit);
      return found.slice(0, limit);
    });
  }

  /** Runs one operation after the buckets exist, creating them again if one was deleted. */
  private async call<T>(operation: () => Promise<T>): Promise<T> {
    if (this.buckets.length > 0) await this.ensureBuckets();
    return this.wrap(async () => {
      try {
        return await operation();
      } catch (err) {
        if (errorCode(err) !== 'NoSuchBucket') throw err;
        this.bucketsReady = undefined;
        await this.ensureBuckets();
        return await operation();
      }
    });
  }

  /** Lets "no such object" and "condition failed" through; every other failure becomes a 503. */
  private async wrap<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      if (err instanceof StorageUnavailableError || isMissing(err) || isConflict(err)) throw err;
      throw new StorageUnavailableError(`MinIO is unavailable: ${(err as Error).message}`);
    }
  }
}

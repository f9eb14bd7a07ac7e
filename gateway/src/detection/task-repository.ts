// Task records, their images and the pending index, kept in the object store:
//
//   <images bucket>/<task id>                 the uploaded bytes, never rewritten
//   <tasks bucket>/records/<task id>.json     the task record (the source of truth)
//   <tasks bucket>/pending/<task id>          empty marker while the task is queued or processing
//
// The pending markers are the queue: the reconciler lists them instead of every record ever
// written, and their count is the queue depth. See create() for the order of the writes.
import { type ObjectStore, WriteConflictError } from '../storage/object-store.js';
import { type TaskRecord, taskRecordSchema } from './dto.js';

/** A record with the ETag it was read or written with: the precondition of the next write. */
export interface Versioned {
  record: TaskRecord;
  etag: string;
  /**
   * The record is one change ahead of the stored version (whose ETag is `etag`): BentoML accepted
   * the task, and that is written with the task's next change, or once it has run a while.
   */
  unsaved?: boolean;
}

export interface PendingTask {
  taskId: string;
  /** When the marker was written (≈ when the task was accepted). */
  since: Date;
}

export interface TaskBuckets {
  images: string;
  tasks: string;
}

/** Creating a task found one with the same id (same Idempotency-Key). */
export class TaskExistsError extends Error {}

/**
 * Creating a keyed task found another image under its id: a request with the same Idempotency-Key
 * and a different image is being (or was, and crashed) stored. Nothing of this request is kept.
 */
export class ImageConflictError extends Error {}

const recordKey = (taskId: string) => `records/${taskId}.json`;
const PENDING = 'pending/';
const pendingKey = (taskId: string) => `${PENDING}${taskId}`;

/**
 * Markers of finished tasks are removed in batches: one request for those of this long, rather
 * than one per task. A marker outliving its task a little costs nothing (the reconciler finds the
 * record finished, and removes a marker left behind).
 */
const PENDING_REMOVAL_BATCH_MS = 100;

export class TaskRepository {
  /** Markers waiting for the next batched removal, with their callers. */
  private removals: { key: string; done: (err?: unknown) => void }[] = [];

  constructor(
    private readonly store: ObjectStore,
    private readonly buckets: TaskBuckets,
  ) {}

  /**
   * Stores image, pending marker and record; rejects with TaskExistsError when a record with this
   * id is already there (the same Idempotency-Key).
   *
   * `ordered` (tasks named by an Idempotency-Key): the record goes last, once image and marker are
   * durable, so a crash leaves at most a marker without a record (the reconciler removes it after a
   * grace period) and a replay of the key never finds a record without its image. Otherwise (a fresh
   * random id, which no one can name before this answers) all three go at once: one round trip to
   * MinIO instead of two, which is most of a POST's latency. If one of them fails, the others are
   * removed again. Should that fail too (MinIO failing between two writes of one request), what can
   * stay is a record no client was told about: failed by the reconciler (image_missing) when its
   * image is gone, or, without its marker, never listed and never worked on.
   */
  async create(record: TaskRecord, image: Buffer, { ordered }: { ordered: boolean }): Promise<Versioned> {
    const { images, tasks } = this.buckets;
    const putImage = () =>
      // An image is never replaced: a replay with the same Idempotency-Key keeps the first upload,
      // and one with other bytes must not win the record over it (its task would run on them).
      this.store
        .put(images, record.image.key, image, { contentType: record.image.content_type, ifNoneMatch: '*' })
        .catch(async (err: unknown) => {
          if (!(err instanceof WriteConflictError)) throw err;
          const stored = await this.store.get(images, record.image.key);
          if (stored && !stored.body.equals(image))
            throw new ImageConflictError(`another image is stored for task ${record.task_id}`);
          return '';
        });
    const putMarker = () => this.store.put(tasks, pendingKey(record.task_id), Buffer.alloc(0));
    const putRecord = () =>
      this.store.put(tasks, recordKey(record.task_id), serialize(record), {
        contentType: 'application/json',
        ifNoneMatch: '*',
      });
    try {
      if (ordered) {
        throwFirstFailure(await Promise.allSettled([putImage(), putMarker()]));
        return { record, etag: await putRecord() };
      }
      const [recordWrite, ...others] = await Promise.allSettled([putRecord(), putImage(), putMarker()]);
      if (recordWrite.status === 'fulfilled' && others.some((w) => w.status === 'rejected'))
        await this.store.remove(tasks, recordKey(record.task_id)).catch(() => {});
      throwFirstFailure([recordWrite, ...others]);
      return { record, etag: (recordWrite as PromiseFulfilledResult<string>).value };
    } catch (err) {
      if (err instanceof WriteConflictError) throw new TaskExistsError(`task ${record.task_id} exists`);
      // What is stored is the other request's (the marker is the same object for both).
      if (err instanceof ImageConflictError) throw err;
      // Best effort: MinIO may be the thing that failed; the reconciler removes what stays.
      await this.removeOrphan(record.task_id).catch(() => {});
      throw err;
    }
  }

  async read(taskId: string): Promise<Versioned | undefined> {
    const stored = await this.store.get(this.buckets.tasks, recordKey(taskId));
    if (!stored) return undefined;
    const record = taskRecordSchema.parse(JSON.parse(stored.body.toString('utf8')));
    return { record, etag: stored.etag };
  }

  async exists(taskId: string): Promise<boolean> {
    return this.store.exists(this.buckets.tasks, recordKey(taskId));
  }

  /** Writes `next` only if the record is still the one read with `etag` (else WriteConflictError). */
  async update(next: TaskRecord, etag: string): Promise<Versioned> {
    const newEtag = await this.store.put(this.buckets.tasks, recordKey(next.task_id), serialize(next), {
      contentType: 'application/json',
      ifMatch: etag,
    });
    return { record: next, etag: newEtag };
  }

  async readImage(record: TaskRecord): Promise<Buffer | undefined> {
    return (await this.store.get(this.buckets.images, record.image.key))?.body;
  }

  /** Tasks not yet completed or failed, oldest marker key first (at most `limit`). */
  async listPending(limit: number): Promise<PendingTask[]> {
    const listed = await this.store.list(this.buckets.tasks, PENDING, limit);
    return listed.map((o) => ({ taskId: o.key.slice(PENDING.length), since: o.lastModified }));
  }

  /** Removes the task from the queue (once it is completed or failed), in the next batch. */
  removePending(taskId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.removals.length === 0)
        setTimeout(() => void this.removeBatch(), PENDING_REMOVAL_BATCH_MS).unref();
      this.removals.push({ key: pendingKey(taskId), done: (err) => (err ? reject(err) : resolve()) });
    });
  }

  private async removeBatch(): Promise<void> {
    const batch = this.removals.splice(0, 1000);
    if (this.removals.length > 0) setTimeout(() => void this.removeBatch(), 0).unref();
    const keys = batch.map((r) => r.key);
    const failure = await this.store.removeMany(this.buckets.tasks, keys).then(
      () => undefined,
      (err: unknown) => err ?? new Error('removal failed'),
    );
    for (const removal of batch) removal.done(failure);
  }

  /** Removes what a task creation that never wrote its record left behind. */
  async removeOrphan(taskId: string): Promise<void> {
    await this.store.remove(this.buckets.images, taskId);
    await this.store.remove(this.buckets.tasks, pendingKey(taskId));
  }
}

/** The key of a task's image in the images bucket. */
export const imageKey = (taskId: string) => taskId;

function serialize(record: TaskRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

function throwFirstFailure(writes: PromiseSettledResult<unknown>[]): void {
  for (const write of writes) if (write.status === 'rejected') throw write.reason;
}

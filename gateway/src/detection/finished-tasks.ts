// Records of finished tasks (completed or failed) kept in memory for GET /image/detect: a
// finished record never changes again, so this copy answers as MinIO would, without a request
// to it. Bounded in count and age: the oldest entry goes first, and one older than `maxAgeMs`
// is read from MinIO again (which deletes tasks after TASK_RETENTION_DAYS: a copy must not
// outlive that).
import type { TaskRecord } from './dto.js';
import { callbackPending, isTerminal } from './task-state.js';

export class FinishedTasks {
  /** In the order remembered, oldest first. */
  private readonly records = new Map<string, { record: TaskRecord; at: number }>();

  constructor(
    private readonly capacity: number,
    private readonly maxAgeMs: number,
  ) {}

  get(taskId: string): TaskRecord | undefined {
    const entry = this.records.get(taskId);
    if (!entry) return undefined;
    if (Date.now() - entry.at <= this.maxAgeMs) return entry.record;
    this.records.delete(taskId);
    return undefined;
  }

  /** Keeps `record` if it is finished for good (a webhook still to deliver changes it); else ignored. */
  remember(record: TaskRecord): void {
    if (this.capacity === 0 || !isTerminal(record.status) || callbackPending(record)) return;
    this.records.delete(record.task_id);
    this.records.set(record.task_id, { record, at: Date.now() });
    if (this.records.size > this.capacity) this.records.delete(this.records.keys().next().value as string);
  }
}

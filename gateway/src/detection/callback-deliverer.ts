// Delivers the completion webhook of a finished task (callback_url at POST): at once when the
// task finishes, then, after a failure, on the reconciler's listings once the back-off is over.
// At least once: the task stays in the pending index until its delivery is settled (delivered,
// or given up after CALLBACK_MAX_ATTEMPTS), so another gateway, or this one restarted, carries
// on. The outcome is written with If-Match; two gateways may both deliver, never lose one.
import type { Logger } from 'pino';
import {
  CallbackFailedError,
  CallbackRefusedError,
  type CallbackSender,
} from '../callbacks/callback-sender.js';
import { WriteConflictError } from '../storage/object-store.js';
import { type CallbackState, toView } from './dto.js';
import type { TaskRepository, Versioned } from './task-repository.js';
import {
  type CallbackPolicy,
  callbackDelivered,
  callbackDue,
  callbackFailed,
  callbackPending,
} from './task-state.js';

export class CallbackDeliverer {
  /** Deliveries under way in this process, so a listing does not start a second one. */
  private readonly inflight = new Set<string>();

  constructor(
    private readonly repo: TaskRepository,
    private readonly sender: CallbackSender,
    private readonly policy: CallbackPolicy,
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Delivers the task's webhook if it is due, and records how that went. */
  async deliverIfDue(task: Versioned): Promise<void> {
    const { record } = task;
    const id = record.task_id;
    if (!callbackDue(record, this.clock()) || this.inflight.has(id)) return;
    this.inflight.add(id);
    try {
      const { url } = record.callback as CallbackState;
      let next: typeof record;
      try {
        await this.sender.send(url, JSON.stringify(toView(record)));
        next = callbackDelivered(record, this.clock());
      } catch (err) {
        if (!(err instanceof CallbackFailedError || err instanceof CallbackRefusedError)) throw err;
        next = callbackFailed(record, err.message, this.clock(), this.policy);
        this.log.warn(
          { task_id: id, url, err: err.message, callback: next.callback },
          'webhook not delivered',
        );
      }
      await this.repo.update(next, task.etag);
      if (!callbackPending(next)) await this.repo.removePending(id);
    } catch (err) {
      // Another gateway recorded a delivery meanwhile: its record stands. Anything else (MinIO
      // down): the task stays pending, and a later listing tries again.
      if (!(err instanceof WriteConflictError))
        this.log.warn({ task_id: id, err: (err as Error).message }, 'webhook delivery not recorded');
    } finally {
      this.inflight.delete(id);
    }
  }
}

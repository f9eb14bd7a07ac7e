// What the use cases (submit-detection.ts, get-detection.ts) work with: the detection parts
// compose.ts builds, and the reconciler's side of a task, wherever the reconciler runs.
import type { Logger } from 'pino';
import type { CallbackSender } from '../callbacks/callback-sender.js';
import type { TaskRecord } from './dto.js';
import type { FinishedTasks } from './finished-tasks.js';
import type { ImageLimits } from './image-inspection.js';
import type { QueueDepth } from './queue-depth.js';
import type { TaskAdvancer } from './task-advancer.js';
import type { TaskRepository, Versioned } from './task-repository.js';
import type { TaskWaiters } from './task-waiters.js';

export interface DetectionContext {
  repo: TaskRepository;
  /** Checks a callback_url at POST (the same rules its deliveries meet). */
  callbacks: CallbackSender;
  advancer: TaskAdvancer;
  queueDepth: QueueDepth;
  limits: ImageLimits;
  getBudgetMs: number;
  /** Hands a task this process accepted (and its bytes, for the first submission) to the reconciler. */
  track(task: Versioned, image?: Buffer): void;
  /** A task the reconciler holds, moved forward if due; undefined when it does not hold it. */
  advanceTracked(taskId: string): Promise<TaskRecord | undefined>;
  /** Whether the reconciler holds the task (its finish is then news to this process). */
  tracks(taskId: string): boolean;
  /** Finished records this process wrote or read, so a GET needs no MinIO read for them. */
  finished: FinishedTasks;
  /** Long-polling GETs, woken when this process finishes their task. */
  waiters: TaskWaiters;
  /**
   * How often a long-polling GET looks at a task again without news of it: one another gateway
   * moves (news only through MinIO); a task held here is woken by its finish, and this interval
   * times 10 is only a safety net (each look may poll BentoML).
   */
  waitRecheckMs: number;
  log: Logger;
}

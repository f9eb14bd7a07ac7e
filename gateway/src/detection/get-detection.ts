// Use case: the state of a task, moved forward first if something is due (a result waiting
// at BentoML, a lost task to re-submit), within a small time budget. With a wait, it answers
// once the task is finished or the wait is over, whichever comes first (long polling).
import { setTimeout as sleep } from 'node:timers/promises';
import type { DetectionContext } from './detection-context.js';
import { type TaskRecord, type TaskView, toView } from './dto.js';
import { DetectionError } from './errors.js';
import { isTerminal } from './task-state.js';

export interface WaitOptions {
  /** How long to wait for the task to finish (0: answer at once). */
  waitMs: number;
  /** Aborted when the client has gone: stop waiting. */
  signal?: AbortSignal;
}

export async function getDetection(
  ctx: DetectionContext,
  taskId: string,
  { waitMs, signal }: WaitOptions = { waitMs: 0 },
): Promise<TaskView> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const view = await currentView(ctx, taskId);
    const left = deadline - Date.now();
    if (isTerminal(view.status) || left <= 0 || signal?.aborted || ctx.waiters.isClosed) return view;
    // Woken when this process finishes the task; a task another gateway moves is looked at again
    // after the recheck interval (one held here much later, should its news be missed).
    const recheckMs = ctx.tracks(taskId) ? 10 * ctx.waitRecheckMs : ctx.waitRecheckMs;
    await ctx.waiters.wait(taskId, Math.min(left, recheckMs), signal);
  }
}

async function currentView(ctx: DetectionContext, taskId: string): Promise<TaskView> {
  // A finished task, or one this process accepted: answered from memory, no MinIO read.
  const known = ctx.finished.get(taskId) ?? (await ctx.advanceTracked(taskId));
  if (known) return answer(ctx, known);
  const task = await ctx.repo.read(taskId);
  if (!task) throw new DetectionError('task_not_found', `there is no task ${taskId}`);
  if (isTerminal(task.record.status)) return answer(ctx, task.record);
  const advancing = ctx.advancer.advance(task).catch((err: unknown) => {
    ctx.log.warn({ task_id: taskId, err: (err as Error).message }, 'could not advance task on read');
    return task;
  });
  // Past the budget, answer with what was read; the work goes on in the background.
  const budget = sleep(ctx.getBudgetMs, task, { ref: false });
  return answer(ctx, (await Promise.race([advancing, budget])).record);
}

/** The view of `record`, which is kept for the next GET if it is finished. */
function answer(ctx: DetectionContext, record: TaskRecord): TaskView {
  ctx.finished.remember(record);
  return toView(record);
}

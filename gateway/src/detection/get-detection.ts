// Use case: the state of a task, moved forward first if something is due (a result waiting
// at BentoML, a lost task to re-submit), within a small time budget.
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../http/errors.js';
import type { DetectionContext } from './detection-module.js';
import { type TaskRecord, type TaskView, toView } from './dto.js';
import { isTerminal } from './task-state.js';

export async function getDetection(ctx: DetectionContext, taskId: string): Promise<TaskView> {
  // A finished task, or one this process accepted: answered from memory, no MinIO read.
  const known = ctx.finished.get(taskId) ?? (await ctx.advanceTracked(taskId));
  if (known) return answer(ctx, known);
  const task = await ctx.repo.read(taskId);
  if (!task) throw new AppError(404, 'task_not_found', `there is no task ${taskId}`);
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

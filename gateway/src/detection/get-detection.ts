// Use case: the state of a task, moved forward first if something is due (a result waiting
// at BentoML, a lost task to re-submit), within a small time budget.
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../http/errors.js';
import type { DetectionContext } from './detection-module.js';
import { type TaskView, toView } from './dto.js';
import { isTerminal } from './task-state.js';

export async function getDetection(ctx: DetectionContext, taskId: string): Promise<TaskView> {
  const task = await ctx.repo.read(taskId);
  if (!task) throw new AppError(404, 'task_not_found', `there is no task ${taskId}`);
  if (isTerminal(task.record.status)) return toView(task.record);
  const advancing = ctx.advancer.advance(task).catch((err: unknown) => {
    ctx.log.warn({ task_id: taskId, err: (err as Error).message }, 'could not advance task on read');
    return task;
  });
  // Past the budget, answer with what was read; the work goes on in the background.
  const budget = sleep(ctx.getBudgetMs, task, { ref: false });
  return toView((await Promise.race([advancing, budget])).record);
}

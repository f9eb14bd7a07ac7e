// Use case: accept an image for detection. Everything is checked before anything is
// stored; the answer comes once image and record are durable in MinIO, and the submission to
// BentoML happens after it, so the caller never waits for the model server.
import { AppError } from '../http/errors.js';
import type { DetectionContext } from './detection-module.js';
import { type DetectionParams, type TaskView, toView } from './dto.js';
import { inspectImage } from './image-inspection.js';
import { newTaskId, taskIdForKey } from './task-id.js';
import { imageKey, TaskExistsError } from './task-repository.js';
import { newTask } from './task-state.js';

export interface SubmitInput {
  image: Buffer;
  params: DetectionParams;
  idempotencyKey?: string;
}

export interface SubmitResult {
  task: TaskView;
  /** False when the Idempotency-Key named a task that already existed. */
  created: boolean;
}

export async function submitDetection(ctx: DetectionContext, input: SubmitInput): Promise<SubmitResult> {
  const inspected = inspectImage(input.image, ctx.limits);
  const taskId = input.idempotencyKey ? taskIdForKey(input.idempotencyKey) : newTaskId();
  if (input.idempotencyKey) {
    const existing = await ctx.repo.read(taskId);
    if (existing) return { task: toView(existing.record), created: false };
  }
  if (await ctx.queueDepth.isFull())
    throw new AppError(
      429,
      'queue_full',
      `${ctx.queueDepth.maxDepth} tasks are waiting (MAX_QUEUE_DEPTH); try again shortly`,
      undefined,
      { 'Retry-After': '1' },
    );
  const record = newTask({
    taskId,
    params: input.params,
    image: {
      key: imageKey(taskId),
      content_type: inspected.contentType,
      bytes: input.image.length,
      width: inspected.width,
      height: inspected.height,
    },
    now: new Date(),
    // While BentoML is known to be down the task just waits for the reconciler.
    claimed: ctx.advancer.inferenceReadyHint(),
  });
  let created: Awaited<ReturnType<typeof ctx.repo.create>>;
  try {
    // A keyed task can be asked for again before this answers: its record must come last.
    created = await ctx.repo.create(record, input.image, { ordered: Boolean(input.idempotencyKey) });
  } catch (err) {
    // The same Idempotency-Key raced with us and won: answer with its task.
    const winner = err instanceof TaskExistsError ? await ctx.repo.read(taskId) : undefined;
    if (winner) return { task: toView(winner.record), created: false };
    throw err;
  }
  ctx.queueDepth.accepted();
  // The reconciler submits it (now, if claimed); if that fails it tries again later: nothing is lost.
  ctx.track(created, input.image);
  return { task: toView(created.record), created: true };
}

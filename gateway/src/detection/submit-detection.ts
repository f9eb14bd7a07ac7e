// Use case: accept an image for detection. Everything is checked before anything is
// stored; the answer comes once image and record are durable in MinIO, and the submission to
// BentoML happens after it, so the caller never waits for the model server.
import { CallbackRefusedError } from '../callbacks/callback-sender.js';
import type { DetectionContext } from './detection-context.js';
import { type DetectionParams, type TaskRecord, type TaskView, toView } from './dto.js';
import { DetectionError } from './errors.js';
import { inspectImage } from './image-inspection.js';
import { requestSha256 } from './request-fingerprint.js';
import { newTaskId, taskIdForKey } from './task-id.js';
import { ImageConflictError, imageKey, TaskExistsError } from './task-repository.js';
import { newTask } from './task-state.js';

export interface SubmitInput {
  image: Buffer;
  params: DetectionParams;
  idempotencyKey?: string;
  /** Where to POST the task once it is finished. */
  callbackUrl?: string;
}

export interface SubmitResult {
  task: TaskView;
  /** False when the Idempotency-Key named a task that already existed. */
  created: boolean;
}

export async function submitDetection(ctx: DetectionContext, input: SubmitInput): Promise<SubmitResult> {
  const inspected = inspectImage(input.image, ctx.limits);
  const taskId = input.idempotencyKey ? taskIdForKey(input.idempotencyKey) : newTaskId();
  // Only a keyed request can be replayed, so only its record carries what it asked for.
  const fingerprint = input.idempotencyKey
    ? requestSha256(input.image, input.params, input.callbackUrl)
    : undefined;
  if (input.callbackUrl) await checkCallbackUrl(ctx, input.callbackUrl);
  if (input.idempotencyKey) {
    const existing = await ctx.repo.read(taskId);
    if (existing) return { task: sameRequestOr422(existing.record, fingerprint), created: false };
  }
  if (await ctx.queueDepth.isFull())
    throw new DetectionError(
      'queue_full',
      `${ctx.queueDepth.maxDepth} tasks are waiting (MAX_QUEUE_DEPTH); try again shortly`,
      1,
    );
  const record = newTask({
    taskId,
    params: input.params,
    requestSha256: fingerprint,
    callbackUrl: input.callbackUrl,
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
    // The same Idempotency-Key raced with us and won: answer with its task, if it is this request's.
    if (err instanceof ImageConflictError) throw keyReused();
    const winner = err instanceof TaskExistsError ? await ctx.repo.read(taskId) : undefined;
    if (winner) return { task: sameRequestOr422(winner.record, fingerprint), created: false };
    throw err;
  }
  ctx.queueDepth.accepted();
  // The reconciler submits it (now, if claimed); if that fails it tries again later: nothing is lost.
  ctx.track(created, input.image);
  return { task: toView(created.record), created: true };
}

async function checkCallbackUrl(ctx: DetectionContext, url: string): Promise<void> {
  try {
    await ctx.callbacks.check(url);
  } catch (err) {
    if (err instanceof CallbackRefusedError) throw new DetectionError('callback_url_refused', err.message);
    throw err;
  }
}

/** The task of an earlier request with this key, if it asked for the same (older records: assumed). */
function sameRequestOr422(record: TaskRecord, fingerprint: string | undefined): TaskView {
  if (record.request_sha256 !== undefined && record.request_sha256 !== fingerprint) throw keyReused();
  return toView(record);
}

const keyReused = () =>
  new DetectionError(
    'idempotency_key_reused',
    'this Idempotency-Key was used for another request, with a different image or parameters; use a new key',
  );

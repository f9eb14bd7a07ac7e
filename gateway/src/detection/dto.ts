// Data shapes of the detection service, as zod schemas: request parameters, what BentoML
// answers (checked, never trusted), the task record kept in MinIO and the public task view.
import { z } from 'zod';
import { type Bounded, DETECTION_DEFAULTS } from './detection-defaults.js';

const between = (number: z.ZodCoercedNumber, { minimum, maximum, default: value }: Bounded) =>
  number.min(minimum).max(maximum).default(value);

export const detectionParamsSchema = z.object({
  conf: between(z.coerce.number(), DETECTION_DEFAULTS.conf),
  iou: between(z.coerce.number(), DETECTION_DEFAULTS.iou),
  max_det: between(z.coerce.number().int(), DETECTION_DEFAULTS.max_det),
});
export type DetectionParams = z.infer<typeof detectionParamsSchema>;

export const taskIdSchema = z.uuid({ message: 'task_id must be a UUID' });

/** Where to POST the finished task (a webhook); the URL policy checks the rest. */
export const callbackUrlSchema = z.string().min(1).max(2048).optional();

/** The longest a GET may wait for its task to finish (`wait=`, seconds). */
export const MAX_WAIT_S = 30;
export const waitSchema = z.coerce.number().int().min(0).max(MAX_WAIT_S).default(0);

export const taskStatusSchema = z.enum(['queued', 'processing', 'completed', 'failed']);
export type TaskStatus = z.infer<typeof taskStatusSchema>;

const number4 = String.raw`-?\d+(?:\.\d+)?`;
const instanceSchema = z.object({
  boundingBox: z.string().regex(new RegExp(`^${number4} ${number4} ${number4} ${number4}$`)),
  class: z.string().regex(/^\d+$/),
  className: z.string(),
  confidence: z.number().min(0).max(1),
});

export const detectionResponseSchema = z.object({
  instances: z.array(instanceSchema),
  image: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }),
  // backend and precision are absent from tasks stored before runtimes were reported.
  model: z.object({
    name: z.string(),
    version: z.string(),
    backend: z.string().optional(),
    precision: z.string().optional(),
  }),
  inference_ms: z.number().nonnegative(),
});
export type DetectionResponse = z.infer<typeof detectionResponseSchema>;

export const taskErrorSchema = z.object({ code: z.string().min(1), message: z.string() });
export type TaskError = z.infer<typeof taskErrorSchema>;

/** BentoML's answer for a completed task: exactly one of response / error. */
export const detectionOutcomeSchema = z
  .object({ response: detectionResponseSchema.nullable(), error: taskErrorSchema.nullable() })
  .refine((o) => (o.response === null) !== (o.error === null), 'exactly one of response / error is set');
export type DetectionOutcome = z.infer<typeof detectionOutcomeSchema>;

/** Why an attempt was dropped and the task submitted again. */
export const retryReasonSchema = z.enum(['lost', 'timeout', 'failed', 'abandoned']);
export type RetryReason = z.infer<typeof retryReasonSchema>;

/**
 * The durable task, one JSON object per task in the tasks bucket. `revision` grows on every
 * write, so no two versions have the same bytes and hence the same ETag (no ABA on If-Match).
 */
export const taskRecordSchema = z.object({
  task_id: z.uuid(),
  status: taskStatusSchema,
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  revision: z.number().int().nonnegative(),
  params: detectionParamsSchema,
  image: z.object({
    key: z.string(),
    content_type: z.string(),
    bytes: z.number().int().nonnegative(),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
  }),
  /**
   * Of a task named by an Idempotency-Key: what its request asked for (request-fingerprint.ts), so
   * a replay asking for something else is refused. Absent on other tasks and on older records.
   */
  request_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /** Submissions started, including the current one. */
  attempts: z.number().int().nonnegative(),
  /**
   * The current submission: claimed (inference_task_id null: a gateway is sending it now)
   * or accepted by BentoML. Null when the task waits to be submitted.
   */
  current: z.object({ inference_task_id: z.string().nullable(), started_at: z.iso.datetime() }).nullable(),
  last_retry: z.object({ reason: retryReasonSchema, at: z.iso.datetime(), message: z.string() }).nullable(),
  response: detectionResponseSchema.optional(),
  error: taskErrorSchema.optional(),
  /** The completion webhook asked for at POST (callback_url), and how its delivery stands. */
  callback: z
    .object({
      url: z.url(),
      state: z.enum(['pending', 'delivered', 'failed']),
      /** Deliveries tried so far. */
      attempts: z.number().int().nonnegative(),
      /** The next delivery is due from then (while pending and tried before). */
      next_at: z.iso.datetime().optional(),
      last_error: z.string().optional(),
      delivered_at: z.iso.datetime().optional(),
    })
    .optional(),
});
export type TaskRecord = z.infer<typeof taskRecordSchema>;
export type CallbackState = NonNullable<TaskRecord['callback']>;

/** What GET /image/detect answers. */
export interface TaskView {
  task_id: string;
  status: TaskStatus;
  created_at: string;
  updated_at: string;
  response?: DetectionResponse;
  error?: TaskError;
  callback?: Omit<CallbackState, 'next_at'>;
}

export function toView(record: TaskRecord): TaskView {
  const view: TaskView = {
    task_id: record.task_id,
    status: record.status,
    created_at: record.created_at,
    updated_at: record.updated_at,
  };
  if (record.status === 'completed') view.response = record.response;
  if (record.status === 'failed') view.error = record.error;
  if (record.callback) {
    const { next_at: _, ...callback } = record.callback;
    view.callback = callback;
  }
  return view;
}

// POST/GET /image/detect: thin handlers from HTTP to the use cases. express-openapi-validator
// has already checked the request against openapi.yaml; zod turns it into typed DTOs.
import { Router } from 'express';
import type { z } from 'zod';
import type { DetectionContext } from '../detection/detection-context.js';
import { callbackUrlSchema, detectionParamsSchema, taskIdSchema, waitSchema } from '../detection/dto.js';
import { getDetection } from '../detection/get-detection.js';
import { submitDetection } from '../detection/submit-detection.js';
import { AppError } from './errors.js';

/** A file multer (inside express-openapi-validator) kept in memory. */
interface UploadedFile {
  fieldname: string;
  buffer: Buffer;
}

export function detectionRoutes(ctx: DetectionContext): Router {
  const router = Router();

  router.post('/image/detect', async (req, res) => {
    const params = parse(detectionParamsSchema, req.query);
    const files = (req.files as UploadedFile[] | undefined) ?? [];
    const image = files.find((f) => f.fieldname === 'image');
    if (!image || files.length !== 1)
      throw new AppError(400, 'invalid_request', 'send exactly one file, in the multipart field "image"');
    const { task } = await submitDetection(ctx, {
      image: image.buffer,
      params,
      idempotencyKey: req.get('idempotency-key'),
      callbackUrl: parse(callbackUrlSchema, req.query.callback_url),
    });
    res
      .status(202)
      .location(`/image/detect?task_id=${task.task_id}`)
      .json({ task_id: task.task_id, status: task.status });
  });

  router.get('/image/detect', async (req, res) => {
    const taskId = parse(taskIdSchema, req.query.task_id);
    const waitS = parse(waitSchema, req.query.wait);
    // A client that leaves stops the wait (close before the answer is written: it went away).
    const left = new AbortController();
    res.on('close', () => left.abort());
    const view = await getDetection(ctx, taskId, { waitMs: waitS * 1000, signal: left.signal });
    if (!res.writableEnded && !left.signal.aborted) res.json(view);
  });

  return router;
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ');
  throw new AppError(400, 'invalid_request', message);
}

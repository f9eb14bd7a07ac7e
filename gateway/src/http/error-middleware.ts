// The one error middleware: maps every failure to {"error": {"code", "message", "details?"}},
// and is the one place that gives the use cases' and the ports' errors an HTTP status.
import type { ErrorRequestHandler } from 'express';
import { DetectionError, type DetectionErrorCode } from '../detection/errors.js';
import { InferenceError, type InferenceFailure } from '../inference/inference-client.js';
import { StorageUnavailableError } from '../storage/object-store.js';
import { AppError } from './errors.js';

const DETECTION_STATUS: Record<DetectionErrorCode, number> = {
  task_not_found: 404,
  queue_full: 429,
  idempotency_key_reused: 422,
  callback_url_refused: 422,
  image_too_large: 413,
  image_empty: 400,
  unsupported_image_type: 415,
  image_too_many_pixels: 422,
  image_unreadable: 422,
};

/** The model server down or not ready: 503; too slow: 504; an answer we cannot use: 502. */
const INFERENCE_STATUS: Record<InferenceFailure, number> = {
  unavailable: 503,
  timeout: 504,
  bad_response: 502,
};

/** What express-openapi-validator throws: an HTTP status and the schema violations. */
interface ValidatorError {
  status: number;
  message: string;
  errors?: { path?: string; message?: string }[];
}

const isValidatorError = (err: unknown): err is ValidatorError =>
  typeof (err as ValidatorError | null)?.status === 'number' && Array.isArray((err as ValidatorError).errors);

export function errorHandler(maxImageBytes: number): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = toAppError(err, maxImageBytes);
    if (error.code === 'internal') req.log?.error({ err }, 'unexpected error');
    const body = { code: error.code, message: error.message };
    res
      .status(error.status)
      .set(error.headers)
      .json({ error: error.details === undefined ? body : { ...body, details: error.details } });
  };
}

function toAppError(err: unknown, maxImageBytes: number): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof DetectionError) {
    const headers: Record<string, string> =
      err.retryAfterS === undefined ? {} : { 'Retry-After': String(err.retryAfterS) };
    return new AppError(DETECTION_STATUS[err.code], err.code, err.message, undefined, headers);
  }
  if (err instanceof InferenceError)
    return new AppError(INFERENCE_STATUS[err.failure], err.code, err.message);
  if (err instanceof StorageUnavailableError) return new AppError(503, err.code, err.message);
  if (isValidatorError(err)) return fromValidator(err, maxImageBytes);
  return new AppError(500, 'internal', 'internal error');
}

function fromValidator(err: ValidatorError, maxImageBytes: number): AppError {
  const details = err.errors?.map((e) => ({ path: e.path, message: e.message }));
  switch (err.status) {
    case 400: {
      const problems = (err.errors ?? []).map((e) => `${e.path?.replace(/^\/?/, '') ?? ''} ${e.message}`);
      return new AppError(400, 'invalid_request', problems.join('; ') || err.message, details);
    }
    case 404:
      return new AppError(404, 'not_found', 'no such endpoint; see /docs');
    case 405:
      return new AppError(405, 'method_not_allowed', err.message);
    case 413:
      return new AppError(
        413,
        'image_too_large',
        `the upload is larger than ${maxImageBytes} bytes (MAX_IMAGE_BYTES) or has too many files`,
      );
    case 415:
      return new AppError(
        415,
        'unsupported_media_type',
        'send multipart/form-data with the image in the field "image"',
      );
    default:
      return new AppError(
        err.status,
        err.status >= 500 ? 'internal' : 'invalid_request',
        err.message,
        details,
      );
  }
}

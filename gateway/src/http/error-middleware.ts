// The one error middleware: maps every failure to {"error": {"code", "message", "details?"}}.
import type { ErrorRequestHandler } from 'express';
import { AppError } from './errors.js';

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
    if (error.status >= 500 && !(err instanceof AppError)) req.log?.error({ err }, 'unexpected error');
    const body = { code: error.code, message: error.message };
    res
      .status(error.status)
      .set(error.headers)
      .json({ error: error.details === undefined ? body : { ...body, details: error.details } });
  };
}

function toAppError(err: unknown, maxImageBytes: number): AppError {
  if (err instanceof AppError) return err;
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

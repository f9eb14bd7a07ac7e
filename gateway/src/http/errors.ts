// One error type for everything the API answers with a non-2xx status, and one body shape.
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** A dependency (MinIO, BentoML) failed or is unreachable. */
export class UpstreamError extends AppError {
  constructor(code: string, message: string, status = 503) {
    super(status, code, message);
  }
}

// One error type for everything the API answers with a non-2xx status, and one body shape:
// {"error": {"code", "message", "details?"}}.
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Extra response headers, e.g. Retry-After on 429. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A dependency (MinIO, BentoML) failed or is unreachable: 503, or 502 / 504 for bad / slow answers. */
export class UpstreamError extends AppError {
  constructor(code: string, message: string, status: 502 | 503 | 504 = 503) {
    super(status, code, message);
  }
}

// The HTTP layer's error: a status, a code and a message, answered as
// {"error": {"code", "message", "details?"}}. Errors of the use cases and of the ports are their
// own types (detection/errors.ts, storage/object-store.ts, inference/inference-client.ts), given
// their status in error-middleware.ts.
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

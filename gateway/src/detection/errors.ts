// What the detection use cases refuse, by code; http/error-middleware.ts gives each its status.
export type DetectionErrorCode =
  | 'task_not_found'
  | 'queue_full'
  | 'idempotency_key_reused'
  | 'callback_url_refused'
  | 'image_too_large'
  | 'image_empty'
  | 'unsupported_image_type'
  | 'image_too_many_pixels'
  | 'image_unreadable';

export class DetectionError extends Error {
  constructor(
    readonly code: DetectionErrorCode,
    message: string,
    /** When trying again may work (queue_full): after about this many seconds. */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

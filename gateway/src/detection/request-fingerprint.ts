// What a keyed request asked for, as one digest kept in its task record: a replay of the
// Idempotency-Key must ask for the same thing, or it is refused instead of answered with a task
// that is not what it asked for.
import { createHash } from 'node:crypto';
import type { DetectionParams } from './dto.js';

/**
 * SHA-256 over the validated parameters (defaults applied; keys in a fixed order, so `conf=0.5`
 * and `conf=0.50` or another order of the query are one request) and then the image bytes. The
 * JSON has no newline, so the one after it separates the two unambiguously.
 */
export function requestSha256(image: Buffer, params: DetectionParams, callbackUrl?: string): string {
  const asked = { conf: params.conf, iou: params.iou, max_det: params.max_det };
  // Only when given, so fingerprints of requests without one stay as they were.
  const canonical = JSON.stringify(
    callbackUrl === undefined ? asked : { ...asked, callback_url: callbackUrl },
  );
  return createHash('sha256').update(`${canonical}\n`, 'utf8').update(image).digest('hex');
}

// The inference port: what the gateway needs from the model server.
import type { DetectionOutcome, DetectionParams } from '../detection/dto.js';

export interface ImageUpload {
  bytes: Buffer;
  contentType: string;
}

/** What the model server says about one of its tasks; `not_found` means it forgot it (e.g. restarted). */
export type InferenceTaskStatus = 'in_progress' | 'completed' | 'failed' | 'canceled' | 'not_found';

/**
 * Implementations throw UpstreamError (503 unreachable, 504 timeout, 502 bad answer) when the
 * server cannot be asked, and InferenceRejectedError when it refuses the input itself.
 */
export interface InferenceClient {
  /** True when the model server reports it can take work (a model is loaded). */
  isReady(): Promise<boolean>;
  /** Hands an image to the server's task queue; returns the server's task id. */
  submit(image: ImageUpload, params: DetectionParams): Promise<string>;
  status(inferenceTaskId: string): Promise<InferenceTaskStatus>;
  /** The outcome of a completed task, or undefined if the server no longer knows the task. */
  result(inferenceTaskId: string): Promise<DetectionOutcome | undefined>;
}

/** The model server refused a submission as invalid (4xx): submitting it again would not help. */
export class InferenceRejectedError extends Error {}

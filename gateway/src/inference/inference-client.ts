// The inference port: what the gateway needs from the model server.
import type { DetectionOutcome, DetectionParams } from '../detection/dto.js';

export interface ImageUpload {
  bytes: Buffer;
  contentType: string;
}

/**
 * Where one of the model server's tasks stands: running, failed (with what the server said),
 * completed (with its outcome), or `not_found` when the server forgot it (e.g. it restarted).
 */
export type InferenceTaskState =
  | { status: 'in_progress' | 'not_found' }
  | { status: 'failed'; reason: string }
  | { status: 'completed'; outcome: DetectionOutcome };

/** The model the server has loaded, as it reports it: registry version, runtime and precision. */
export interface ServedModel {
  name: string;
  version: string;
  backend: string;
  precision: string;
}

/**
 * Implementations throw InferenceError when the server cannot be asked (unreachable or not
 * ready, too slow, an answer that makes no sense), and InferenceRejectedError when it refuses
 * the input itself.
 */
export interface InferenceClient {
  /** True when the model server reports it can take work (a model is loaded). */
  isReady(): Promise<boolean>;
  /** The model the server runs; null while it has none or cannot be asked. */
  servedModel(): Promise<ServedModel | null>;
  /** Hands an image to the server's task queue; returns the server's task id. */
  submit(image: ImageUpload, params: DetectionParams): Promise<string>;
  /** Where a task stands, with its outcome once it is completed (one request per poll). */
  check(inferenceTaskId: string): Promise<InferenceTaskState>;
  /**
   * Calls `onFinished` with the ids of tasks (as `submit` returned them) as the server announces
   * them finished, and the outcomes of those it completed (as `check` would answer), until stopped. A shortcut only: an announcement can be missed (the server
   * restarted, was unreachable, or has none to give), so `check` stays the truth.
   */
  watchFinished(onFinished: OnFinished): Watch;
}

/** Tasks announced finished: their ids, and by id the outcome of each that completed. */
export type OnFinished = (
  inferenceTaskIds: string[],
  outcomes: ReadonlyMap<string, DetectionOutcome>,
) => void;

/** A running watch; stop() ends it and any request it has open. */
export interface Watch {
  /** True while the server answers it: a finish is then announced within moments of happening. */
  live(): boolean;
  stop(): void;
}

/** The model server refused a submission as invalid (4xx): submitting it again would not help. */
export class InferenceRejectedError extends Error {}

/** Why the model server could not be asked. */
export type InferenceFailure = 'unavailable' | 'timeout' | 'bad_response';

/** The model server is down or not ready, did not answer in time, or answered nonsense. */
export class InferenceError extends Error {
  constructor(
    readonly failure: InferenceFailure,
    message: string,
  ) {
    super(message);
  }

  /** inference_unavailable, inference_timeout or inference_bad_response. */
  get code(): string {
    return `inference_${this.failure}`;
  }
}

// A hand-written stand-in for BentoML in gateway component tests: an in-memory task queue
// whose behaviour a test sets (answer, hang, fail, forget, be down, announce finishes), recording
// every call.
import { imageSize } from 'image-size';
import type { DetectionOutcome, DetectionParams } from '../../src/detection/dto.js';
import {
  type ImageUpload,
  type InferenceClient,
  InferenceError,
  InferenceRejectedError,
  type InferenceTaskState,
  type OnFinished,
  type ServedModel,
  type Watch,
} from '../../src/inference/inference-client.js';

/** The model the fake reports, as BentoML's POST /model would. */
export const FAKE_MODEL: ServedModel = { name: 'fake', version: '1', backend: 'openvino', precision: 'bf16' };

/** What a task does when polled: finish, keep running, fail, or vanish (as after a restart). */
export type FakeBehaviour = 'complete' | 'hold' | 'fail' | 'lose';

interface FakeTask {
  image: ImageUpload;
  params: DetectionParams;
  status: 'in_progress' | 'completed' | 'failed';
}

export interface Submission {
  inferenceTaskId: string;
  image: Buffer;
  params: DetectionParams;
}

export class FakeInference implements InferenceClient {
  behaviour: FakeBehaviour = 'complete';
  /** While true, every call fails as if BentoML were not running. */
  down = false;
  /** While false, the server is up but has no model: not ready, and tasks end with error no_model. */
  modelLoaded = true;
  /** The next this-many results answer no_model although the server reports ready (a worker still loading). */
  noModelAnswers = 0;
  /** While true, submissions are refused as invalid input (4xx). */
  rejecting = false;
  /** While true, submissions fail with a server error (5xx) although the server is up and ready. */
  failingSubmissions = false;
  /** While true, watches report live: the gateway then relies on announce() and polls rarely. */
  announcing = false;
  /** While true, announce() carries each completed task's outcome, as BentoML does; false: ids only. */
  announceOutcomes = true;
  readonly submissions: Submission[] = [];
  /** The task ids polled, in order. */
  readonly checks: string[] = [];
  private readonly tasks = new Map<string, FakeTask>();
  private readonly watchers = new Set<OnFinished>();
  private nextId = 1;

  /** The answer for a finished task; by default one box in the middle of the image. */
  constructor(
    private readonly outcomeFor: (image: Buffer, params: DetectionParams) => DetectionOutcome = middleBox,
  ) {}

  async isReady(): Promise<boolean> {
    return !this.down && this.modelLoaded;
  }

  async servedModel(): Promise<ServedModel | null> {
    return (await this.isReady()) ? { ...FAKE_MODEL } : null;
  }

  async submit(image: ImageUpload, params: DetectionParams): Promise<string> {
    this.assertUp();
    if (this.rejecting) throw new InferenceRejectedError('the fake refuses this image');
    if (this.failingSubmissions) {
      this.submissions.push({ inferenceTaskId: '', image: image.bytes, params });
      throw new InferenceError('bad_response', 'BentoML answered submit with 500 database is locked');
    }
    const inferenceTaskId = `fake-${this.nextId++}`;
    this.tasks.set(inferenceTaskId, { image, params, status: 'in_progress' });
    this.submissions.push({ inferenceTaskId, image: image.bytes, params });
    return inferenceTaskId;
  }

  async check(inferenceTaskId: string): Promise<InferenceTaskState> {
    this.assertUp();
    this.checks.push(inferenceTaskId);
    const task = this.tasks.get(inferenceTaskId);
    if (!task) return { status: 'not_found' };
    if (task.status === 'in_progress') {
      if (this.behaviour === 'lose') {
        this.tasks.delete(inferenceTaskId);
        return { status: 'not_found' };
      }
      if (this.behaviour === 'complete') task.status = 'completed';
      if (this.behaviour === 'fail') task.status = 'failed';
    }
    if (task.status !== 'completed')
      return task.status === 'failed' ? { status: 'failed', reason: '500' } : { status: 'in_progress' };
    return { status: 'completed', outcome: this.outcomeOf(task) };
  }

  private outcomeOf(task: FakeTask): DetectionOutcome {
    if (!this.modelLoaded || this.noModelAnswers-- > 0)
      return { response: null, error: { code: 'no_model', message: 'no model is loaded' } };
    return this.outcomeFor(task.image.bytes, task.params);
  }

  watchFinished(onFinished: OnFinished): Watch {
    this.watchers.add(onFinished);
    return { live: () => this.announcing, stop: () => this.watchers.delete(onFinished) };
  }

  /** Finishes these tasks as `behaviour` says and announces them, as BentoML's /detect/finished does. */
  announce(...inferenceTaskIds: string[]): void {
    const outcomes = new Map<string, DetectionOutcome>();
    for (const id of inferenceTaskIds) {
      const task = this.tasks.get(id);
      if (task?.status === 'in_progress') task.status = this.behaviour === 'fail' ? 'failed' : 'completed';
      if (task?.status === 'completed' && this.announceOutcomes) outcomes.set(id, this.outcomeOf(task));
    }
    for (const watcher of this.watchers) watcher(inferenceTaskIds, outcomes);
  }

  /** How many watches are open (the reconciler keeps one while it runs). */
  get watching(): number {
    return this.watchers.size;
  }

  /** Forgets every task, as BentoML does when it restarts. */
  restart(): void {
    this.tasks.clear();
  }

  /** How many times each distinct image (by its bytes) was submitted. */
  submissionsOf(image: Buffer): number {
    return this.submissions.filter((s) => s.image.equals(image)).length;
  }

  private assertUp(): void {
    if (this.down) throw new InferenceError('unavailable', 'the fake inference service is down');
  }
}

export function middleBox(image: Buffer): DetectionOutcome {
  const { width, height } = imageSize(image);
  return {
    response: {
      instances: [
        { boundingBox: '0.5000 0.5000 0.2500 0.2500', class: '1', className: 'square', confidence: 0.9 },
      ],
      image: { width, height },
      model: { name: 'fake-detector', version: '1', backend: 'openvino', precision: 'bf16' },
      inference_ms: 1.5,
    },
    error: null,
  };
}

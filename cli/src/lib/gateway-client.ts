// A client of the gateway's detection API (openapi.yaml): submit an image, poll its task.
// Back-pressure is honoured: 429 (queue full) and 503 (storage down) are retried after a pause.
import { UserError } from './command.js';

export interface Detection {
  boundingBox: string;
  class: string;
  className: string;
  confidence: number;
}

export interface DetectionResponse {
  instances: Detection[];
  image: { width: number; height: number };
  /** backend and precision: the runtime that ran the model (absent from tasks stored before runtimes). */
  model: { name: string; version: string; backend?: string; precision?: string };
  inference_ms: number;
}

export type TaskStatus = 'queued' | 'processing' | 'completed' | 'failed';

export interface TaskView {
  task_id: string;
  status: TaskStatus;
  created_at: string;
  updated_at: string;
  response?: DetectionResponse;
  error?: { code: string; message: string };
}

export interface DetectParams {
  conf?: number;
  iou?: number;
  max_det?: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
}

/** The gateway answered with an error, or could not be reached (a message for the user as it is). */
export class GatewayError extends UserError {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }

  /**
   * The gateway refused this image itself (too large, not an accepted format, unreadable, too many
   * pixels, empty): another image may well pass. Not a bad key, a full queue or a bad parameter.
   */
  get rejectsImage(): boolean {
    if (this.status === 413 || this.status === 415 || this.status === 422) return true;
    return this.status === 400 && (this.code?.startsWith('image_') ?? false);
  }
}

const RETRYABLE = new Set([429, 503]);
/** The longest wait the gateway accepts (openapi.yaml, GET /image/detect `wait`). */
const MAX_WAIT_S = 30;

export class GatewayClient {
  private readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly apiKey?: string,
    private readonly maxRetries = 30,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /** Queues an image; returns its task id. */
  async submit(
    image: Buffer,
    filename: string,
    params: DetectParams = {},
    idempotencyKey?: string,
  ): Promise<string> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params))
      if (value !== undefined) query.set(name, String(value));
    const url = `${this.baseUrl}/image/detect${query.size ? `?${query}` : ''}`;
    const body = await this.send(url, () => {
      const form = new FormData();
      form.append('image', new Blob([image]), filename);
      const headers: Record<string, string> = {};
      if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
      return { method: 'POST', body: form, headers };
    });
    return (body as { task_id: string }).task_id;
  }

  /** The task; with `waitS`, the gateway answers once it is finished or after that many seconds. */
  async get(taskId: string, waitS = 0): Promise<TaskView> {
    const query = new URLSearchParams({ task_id: taskId });
    if (waitS > 0) query.set('wait', String(waitS));
    return (await this.send(`${this.baseUrl}/image/detect?${query}`, () => ({ method: 'GET' }))) as TaskView;
  }

  /**
   * Waits until the task is completed or failed: long polls (`wait=`), so one request per task,
   * at most one every `pollMs` should the gateway answer early (e.g. while it stops).
   */
  async waitFor(taskId: string, { timeoutMs = 120_000, pollMs = 100 }: WaitOptions = {}): Promise<TaskView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const asked = Date.now();
      const waitS = Math.min(MAX_WAIT_S, Math.max(0, Math.ceil((deadline - asked) / 1000)));
      const task = await this.get(taskId, waitS);
      if (task.status === 'completed' || task.status === 'failed') return task;
      if (Date.now() >= deadline)
        throw new GatewayError(`task ${taskId} is still ${task.status} after ${timeoutMs / 1000} s`);
      await sleep(Math.max(0, pollMs - (Date.now() - asked)));
    }
  }

  /** Submits an image and waits for its result. */
  async detect(
    image: Buffer,
    filename: string,
    params: DetectParams = {},
    wait: WaitOptions = {},
  ): Promise<TaskView> {
    return this.waitFor(await this.submit(image, filename, params), wait);
  }

  private async send(url: string, init: () => RequestInit): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const request = init();
      const headers = new Headers(request.headers);
      if (this.apiKey) headers.set('X-API-Key', this.apiKey);
      let res: Response;
      try {
        res = await fetch(url, { ...request, headers });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const reason = cause?.code ?? cause?.message ?? (err as Error).message;
        throw new GatewayError(`cannot reach the gateway at ${this.baseUrl} (${reason}); is it running?`);
      }
      const body = await res.json().catch(() => undefined);
      if (res.ok) return body;
      if (RETRYABLE.has(res.status) && attempt < this.maxRetries) {
        await sleep(Math.min(5_000, 1_000 * Number(res.headers.get('retry-after') ?? 1)));
        continue;
      }
      const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new GatewayError(
        `the gateway answered ${res.status}${error?.code ? ` ${error.code}` : ''}: ${error?.message ?? res.statusText}`,
        res.status,
        error?.code,
      );
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

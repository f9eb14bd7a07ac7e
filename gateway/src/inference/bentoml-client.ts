// BentoML adapter of the InferenceClient port, for the task endpoints of the Detection
// service (see docs of bento/src/mini_streamio/serving/service.py). A poll asks /detect/get
// alone, not /detect/status first: BentoML answers it for a task still running too (400, "not
// completed yet"), so a finished task costs one request instead of two. Failures are mapped here:
// unreachable → 'unavailable', timeout → 'timeout', an answer we cannot use → 'bad_response' (all InferenceError);
// a 4xx on submit → InferenceRejectedError. Requests go through node:http on kept-alive
// connections: a few calls per task, where a general HTTP client's per-request work showed in
// the gateway's CPU profile.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { type DetectionOutcome, type DetectionParams, detectionOutcomeSchema } from '../detection/dto.js';
import { type Announcement, watchAnnouncements } from './announcements.js';
import {
  type ImageUpload,
  type InferenceClient,
  InferenceError,
  InferenceRejectedError,
  type InferenceTaskState,
  type OnFinished,
  type ServedModel,
  type Watch,
} from './inference-client.js';

/** An HTTP answer: its status and its body, parsed as JSON where it is JSON. */
interface Answer {
  status: number;
  data: unknown;
}

interface RequestOptions {
  body?: Buffer;
  /** A JSON body (sets the content type). */
  json?: unknown;
  headers?: Record<string, string>;
  agent?: http.Agent;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const submitted = z.object({ task_id: z.string().min(1) });
/** POST /detect/finished: contracts/finished-tasks.schema.json. */
export const finishedTasksSchema = z.object({
  last: z.number().int().min(0),
  task_ids: z.array(z.string().min(1)),
  // Each checked where it is used (outcomesOf): one that does not parse is fetched with /detect/get.
  outcomes: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});
/** POST /model: the loaded version (services before runtime reports ran torch in fp32). */
const servedModelSchema = z.object({
  name: z.string(),
  version: z.string(),
  backend: z.string().default('torch'),
  precision: z.string().default('fp32'),
});
/** BentoML's answer to /get for a task that has not finished (1.4.40: "task <id> is not completed yet"). */
const stillRunning = z.object({ error: z.string().regex(/not completed/) });
/** How long one long poll of /detect/finished waits for a finish (BentoML allows up to 30 s). */
const ANNOUNCEMENT_WAIT_S = 10;
const extensions: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
};

export class BentoMLClient implements InferenceClient {
  private readonly base: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  /** For submissions: a connection each, closed after it (see submit). */
  private readonly closingAgent: http.Agent;

  constructor(
    baseURL: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.base = new URL(baseURL);
    this.transport = this.base.protocol === 'https:' ? https : http;
    // Idle connections are closed before BentoML's server would (uvicorn: after 5 s), so a
    // request never goes out on one it is closing; as Node's global agent does.
    this.agent = new this.transport.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 4_000 });
    this.closingAgent = new this.transport.Agent({ keepAlive: false });
  }

  async isReady(): Promise<boolean> {
    try {
      return (await this.request('GET', '/readyz')).status === 200;
    } catch {
      return false;
    }
  }

  async servedModel(): Promise<ServedModel | null> {
    try {
      const res = await this.request('POST', '/model', { json: {} });
      const parsed = res.status === 200 ? servedModelSchema.safeParse(res.data) : undefined;
      return parsed?.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  async submit(image: ImageUpload, params: DetectionParams): Promise<string> {
    const form = multipart([
      { name: 'image', filename: `image.${extensions[image.contentType] ?? 'bin'}`, ...image },
      { name: 'conf', value: String(params.conf) },
      { name: 'iou', value: String(params.iou) },
      { name: 'max_det', value: String(params.max_det) },
    ]);
    // A task runs in the BentoML worker that accepted the connection it came on. On kept-alive
    // connections one worker ran 70-90 % of the tasks; a new connection each goes to whichever
    // worker accepts it first, so the workers take turns.
    const res = await this.call('submit', () =>
      this.request('POST', '/detect/submit', {
        body: form.body,
        headers: { 'content-type': form.contentType },
        agent: this.closingAgent,
      }),
    );
    if (res.status >= 400 && res.status < 500)
      throw new InferenceRejectedError(`the inference service refused the image: ${describe(res)}`);
    return this.parse(res, 'submit', submitted).task_id;
  }

  async check(inferenceTaskId: string): Promise<InferenceTaskState> {
    const res = await this.call('get', () =>
      this.request('GET', `/detect/get?task_id=${encodeURIComponent(inferenceTaskId)}`),
    );
    if (res.status === 404) return { status: 'not_found' };
    if (res.status === 400 && stillRunning.safeParse(res.data).success) return { status: 'in_progress' };
    // Any other error but 503 (not ready) is the answer the task ended with, which BentoML replays.
    if (res.status >= 400 && res.status !== 503) return { status: 'failed', reason: describe(res) };
    return { status: 'completed', outcome: this.parse(res, 'get', detectionOutcomeSchema) };
  }

  watchFinished(onFinished: OnFinished): Watch {
    return watchAnnouncements((after, signal) => this.finishedAfter(after, signal), onFinished);
  }

  /** One long poll of POST /detect/finished: the tasks finished after cursor `after`. */
  private async finishedAfter(after: number, signal: AbortSignal): Promise<Announcement> {
    const waitS = after < 0 ? 0 : ANNOUNCEMENT_WAIT_S;
    const res = await this.call('finished', () =>
      this.request('POST', '/detect/finished', {
        json: { after, wait: waitS },
        timeoutMs: this.timeoutMs + waitS * 1_000,
        signal,
      }),
    );
    const { last, task_ids, outcomes } = this.parse(res, 'finished', finishedTasksSchema);
    return { last, taskIds: task_ids, outcomes: outcomesOf(outcomes ?? {}) };
  }

  /** One request; network failures become InferenceError 'unavailable' or 'timeout'. */
  private async call(what: string, request: () => Promise<Answer>): Promise<Answer> {
    try {
      return await request();
    } catch (err) {
      if ((err as { code?: string }).code === 'ETIMEDOUT')
        throw new InferenceError('timeout', `BentoML did not answer ${what} in time`);
      throw new InferenceError('unavailable', `BentoML is unreachable (${what}): ${(err as Error).message}`);
    }
  }

  /** Sends a request and reads the whole answer, within the client's timeout unless given one. */
  private request(method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const { agent = this.agent, timeoutMs = this.timeoutMs, signal } = options;
    const headers = { ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      headers['content-type'] = 'application/json';
    }
    return new Promise((resolve, reject) => {
      const url = new URL(path, this.base);
      const req = this.transport.request(url, { method, agent, headers, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, data: parseBody(Buffer.concat(chunks).toString('utf8')) });
        });
      });
      const timer = setTimeout(() => {
        req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      if (body) req.setHeader('content-length', body.length);
      req.end(body);
    });
  }

  /** A 2xx body of the expected shape, else InferenceError ('unavailable' while BentoML starts, else 'bad_response'). */
  private parse<T>(res: Answer, what: string, schema: z.ZodType<T>): T {
    if (res.status === 503)
      throw new InferenceError('unavailable', `BentoML is not ready (${what}): ${describe(res)}`);
    const parsed = res.status === 200 ? schema.safeParse(res.data) : undefined;
    if (parsed?.success) return parsed.data;
    throw new InferenceError('bad_response', `BentoML answered ${what} with ${describe(res)}`);
  }
}

/** The announced outcomes that are DetectionOutcomes, by task id. */
function outcomesOf(announced: Record<string, unknown>): Map<string, DetectionOutcome> {
  const outcomes = new Map<string, DetectionOutcome>();
  for (const [id, outcome] of Object.entries(announced)) {
    const parsed = detectionOutcomeSchema.safeParse(outcome);
    if (parsed.success) outcomes.set(id, parsed.data);
  }
  return outcomes;
}

/** JSON where the body is JSON, else the text itself. */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export type FormPart =
  | { name: string; value: string }
  | { name: string; filename: string; bytes: Buffer; contentType: string };

/** A multipart/form-data body (RFC 7578) of text fields and files. */
export function multipart(parts: FormPart[]): { body: Buffer; contentType: string } {
  const boundary = `mini-streamio-${randomUUID()}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const head =
      'value' in part
        ? `content-disposition: form-data; name="${part.name}"`
        : `content-disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\ncontent-type: ${part.contentType}`;
    chunks.push(Buffer.from(`--${boundary}\r\n${head}\r\n\r\n`));
    chunks.push('value' in part ? Buffer.from(part.value) : part.bytes, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

function describe(res: Answer): string {
  const body = typeof res.data === 'string' ? res.data : JSON.stringify(res.data);
  return `${res.status} ${body.slice(0, 200)}`;
}

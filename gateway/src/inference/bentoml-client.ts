// BentoML adapter of the InferenceClient port, for the task endpoints of the Detection
// service (see docs of bento/src/mini_streamio/serving/service.py). A poll asks /detect/get
// alone, not /detect/status first: BentoML answers it for a task still running too (400, "not
// completed yet"), so a finished task costs one request instead of two. Failures are mapped here:
// unreachable → 503, timeout → 504, an answer we cannot use → 502 (all UpstreamError);
// a 4xx on submit → InferenceRejectedError.
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { z } from 'zod';
import { type DetectionParams, detectionOutcomeSchema } from '../detection/dto.js';
import { UpstreamError } from '../http/errors.js';
import {
  type ImageUpload,
  type InferenceClient,
  InferenceRejectedError,
  type InferenceTaskState,
} from './inference-client.js';

const submitted = z.object({ task_id: z.string().min(1) });
/** BentoML's answer to /get for a task that has not finished (1.4.40: "task <id> is not completed yet"). */
const stillRunning = z.object({ error: z.string().regex(/not completed/) });
const extensions: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
};

export class BentoMLClient implements InferenceClient {
  private readonly http: AxiosInstance;

  constructor(baseURL: string, timeoutMs = 10_000) {
    this.http = axios.create({ baseURL, timeout: timeoutMs, validateStatus: () => true });
  }

  async isReady(): Promise<boolean> {
    try {
      return (await this.http.get('/readyz')).status === 200;
    } catch {
      return false;
    }
  }

  async submit(image: ImageUpload, params: DetectionParams): Promise<string> {
    const form = new FormData();
    const name = `image.${extensions[image.contentType] ?? 'bin'}`;
    form.append('image', new Blob([image.bytes], { type: image.contentType }), name);
    form.append('conf', String(params.conf));
    form.append('iou', String(params.iou));
    form.append('max_det', String(params.max_det));
    const res = await this.call('submit', () => this.http.post('/detect/submit', form));
    if (res.status >= 400 && res.status < 500)
      throw new InferenceRejectedError(`the inference service refused the image: ${describe(res)}`);
    return this.parse(res, 'submit', submitted).task_id;
  }

  async check(inferenceTaskId: string): Promise<InferenceTaskState> {
    const res = await this.call('get', () =>
      this.http.get('/detect/get', { params: { task_id: inferenceTaskId } }),
    );
    if (res.status === 404) return { status: 'not_found' };
    if (res.status === 400 && stillRunning.safeParse(res.data).success) return { status: 'in_progress' };
    // Any other error but 503 (not ready) is the answer the task ended with, which BentoML replays.
    if (res.status >= 400 && res.status !== 503) return { status: 'failed', reason: describe(res) };
    return { status: 'completed', outcome: this.parse(res, 'get', detectionOutcomeSchema) };
  }

  /** One request; network failures become UpstreamError 503 (unreachable) or 504 (timeout). */
  private async call(what: string, request: () => Promise<AxiosResponse>): Promise<AxiosResponse> {
    try {
      return await request();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ECONNABORTED' || code === 'ETIMEDOUT')
        throw new UpstreamError('inference_timeout', `BentoML did not answer ${what} in time`, 504);
      throw new UpstreamError(
        'inference_unavailable',
        `BentoML is unreachable (${what}): ${(err as Error).message}`,
      );
    }
  }

  /** A 2xx body of the expected shape, else UpstreamError (503 while BentoML is busy starting, else 502). */
  private parse<T>(res: AxiosResponse, what: string, schema: z.ZodType<T>): T {
    if (res.status === 503)
      throw new UpstreamError('inference_unavailable', `BentoML is not ready (${what}): ${describe(res)}`);
    const parsed = res.status === 200 ? schema.safeParse(res.data) : undefined;
    if (parsed?.success) return parsed.data;
    throw new UpstreamError('inference_bad_response', `BentoML answered ${what} with ${describe(res)}`, 502);
  }
}

function describe(res: AxiosResponse): string {
  const body = typeof res.data === 'string' ? res.data : JSON.stringify(res.data);
  return `${res.status} ${body.slice(0, 200)}`;
}

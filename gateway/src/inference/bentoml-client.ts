// BentoML adapter of the InferenceClient port, for the task endpoints of the Detection
// service (see docs of bento/src/mini_streamio/serving/service.py). Failures are mapped here:
// unreachable → 503, timeout → 504, an answer we cannot use → 502 (all UpstreamError);
// a 4xx on submit → InferenceRejectedError.
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { z } from 'zod';
import { type DetectionOutcome, type DetectionParams, detectionOutcomeSchema } from '../detection/dto.js';
import { UpstreamError } from '../http/errors.js';
import {
  type ImageUpload,
  type InferenceClient,
  InferenceRejectedError,
  type InferenceTaskStatus,
} from './inference-client.js';

const submitted = z.object({ task_id: z.string().min(1) });
const statusAnswer = z.object({ status: z.enum(['in_progress', 'completed', 'failed', 'canceled']) });
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

  async status(inferenceTaskId: string): Promise<InferenceTaskStatus> {
    const res = await this.call('status', () =>
      this.http.get('/detect/status', { params: { task_id: inferenceTaskId } }),
    );
    if (res.status === 404) return 'not_found';
    return this.parse(res, 'status', statusAnswer).status;
  }

  async result(inferenceTaskId: string): Promise<DetectionOutcome | undefined> {
    const res = await this.call('get', () =>
      this.http.get('/detect/get', { params: { task_id: inferenceTaskId } }),
    );
    if (res.status === 404) return undefined;
    return this.parse(res, 'get', detectionOutcomeSchema);
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

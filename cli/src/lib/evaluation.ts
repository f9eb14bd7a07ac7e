// `evaluate`: every image of a split through the running service, then metrics against labels.
// The scoring (label rows to ground truth, COCO matching, mAP, P and R) is Python's
// (mini_streamio.detection_metrics, through shared-rules.ts): one implementation, the one held to
// pycocotools (bento/tests/test_detection_metrics.py) and used by the analysis notebook.

import { UserError } from './command.js';
import type { DatasetSource, LabelledImage } from './dataset-source.js';
import { type DetectParams, type GatewayClient, GatewayError, type TaskView } from './gateway-client.js';
import { type EvaluationMetrics, sharedRules } from './shared-rules.js';

export interface EvaluationOptions {
  split: string;
  params: DetectParams;
  /** Images in flight at once. */
  concurrency: number;
  /** Called once the split's size is known, then after each image. */
  onStart?: (total: number) => void;
  onProgress?: (done: number) => void;
}

export interface FailedImage {
  name: string;
  /** Why: the task's error code and message, or the gateway's refusal (`the gateway answered 415 …`). */
  error: string;
}

export interface EvaluationReport {
  classNames: string[];
  metrics: EvaluationMetrics;
  /** Images the gateway refused (4xx for the image) or whose task failed: counted with no predictions. */
  failed: FailedImage[];
}

/** One image's ground truth (label text) and the service's boxes: `[class, xc, yc, w, h, confidence]`. */
interface ImageResult {
  labels: string;
  where: string;
  predictions: number[][];
}

export async function evaluateSplit(
  source: DatasetSource,
  client: GatewayClient,
  options: EvaluationOptions,
): Promise<EvaluationReport> {
  const split = await source.split(options.split);
  // Kept in dataset order, so ties in confidence rank the same way on every run.
  const results: ImageResult[] = [];
  const failed: (FailedImage & { index: number })[] = [];
  const inFlight = new Set<Promise<void>>();
  let fatal: unknown;
  let done = 0;
  const run = async (image: LabelledImage, index: number) => {
    const result = (predictions: number[][]) => {
      results[index] = { labels: image.labels, where: image.labelsWhere, predictions };
      options.onProgress?.(++done);
    };
    try {
      const task = await client.detect(image.bytes, image.name, options.params);
      if (task.status === 'failed')
        failed.push({ index, name: image.name, error: `${task.error?.code}: ${task.error?.message}` });
      result(predictionsOf(task));
    } catch (err) {
      // A refused image (413, 415, 422…) is one image's problem: reported, scored as missed.
      if (err instanceof GatewayError && err.rejectsImage) {
        failed.push({ index, name: image.name, error: err.message });
        result([]);
      } else fatal ??= err;
    }
  };
  options.onStart?.(split.count);
  let index = 0;
  for await (const image of split.images()) {
    if (fatal) break;
    const job = run(image, index++).finally(() => inFlight.delete(job));
    inFlight.add(job);
    if (inFlight.size >= options.concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (fatal) throw fatal;
  if (results.length === 0)
    throw new UserError(`${source.description} has no images in split "${options.split}"`);
  // In dataset order, whichever finished first.
  failed.sort((a, b) => a.index - b.index);
  return {
    classNames: split.classNames,
    metrics: await sharedRules('evaluate', { images: results }),
    failed: failed.map(({ name, error }) => ({ name, error })),
  };
}

/** The task's boxes as `[class, xc, yc, w, h, confidence]` (none if it failed). */
export function predictionsOf(task: TaskView): number[][] {
  return (task.response?.instances ?? []).map((instance) => [
    Number(instance.class),
    ...instance.boundingBox.split(' ').map(Number),
    instance.confidence,
  ]);
}

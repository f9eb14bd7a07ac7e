// BentoML's task API alone, for detect-bench.ts --bento-alone: the same closed loop of clients and
// images, straight to BentoML through the gateway's own client (a connection per submission, the
// finishes heard from one long poll of /detect/finished), so BentoML does exactly the work it does
// behind the gateway and nothing else runs. What the whole path costs beyond this is the gateway's
// and MinIO's; what this costs beyond the in-process loop is BentoML's task queue.
import { DETECTION_DEFAULTS } from '../gateway/src/detection/detection-defaults.js';
import type { DetectionOutcome } from '../gateway/src/detection/dto.js';
import { BentoMLClient } from '../gateway/src/inference/bentoml-client.js';

export interface BentoAloneImage {
  name: string;
  bytes: Buffer;
}

export interface BentoAloneRun {
  tasks: number;
  /** Finished without an outcome, or with an outcome naming an error. */
  failed: number;
  /** From the first submission to the last finish. */
  seconds: number;
  taskLatencyMs: number[];
}

export async function bentoAloneLoop(
  bentoUrl: string,
  images: BentoAloneImage[],
  clients: number,
  count: number,
): Promise<BentoAloneRun> {
  const client = new BentoMLClient(bentoUrl, 60_000);
  const params = {
    conf: DETECTION_DEFAULTS.conf.default,
    iou: DETECTION_DEFAULTS.iou.default,
    max_det: DETECTION_DEFAULTS.max_det.default,
  };
  // An announcement can come before the submission that made the task has returned its id.
  const waiting = new Map<string, (outcome: DetectionOutcome | undefined) => void>();
  const early = new Map<string, DetectionOutcome | undefined>();
  const watch = client.watchFinished((ids, outcomes) => {
    for (const id of ids) {
      const finish = waiting.get(id);
      if (finish) finish(outcomes.get(id));
      else early.set(id, outcomes.get(id));
    }
  });
  try {
    while (!watch.live()) await sleep(50);
    const latencies: number[] = [];
    let failed = 0;
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < count) {
          const image = images[next++ % images.length] as BentoAloneImage;
          const sentAt = performance.now();
          const id = await client.submit({ bytes: image.bytes, contentType: 'image/jpeg' }, params);
          const outcome = early.has(id)
            ? early.get(id)
            : await new Promise<DetectionOutcome | undefined>((resolve) => waiting.set(id, resolve));
          early.delete(id);
          waiting.delete(id);
          if (!outcome || outcome.error) failed += 1;
          latencies.push(performance.now() - sentAt);
        }
      }),
    );
    return { tasks: count, failed, seconds: (performance.now() - start) / 1000, taskLatencyMs: latencies };
  } finally {
    watch.stop();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

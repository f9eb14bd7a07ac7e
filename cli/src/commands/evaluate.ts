import { Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../lib/command.js';
import type { DatasetSource } from '../lib/dataset-source.js';
import { datasetStore } from '../lib/datasets/store.js';
import { type EvaluationReport, evaluateSplit } from '../lib/evaluation.js';
import { fraction, gatewayFlags, maxDetFlag } from '../lib/flags.js';
import { GatewayClient } from '../lib/gateway-client.js';
import { LocalYoloDataset } from '../lib/local-yolo-dataset.js';
import { minioClient } from '../lib/minio.js';
import { MinioDataset } from '../lib/minio-dataset.js';
import { CountProgress, progressWanted } from '../lib/progress.js';
import type { ClassMetrics, EvaluationMetrics } from '../lib/shared-rules.js';

/** `evaluate --json`: the scorer's metrics, with where they come from and the images that failed. */
export interface EvaluateJson extends Omit<EvaluationMetrics, 'confidence' | 'classes'> {
  source: string;
  split: string;
  failed_images: { name: string; error: string }[];
  confidence_threshold: number;
  classes: (ClassMetrics & { name: string })[];
}

export default class Evaluate extends MiniStreamioCommand {
  static override summary = 'Measure the running service on a labelled dataset split';
  static override description =
    'Sends every image of the split through the running service (POST /image/detect, then polls) and compares ' +
    'the boxes with the labels: precision and recall (at the confidence with the best F1, IoU 0.50), mAP50 and ' +
    'mAP50-95 (COCO-style, 101-point interpolation, IoU 0.50:0.95). Requests use a low confidence threshold by ' +
    'default, as mAP needs the whole precision-recall curve. An image the gateway refuses (413, 415, 422) or ' +
    'whose task fails is listed with the reason and scored as having no detections; the run goes on. A ' +
    'progress bar is shown on stderr when it is a terminal (not with --json).';
  static override examples = [
    '<%= config.bin %> evaluate --dataset valorant --split valid',
    '<%= config.bin %> evaluate --dataset valorant@3f2a9c0b1d4e --split test --json',
    '<%= config.bin %> evaluate --dir ../shared/datasets/valorant --split valid',
    '<%= config.bin %> evaluate --dir ./shapes --split test --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    ...gatewayFlags,
    dataset: Flags.string({
      char: 'd',
      description: 'a dataset in MinIO: name (its newest version) or name@version (see `dataset list`)',
      exactlyOne: ['dataset', 'dir'],
    }),
    dir: Flags.directory({
      description: 'a local dataset in YOLO layout (with data.yaml) instead',
      exists: true,
      exactlyOne: ['dataset', 'dir'],
    }),
    split: Flags.string({ description: 'split to evaluate', default: 'valid' }),
    conf: fraction('confidence threshold of the requests', 0.001),
    iou: fraction('IoU threshold of non-maximum suppression', 0.7),
    // Ultralytics val's own thresholds, not the service's defaults (README, "Evaluation").
    'max-det': maxDetFlag(300),
    concurrency: Flags.integer({ description: 'images in flight at once', min: 1, max: 64, default: 4 }),
  };

  async run(): Promise<EvaluateJson> {
    const { flags } = await this.parse(Evaluate);
    const config = this.cliConfig();
    const url = flags.url ?? config.GATEWAY_URL;
    const source: DatasetSource = flags.dir
      ? new LocalYoloDataset(flags.dir)
      : new MinioDataset(datasetStore(config), minioClient(config), flags.dataset as string);
    let bar: CountProgress | undefined;
    const report = await evaluateSplit(source, new GatewayClient(url, config.API_KEY), {
      split: flags.split,
      params: { conf: flags.conf, iou: flags.iou, max_det: flags['max-det'] },
      concurrency: flags.concurrency,
      onStart: (total) => {
        bar = new CountProgress('Evaluating', total, progressWanted(this.jsonEnabled()));
        bar.update(0);
      },
      onProgress: (done) => bar?.update(done),
    }).finally(() => bar?.finish());
    const json = toJson(report, source.description, flags.split);
    if (!this.jsonEnabled()) this.log(formatReport(json, url));
    return json;
  }
}

function toJson(report: EvaluationReport, source: string, split: string): EvaluateJson {
  const { metrics, classNames } = report;
  return {
    source,
    split,
    images: metrics.images,
    instances: metrics.instances,
    failed_images: report.failed,
    precision: metrics.precision,
    recall: metrics.recall,
    mAP50: metrics.mAP50,
    'mAP50-95': metrics['mAP50-95'],
    confidence_threshold: metrics.confidence,
    classes: metrics.classes.map((c) => ({
      id: c.id,
      name: classNames[c.id] ?? `class ${c.id}`,
      images: c.images,
      instances: c.instances,
      precision: c.precision,
      recall: c.recall,
      mAP50: c.mAP50,
      'mAP50-95': c['mAP50-95'],
    })),
  };
}

function formatReport(json: EvaluateJson, url: string): string {
  const n = (v: number) => v.toFixed(3);
  const rows = [
    ['class', 'images', 'instances', 'P', 'R', 'mAP50', 'mAP50-95'],
    [
      'all',
      json.images,
      json.instances,
      n(json.precision),
      n(json.recall),
      n(json.mAP50),
      n(json['mAP50-95']),
    ],
    ...json.classes.map((c) => [
      c.name,
      c.images,
      c.instances,
      n(c.precision),
      n(c.recall),
      n(c.mAP50),
      n(c['mAP50-95']),
    ]),
  ].map((r) => r.map(String));
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  const table = rows.map((r) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  '),
  );
  const lines = [
    `Split "${json.split}" of ${json.source}, through ${url}:`,
    ...table,
    `P and R at confidence ≥ ${json.confidence_threshold.toFixed(3)} (best F1).`,
  ];
  if (json.failed_images.length)
    lines.push(
      `${json.failed_images.length} image(s) refused by the gateway or failed; they count as having no detections:`,
      ...json.failed_images.map((f) => `  ${f.name}: ${f.error}`),
    );
  return lines.join('\n');
}

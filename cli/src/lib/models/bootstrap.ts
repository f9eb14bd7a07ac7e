// `model bootstrap`: makes sure the service has a model to serve out of the box. If the
// registered model has no `production` alias yet, a small demo detector is trained on the
// synthetic shapes dataset (bento/src/mini_streamio/synthetic.py) and promoted. Idempotent.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../command.js';
import type { CliConfig } from '../config.js';
import { prepareDataset } from '../datasets/prepare.js';
import { datasetStore } from '../datasets/store.js';
import { minioClient } from '../minio.js';
import { MlflowClient } from '../mlflow.js';
import { repoRoot, stackPython } from '../paths.js';
import { type RunOutput, runTraining } from '../training/run.js';
import { hasBaseWeights } from './base-weights.js';
import { PRODUCTION_ALIAS, summarizeVersion, type VersionSummary } from './registry.js';

export const DEMO_DATASET = 'demo-shapes';

export interface BootstrapOptions {
  name: string;
  epochs: number;
  imgsz: number;
  trainImages: number;
  device: string;
}

export interface BootstrapResult {
  status: 'present' | 'trained';
  model: VersionSummary;
  dataset?: string;
  base_model?: string;
}

export async function bootstrapDemoModel(
  config: CliConfig,
  options: BootstrapOptions,
  out: RunOutput,
): Promise<BootstrapResult> {
  const mlflow = new MlflowClient(config.MLFLOW_TRACKING_URI);
  const current = await mlflow.getModelVersionByAlias(options.name, PRODUCTION_ALIAS);
  if (current) return { status: 'present', model: summarizeVersion(current, [PRODUCTION_ALIAS]) };

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mini-streamio-demo-'));
  try {
    out.log(`No ${options.name}@${PRODUCTION_ALIAS} yet: training a demo model on synthetic shapes.`);
    const valid = Math.max(8, Math.round(options.trainImages / 4));
    await generateShapes(dir, options.trainImages, valid, Math.max(4, Math.round(valid / 2)));
    const { manifest, files } = await prepareDataset(dir, DEMO_DATASET, 'yolo');
    const pushed = await datasetStore(config).push(manifest, files);
    const dataset = `${DEMO_DATASET}@${pushed.manifest.version}`;
    out.log(`Dataset ${dataset} (${pushed.status === 'created' ? 'pushed' : 'already in MinIO'})`);
    const base = await baseModel(config);
    const finished = await runTraining(
      {
        dataset,
        model: base,
        epochs: options.epochs,
        imgsz: options.imgsz,
        batch: 16,
        device: options.device,
        experiment: 'mini-streamio-demo',
        runName: 'demo-shapes',
        registerAs: options.name,
        alias: PRODUCTION_ALIAS,
        demo: true,
        description:
          'DEMO MODEL: detects circles, squares and triangles on synthetic images, trained by ' +
          '`mini-streamio model bootstrap` so the service works out of the box. Train and promote a real model ' +
          'with `mini-streamio train` and `mini-streamio model promote`.',
      },
      config,
      out,
    );
    const version = await mlflow.getModelVersion(options.name, String(finished.registered_version));
    if (!version)
      throw new UserError(`the demo model was trained but ${options.name} has no registered version`);
    return {
      status: 'trained',
      model: summarizeVersion(version, [PRODUCTION_ALIAS]),
      dataset,
      base_model: base,
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Imported (or downloadable) yolov8n weights are fine-tuned; otherwise the demo starts from scratch. */
async function baseModel(config: CliConfig): Promise<string> {
  if (config.MINI_STREAMIO_ALLOW_DOWNLOADS) return 'yolov8n';
  if (await hasBaseWeights(minioClient(config), config.MODELS_BUCKET, 'yolov8n')) return 'yolov8n';
  return 'yolov8n.yaml';
}

async function generateShapes(dir: string, train: number, valid: number, test: number): Promise<void> {
  const args = ['-m', 'mini_streamio.synthetic', dir, '--train', String(train), '--valid', String(valid)];
  args.push('--test', String(test), '--image-size', '96', '--seed', '7');
  const child = spawn(stackPython, args, { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0)
    throw new UserError(`generating the synthetic dataset failed (exit ${code}): ${stderr.slice(-2000)}`);
}

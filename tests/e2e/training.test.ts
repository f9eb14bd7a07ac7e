// The training side end to end, through the CLI a user runs, against real MinIO and MLflow:
// push → train → everything read back through MLflow's REST API and MinIO → fine-tune from the
// registry → promote; failures (tampered data, missing weights) end FAILED; Ctrl-C ends KILLED.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCliConfig } from '../../cli/src/lib/config.js';
import { prepareDataset } from '../../cli/src/lib/datasets/prepare.js';
import { DatasetStore } from '../../cli/src/lib/datasets/store.js';
import { listObjects, minioClient } from '../../cli/src/lib/minio.js';
import { MlflowClient, tagsOf } from '../../cli/src/lib/mlflow.js';
import { repoRoot, stackPython } from '../../cli/src/lib/paths.js';
import { validator } from '../../contracts/test/schema-check.js';
import { startTestStack, type TestStack } from '../../scripts/stack/test-stack.js';

const TINY = ['--epochs=2', '--imgsz=64', '--batch=8', '--device=cpu'];
// Every per-epoch metric the issue asks for, under the names they get in MLflow.
const EPOCH_METRICS = [
  'train/box_loss',
  'train/cls_loss',
  'train/dfl_loss',
  'val/box_loss',
  'val/cls_loss',
  'val/dfl_loss',
  'metrics/precision_B',
  'metrics/recall_B',
  'metrics/mAP50_B',
  'metrics/mAP50-95_B',
  'lr/pg0',
  'lr/pg1',
  'lr/pg2',
];

let stack: TestStack;
let env: NodeJS.ProcessEnv;
let mlflow: MlflowClient;
let work: string;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): CliResult {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'cli/bin/run.js'), ...args],
    {
      cwd: repoRoot,
      env,
      encoding: 'utf8',
      timeout: 600_000,
    },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `train --json` output: the trainer's events, each as contracts/trainer-event.schema.json says. */
function events(stdout: string): Record<string, unknown>[] {
  const parsed = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const validate = validator('trainer-event');
  for (const event of parsed) expect(validate(event), JSON.stringify(validate.errors)).toBe(true);
  return parsed;
}

function shapes(dir: string, train: number, seed: number): string {
  const args = [
    '-m',
    'mini_streamio.synthetic',
    dir,
    '--train',
    String(train),
    '--valid',
    '8',
    '--test',
    '4',
  ];
  const result = spawnSync(stackPython, [...args, '--image-size', '64', '--seed', String(seed)], {
    encoding: 'utf8',
  });
  expect(result.status, result.stderr).toBe(0);
  return dir;
}

beforeAll(async () => {
  stack = await startTestStack(['minio', 'mlflow']);
  // Wide columns: oclif wraps error messages at 80 columns when stderr is not a terminal.
  env = { ...process.env, ...stack.env, OCLIF_COLUMNS: '1000' };
  mlflow = new MlflowClient(stack.env.MLFLOW_TRACKING_URI);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-streamio-e2e-training-'));
});

afterAll(async () => {
  await stack?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('training through the CLI', () => {
  let firstRunId = '';
  let manifestHash = '';

  it('when a dataset is pushed twice, then the second push changes nothing', () => {
    const dir = shapes(path.join(work, 'shapes'), 16, 1);
    const first = cli('dataset', 'push', dir, '--name', 'shapes', '--json');
    expect(first.code, first.stderr).toBe(0);
    const pushed = JSON.parse(first.stdout);
    expect(pushed).toMatchObject({
      name: 'shapes',
      status: 'created',
      classes: ['circle', 'square', 'triangle'],
    });
    manifestHash = pushed.content_hash;

    const again = JSON.parse(cli('dataset', 'push', dir, '--name', 'shapes', '--json').stdout);
    expect(again).toMatchObject({ status: 'unchanged', version: pushed.version, uploaded_files: 0 });
    const listed = JSON.parse(cli('dataset', 'list', '--json').stdout);
    expect(listed).toEqual([
      expect.objectContaining({ name: 'shapes', version: pushed.version, latest: true }),
    ]);
    const shown = JSON.parse(cli('dataset', 'show', 'shapes', '--json').stdout);
    expect(shown.splits.train.images).toBe(16);
    expect(
      Object.values(shown.boxes_per_class as Record<string, number>).reduce((a, b) => a + b),
    ).toBeGreaterThan(0);
  });

  // Two epochs, the registration and both exports (ONNX, OpenVINO): 2-3 minutes on 2 busy cores.
  it('when a model is trained, then each epoch, the artifacts and a registry version are in MLflow and MinIO', {
    timeout: 10 * 60_000,
  }, async () => {
    const result = cli('train', '--dataset=shapes', '--model=yolov8n.yaml', ...TINY, '--json');
    expect(result.code, result.stderr).toBe(0);
    const stream = events(result.stdout);
    expect(stream.map((e) => e.event)).toEqual(['started', 'dataset', 'model', 'epoch', 'epoch', 'finished']);
    const finished = stream.at(-1) as Record<string, unknown>;
    firstRunId = String(finished.run_id);

    const run = await mlflow.getRun(firstRunId);
    expect(run.info.status).toBe('FINISHED');
    for (const key of EPOCH_METRICS) {
      const history = await mlflow.metricHistory(firstRunId, key);
      expect(
        history.map((m) => m.step),
        key,
      ).toEqual([1, 2]);
    }
    const params = Object.fromEntries((run.data.params ?? []).map((p) => [p.key, p.value]));
    expect(params).toMatchObject({
      dataset_name: 'shapes',
      dataset_hash: manifestHash,
      dataset_version: manifestHash.slice(0, 12),
      model_ref: 'yolov8n.yaml',
      model_kind: 'architecture',
      epochs: '2',
      imgsz: '64',
    });
    const tags = tagsOf(run.data);
    expect(tags.git_commit).toMatch(/^[0-9a-f]{40}$/);
    expect(tags.hardware).toMatch(/^cpu: /);

    const artifacts = (await mlflow.listArtifacts(firstRunId)).map((a) => a.path);
    for (const file of [
      'results.csv',
      'args.yaml',
      'weights/best.pt',
      'weights/last.pt',
      'confusion_matrix.png',
    ]) {
      expect(artifacts).toContain(file);
    }
    expect(artifacts.some((a) => a.endsWith('_curve.png'))).toBe(true);
    expect(artifacts).toContain('labels.jpg');

    const version = await mlflow.getModelVersion('mini-streamio-detector', '1');
    expect(version?.run_id).toBe(firstRunId);
    const versionTags = tagsOf(version ?? {});
    expect(Object.keys(versionTags)).toEqual(
      expect.arrayContaining(['metric.mAP50', 'metric.mAP50-95', 'metric.precision', 'metric.recall']),
    );
    expect(versionTags.weights_uri).toBe('s3://models/mini-streamio-detector/1/best.pt');
    const stat = await minioClient(loadCliConfig(env)).statObject(
      'models',
      'mini-streamio-detector/1/best.pt',
    );
    expect(stat.size).toBeGreaterThan(100_000);

    // Registration exported the weights to the default runtimes (EXPORT_FORMATS).
    expect(finished.exports).toEqual(['onnx', 'openvino']);
    const exports = JSON.parse(versionTags.exports ?? '{}') as Record<string, { files: string[] }>;
    expect(Object.keys(exports).sort()).toEqual(['onnx', 'openvino']);
    const stored = await listObjects(minioClient(loadCliConfig(env)), 'models', 'mini-streamio-detector/1/');
    expect([...stored.keys()].sort()).toEqual([
      'mini-streamio-detector/1/best.pt',
      'mini-streamio-detector/1/onnx/best.onnx',
      'mini-streamio-detector/1/openvino/best.bin',
      'mini-streamio-detector/1/openvino/best.xml',
      'mini-streamio-detector/1/openvino/metadata.yaml',
    ]);
    expect(artifacts).toEqual(
      expect.arrayContaining(['exports/onnx/best.onnx', 'exports/openvino/best.xml']),
    );
  });

  it('when a version is exported by hand, then the export is stored; bad input exits 2 naming the problem', () => {
    const exported = cli('model', 'export', '1', '--format', 'onnx', '--json');
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toEqual([
      expect.objectContaining({
        version: '1',
        format: 'onnx',
        precision: 'fp32',
        uri: 's3://models/mini-streamio-detector/1/onnx/',
        files: ['best.onnx'],
      }),
    ]);
    for (const [args, message] of [
      [['9'], "has no version '9'"],
      [['1', '--format', 'coreml'], "unknown format 'coreml'"],
      [['1', '--format', 'engine'], 'TensorRT engine needs an NVIDIA GPU'],
    ] as const) {
      const refused = cli('model', 'export', ...args);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toContain(message);
    }
  });

  it('when training starts from a registry version, then the new run records its parent', async () => {
    const result = cli(
      'train',
      '--dataset=shapes',
      '--model=models:/mini-streamio-detector/1',
      '--epochs=1',
      '--imgsz=64',
      '--device=cpu',
      '--json',
      '--',
      'lr0=0.002',
    );
    expect(result.code, result.stderr).toBe(0);
    const finished = events(result.stdout).at(-1) as Record<string, unknown>;
    const run = await mlflow.getRun(String(finished.run_id));
    const tags = tagsOf(run.data);
    expect(tags.parent_run_id).toBe(firstRunId);
    expect(tags.parent_model).toBe('models:/mini-streamio-detector/1');
    expect((run.data.params ?? []).find((p) => p.key === 'lr0')?.value).toBe('0.002');
    expect(finished.registered_version).toBe('2');
    const second = await mlflow.getModelVersion('mini-streamio-detector', '2');
    expect(tagsOf(second ?? {}).parent_model).toBe('models:/mini-streamio-detector/1');
  });

  it('when a version is promoted, then model list shows the alias on it', () => {
    expect(cli('model', 'promote', '2').code).toBe(0);
    const listed = JSON.parse(cli('model', 'list', '--json').stdout) as {
      version: string;
      aliases: string[];
    }[];
    expect(listed.map((v) => [v.version, v.aliases])).toEqual([
      ['2', ['production']],
      ['1', []],
    ]);
    const missing = cli('model', 'promote', '9');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('mini-streamio-detector has no version 9 (versions: 2, 1)');
  });

  it('when named base weights were never imported, then training fails at once saying how to import them', async () => {
    const result = cli('train', '--dataset=shapes', '--model=yolov8x', ...TINY);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('model import-base');
    const runId = /run ([0-9a-f]{32}) marked FAILED/.exec(result.stderr)?.[1];
    expect(runId).toBeDefined();
    const run = await mlflow.getRun(String(runId));
    expect(run.info.status).toBe('FAILED');
    expect(tagsOf(run.data).error).toMatch(/no base weights for 'yolov8x'/);
  });

  it('when a stored dataset file was altered, then training fails on its checksum', async () => {
    const dir = shapes(path.join(work, 'altered'), 8, 2);
    const pushed = JSON.parse(cli('dataset', 'push', dir, '--name', 'altered', '--json').stdout);
    const client = minioClient(loadCliConfig(env));
    const key = `altered/${pushed.version}/train/labels/train_0000.txt`;
    await client.putObject('datasets', key, Buffer.from('0 0.5 0.5 0.1 0.1\n'));
    const result = cli('train', '--dataset=altered', '--model=yolov8n.yaml', ...TINY);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/do not match the manifest's sha256: train\/labels\/train_0000\.txt/);
  });

  it('when Ctrl-C reaches the CLI during training, then the run ends KILLED and keeps its weights', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repoRoot, 'cli/bin/run.js'),
        'train',
        '--dataset=shapes',
        '--model=yolov8n.yaml',
        '--epochs=100',
        '--imgsz=64',
        '--device=cpu',
        '--no-register',
        '--json',
      ],
      { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let runId = '';
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    for await (const line of readline.createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event.event === 'started') runId = String(event.run_id);
      if (event.event === 'epoch') {
        child.kill('SIGINT');
        break;
      }
    }
    expect(await exited, stderr).toBe(130);
    const run = await mlflow.getRun(runId);
    expect(run.info.status).toBe('KILLED');
    const artifacts = (await mlflow.listArtifacts(runId)).map((a) => a.path);
    expect(artifacts).toContain('weights/last.pt');
    expect(artifacts).toContain('results.csv');
  });

  it('when an upload fails half-way, then the version stays invisible and its objects are removed', async () => {
    const dir = shapes(path.join(work, 'half'), 8, 3);
    const { manifest, files } = await prepareDataset(dir, 'half');
    const store = new DatasetStore(minioClient(loadCliConfig(env)));
    const broken = files.map((f, i) =>
      i === 5 ? { ...f, body: { file: path.join(dir, 'vanished.jpg') } } : f,
    );
    await expect(store.push(manifest, broken)).rejects.toThrow();
    expect(await store.versions('half')).toEqual([]);
    expect([...(await listObjects(minioClient(loadCliConfig(env)), 'datasets', 'half/')).keys()]).toEqual([]);
    const shown = cli('dataset', 'show', 'half');
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain('no dataset named half');
  });

  it('when bootstrap runs twice, then one demo model is made production and the second run does nothing', async () => {
    const args = [
      'model',
      'bootstrap',
      '--name=boot-test',
      '--epochs=1',
      '--images=16',
      '--imgsz=64',
      '--json',
    ];
    const first = cli(...args);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      status: 'trained',
      model: { version: '1', demo: true },
    });
    const version = await mlflow.getModelVersionByAlias('boot-test', 'production');
    expect(version?.version).toBe('1');
    expect(version?.description).toMatch(/^DEMO MODEL/);
    expect(tagsOf(version ?? {}).demo).toBe('true');

    const second = cli(...args);
    expect(JSON.parse(second.stdout)).toMatchObject({ status: 'present', model: { version: '1' } });
    expect((await mlflow.searchModelVersions('boot-test')).length).toBe(1);
  });
});

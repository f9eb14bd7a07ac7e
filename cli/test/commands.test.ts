// The detect and evaluate commands, run as the user runs them (a child process), against a
// gateway app on a real MinIO whose fake inference answers with each image's own labels.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { imageSize } from 'image-size';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DetectionOutcome } from '../../gateway/src/detection/dto.js';
import { FakeInference } from '../../gateway/test/support/fake-inference.js';
import {
  type RunningGateway,
  startGateway,
  startMinio,
  testConfig,
} from '../../gateway/test/support/harness.js';
import { repoRoot } from '../../scripts/stack/config.js';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { boxRows } from '../../tests/e2e/support/boxes.js';

const run = promisify(execFile);
const CLASS_NAMES = ['circle', 'square', 'triangle'];

let stack: TestStack;
let gateway: RunningGateway;
let dataset: string;
/** Labels of each dataset image, by its bytes. */
const labelsByImage = new Map<string, string>();
let dropClass: number | undefined;

function labelledOutcome(image: Buffer): DetectionOutcome {
  const labels = boxRows(labelsByImage.get(image.toString('base64')) ?? '');
  return {
    response: {
      instances: labels
        .filter((b) => b.classId !== dropClass)
        .map((b) => ({
          boundingBox: [b.xc, b.yc, b.w, b.h].map((v) => v.toFixed(4)).join(' '),
          class: String(b.classId),
          className: CLASS_NAMES[b.classId] as string,
          confidence: 0.9,
        })),
      image: { width: 64, height: 64 },
      model: { name: 'fake-detector', version: '7', backend: 'openvino', precision: 'bf16' },
      inference_ms: 3,
    },
    error: null,
  };
}

async function cli(...args: string[]) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'cli/bin/run.js'), ...args],
      {
        cwd: repoRoot,
        env: { ...process.env, ...stack.env, GATEWAY_URL: gateway.url },
      },
    );
    return { code: 0, stdout, stderr: unwrap(stderr) };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: unwrap(e.stderr) };
  }
}

/** oclif wraps error messages over lines prefixed with " ›   ": join them again. */
const unwrap = (text: string) => text.replace(/\s*\n\s*›\s*/g, ' ');

beforeAll(async () => {
  dataset = fs.mkdtempSync(path.join(os.tmpdir(), 'shapes-'));
  const generate = '-m mini_streamio.synthetic DIR --train 4 --valid 8 --test 2 --image-size 64'.split(' ');
  await run(
    path.join(repoRoot, '.stack/python'),
    generate.map((arg) => (arg === 'DIR' ? dataset : arg)),
  );
  const images = path.join(dataset, 'valid/images');
  for (const file of fs.readdirSync(images)) {
    const labels = fs.readFileSync(
      path.join(dataset, 'valid/labels', file.replace(/\.jpg$/, '.txt')),
      'utf8',
    );
    labelsByImage.set(fs.readFileSync(path.join(images, file)).toString('base64'), labels);
  }
  stack = await startMinio();
  gateway = await startGateway(testConfig(stack), {
    inference: new FakeInference(labelledOutcome),
    reconcile: true,
  });
});
afterAll(async () => {
  await gateway?.close();
  await stack?.stop();
  fs.rmSync(dataset, { recursive: true, force: true });
});

describe('mini-streamio detect', () => {
  it('when given two images with --json, then it prints both completed tasks with their boxes', async () => {
    const [a, b] = fs
      .readdirSync(path.join(dataset, 'valid/images'))
      .map((f) => path.join(dataset, 'valid/images', f));
    const { code, stdout } = await cli('detect', a as string, b as string, '--json');
    expect(code).toBe(0);
    const results = JSON.parse(stdout);
    expect(results.map((r: { image: string }) => r.image)).toEqual([a, b]);
    for (const r of results) {
      expect(r.status).toBe('completed');
      expect(r.response.instances.length).toBeGreaterThan(0);
    }
  });

  it('when printing a table, then each box shows class name, id, confidence and box', async () => {
    const image = path.join(
      dataset,
      'valid/images',
      fs.readdirSync(path.join(dataset, 'valid/images'))[0] as string,
    );
    const { code, stdout } = await cli('detect', image);
    expect(code).toBe(0);
    expect(stdout).toMatch(/object.*model fake-detector v7 on openvino bf16, /);
    expect(stdout).toMatch(/(circle|square|triangle)\s+\d\s+0\.9000\s+0\.\d{4} 0\.\d{4} 0\.\d{4} 0\.\d{4}/);
  });

  it('when the gateway refuses the file, then the command fails with the gateway message', async () => {
    const text = path.join(dataset, 'data.yaml');
    const { code, stderr } = await cli('detect', text);
    expect(code).toBe(1);
    expect(stderr).toContain('415 unsupported_image_type');
  });

  it('when the gateway is unreachable, then it says so, naming the URL', async () => {
    const { code, stderr } = await cli(
      'detect',
      path.join(dataset, 'data.yaml'),
      '--url',
      'http://127.0.0.1:9',
    );
    expect(code).toBe(1);
    expect(stderr).toContain('cannot reach the gateway at http://127.0.0.1:9');
  });

  it('when given --save DIR, then each image is written there with boxes drawn, its task JSON beside it, and stderr stays quiet', async () => {
    dropClass = undefined;
    const images = fs
      .readdirSync(path.join(dataset, 'valid/images'))
      .slice(0, 3)
      .map((f) => path.join(dataset, 'valid/images', f));
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'detect-save-')), 'drawn');
    const { code, stdout, stderr } = await cli('detect', ...images, '--save', out);
    expect(code).toBe(0);
    expect(stdout).toContain(`Saved 3 drawn images and 3 task JSON files to ${out}`);
    expect(stderr).toBe(''); // not a terminal: no progress bar
    for (const image of images) {
      const { name, base } = path.parse(image);
      const drawn = fs.readFileSync(path.join(out, base));
      expect(imageSize(drawn)).toMatchObject({ type: 'jpg', width: 64, height: 64 });
      expect(drawn.equals(fs.readFileSync(image))).toBe(false);
      const task = JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8'));
      expect(task).toMatchObject({ status: 'completed', response: { model: { name: 'fake-detector' } } });
      expect(task.task_id).toEqual(expect.any(String));
      expect(task).not.toHaveProperty('image');
    }
    // The same image twice with --json: names kept apart, and `saved` says where each went.
    const twice = await cli('detect', images[0] as string, images[0] as string, '--save', out, '--json');
    expect(twice.code).toBe(0);
    const saved = JSON.parse(twice.stdout).map((r: { saved: object }) => r.saved);
    const { name, ext } = path.parse(images[0] as string);
    expect(saved).toEqual([
      { json: path.join(out, `${name}.json`), image: path.join(out, `${name}${ext}`) },
      { json: path.join(out, `${name}-2.json`), image: path.join(out, `${name}-2${ext}`) },
    ]);
    expect(twice.stderr).toBe('');
  });

  it('when --conf is out of range, then the flag is refused before anything is sent', async () => {
    const { code, stderr } = await cli('detect', 'x.jpg', '--conf', '2');
    expect(code).not.toBe(0);
    expect(stderr).toContain('expected a number from 0 to 1');
  });
});

describe('mini-streamio evaluate', () => {
  it('when the service returns exactly the labelled boxes, then P, R, mAP50 and mAP50-95 are 1', async () => {
    dropClass = undefined;
    const { code, stdout } = await cli('evaluate', '--dir', dataset, '--split', 'valid', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      split: 'valid',
      images: 8,
      precision: 1,
      recall: 1,
      mAP50: 1,
      'mAP50-95': 1,
    });
    expect(report.failed_images).toEqual([]);
  });

  it('when the service misses every box of one class, then that class scores 0 and the means drop accordingly', async () => {
    dropClass = 0;
    const { code, stdout } = await cli('evaluate', '--dir', dataset, '--split', 'valid', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    const present = report.classes.map((c: { id: number }) => c.id);
    expect(present).toContain(0);
    const circle = report.classes.find((c: { id: number }) => c.id === 0);
    expect(circle).toMatchObject({ name: 'circle', recall: 0, mAP50: 0 });
    expect(report.mAP50).toBeCloseTo((present.length - 1) / present.length, 12);
  });

  it('when printing a table, then it has a row for all and one per class', async () => {
    dropClass = undefined;
    const { code, stdout } = await cli('evaluate', '--dir', dataset);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^all\s+8\s+\d+\s+1\.000\s+1\.000\s+1\.000\s+1\.000$/m);
    expect(stdout).toMatch(/^(circle|square|triangle)\s+\d+/m);
  });

  it('when the dataset is read from MinIO (as dataset push stored it), then the metrics are the same', async () => {
    dropClass = undefined;
    const pushed = await cli('dataset', 'push', dataset, '--name', 'shapes', '--json');
    expect(pushed.code).toBe(0);
    const { code, stdout } = await cli('evaluate', '--dataset', 'shapes', '--split', 'valid', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ images: 8, precision: 1, recall: 1, mAP50: 1, 'mAP50-95': 1 });
    expect(report.source).toContain('dataset shapes');
  });

  it('when the MinIO dataset does not exist, or both or neither source is given, then it says so', async () => {
    const missing = await cli('evaluate', '--dataset', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no dataset named nope');
    expect((await cli('evaluate')).code).not.toBe(0);
    expect((await cli('evaluate', '--dataset', 'shapes', '--dir', dataset)).code).not.toBe(0);
  });

  it('when the gateway refuses one image, then it is reported with the reason and scored as missed, and the rest is evaluated', async () => {
    dropClass = undefined;
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'shapes-refused-'));
    fs.cpSync(dataset, copy, { recursive: true });
    // Named like a JPEG but not an image: the gateway answers 415 for it.
    fs.writeFileSync(path.join(copy, 'valid/images/zz-not-an-image.jpg'), 'hello');
    fs.writeFileSync(path.join(copy, 'valid/labels/zz-not-an-image.txt'), '0 0.5 0.5 0.2 0.2\n');
    const { code, stdout, stderr } = await cli('evaluate', '--dir', copy, '--split', 'valid', '--json');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const report = JSON.parse(stdout);
    expect(report.images).toBe(9);
    expect(report.failed_images).toEqual([
      { name: 'zz-not-an-image.jpg', error: expect.stringContaining('415 unsupported_image_type') },
    ]);
    const circle = report.classes.find((c: { id: number }) => c.id === 0);
    expect(circle.recall).toBeLessThan(1);
    expect(report.mAP50).toBeLessThan(1);
    const table = await cli('evaluate', '--dir', copy, '--split', 'valid');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /1 image\(s\) refused by the gateway or failed.*\n\s+zz-not-an-image\.jpg: the gateway answered 415/,
    );
    fs.rmSync(copy, { recursive: true, force: true });
  });

  it('when the split does not exist, then it fails naming the split', async () => {
    const { code, stderr } = await cli('evaluate', '--dir', dataset, '--split', 'holdout');
    expect(code).toBe(1);
    expect(stderr).toContain('has no split "holdout"');
  });
});

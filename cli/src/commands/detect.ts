import fs from 'node:fs/promises';
import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { MiniStreamioCommand, UserError } from '../lib/command.js';
import { DETECTION_PARAMS } from '../lib/contracts.js';
import { drawDetections, outputPaths } from '../lib/draw.js';
import { fraction, gatewayFlags, maxDetFlag } from '../lib/flags.js';
import { GatewayClient, type TaskView } from '../lib/gateway-client.js';
import { CountProgress, progressWanted } from '../lib/progress.js';

export interface DetectResult extends TaskView {
  image: string;
  /** With --save: the drawn picture (completed tasks whose image could be drawn) and the task's JSON. */
  saved?: { image?: string; json: string; error?: string };
}

export default class Detect extends MiniStreamioCommand {
  static override summary = 'Detect objects in images with the running service';
  static override description =
    'Posts each image to POST /image/detect, polls its task until it is completed or failed and prints the boxes ' +
    '(class, confidence, YOLO-normalised x_center y_center width height). Exits with 1 if any task failed. ' +
    'With --save DIR, each image is also written to DIR with its boxes drawn (class name and confidence, a ' +
    'colour per class; same format and name) and its task beside it as JSON (<name>.json, as GET returns it). ' +
    'A progress bar is shown on stderr for several images when it is a terminal (not with --json).';
  static override examples = [
    '<%= config.bin %> detect frame.jpg',
    '<%= config.bin %> detect a.jpg b.png --conf 0.5 --json',
    '<%= config.bin %> detect frame.jpg --url http://gateway:8080',
    '<%= config.bin %> detect frames/*.jpg --save out/',
  ];
  static override strict = false; // any number of images
  static override enableJsonFlag = true;
  static override args = {
    image: Args.string({ description: 'image files (JPEG, PNG, WebP, BMP)', required: true }),
  };
  static override flags = {
    ...gatewayFlags,
    conf: fraction('minimum confidence of a box', DETECTION_PARAMS.conf.default),
    iou: fraction('IoU threshold of non-maximum suppression', DETECTION_PARAMS.iou.default),
    'max-det': maxDetFlag(),
    timeout: Flags.integer({ description: 'seconds to wait for each task', min: 1, default: 120 }),
    save: Flags.directory({
      description: 'write each image with its boxes drawn, and its task as JSON, to this folder (created)',
    }),
  };

  async run(): Promise<DetectResult[]> {
    const { argv, flags } = await this.parse(Detect);
    const config = this.cliConfig();
    const client = new GatewayClient(flags.url ?? config.GATEWAY_URL, config.API_KEY);
    const params = { conf: flags.conf, iou: flags.iou, max_det: flags['max-det'] };
    const files = await Promise.all(
      (argv as string[]).map(async (file) => {
        const bytes = await fs.readFile(file).catch((err: Error) => {
          throw new UserError(`cannot read ${file}: ${err.message}`);
        });
        return { file, bytes };
      }),
    );
    // All images are queued first, so the service works on them while we wait for the first.
    const taskIds = await Promise.all(
      files.map((f) => client.submit(f.bytes, path.basename(f.file), params)),
    );
    const bar = new CountProgress(
      'Detecting',
      files.length,
      files.length > 1 && progressWanted(this.jsonEnabled()),
    );
    bar.update(0);
    const results: DetectResult[] = [];
    for (const [i, taskId] of taskIds.entries()) {
      const task = await client.waitFor(taskId, { timeoutMs: flags.timeout * 1000 });
      const result = { image: files[i]?.file as string, ...task };
      results.push(result);
      bar.update(i + 1);
      if (!this.jsonEnabled()) bar.around(() => this.log(formatResult(result)));
    }
    bar.finish();
    if (flags.save) {
      const tasks = results.map(({ image: _, ...task }) => task);
      await saveResults(results, tasks, flags.save);
      if (!this.jsonEnabled()) this.log(describeSaved(results, flags.save));
    }
    if (results.some((r) => r.status === 'failed')) process.exitCode = 1;
    return results;
  }
}

/** Writes each task's JSON, then the drawn pictures of the completed ones; fills in `saved`. */
async function saveResults(results: DetectResult[], tasks: TaskView[], dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true }).catch((err: Error) => {
    throw new UserError(`cannot create ${dir}: ${err.message}`);
  });
  const paths = outputPaths(
    results.map((r) => r.image),
    dir,
  );
  await Promise.all(
    tasks.map((task, i) => fs.writeFile(paths[i]?.json as string, `${JSON.stringify(task, null, 2)}\n`)),
  );
  const drawable = results.flatMap((r, i) =>
    r.status === 'completed' && r.response
      ? [{ index: i, image: r.image, output: paths[i]?.image as string }]
      : [],
  );
  const outcomes = await drawDetections(
    drawable.map((d) => ({
      image: d.image,
      output: d.output,
      instances: results[d.index]?.response?.instances ?? [],
    })),
  );
  results.forEach((r, i) => {
    r.saved = { json: paths[i]?.json as string };
  });
  drawable.forEach((d, k) => {
    const outcome = outcomes[k];
    const saved = results[d.index]?.saved as { image?: string; error?: string };
    if (outcome && 'output' in outcome) saved.image = outcome.output;
    else if (outcome) saved.error = outcome.error;
  });
}

function describeSaved(results: DetectResult[], dir: string): string {
  const drawn = results.filter((r) => r.saved?.image).length;
  const lines = [
    `Saved ${drawn} drawn image${drawn === 1 ? '' : 's'} and ${results.length} task JSON file${results.length === 1 ? '' : 's'} to ${dir}`,
  ];
  for (const r of results) if (r.saved?.error) lines.push(`  ${r.image}: not drawn: ${r.saved.error}`);
  return lines.join('\n');
}

function formatResult(result: DetectResult): string {
  if (result.status === 'failed')
    return `${result.image}: failed (${result.error?.code}): ${result.error?.message}\n`;
  const response = result.response;
  if (!response) return `${result.image}: ${result.status}\n`;
  const { instances, image, model } = response;
  const header =
    `${result.image}: ${instances.length} object${instances.length === 1 ? '' : 's'} ` +
    `(${image.width}×${image.height}, model ${model.name} v${model.version}${describeRuntime(model)}, ` +
    `${response.inference_ms.toFixed(1)} ms)`;
  if (instances.length === 0) return `${header}\n`;
  const rows = [
    ['class', 'id', 'confidence', 'x_center y_center width height'],
    ...instances.map((i) => [i.className, i.class, i.confidence.toFixed(4), i.boundingBox]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length))) ?? [];
  const table = rows.map((r) =>
    `  ${r.map((cell, c) => cell.padEnd(widths[c] as number)).join('  ')}`.trimEnd(),
  );
  return `${header}\n${table.join('\n')}\n`;
}

/** " on openvino bf16": what ran the model, as the answer names it. */
function describeRuntime({ backend, precision }: { backend?: string; precision?: string }): string {
  return backend ? ` on ${[backend, precision].filter(Boolean).join(' ')}` : '';
}

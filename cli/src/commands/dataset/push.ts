import { Args, Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../../lib/command.js';
import { prepareDataset } from '../../lib/datasets/prepare.js';
import { datasetStore } from '../../lib/datasets/store.js';
import { summarizeCounts } from '../../lib/datasets/summary.js';
import { formatBytes } from '../../lib/format.js';
import { ProgressBar } from '../../lib/progress.js';

export interface PushOutput {
  name: string;
  version: string;
  status: 'created' | 'unchanged';
  uri: string;
  content_hash: string;
  format: 'yolo' | 'coco';
  classes: string[];
  splits: Record<string, { images: number; boxes: number }>;
  uploaded_files: number;
}

export default class DatasetPush extends MiniStreamioCommand {
  static override summary = 'Validate a dataset and upload it to MinIO as an immutable version.';
  static override description =
    `Accepts the YOLO layout (data.yaml + <split>/images + <split>/labels, as Ultralytics and Roboflow export it) and COCO JSON (<split>/_annotations.coco.json or annotations/instances_<split>.json), converted to YOLO labels on upload. Every problem is reported at once, with its file.

The version is the hash of the content: pushing the same data again changes nothing.`;
  static override examples = [
    '<%= config.bin %> dataset push ./valorant --name valorant',
    '<%= config.bin %> dataset push ./coco-export --name parts --format coco --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    dir: Args.directory({ required: true, exists: true, description: 'dataset folder' }),
  };
  static override flags = {
    name: Flags.string({
      char: 'n',
      required: true,
      description: 'dataset name (lower-case, digits, . _ -)',
    }),
    format: Flags.option({ options: ['auto', 'yolo', 'coco'] as const, default: 'auto' as const })({
      description: 'dataset layout; auto looks for data.yaml, then COCO JSON',
    }),
  };

  async run(): Promise<PushOutput> {
    const { args, flags } = await this.parse(DatasetPush);
    const config = this.cliConfig();
    const prepared = await prepareDataset(args.dir, flags.name, flags.format);
    const { manifest, files } = prepared;
    this.log(
      `Valid ${manifest.source.format.toUpperCase()} dataset: ${summarizeCounts(manifest)}; classes ${manifest.names.join(', ')}`,
    );
    const store = datasetStore(config);
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    const bar = new ProgressBar(
      'Uploading',
      files.length,
      totalBytes,
      process.stderr,
      !this.jsonEnabled() && Boolean(process.stderr.isTTY),
    );
    const result = await store.push(manifest, files, (done) => bar.update(done.files, done.bytes));
    bar.done();
    const ref = `${manifest.name}@${result.manifest.version}`;
    if (result.status === 'unchanged') this.log(`${ref} already exists with this content: nothing uploaded.`);
    else
      this.log(
        `Pushed ${ref} (${result.uploadedFiles} files, ${formatBytes(totalBytes)}) to ${store.uri(manifest)}`,
      );
    return {
      name: manifest.name,
      version: result.manifest.version,
      status: result.status,
      uri: store.uri(result.manifest),
      content_hash: result.manifest.content_hash,
      format: manifest.source.format,
      classes: manifest.names,
      splits: Object.fromEntries(
        Object.entries(manifest.splits).map(([split, s]) => [split, { images: s.images, boxes: s.boxes }]),
      ),
      uploaded_files: result.uploadedFiles,
    };
  }
}

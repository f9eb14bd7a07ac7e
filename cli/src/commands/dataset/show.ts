import { Args } from '@oclif/core';
import { MiniStreamioCommand } from '../../lib/command.js';
import type { Manifest } from '../../lib/datasets/manifest.js';
import { SPLITS } from '../../lib/datasets/source.js';
import { datasetStore } from '../../lib/datasets/store.js';
import { table } from '../../lib/format.js';

export type DatasetShowOutput = Omit<Manifest, 'files'> & { uri: string; file_count: number };

export default class DatasetShow extends MiniStreamioCommand {
  static override summary = 'Show a dataset version: counts per split, classes and boxes per class.';
  static override examples = [
    '<%= config.bin %> dataset show valorant',
    '<%= config.bin %> dataset show valorant@3f2a9c1b7d4e --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    dataset: Args.string({ required: true, description: 'name (latest version) or name@version' }),
  };

  async run(): Promise<DatasetShowOutput> {
    const { args } = await this.parse(DatasetShow);
    const store = datasetStore(this.cliConfig());
    const manifest = await store.resolve(args.dataset);
    const splits = SPLITS.filter((s) => manifest.splits[s]);
    this.log(`${manifest.name}@${manifest.version}  (${store.uri(manifest)})`);
    this.log(
      `created ${manifest.created_at} from ${manifest.source.format.toUpperCase()} at ${manifest.source.path}`,
    );
    this.log(`content sha256 ${manifest.content_hash}, ${Object.keys(manifest.files).length} files\n`);
    const rows = [
      ['images', ...splits.map((s) => String(manifest.splits[s]?.images ?? 0)), ''],
      ['  without objects', ...splits.map((s) => String(manifest.splits[s]?.backgrounds ?? 0)), ''],
      ['boxes', ...splits.map((s) => String(manifest.splits[s]?.boxes ?? 0)), ''],
      ...manifest.names.map((name, id) => [
        `  ${id} ${name}`,
        ...splits.map((s) => String(manifest.splits[s]?.boxes_per_class[name] ?? 0)),
        String(manifest.boxes_per_class[name] ?? 0),
      ]),
    ];
    rows[2]![splits.length + 1] = String(Object.values(manifest.boxes_per_class).reduce((a, b) => a + b, 0));
    this.log(table(['', ...splits, 'total'], rows));
    const { files, ...summary } = manifest;
    return { ...summary, uri: store.uri(manifest), file_count: Object.keys(files).length };
  }
}

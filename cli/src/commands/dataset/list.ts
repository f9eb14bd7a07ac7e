import { Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../../lib/command.js';
import { datasetStore } from '../../lib/datasets/store.js';
import { summarizeCounts } from '../../lib/datasets/summary.js';
import { table } from '../../lib/format.js';

export interface DatasetListEntry {
  name: string;
  version: string;
  latest: boolean;
  created_at: string;
  classes: string[];
  images: Record<string, number>;
}

export default class DatasetList extends MiniStreamioCommand {
  static override summary = 'List the datasets in MinIO and their versions, newest first.';
  static override examples = [
    '<%= config.bin %> dataset list',
    '<%= config.bin %> dataset list --name valorant --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    name: Flags.string({ char: 'n', description: 'only this dataset' }),
  };

  async run(): Promise<DatasetListEntry[]> {
    const { flags } = await this.parse(DatasetList);
    const store = datasetStore(this.cliConfig());
    const names = flags.name ? [flags.name] : await store.names();
    const entries: DatasetListEntry[] = [];
    const rows: string[][] = [];
    for (const name of names) {
      const versions = await store.versions(name);
      versions.forEach((manifest, index) => {
        entries.push({
          name,
          version: manifest.version,
          latest: index === 0,
          created_at: manifest.created_at,
          classes: manifest.names,
          images: Object.fromEntries(Object.entries(manifest.splits).map(([s, v]) => [s, v.images])),
        });
        rows.push([
          index === 0 ? name : '',
          manifest.version + (index === 0 ? ' (latest)' : ''),
          manifest.created_at.replace('T', ' ').slice(0, 19),
          summarizeCounts(manifest),
          manifest.names.join(', '),
        ]);
      });
    }
    if (rows.length === 0)
      this.log('No datasets yet: push one with `mini-streamio dataset push <dir> --name <name>`.');
    else this.log(table(['name', 'version', 'created', 'contents', 'classes'], rows));
    return entries;
  }
}

import { Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../../lib/command.js';
import { formatNumber, table } from '../../lib/format.js';
import { MlflowClient } from '../../lib/mlflow.js';
import { listVersions, type VersionSummary } from '../../lib/models/registry.js';

export default class ModelList extends MiniStreamioCommand {
  static override summary =
    'List the registered versions of a model, newest first, with metrics and aliases.';
  static override examples = [
    '<%= config.bin %> model list',
    '<%= config.bin %> model list --name my-detector --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    name: Flags.string({ char: 'n', description: 'registered model (default mini-streamio-detector)' }),
  };

  async run(): Promise<VersionSummary[]> {
    const { flags } = await this.parse(ModelList);
    const config = this.cliConfig();
    const name = flags.name ?? config.REGISTERED_MODEL_NAME;
    const versions = await listVersions(new MlflowClient(config.MLFLOW_TRACKING_URI), name);
    if (versions.length === 0) {
      this.log(`${name} has no registered versions yet: train one with \`mini-streamio train\`.`);
      return versions;
    }
    const rows = versions.map((v) => [
      v.version,
      v.aliases.map((a) => `@${a}`).join(' '),
      formatNumber(v.metrics['mAP50-95']),
      formatNumber(v.metrics.mAP50),
      formatNumber(v.metrics.precision),
      formatNumber(v.metrics.recall),
      v.dataset ?? '-',
      v.created_at.replace('T', ' ').slice(0, 19),
      v.run_id ?? '-',
      v.demo ? 'demo' : '',
    ]);
    this.log(`${name}`);
    this.log(
      table(
        ['version', 'aliases', 'mAP50-95', 'mAP50', 'precision', 'recall', 'dataset', 'created', 'run', ''],
        rows,
      ),
    );
    return versions;
  }
}

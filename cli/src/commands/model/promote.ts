import { Args, Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../../lib/command.js';
import { MlflowClient } from '../../lib/mlflow.js';
import { PRODUCTION_ALIAS, promote } from '../../lib/models/registry.js';

export default class ModelPromote extends MiniStreamioCommand {
  static override summary = 'Point an alias (production by default) at a registered version.';
  static override description =
    'The detection service serves the version that the production alias points at.';
  static override examples = [
    '<%= config.bin %> model promote 3',
    '<%= config.bin %> model promote 4 --alias staging --name my-detector',
  ];
  static override enableJsonFlag = true;
  static override args = {
    version: Args.string({ required: true, description: 'version number (see `model list`)' }),
  };
  static override flags = {
    alias: Flags.string({ char: 'a', default: PRODUCTION_ALIAS, description: 'alias to set' }),
    name: Flags.string({ char: 'n', description: 'registered model (default mini-streamio-detector)' }),
  };

  async run(): Promise<{ name: string; alias: string; version: string; previous: string | null }> {
    const { args, flags } = await this.parse(ModelPromote);
    const config = this.cliConfig();
    const name = flags.name ?? config.REGISTERED_MODEL_NAME;
    const { previous } = await promote(
      new MlflowClient(config.MLFLOW_TRACKING_URI),
      name,
      args.version,
      flags.alias,
    );
    const was = previous ? (previous === args.version ? ' (unchanged)' : ` (was version ${previous})`) : '';
    this.log(`${name}@${flags.alias} is now version ${args.version}${was}`);
    return { name, alias: flags.alias, version: args.version, previous };
  }
}

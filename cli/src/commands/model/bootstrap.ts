import { Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../../lib/command.js';
import { type BootstrapResult, bootstrapDemoModel } from '../../lib/models/bootstrap.js';
import { TrainingFailed } from '../../lib/training/run.js';

export default class ModelBootstrap extends MiniStreamioCommand {
  static override summary = 'Make sure a production model exists, training a small demo model if none does.';
  static override description =
    `Does nothing when the registered model already has a production alias. Otherwise it generates the synthetic shapes dataset, pushes it as demo-shapes, trains a small detector on the CPU (a few minutes), registers it tagged demo=true and points production at it.`;
  static override examples = [
    '<%= config.bin %> model bootstrap',
    '<%= config.bin %> model bootstrap --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    name: Flags.string({ char: 'n', description: 'registered model (default mini-streamio-detector)' }),
    epochs: Flags.integer({ min: 1, default: 20, description: 'training epochs of the demo model' }),
    imgsz: Flags.integer({ min: 32, default: 96, description: 'training image size' }),
    images: Flags.integer({ min: 8, default: 240, description: 'synthetic training images' }),
    device: Flags.string({ default: 'cpu', description: 'device to train on' }),
    verbose: Flags.boolean({ char: 'v', description: "show Ultralytics' own output on stderr" }),
  };

  async run(): Promise<BootstrapResult> {
    const { flags } = await this.parse(ModelBootstrap);
    const config = this.cliConfig();
    const name = flags.name ?? config.REGISTERED_MODEL_NAME;
    try {
      const result = await bootstrapDemoModel(
        config,
        { name, epochs: flags.epochs, imgsz: flags.imgsz, trainImages: flags.images, device: flags.device },
        { log: (l) => this.log(l), warn: (l) => this.logToStderr(l), json: false, verbose: flags.verbose },
      );
      const m = result.model;
      const demo = m.demo ? ' (demo model)' : '';
      if (result.status === 'present')
        this.log(`${name}@production is version ${m.version}${demo}: nothing to do.`);
      else this.log(`${name}@production is now version ${m.version}${demo}, trained on ${result.dataset}.`);
      return result;
    } catch (err) {
      if (err instanceof TrainingFailed) this.error(err.message, { exit: err.exitCode });
      throw err;
    }
  }
}

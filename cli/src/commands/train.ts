import { Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../lib/command.js';
import { TRAIN_DEFAULTS, TRAIN_MINIMUMS, TRAINER_EXIT_CODES } from '../lib/contracts.js';
import { runTraining, TrainingFailed } from '../lib/training/run.js';

export default class Train extends MiniStreamioCommand {
  static override summary = 'Fine-tune a YOLO detector on a dataset from MinIO, tracked in MLflow.';
  static override description =
    `--model accepts an Ultralytics name (yolov8l, yolo11n: base weights imported with \`model import-base\`, or downloaded when MINI_STREAMIO_ALLOW_DOWNLOADS=true), an architecture yaml (yolov8n.yaml: from scratch), a MinIO URI (s3://bucket/key.pt), a local .pt, or a registry reference (models:/<name>/<version>, models:/<name>@<alias>).

Other Ultralytics train arguments: --arg key=value (repeatable), or key=value after \`--\`.

Progress is printed per epoch; Ctrl-C stops training, keeps what was produced and marks the MLflow run KILLED.`;
  static override examples = [
    '<%= config.bin %> train --dataset=valorant --model=yolov8l --epochs=50',
    '<%= config.bin %> train --dataset=shapes@0c51c848f161 --model=yolov8n.yaml --epochs=3 --imgsz=128 --device=cpu',
    '<%= config.bin %> train --dataset=s3://uploads/my-export --model=models:/mini-streamio-detector@production -- lr0=0.002 cos_lr=true',
  ];
  static override strict = false;
  static override flags = {
    dataset: Flags.string({
      char: 'd',
      required: true,
      description: 'name, name@version or s3://bucket/prefix',
    }),
    model: Flags.string({ char: 'm', required: true, description: 'model to start from (see above)' }),
    // Defaults and minimums: contracts/train-options.schema.json, as the trainer's own.
    epochs: Flags.integer({ min: TRAIN_MINIMUMS.epochs, default: TRAIN_DEFAULTS.epochs }),
    imgsz: Flags.integer({
      min: TRAIN_MINIMUMS.imgsz,
      default: TRAIN_DEFAULTS.imgsz,
      description: 'training image size',
    }),
    batch: Flags.custom<number>({
      parse: async (input) => {
        const value = Number(input);
        if (!Number.isFinite(value) || (value <= 0 && value !== -1)) {
          throw new Error(`--batch must be a positive number or -1 (auto), got ${input}`);
        }
        return value;
      },
    })({
      default: TRAIN_DEFAULTS.batch,
      description: 'images per batch, -1 for auto, 0.7 for 70% of GPU memory',
    }),
    device: Flags.string({ description: 'cpu, 0, 0,1 … (default: first GPU, else CPU)' }),
    experiment: Flags.string({ default: TRAIN_DEFAULTS.experiment, description: 'MLflow experiment' }),
    'run-name': Flags.string({ description: 'MLflow run name' }),
    'register-as': Flags.string({ description: 'registered model name (default mini-streamio-detector)' }),
    register: Flags.boolean({
      default: TRAIN_DEFAULTS.register,
      allowNo: true,
      description: 'register the best weights',
    }),
    arg: Flags.string({
      multiple: true,
      default: [],
      description: 'other Ultralytics train argument, key=value',
    }),
    json: Flags.boolean({ description: 'print the trainer events as JSON lines' }),
    verbose: Flags.boolean({ char: 'v', description: "show Ultralytics' own output on stderr" }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Train);
    const extra = [...flags.arg, ...(argv as string[])];
    const malformed = extra.filter((pair) => !/^[A-Za-z_][\w]*=/.test(pair));
    if (malformed.length > 0)
      this.error(`not key=value: ${malformed.join(' ')}`, { exit: TRAINER_EXIT_CODES.usage });
    try {
      await runTraining(
        {
          dataset: flags.dataset,
          model: flags.model,
          epochs: flags.epochs,
          imgsz: flags.imgsz,
          batch: flags.batch,
          device: flags.device,
          experiment: flags.experiment,
          runName: flags['run-name'],
          register: flags.register,
          registerAs: flags['register-as'],
          extra,
        },
        this.cliConfig(),
        {
          log: (l) => this.log(l),
          warn: (l) => this.logToStderr(l),
          json: flags.json,
          verbose: flags.verbose,
        },
      );
    } catch (err) {
      if (err instanceof TrainingFailed) this.error(err.message, { exit: err.exitCode });
      throw err;
    }
  }
}

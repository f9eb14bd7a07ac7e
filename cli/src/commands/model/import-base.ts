import { Args, Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../../lib/command.js';
import { formatBytes } from '../../lib/format.js';
import { minioClient } from '../../lib/minio.js';
import { baseName, type ImportResult, importBaseWeights } from '../../lib/models/base-weights.js';

export default class ModelImportBase extends MiniStreamioCommand {
  static override summary = 'Import base weights (.pt) into MinIO so `train --model=<name>` works offline.';
  static override description =
    `Stores the file at s3://models/base/<name>.pt; \`train --model=<name>\` then fine-tunes it. Get the file once on a connected machine (e.g. https://github.com/ultralytics/assets/releases).`;
  static override examples = [
    '<%= config.bin %> model import-base ./yolov8l.pt',
    '<%= config.bin %> model import-base ./downloads/yolo11n.pt --name yolo11n --force',
  ];
  static override enableJsonFlag = true;
  static override args = {
    file: Args.file({ required: true, exists: true, description: 'PyTorch checkpoint (.pt)' }),
  };
  static override flags = {
    name: Flags.string({ char: 'n', description: 'model name (default: the file name without .pt)' }),
    force: Flags.boolean({ description: 'replace different weights already imported under this name' }),
  };

  async run(): Promise<ImportResult> {
    const { args, flags } = await this.parse(ModelImportBase);
    const config = this.cliConfig();
    const name = baseName(args.file, flags.name);
    const result = await importBaseWeights(
      minioClient(config),
      config.MODELS_BUCKET,
      args.file,
      name,
      flags.force,
    );
    const verb = { imported: 'Imported', replaced: 'Replaced', unchanged: 'Already imported:' }[
      result.status
    ];
    this.log(`${verb} ${result.uri} (${formatBytes(result.size)}); train with --model=${name}`);
    return result;
  }
}

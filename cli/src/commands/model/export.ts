import { Args, Flags } from '@oclif/core';
import { MiniStreamioCommand } from '../../lib/command.js';
import { formatBytes } from '../../lib/format.js';
import { type ExportResult, runExporter } from '../../lib/models/export.js';

export default class ModelExport extends MiniStreamioCommand {
  static override summary = 'Export a registered version to a fast runtime (ONNX, OpenVINO, TensorRT).';
  static override description =
    `Stores each export in MinIO at s3://models/<name>/<version>/<format>/, logs it in the version's MLflow run and lists it in the version's "exports" tag; the detection service then runs it (INFERENCE_BACKEND). Training already exports to EXPORT_FORMATS (onnx,openvino); this re-exports, e.g. with other options. Exit status 2: unknown version or format, or a runtime or GPU missing.`;
  static override examples = [
    '<%= config.bin %> model export 3',
    '<%= config.bin %> model export 3 --format openvino',
    '<%= config.bin %> model export @production --format engine --half',
    '<%= config.bin %> model export 3 --format openvino --int8 --data valorant',
  ];
  static override enableJsonFlag = true;
  static override args = {
    version: Args.string({ required: true, description: 'version number, or @alias' }),
  };
  static override flags = {
    format: Flags.string({
      char: 'f',
      multiple: true,
      description: 'onnx, openvino, or engine (TensorRT; needs an NVIDIA GPU); default EXPORT_FORMATS',
    }),
    half: Flags.boolean({ description: 'fp16 weights', exclusive: ['int8'] }),
    int8: Flags.boolean({
      description:
        "int8 (openvino, engine), calibrated on --data's validation images; stored beside the float export (openvino-int8/) and served in its place",
      dependsOn: ['data'],
    }),
    data: Flags.string({ description: 'dataset (name[@version]) whose images calibrate --int8' }),
    name: Flags.string({ char: 'n', description: 'registered model (default mini-streamio-detector)' }),
  };

  async run(): Promise<ExportResult[]> {
    const { args, flags } = await this.parse(ModelExport);
    const config = this.cliConfig();
    const outcome = await runExporter(config, {
      version: args.version,
      name: flags.name,
      formats: flags.format ?? [],
      half: flags.half,
      int8: flags.int8,
      data: flags.data,
    });
    for (const result of outcome.results) {
      this.log(
        `${result.name} v${result.version}: ${result.format} (${result.precision}, ${formatBytes(result.bytes)}) at ${result.uri}`,
      );
    }
    if (outcome.exitCode !== 0) {
      this.error(outcome.error ?? `the exporter exited with status ${outcome.exitCode}`, {
        exit: outcome.exitCode,
      });
    }
    return outcome.results;
  }
}

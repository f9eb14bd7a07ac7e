// From a folder on disk to a validated, hashed dataset version ready to upload.
import path from 'node:path';
import { findCocoFiles, loadCoco } from './coco.js';
import { buildManifest, dataYaml, type Manifest } from './manifest.js';
import { type DatasetSource, formatProblem, type Problem } from './source.js';
import { DATASET_NAME, DatasetError } from './store.js';
import { type PreparedFile, validateDataset } from './validate.js';
import { findDataYaml, isDirectory, loadYolo } from './yolo.js';

export type DatasetFormat = 'auto' | 'yolo' | 'coco';

export class InvalidDatasetError extends DatasetError {
  constructor(
    readonly dir: string,
    readonly problems: Problem[],
  ) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      `${dir} is not a valid dataset (${count}):\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
    );
  }
}

export interface PreparedDataset {
  source: DatasetSource;
  manifest: Manifest;
  files: PreparedFile[];
}

export async function loadDataset(dir: string, format: DatasetFormat = 'auto'): Promise<DatasetSource> {
  const root = path.resolve(dir);
  if (!(await isDirectory(root))) throw new DatasetError(`${dir} is not a directory`);
  if (format !== 'coco') {
    const yaml = await findDataYaml(root);
    if (yaml) return loadYolo(root, yaml);
    if (format === 'yolo') throw new InvalidDatasetError(dir, [{ where: dir, message: 'has no data.yaml' }]);
  }
  const coco = await findCocoFiles(root);
  if (coco.length > 0) return loadCoco(root, coco);
  const expected =
    format === 'coco'
      ? 'no COCO annotations (<split>/_annotations.coco.json or annotations/instances_<split>.json)'
      : 'neither a data.yaml (YOLO) nor COCO annotations (<split>/*.json or annotations/*.json)';
  throw new InvalidDatasetError(dir, [{ where: dir, message: `has ${expected}` }]);
}

/** Loads, validates and hashes a dataset; throws InvalidDatasetError listing every problem. */
export async function prepareDataset(
  dir: string,
  name: string,
  format: DatasetFormat = 'auto',
): Promise<PreparedDataset> {
  if (!DATASET_NAME.test(name)) {
    throw new DatasetError(
      `dataset name ${JSON.stringify(name)} must be lower-case letters, digits, ".", "_" or "-" (at most 63)`,
    );
  }
  const source = await loadDataset(dir, format);
  const validation = await validateDataset(source);
  if (validation.problems.length > 0) throw new InvalidDatasetError(dir, validation.problems);
  const splits = source.splits.map((split) => split.name);
  const files = [...validation.files, dataYaml(source.names, splits)];
  const manifest = buildManifest(name, source.names, files, validation.splits, {
    format: source.format,
    path: source.root,
  });
  return { source, manifest, files };
}

// Reads a dataset in the YOLO layout that Ultralytics and Roboflow export:
//   data.yaml (train/val/test folders, names) + <split>/images/* + <split>/labels/*.txt
// Which folders the splits are, which label belongs to an image and what a label row is are
// Python's (yolo_layout.push_layout, through shared-rules.ts), as the trainer reads them.
import fs from 'node:fs/promises';
import path from 'node:path';
import { sharedRules } from '../shared-rules.js';
import { type DatasetSource, labelKeyFor } from './source.js';

export const DATA_YAML_NAMES = ['data.yaml', 'data.yml'];

export async function findDataYaml(root: string): Promise<string | null> {
  for (const name of DATA_YAML_NAMES) {
    const candidate = path.join(root, name);
    if (await isFile(candidate)) return candidate;
  }
  return null;
}

export async function loadYolo(root: string, dataYaml: string): Promise<DatasetSource> {
  const layout = await sharedRules('push-layout', { root, data_yaml: dataYaml });
  return {
    format: 'yolo',
    root,
    names: layout.names,
    problems: layout.problems,
    splits: layout.splits.map((split) => ({
      name: split.name,
      unpairedLabels: split.unpaired_labels,
      images: split.images.map((image) => ({
        file: image.file,
        shown: image.shown,
        key: `${split.name}/images/${image.relative}`,
        labelKey: labelKeyFor(split.name, image.relative),
        label: image.label && {
          shown: image.label.shown,
          text: image.label.text,
          checked: { problems: image.label.problems, classes: image.label.classes },
        },
      })),
    })),
  };
}

export async function isFile(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => null))?.isFile() ?? false;
}

export async function isDirectory(folder: string): Promise<boolean> {
  return (await fs.stat(folder).catch(() => null))?.isDirectory() ?? false;
}

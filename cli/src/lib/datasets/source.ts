// A dataset on disk as the push command sees it, whatever its format: splits of images, each
// with the YOLO label text it will be stored with. Loaders (yolo.ts, coco.ts) produce it and
// record layout problems; validate.ts checks the contents.

import type { LabelCheck } from '../shared-rules.js';
import type { SplitName } from './rules.js';

// Split names are shared with Python: rules.ts reads them from contracts/.
export { REQUIRED_SPLITS, SPLITS, type SplitName } from './rules.js';

export interface LabelSource {
  /** How problems name the label: a path relative to the dataset, or the COCO file it came from. */
  shown: string;
  text: string;
  /** For converted labels, where each row came from (e.g. `train/_annotations.coco.json: annotation 7`). */
  rowOrigins?: string[];
  /** The row check, when the loader had it made with the layout (YOLO); else validate.ts has it made. */
  checked?: LabelCheck;
}

export interface ImageSource {
  /** Absolute path of the image file. */
  file: string;
  /** Path relative to the dataset directory, for messages. */
  shown: string;
  /** Path of the image inside the version (`train/images/<relative>`). */
  key: string;
  /** Path of its label inside the version (`train/labels/<relative stem>.txt`). */
  labelKey: string;
  /** null: no label file at all (an empty file is a valid background image). */
  label: LabelSource | null;
}

export interface SplitSource {
  name: SplitName;
  images: ImageSource[];
  /** Label files with no image of the same name, relative to the dataset directory. */
  unpairedLabels: string[];
}

export interface Problem {
  /** The file (or `file:line`) the problem is in. */
  where: string;
  message: string;
}

export interface DatasetSource {
  format: 'yolo' | 'coco';
  root: string;
  names: string[];
  splits: SplitSource[];
  /** Problems found while reading the layout (data.yaml, COCO JSON, folders). */
  problems: Problem[];
}

export function formatProblem(problem: Problem): string {
  return `${problem.where}: ${problem.message}`;
}

export function labelKeyFor(split: SplitName, relativeImage: string): string {
  const stem = relativeImage.replace(/\.[^./]+$/, '');
  return `${split}/labels/${stem}.txt`;
}

// Reads a dataset in the YOLO layout that Ultralytics and Roboflow export:
//   data.yaml (train/val/test folders, names) + <split>/images/* + <split>/labels/*.txt
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isImageFile } from './rules.js';
import {
  type DatasetSource,
  type ImageSource,
  labelKeyFor,
  type Problem,
  REQUIRED_SPLITS,
  SPLITS,
  type SplitName,
  type SplitSource,
} from './source.js';

export const DATA_YAML_NAMES = ['data.yaml', 'data.yml'];

export async function findDataYaml(root: string): Promise<string | null> {
  for (const name of DATA_YAML_NAMES) {
    const candidate = path.join(root, name);
    if (await isFile(candidate)) return candidate;
  }
  return null;
}

export async function loadYolo(root: string, dataYaml: string): Promise<DatasetSource> {
  const shownYaml = path.relative(root, dataYaml);
  const problems: Problem[] = [];
  const source: DatasetSource = { format: 'yolo', root, names: [], splits: [], problems };
  let config: Record<string, unknown>;
  try {
    const parsed: unknown = parseYaml(await fs.readFile(dataYaml, 'utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a mapping');
    config = parsed as Record<string, unknown>;
  } catch (err) {
    problems.push({ where: shownYaml, message: `is not valid YAML (${(err as Error).message})` });
    return source;
  }
  source.names = readNames(config, shownYaml, problems);
  const base = await dataYamlBase(dataYaml, config.path);
  for (const split of SPLITS) {
    const value = config[split];
    if (value === undefined || value === null || value === '') {
      if (REQUIRED_SPLITS.includes(split)) {
        problems.push({
          where: shownYaml,
          message: `has no \`${split}\` split (train and val are required)`,
        });
      }
      continue;
    }
    if (typeof value !== 'string') {
      problems.push({
        where: shownYaml,
        message: `\`${split}\` must be one folder path, got ${JSON.stringify(value)}`,
      });
      continue;
    }
    const folder = await resolveSplitFolder(base, value);
    if (!folder) {
      problems.push({ where: shownYaml, message: `\`${split}: ${value}\` is not a folder of the dataset` });
      continue;
    }
    source.splits.push(await readSplit(root, split, folder));
  }
  return source;
}

/** data.yaml's `names`: a list, or a map {0: a, 1: b} taken in the order of its numeric keys; else []. */
export function classNamesOf(raw: unknown): string[] {
  if (Array.isArray(raw)) return raw.map(String);
  if (!raw || typeof raw !== 'object') return [];
  return Object.entries(raw)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, name]) => String(name));
}

function readNames(config: Record<string, unknown>, shownYaml: string, problems: Problem[]): string[] {
  const raw = config.names;
  const names = classNamesOf(raw);
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const ids = Object.keys(raw)
      .map(Number)
      .sort((a, b) => a - b);
    if (ids.some((id, index) => id !== index)) {
      problems.push({ where: shownYaml, message: '`names` keys must be 0, 1, 2, … without gaps' });
    }
  }
  if (names.length === 0) problems.push({ where: shownYaml, message: '`names` is missing or empty' });
  const duplicates = names.filter((name, index) => names.indexOf(name) !== index);
  if (duplicates.length > 0) {
    problems.push({ where: shownYaml, message: `\`names\` repeats ${[...new Set(duplicates)].join(', ')}` });
  }
  if (config.nc !== undefined && Number(config.nc) !== names.length) {
    problems.push({
      where: shownYaml,
      message: `\`nc\` is ${String(config.nc)} but \`names\` has ${names.length} entries`,
    });
  }
  return names;
}

/**
 * The folder a data.yaml's split paths are relative to: its `path` (relative to the data.yaml's
 * folder, or absolute) when that is a folder here, else the data.yaml's folder (exports often carry
 * the exporter's absolute `path`). Python's twin is bento/src/mini_streamio/yolo_layout.py (for the
 * trainer and the notebook); both are tested against contracts/dataset-rules.cases.json.
 */
export async function dataYamlBase(dataYaml: string, configured: unknown): Promise<string> {
  const folder = path.dirname(dataYaml);
  if (typeof configured === 'string' && configured) {
    const base = path.resolve(folder, configured);
    if (await isDirectory(base)) return base;
  }
  return folder;
}

/** The folder a split names, as Ultralytics finds it: Roboflow writes `../train/images`. */
export async function resolveSplitFolder(base: string, value: string): Promise<string | null> {
  const candidates = [path.resolve(base, value)];
  if (value.startsWith('../')) candidates.push(path.resolve(base, value.slice(3)));
  for (const candidate of candidates) {
    if (await isDirectory(candidate)) return candidate;
  }
  return null;
}

async function readSplit(root: string, split: SplitName, folder: string): Promise<SplitSource> {
  const files = (await fs.readdir(folder, { recursive: true })).map(String).sort();
  const images: ImageSource[] = [];
  const expectedLabels = new Set<string>();
  for (const relative of files) {
    if (!isImageFile(relative)) continue;
    const file = path.join(folder, relative);
    const labelFile = labelFileFor(file);
    expectedLabels.add(labelFile);
    const text = await readTextIfFile(labelFile);
    images.push({
      file,
      shown: path.relative(root, file),
      key: `${split}/images/${toPosix(relative)}`,
      labelKey: labelKeyFor(split, toPosix(relative)),
      label: text === null ? null : { shown: path.relative(root, labelFile), text },
    });
  }
  const labelsFolder = path.dirname(labelFileFor(path.join(folder, 'x.jpg')));
  const unpairedLabels: string[] = [];
  if (labelsFolder !== folder && (await isDirectory(labelsFolder))) {
    for (const relative of (await fs.readdir(labelsFolder, { recursive: true })).map(String).sort()) {
      const labelFile = path.join(labelsFolder, relative);
      if (path.extname(relative) === '.txt' && !expectedLabels.has(labelFile)) {
        unpairedLabels.push(path.relative(root, labelFile));
      }
    }
  }
  return { name: split, images, unpairedLabels };
}

/**
 * Ultralytics' rule: the last `/images/` of the path becomes `/labels/`, the extension `.txt`
 * (Python: yolo_layout.label_path).
 */
export function labelFileFor(imageFile: string): string {
  const marker = `${path.sep}images${path.sep}`;
  const at = imageFile.lastIndexOf(marker);
  const swapped =
    at < 0
      ? imageFile
      : `${imageFile.slice(0, at)}${path.sep}labels${path.sep}${imageFile.slice(at + marker.length)}`;
  return swapped.replace(/\.[^./\\]+$/, '.txt');
}

function toPosix(relative: string): string {
  return relative.split(path.sep).join('/');
}

async function readTextIfFile(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export async function isFile(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => null))?.isFile() ?? false;
}

export async function isDirectory(folder: string): Promise<boolean> {
  return (await fs.stat(folder).catch(() => null))?.isDirectory() ?? false;
}

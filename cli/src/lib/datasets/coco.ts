// Reads a COCO detection dataset and converts it to YOLO labels in memory (nothing is written
// next to the user's files). Two layouts are found:
//   Roboflow:  <split>/_annotations.coco.json with the images beside it
//   COCO:      annotations/instances_<split>.json with images in <split>/ or images/<split>/
// Category ids become class ids in id order; Roboflow's unused parent category (the one every
// real category names as its supercategory) is dropped.
import fs from 'node:fs/promises';
import path from 'node:path';
import { imageSize } from 'image-size';
import {
  type DatasetSource,
  labelKeyFor,
  type Problem,
  REQUIRED_SPLITS,
  type SplitName,
  type SplitSource,
} from './source.js';
import { isDirectory, isFile } from './yolo.js';

interface CocoImage {
  id: number;
  file_name: string;
  width?: number;
  height?: number;
}
interface CocoAnnotation {
  id?: number;
  image_id: number;
  category_id: number;
  bbox: unknown;
}
interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
}
interface CocoFile {
  split: SplitName;
  file: string;
  imageFolders: string[];
}

const SPLIT_ALIASES: Record<string, SplitName> = {
  train: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
};

/** The COCO annotation files of a dataset directory, one per split; empty if there are none. */
export async function findCocoFiles(root: string): Promise<CocoFile[]> {
  const found: CocoFile[] = [];
  for (const entry of await fs.readdir(root, { withFileTypes: true })) {
    const split = SPLIT_ALIASES[entry.name.toLowerCase()];
    if (!entry.isDirectory() || !split) continue;
    const folder = path.join(root, entry.name);
    const jsons = (await fs.readdir(folder)).filter((name) => name.endsWith('.json')).sort();
    if (jsons[0]) found.push({ split, file: path.join(folder, jsons[0]), imageFolders: [folder] });
  }
  const annotations = path.join(root, 'annotations');
  if (found.length === 0 && (await isDirectory(annotations))) {
    for (const name of (await fs.readdir(annotations)).filter((n) => n.endsWith('.json')).sort()) {
      const stem = name.replace(/\.json$/, '').replace(/^instances_/, '');
      const split = SPLIT_ALIASES[stem.replace(/\d+$/, '').toLowerCase()];
      if (!split) continue;
      const imageFolders = [
        path.join(root, stem),
        path.join(root, 'images', stem),
        path.join(root, 'images'),
        root,
      ];
      found.push({ split, file: path.join(annotations, name), imageFolders });
    }
  }
  return found;
}

export async function loadCoco(root: string, files: CocoFile[]): Promise<DatasetSource> {
  const problems: Problem[] = [];
  for (const split of REQUIRED_SPLITS) {
    if (!files.some((file) => file.split === split)) {
      problems.push({
        where: split,
        message: 'no COCO annotation file for this split (train and val are required)',
      });
    }
  }
  const parsed = [];
  for (const file of files) {
    const data = await readCoco(root, file, problems);
    if (data) parsed.push({ file, data });
  }
  const names = classNames(parsed.map((p) => p.data));
  const source: DatasetSource = {
    format: 'coco',
    root,
    names: names.map((c) => c.name),
    splits: [],
    problems,
  };
  const classOf = new Map(names.map((category, index) => [category.id, index]));
  for (const { file, data } of parsed) {
    source.splits.push(await convertSplit(root, file, data, classOf, problems));
  }
  return source;
}

interface CocoData {
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

async function readCoco(root: string, file: CocoFile, problems: Problem[]): Promise<CocoData | null> {
  const where = path.relative(root, file.file);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await fs.readFile(file.file, 'utf8'));
  } catch (err) {
    problems.push({ where, message: `is not valid JSON (${(err as Error).message})` });
    return null;
  }
  const missing = ['images', 'annotations', 'categories'].filter((key) => !Array.isArray(json[key]));
  if (missing.length > 0) {
    problems.push({ where, message: `has no ${missing.map((k) => `"${k}"`).join(', ')} array` });
    return null;
  }
  return json as unknown as CocoData;
}

/** Categories in id order, without Roboflow's unused parent category. */
function classNames(files: CocoData[]): CocoCategory[] {
  const byId = new Map<number, CocoCategory>();
  for (const data of files) for (const category of data.categories) byId.set(category.id, category);
  const used = new Set(files.flatMap((data) => data.annotations.map((a) => a.category_id)));
  const parents = new Set([...byId.values()].map((c) => c.supercategory));
  return [...byId.values()]
    .filter((category) => used.has(category.id) || !parents.has(category.name))
    .sort((a, b) => a.id - b.id);
}

async function convertSplit(
  root: string,
  file: CocoFile,
  data: CocoData,
  classOf: Map<number, number>,
  problems: Problem[],
): Promise<SplitSource> {
  const where = path.relative(root, file.file);
  const rows = new Map<number, { text: string[]; origins: string[] }>();
  const imageIds = new Set(data.images.map((image) => image.id));
  const sizes = new Map<number, { width: number; height: number } | null>();
  const split: SplitSource = { name: file.split, images: [], unpairedLabels: [] };
  const located = new Map<number, string>();
  for (const image of data.images) {
    const found = await locateImage(file.imageFolders, image.file_name);
    if (!found) {
      problems.push({
        where,
        message: `image ${JSON.stringify(image.file_name)} (id ${image.id}) does not exist`,
      });
      continue;
    }
    located.set(image.id, found);
    sizes.set(image.id, await sizeOf(image, found));
  }
  data.annotations.forEach((annotation, index) => {
    const origin = `${where}: annotation ${annotation.id ?? `#${index}`}`;
    if (!imageIds.has(annotation.image_id)) {
      problems.push({
        where: origin,
        message: `refers to image id ${annotation.image_id}, which is not in "images"`,
      });
      return;
    }
    const size = sizes.get(annotation.image_id);
    if (!size) return; // the image itself is missing or unreadable: reported once, for the image
    const row = yoloRow(annotation, size, classOf);
    if (typeof row !== 'string') {
      problems.push({ where: origin, message: row.error });
      return;
    }
    const entry = rows.get(annotation.image_id) ?? { text: [], origins: [] };
    entry.text.push(row);
    entry.origins.push(origin);
    rows.set(annotation.image_id, entry);
  });
  for (const image of data.images) {
    const found = located.get(image.id);
    if (!found) continue;
    const relative = image.file_name.split(path.sep).join('/');
    const entry = rows.get(image.id) ?? { text: [], origins: [] };
    split.images.push({
      file: found,
      shown: path.relative(root, found),
      key: `${file.split}/images/${relative}`,
      labelKey: labelKeyFor(file.split, relative),
      label: {
        shown: `${where} (${image.file_name})`,
        text: entry.text.map((row) => `${row}\n`).join(''),
        rowOrigins: entry.origins,
      },
    });
  }
  return split;
}

function yoloRow(
  annotation: CocoAnnotation,
  size: { width: number; height: number },
  classOf: Map<number, number>,
): string | { error: string } {
  const classId = classOf.get(annotation.category_id);
  if (classId === undefined) {
    return { error: `has category id ${annotation.category_id}, which is not in "categories"` };
  }
  const box = annotation.bbox;
  if (
    !Array.isArray(box) ||
    box.length !== 4 ||
    !box.every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    return { error: `bbox ${JSON.stringify(box)} is not [x, y, width, height]` };
  }
  const [x, y, w, h] = box as number[] as [number, number, number, number];
  // Converted exactly; coordinates outside [0, 1] are reported by the validator like any label's.
  const values = [(x + w / 2) / size.width, (y + h / 2) / size.height, w / size.width, h / size.height];
  return `${classId} ${values.map((v) => Number(v.toFixed(6))).join(' ')}`;
}

async function locateImage(folders: string[], fileName: string): Promise<string | null> {
  for (const folder of folders) {
    const candidate = path.resolve(folder, fileName);
    if (await isFile(candidate)) return candidate;
  }
  return null;
}

async function sizeOf(image: CocoImage, file: string): Promise<{ width: number; height: number } | null> {
  if (image.width && image.height) return { width: image.width, height: image.height };
  try {
    const size = imageSize(await fs.readFile(file));
    return size.width && size.height ? { width: size.width, height: size.height } : null;
  } catch {
    return null; // unreadable: the validator reports it with the image's name
  }
}

// Checks a dataset's contents and prepares the files a push uploads. Every problem is
// collected (none stops the check), each naming its file: the user fixes them all in one go.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { imageSize } from 'image-size';
import { mapLimit } from '../concurrency.js';
import { type LabelCheck, sharedRules } from '../shared-rules.js';
import type { DatasetSource, ImageSource, LabelSource, Problem, SplitName } from './source.js';

export interface PreparedFile {
  /** Path inside the version, e.g. `train/images/0001.jpg`. */
  key: string;
  sha256: string;
  size: number;
  body: { file: string } | { content: Buffer };
}

export interface SplitStats {
  images: number;
  /** Images whose label file is empty (no objects). */
  backgrounds: number;
  boxes: number;
  boxesPerClass: Record<string, number>;
}

export interface ValidationResult {
  problems: Problem[];
  files: PreparedFile[];
  splits: Partial<Record<SplitName, SplitStats>>;
}

export async function validateDataset(source: DatasetSource): Promise<ValidationResult> {
  const problems: Problem[] = [...source.problems];
  const files: PreparedFile[] = [];
  const splits: ValidationResult['splits'] = {};
  const checks = await checkLabels(source);
  for (const split of source.splits) {
    const stats: SplitStats = { images: 0, backgrounds: 0, boxes: 0, boxesPerClass: {} };
    for (const name of source.names) stats.boxesPerClass[name] = 0;
    splits[split.name] = stats;
    if (split.images.length === 0) {
      problems.push({ where: split.name, message: 'the split has no images' });
    }
    for (const label of split.unpairedLabels) {
      problems.push({ where: label, message: 'label file has no image of the same name' });
    }
    problems.push(...sharedLabels(split.images));
    const checked = await mapLimit(split.images, 8, (image) => checkImage(image));
    for (const [index, image] of split.images.entries()) {
      const result = checked[index];
      if (!result) continue;
      problems.push(...result.problems);
      if (result.file) files.push(result.file);
      stats.images += 1;
      if (!image.label) {
        problems.push({ where: image.shown, message: `has no label file (expected ${image.labelKey})` });
        continue;
      }
      const rows = checks.get(image.label) as LabelCheck;
      problems.push(...rows.problems.map(({ line, message }) => ({ where: rowWhere(image, line), message })));
      stats.boxes += rows.classes.length;
      if (rows.classes.length === 0 && rows.problems.length === 0) stats.backgrounds += 1;
      for (const classId of rows.classes) {
        const name = source.names[classId] as string;
        stats.boxesPerClass[name] = (stats.boxesPerClass[name] ?? 0) + 1;
      }
      const content = Buffer.from(image.label.text, 'utf8');
      files.push({ key: image.labelKey, sha256: sha256(content), size: content.length, body: { content } });
    }
  }
  return { problems, files, splits };
}

function rowWhere(image: ImageSource, line: number): string {
  const origin = image.label?.rowOrigins?.[line - 1];
  return origin ?? `${image.label?.shown}:${line}`;
}

/** `a.jpg` and `a.png` in one folder would both be labelled by `a.txt`. */
function sharedLabels(images: ImageSource[]): Problem[] {
  const owner = new Map<string, string>();
  const problems: Problem[] = [];
  for (const image of images) {
    const first = owner.get(image.labelKey);
    if (first)
      problems.push({ where: image.shown, message: `shares its label file ${image.labelKey} with ${first}` });
    else owner.set(image.labelKey, image.shown);
  }
  return problems;
}

async function checkImage(image: ImageSource): Promise<{ problems: Problem[]; file?: PreparedFile }> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(image.file);
  } catch (err) {
    return {
      problems: [{ where: image.shown, message: `cannot be read (${(err as NodeJS.ErrnoException).code})` }],
    };
  }
  const why = unreadableImage(bytes);
  if (why) return { problems: [{ where: image.shown, message: `is not a readable image (${why})` }] };
  const file = { key: image.key, sha256: sha256(bytes), size: bytes.length, body: { file: image.file } };
  return { problems: [], file };
}

/** Why the bytes are not an image Ultralytics can decode, or null if they are. */
export function unreadableImage(bytes: Buffer): string | null {
  if (bytes.length === 0) return 'empty file';
  try {
    const { width, height } = imageSize(bytes);
    if (!width || !height) return 'no width or height';
  } catch (err) {
    return (err as Error).message;
  }
  // A JPEG cut short loses its end-of-image marker; decoders then fail or read garbage.
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && !isTerminatedJpeg(bytes)) return 'truncated JPEG';
  return null;
}

function isTerminatedJpeg(bytes: Buffer): boolean {
  // Some encoders pad after the EOI marker, so look for it near the end rather than at it.
  const tail = bytes.subarray(Math.max(0, bytes.length - 64));
  for (let i = tail.length - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return true;
  return false;
}

/**
 * The row check of every label (a push takes box rows only, normalised to [0, 1], of a class in
 * `names`): Python's (yolo_labels.check_label_rows). Labels the loader had checked already (YOLO)
 * keep their check; the others (converted from COCO) are checked in one call.
 */
async function checkLabels(source: DatasetSource): Promise<Map<LabelSource, LabelCheck>> {
  const labels = source.splits.flatMap((split) => split.images.flatMap((image) => image.label ?? []));
  const checks = new Map<LabelSource, LabelCheck>();
  const unchecked = labels.filter((label) => {
    if (label.checked) checks.set(label, label.checked);
    return !label.checked;
  });
  if (unchecked.length > 0) {
    const answer = await sharedRules('check-labels', {
      classes: source.names.length,
      labels: unchecked.map((label) => label.text),
    });
    unchecked.forEach((label, index) => checks.set(label, answer.labels[index] as LabelCheck));
  }
  return checks;
}

export function sha256(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex');
}

// Where `evaluate` reads a labelled dataset split from. Implementations: a local YOLO
// directory (local-yolo-dataset.ts); a dataset stored in MinIO.

import { UserError } from './command.js';
import type { Box } from './metrics.js';

export interface LabelledImage {
  /** File name, for messages. */
  name: string;
  bytes: Buffer;
  boxes: Box[];
}

export interface DatasetSource {
  /** For messages: where the data comes from. */
  readonly description: string;
  classNames(): Promise<string[]>;
  /** The images of a split with their ground-truth boxes; rejects naming the split if there is none. */
  images(split: string): AsyncIterable<LabelledImage>;
  /** How many images `images(split)` yields (for progress); rejects as it does. */
  count(split: string): Promise<number>;
}

/** Parses a YOLO label file: `class xc yc w h` per line, or `class x1 y1 x2 y2 …` (polygon → its box). */
export function parseYoloLabels(text: string, where: string): Box[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line, i) => {
      const values = line.split(/\s+/).map(Number);
      const [classId, ...coords] = values;
      const valid =
        Number.isInteger(classId) &&
        (classId as number) >= 0 &&
        coords.every(Number.isFinite) &&
        (coords.length === 4 || (coords.length >= 6 && coords.length % 2 === 0));
      if (!valid) throw new UserError(`${where}:${i + 1}: not a YOLO label line: "${line}"`);
      if (coords.length === 4) {
        const [xc, yc, w, h] = coords as [number, number, number, number];
        return { classId: classId as number, xc, yc, w, h };
      }
      const xs = coords.filter((_, k) => k % 2 === 0);
      const ys = coords.filter((_, k) => k % 2 === 1);
      const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      return { classId: classId as number, xc: (x0 + x1) / 2, yc: (y0 + y1) / 2, w: x1 - x0, h: y1 - y0 };
    });
}

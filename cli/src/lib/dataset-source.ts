// Where `evaluate` reads a labelled dataset split from. Implementations: a local YOLO
// directory (local-yolo-dataset.ts); a dataset stored in MinIO.

import { UserError } from './command.js';
import { labelRows, rowBox } from './datasets/label-rows.js';
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

/** Parses a YOLO label file into boxes (the row rule: datasets/label-rows.ts); a bad row throws, naming its line. */
export function parseYoloLabels(text: string, where: string): Box[] {
  return labelRows(text).map((row) => {
    const parsed = rowBox(row.fields);
    if ('problem' in parsed)
      throw new UserError(`${where}:${row.line}: not a YOLO label line (${parsed.problem}): "${row.text}"`);
    return parsed.box;
  });
}

// What a YOLO label row is, in one place for every TypeScript reader: `dataset push` checks rows
// (validate.ts), `evaluate` turns them into boxes (dataset-source.ts). The notebook's Python reader
// (bento/src/mini_streamio/analysis/dataset_stats.py) follows the same contract: both are tested
// against contracts/dataset-rules.cases.json, so neither can drift alone.
import type { Box } from '../metrics.js';
import { LABEL_ROW } from './rules.js';

export interface LabelRow {
  /** 1-based line number in the file (blank lines count). */
  line: number;
  text: string;
  fields: string[];
}

/** The non-empty rows of a label file: lines split on `\n` (a `\r` before it is whitespace). */
export function labelRows(text: string): LabelRow[] {
  const rows: LabelRow[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line) rows.push({ line: index + 1, text: line, fields: line.split(/\s+/) });
  });
  return rows;
}

/** Whether a field is a decimal number as the contract writes it (no `0x`, `nan` or `inf`). */
export function isNumberField(field: string): boolean {
  return LABEL_ROW.numberPattern.test(field);
}

export function isClassId(value: number): boolean {
  return Number.isInteger(value) && value >= 0;
}

/** Why a row is not a label row, or its box: `class xc yc w h`, or a polygon's bounding box. */
export function rowBox(fields: string[]): { box: Box } | { problem: string } {
  if (!fields.every(isNumberField)) return { problem: 'not numbers' };
  const [classId, ...values] = fields.map(Number) as [number, ...number[]];
  if (!isClassId(classId)) return { problem: `class ${fields[0]} is not a whole number >= 0` };
  if (values.length === LABEL_ROW.boxValues) {
    const [xc, yc, w, h] = values as [number, number, number, number];
    return { box: { classId, xc, yc, w, h } };
  }
  if (values.length >= LABEL_ROW.polygonMinValues && values.length % 2 === 0) {
    const xs = values.filter((_, k) => k % 2 === 0);
    const ys = values.filter((_, k) => k % 2 === 1);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    return { box: { classId, xc: (x0 + x1) / 2, yc: (y0 + y1) / 2, w: x1 - x0, h: y1 - y0 } };
  }
  return { problem: `${values.length} coordinates (expected ${LABEL_ROW.boxValues} or a polygon)` };
}

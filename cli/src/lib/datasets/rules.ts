// The dataset rules TypeScript and Python share, read from contracts/dataset-rules.json (the
// Python side reads the same file: bento/src/mini_streamio/dataset_rules.py). Change a rule there,
// not here; contracts/dataset-rules.cases.json holds the cases both sides are tested against.
// The logic on these rules (label rows, split folders, box matching) is one function per language,
// not one for both: push and evaluate run in-process without Python, and the trainer and notebook
// without Node; the shared cases fail the side that drifts. The content hash is computed only by
// the push (manifest.ts); the trainer takes it from the manifest.
import path from 'node:path';
import rules from '../../../../contracts/dataset-rules.json' with { type: 'json' };

/** Split names in storage; exports call the validation split `valid` (see SPLIT_ALIASES). */
export type SplitName = 'train' | 'val' | 'test';
export const SPLITS = rules.splits as readonly SplitName[];
export const REQUIRED_SPLITS = rules.required_splits as readonly SplitName[];
/** Other names of a split (`valid` → `val`), as exports and `evaluate --split` use them. */
export const SPLIT_ALIASES: Readonly<Record<string, SplitName>> = rules.split_aliases as Record<
  string,
  SplitName
>;

/** Lower-case extensions (with the dot) of the files a split's images are. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(Object.keys(rules.image_extensions));

/** The media type an image is stored with, by its extension (any case); undefined for other files. */
export function imageMediaType(file: string): string | undefined {
  return (rules.image_extensions as Record<string, string>)[path.extname(file).toLowerCase()];
}

export function isImageFile(file: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(file).toLowerCase());
}

/** The stored split a name means: `valid` is `val`; other names are themselves. */
export function storedSplitName(split: string): string {
  return SPLIT_ALIASES[split] ?? split;
}

export const LABEL_ROW = {
  numberPattern: new RegExp(rules.label_row.number_pattern),
  boxValues: rules.label_row.box_values,
  polygonMinValues: rules.label_row.polygon_min_values,
} as const;

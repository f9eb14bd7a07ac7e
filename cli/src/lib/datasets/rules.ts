// The dataset rules that are data, read from contracts/dataset-rules.json (Python reads the same
// file: bento/src/mini_streamio/dataset_rules.py): split names and image media types. Change a rule
// there, not here. The logic on the rules (which folders a data.yaml's splits are, what a label row
// is, how boxes are matched) has one implementation, in Python, which the CLI spawns
// (shared-rules.ts); the content hash has one too, here (manifest.ts), since only the push computes it.
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

/** The media type an image is stored with, by its extension (any case); undefined for other files. */
export function imageMediaType(file: string): string | undefined {
  return (rules.image_extensions as Record<string, string>)[path.extname(file).toLowerCase()];
}

/** The stored split a name means: `valid` is `val`; other names are themselves. */
export function storedSplitName(split: string): string {
  return SPLIT_ALIASES[split] ?? split;
}

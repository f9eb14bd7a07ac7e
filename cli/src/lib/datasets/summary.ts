// How commands describe a dataset version in one line or a few.
import type { Manifest } from './manifest.js';
import { SPLITS } from './source.js';

/** `train 48, val 16, test 8 images; 231 boxes` */
export function summarizeCounts(manifest: Pick<Manifest, 'splits'>): string {
  const parts = SPLITS.filter((s) => manifest.splits[s]).map((s) => `${s} ${manifest.splits[s]?.images}`);
  const boxes = SPLITS.reduce((sum, s) => sum + (manifest.splits[s]?.boxes ?? 0), 0);
  return `${parts.join(', ')} images; ${boxes} boxes`;
}

// What of contracts/dataset-rules.cases.json stays TypeScript: the media type a pushed image is
// stored with, and the content hash (computed only by the push). The other rules (label paths,
// class names, label rows, split folders, box matching) have one implementation, in Python, which
// the CLI spawns; bento/tests/test_dataset_rules_contract.py runs their cases.
import { describe, expect, it } from 'vitest';
import cases from '../../contracts/dataset-rules.cases.json' with { type: 'json' };
import { contentHash, versionOf } from '../src/lib/datasets/manifest.js';
import { imageMediaType } from '../src/lib/datasets/rules.js';

describe('dataset rules contract (what stays TypeScript)', () => {
  it('when an image is pushed, then it is stored with its media type; other files have none', () => {
    const images = new Set(cases.image_files.images);
    for (const file of cases.image_files.files) {
      if (images.has(file)) expect(imageMediaType(file)).toMatch(/^image\//);
      else expect(imageMediaType(file)).toBeUndefined();
    }
  });

  it('when a version is pushed, then its content hash and version are the golden ones', () => {
    const { names, files, content_hash, version } = cases.content_hash;
    expect(contentHash(names, files)).toBe(content_hash);
    expect(versionOf(content_hash)).toBe(version);
  });
});

// cli/src/lib/contracts.generated.ts is what `npm run contracts:generate` writes from the schemas
// today (scripts/contracts-generate.ts): a contract changed without a regeneration fails here.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as generated from '../../cli/src/lib/contracts.generated.js';
import {
  generatedPath,
  literalPrefix,
  readContracts,
  renderContracts,
} from '../../scripts/contracts-generate.js';
import { instancesOf, schema, validator } from './schema-check.js';

describe('cli/src/lib/contracts.generated.ts', () => {
  it('when the schemas are read, then the file is what the generator writes from them', () => {
    expect(
      fs.readFileSync(generatedPath, 'utf8'),
      'stale: run `npm run contracts:generate` and commit the file',
    ).toBe(renderContracts());
  });

  it('when its values are used, then they are the schemas’ own', () => {
    expect(generated.TRAINER_EVENT_NAMES).toEqual(schema('trainer-event').properties.event.enum);
    expect(generated.TRAINER_EXIT_CODES).toEqual(instancesOf('trainer-exit-codes', 'valid')[0]);
    expect(generated.REGISTRY_TAG_NAMES).toEqual(Object.keys(schema('registry-tags').properties));
    expect(generated.PRODUCTION_ALIAS).toBe(schema('registry-tags').$defs.production_alias.const);
    expect(readContracts().registryMetricTagPrefix).toBe(generated.REGISTRY_METRIC_TAG_PREFIX);
  });

  it('when a metric tag is named with the prefix, then the contract accepts it, and refuses it without', () => {
    const validate = validator('registry-tags');
    const [golden] = instancesOf('registry-tags', 'valid') as Record<string, string>[];
    expect(validate({ ...golden, [`${generated.REGISTRY_METRIC_TAG_PREFIX}mAP50`]: '0.5' })).toBe(true);
    expect(validate({ ...golden, [`${generated.REGISTRY_METRIC_TAG_PREFIX}mAP50`]: 'half' })).toBe(false);
  });

  it.each([
    ['^metric\\.', 'metric.'],
    ['^a-b_c\\/', 'a-b_c/'],
  ])('when the pattern %s names a literal prefix, then it is %s', (pattern, prefix) => {
    expect(literalPrefix(pattern)).toBe(prefix);
  });

  it.each(['metric\\.', '^metric.', '^(a|b)\\.', '^m[0-9]'])(
    'when the pattern %s is not ^ and literal characters, then the generator refuses it',
    (pattern) => {
      expect(() => literalPrefix(pattern)).toThrow(/not \^ followed by literal characters/);
    },
  );
});

// The gateway against contracts/: its zod DTOs accept the golden fixtures, the detection
// defaults come from the contract, and openapi.yaml (the HTTP contract in its own right, which
// keeps its own copy of the defaults and the response shape for its readers and validator)
// agrees with it (the detection page's inputs: detection-page.test.ts).
import fs from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { fixtures, instancesOf, schema } from '../../contracts/test/schema-check.js';
import { DETECTION_DEFAULTS } from '../src/detection/detection-defaults.js';
import {
  detectionOutcomeSchema,
  detectionParamsSchema,
  detectionResponseSchema,
} from '../src/detection/dto.js';
import { openapiPath } from '../src/http/app.js';
import { finishedTasksSchema } from '../src/inference/bentoml-client.js';

const params = schema('detection-params').properties as Record<
  string,
  { type: string; minimum: number; maximum: number; default: number }
>;
const openapi = YAML.parse(fs.readFileSync(openapiPath, 'utf8'));

describe('detection parameters', () => {
  it('when a request names none, then the defaults are the contracts', () => {
    expect(detectionParamsSchema.parse({})).toEqual({
      conf: params.conf?.default,
      iou: params.iou?.default,
      max_det: params.max_det?.default,
    });
    expect(DETECTION_DEFAULTS.max_det).toEqual({ type: 'integer', default: 300, minimum: 1, maximum: 1000 });
  });

  it('when parameters are golden, then the DTO takes valid ones and refuses out-of-range ones', () => {
    for (const valid of instancesOf('detection-params', 'valid'))
      expect(detectionParamsSchema.safeParse(valid).success).toBe(true);
    // Unknown query parameters are openapi.yaml's to refuse; the DTO checks the ranges.
    const outOfRange = instancesOf('detection-params', 'invalid').filter((p) =>
      Object.keys(p as object).every((key) => key in params),
    );
    expect(outOfRange.length).toBeGreaterThan(0);
    for (const invalid of outOfRange) expect(detectionParamsSchema.safeParse(invalid).success).toBe(false);
  });

  it.each([
    ['Conf', 'conf'],
    ['Iou', 'iou'],
    ['MaxDet', 'max_det'],
  ])(
    'when openapi.yaml declares %s, then its type, range and default are the contracts',
    (component, name) => {
      const { type, minimum, maximum, default: value } = params[name] ?? {};
      expect(openapi.components.parameters[component]).toMatchObject({
        name,
        schema: { type, minimum, maximum, default: value },
      });
    },
  );
});

describe('detection response and outcome', () => {
  it('when a golden response is parsed, then the DTO keeps it as it is', () => {
    for (const response of instancesOf('detection-response', 'valid'))
      expect(detectionResponseSchema.parse(response)).toEqual(response);
  });

  it("when a golden BentoML outcome is parsed, then the DTO takes it and refuses what isn't one", () => {
    for (const outcome of instancesOf('detection-outcome', 'valid'))
      expect(detectionOutcomeSchema.parse(outcome)).toEqual(outcome);
    // The DTO checks the shape the gateway relies on; error codes and runtimes stay open there.
    const broken = fixtures('detection-outcome', 'invalid').filter(({ file }) =>
      ['neither.json', 'both.json', 'error-key-missing.json'].includes(file),
    );
    expect(broken).toHaveLength(3);
    for (const { file, instances } of broken)
      expect(detectionOutcomeSchema.safeParse(instances[0]).success, file).toBe(false);
  });

  it("when openapi.yaml's DetectionResponse checks the golden responses, then it agrees with the contract", () => {
    const ajv = new Ajv({ strict: false });
    ajv.addSchema(openapi, 'openapi');
    const validate = ajv.getSchema('openapi#/components/schemas/DetectionResponse');
    if (!validate) throw new Error('openapi.yaml has no DetectionResponse');
    expect(instancesOf('detection-response', 'valid').map((r) => validate(r))).toEqual(
      instancesOf('detection-response', 'valid').map(() => true),
    );
    expect(instancesOf('detection-response', 'invalid').filter((r) => validate(r))).toEqual([]);
  });
});

describe('announcements of finished tasks', () => {
  it('when golden answers of /detect/finished are parsed, then the client takes valid ones and refuses invalid ones', () => {
    for (const answer of instancesOf('finished-tasks', 'valid'))
      expect(finishedTasksSchema.parse(answer)).toEqual(answer);
    for (const { file, instances } of fixtures('finished-tasks', 'invalid'))
      expect(finishedTasksSchema.safeParse(instances[0]).success, file).toBe(false);
  });
});

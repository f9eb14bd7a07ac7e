// Defaults and ranges of the detection parameters (conf, iou, max_det), read at start-up from
// contracts/detection-params.schema.json, their only copy: BentoML and the CLI read the same file.
// It sits at the repository root, three levels above both src/detection and dist/detection
// (Dockerfile.gateway copies it there).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const detectionParamsContractPath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../contracts/detection-params.schema.json',
);

const bounded = z.object({
  type: z.enum(['number', 'integer']),
  default: z.number(),
  minimum: z.number(),
  maximum: z.number(),
});
const contractSchema = z.object({ properties: z.object({ conf: bounded, iou: bounded, max_det: bounded }) });

export type Bounded = z.infer<typeof bounded>;

export const DETECTION_DEFAULTS: { conf: Bounded; iou: Bounded; max_det: Bounded } = contractSchema.parse(
  JSON.parse(fs.readFileSync(detectionParamsContractPath, 'utf8')),
).properties;

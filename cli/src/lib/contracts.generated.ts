// Generated from contracts/*.schema.json by `npm run contracts:generate` (scripts/contracts-generate.ts):
// do not edit. contracts/test/generated.unit.test.ts fails when it differs from the schemas.

/** The events the trainer prints, in their contract’s order (trainer-event.schema.json). */
export const TRAINER_EVENT_NAMES = [
  'started',
  'dataset',
  'model',
  'epoch',
  'finished',
  'failed',
  'killed',
] as const;
export type TrainerEventName = (typeof TRAINER_EVENT_NAMES)[number];

/** How the trainer exits (trainer-exit-codes.schema.json); `train` exits with the same status. */
export const TRAINER_EXIT_CODES = {
  finished: 0,
  failed: 1,
  usage: 2,
  killed: 130,
} as const;

/** The tags of a registered model version that the contract names (registry-tags.schema.json). */
export const REGISTRY_TAG_NAMES = [
  'weights_uri',
  'class_names',
  'demo',
  'exports',
  'dataset',
  'base_model',
  'parent_model',
] as const;
export type RegistryTagName = (typeof REGISTRY_TAG_NAMES)[number];

/** What the names of a version’s metric tags start with, as in metric.mAP50 (its patternProperties). */
export const REGISTRY_METRIC_TAG_PREFIX = 'metric.';

/** The registry alias the inference service loads; `model promote` sets it by default. */
export const PRODUCTION_ALIAS = 'production';

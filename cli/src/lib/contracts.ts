// Values the CLI shares with the gateway and the Python side, from contracts/ (the only copy;
// contracts/README.md): detection defaults and ranges and train option defaults, imported as JSON;
// the trainer's exit statuses and event names and the registry's tag names and alias, which need
// their literal types, from contracts.generated.ts (`npm run contracts:generate` writes it from
// the schemas; contracts/test/generated.unit.test.ts fails when it is stale).
import detectionParams from '../../../contracts/detection-params.schema.json' with { type: 'json' };
import trainOptions from '../../../contracts/train-options.schema.json' with { type: 'json' };

export {
  PRODUCTION_ALIAS,
  REGISTRY_METRIC_TAG_PREFIX,
  REGISTRY_TAG_NAMES,
  type RegistryTagName,
  TRAINER_EVENT_NAMES,
  TRAINER_EXIT_CODES,
  type TrainerEventName,
} from './contracts.generated.js';

/** conf, iou, max_det: { default, minimum, maximum }. */
export const DETECTION_PARAMS = detectionParams.properties;

/** Defaults of `train`'s flags and of the trainer's arguments. */
export const TRAIN_DEFAULTS = {
  epochs: trainOptions.properties.epochs.default,
  imgsz: trainOptions.properties.imgsz.default,
  batch: trainOptions.properties.batch.default,
  experiment: trainOptions.properties.experiment.default,
  register: trainOptions.properties.register.default,
};
/** The smallest --epochs and --imgsz `train` accepts. */
export const TRAIN_MINIMUMS = {
  epochs: trainOptions.properties.epochs.minimum,
  imgsz: trainOptions.properties.imgsz.minimum,
};

// Values the CLI shares with the gateway and the Python side, imported from contracts/ (the
// only copy; contracts/README.md): detection defaults and ranges, train option defaults, the
// trainer's exit statuses and event names, and the registry alias the service serves.
import detectionParams from '../../../contracts/detection-params.schema.json' with { type: 'json' };
import registryTags from '../../../contracts/registry-tags.schema.json' with { type: 'json' };
import trainOptions from '../../../contracts/train-options.schema.json' with { type: 'json' };
import trainerEvent from '../../../contracts/trainer-event.schema.json' with { type: 'json' };
import trainerExitCodes from '../../../contracts/trainer-exit-codes.schema.json' with { type: 'json' };

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

/** How the trainer exits: finished 0, failed 1, usage 2, killed 130. */
export const TRAINER_EXIT_CODES = {
  finished: trainerExitCodes.properties.finished.const,
  failed: trainerExitCodes.properties.failed.const,
  usage: trainerExitCodes.properties.usage.const,
  killed: trainerExitCodes.properties.killed.const,
};

/** The events the trainer prints, in their contract's order. */
export const TRAINER_EVENT_NAMES: readonly string[] = trainerEvent.properties.event.enum;

/** The registry alias the inference service loads; `model promote` sets it by default. */
export const PRODUCTION_ALIAS: string = registryTags.$defs.production_alias.const;
